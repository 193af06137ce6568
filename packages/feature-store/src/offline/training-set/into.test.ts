import { entity, eventSource } from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { createOfflineStore, type OfflineStore } from '../store.js';
import { writeTrainingSetInto } from './into.js';
import type { TrainingRow } from './training-set.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', qty: 'int', merchant: 'string', approved: 'bool' },
});
const features = [
  tx.count().window('7d').as('tx_count_7d'),
  tx.sum('amount').as('amount_sum'),
  tx.sum('qty').as('qty_sum'),
  tx.last('merchant').as('last_merchant'),
  tx.last('approved').as('last_approved'),
  tx.lastK('amount', 3).as('recent_amounts'),
  tx.lastK('merchant', 2).as('recent_merchants'),
] as const;

const DAY = 86_400_000;
const T0 = 1_700_000_000_000;
const merchants = ['acme', 'o"neil', 'café 🎉', 'a,b', 'back\\slash'];

const entityRows = Array.from({ length: 40 }, (_, i) => ({
  user_id: `u${(i * 7) % 5}`, // u4 has no events
  ts: T0 + ((i * 13) % 17) * DAY, // out of order, with duplicates
  label: i % 3 === 0 ? null : i % 2,
  note: i === 5 ? { nested: ['x'] } : 'n',
}));

const engines: TestDatabase[] = await openSqlEngines('fs_into');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))(
  'training set into a table on %s',
  (_, db) => {
    let store: OfflineStore;
    const executor = pgliteOrPostgresExecutor(db);
    afterAll(() => executor.close());
    beforeAll(async () => {
      store = createOfflineStore({ executor, schema: db.schema, clock: () => T0 });
      await store.apply([tx]);
      const events = Array.from({ length: 60 }, (_, i) => ({
        user_id: `u${i % 4}`,
        ts: T0 + (i % 20) * DAY - 1_000 * i,
        eventId: `e${i}`,
        amount: i % 11 === 0 ? null : i * 0.1 + 0.25,
        qty: i % 9 === 0 ? null : i - 30,
        merchant: i % 13 === 0 ? null : merchants[(i + Math.floor(i / 20)) % merchants.length]!,
        approved: i % 7 === 0 ? null : i % 2 === 0,
      }));
      await store.ingest(tx, events);
    });

    const trainingSet = () =>
      store.getTrainingSet({ features, entityRows, pageSize: 9 }) as AsyncGenerator<TrainingRow>;

    async function readTable(table: string) {
      return executor.query(
        sql`SELECT CAST(row_number AS integer) AS row_number, entity_row,
        CAST(tx_count_7d AS double precision) AS tx_count_7d, amount_sum,
        CAST(qty_sum AS double precision) AS qty_sum, last_merchant, last_approved,
        recent_amounts, recent_merchants
        FROM ${sql.raw(table)} ORDER BY row_number`,
      );
    }

    async function scratchTables(): Promise<number> {
      const [row] = await executor.query<{ n: number }>(
        sql`SELECT CAST(count(*) AS integer) AS n FROM pg_tables WHERE schemaname = ${db.schema} AND tablename LIKE '\\_\\_%'`,
      );
      return Number(row!.n);
    }

    it('writes every row, in input order, into typed columns', async () => {
      const expected: TrainingRow[] = [];
      for await (const row of trainingSet()) expected.push(row);
      expect(expected).toHaveLength(entityRows.length);
      // The data exercise quoting in every column kind.
      const seen = new Set(
        expected.flatMap((r) => [r.last_merchant, ...(r.recent_merchants as string[])]),
      );
      for (const m of merchants) expect(seen).toContain(m);

      const result = await writeTrainingSetInto(executor, db.schema, trainingSet(), {
        table: 'training_v1',
        features,
        batchSize: 7,
      });
      expect(result).toEqual({ table: `${db.schema}.training_v1`, rows: entityRows.length });
      const stored = await readTable(`${db.schema}.training_v1`);
      expect(stored).toEqual(
        expected.map((row, i) => {
          const { user_id, ts, label, note, ...values } = row;
          return {
            row_number: i + 1,
            entity_row: { user_id, ts, label, note },
            ...values,
          };
        }),
      );
      const columns = await executor.query<{ column_name: string; data_type: string }>(
        sql`SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = ${db.schema} AND table_name = 'training_v1' ORDER BY ordinal_position`,
      );
      expect(columns.map((c) => `${c.column_name} ${c.data_type}`)).toEqual([
        'row_number bigint',
        'entity_row json',
        'tx_count_7d bigint',
        'amount_sum double precision',
        'qty_sum bigint',
        'last_merchant text',
        'last_approved boolean',
        'recent_amounts jsonb',
        'recent_merchants jsonb',
      ]);
      const [pk] = await executor.query<{ n: number }>(
        sql`SELECT CAST(count(*) AS integer) AS n FROM information_schema.table_constraints
        WHERE table_schema = ${db.schema} AND table_name = 'training_v1' AND constraint_type = 'PRIMARY KEY'`,
      );
      expect(Number(pk!.n)).toBe(1);
      expect(await scratchTables()).toBe(0);
    });

    it('refuses an existing table unless replacing, and swaps it whole', async () => {
      await expect(
        writeTrainingSetInto(executor, db.schema, trainingSet(), {
          table: 'training_v1',
          features,
        }),
      ).rejects.toThrow(expect.objectContaining({ code: 'DUPLICATE_NAME', path: 'table' }));
      const short = (async function* () {
        let n = 0;
        for await (const row of trainingSet()) {
          if (n++ === 3) return;
          yield row;
        }
      })();
      const result = await writeTrainingSetInto(executor, 'ignored', short, {
        table: `${db.schema}.training_v1`,
        features,
        replace: true,
      });
      expect(result.rows).toBe(3);
      expect(await readTable(`${db.schema}.training_v1`)).toHaveLength(3);
      expect(await scratchTables()).toBe(0);
    });

    it('writes an empty table for no rows', async () => {
      const result = await writeTrainingSetInto(executor, db.schema, [], {
        table: 'empty_set',
        features,
      });
      expect(result.rows).toBe(0);
      expect(await readTable(`${db.schema}.empty_set`)).toEqual([]);
    });

    it('names a bad row, drops what it wrote and closes the source', async () => {
      let closed = false;
      async function* rows() {
        try {
          for await (const row of trainingSet()) yield row;
          yield { ...entityRows[0], ...Object.fromEntries(features.map((f) => [f.name, null])) };
          yield { user_id: 'u1', tx_count_7d: 1.5 };
        } finally {
          closed = true;
        }
      }
      await expect(
        writeTrainingSetInto(executor, db.schema, rows(), {
          table: 'broken',
          features,
          batchSize: 10,
        }),
      ).rejects.toThrow(
        expect.objectContaining({ code: 'TYPE_MISMATCH', path: 'rows[41].tx_count_7d' }),
      );
      expect(closed).toBe(true);
      const [found] = await executor.query<{ found: boolean }>(
        sql`SELECT to_regclass(${`${db.schema}.broken`}) IS NOT NULL AS found`,
      );
      expect(found!.found).toBe(false);
      expect(await scratchTables()).toBe(0);

      const failure = (row: TrainingRow) =>
        writeTrainingSetInto(executor, db.schema, [row], {
          table: 'broken',
          features: [features[3]],
        });
      await expect(failure({ last_merchant: 'a\u0000b' })).rejects.toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', path: 'rows[0].last_merchant' }),
      );
      await expect(failure({ other: 1 })).rejects.toThrow(
        expect.objectContaining({ code: 'UNKNOWN_COLUMN', path: 'rows[0].last_merchant' }),
      );
      await expect(
        writeTrainingSetInto(executor, db.schema, [{ qty_sum: 2 ** 64 }], {
          table: 'broken',
          features: [features[2]],
        }),
      ).rejects.toThrow(
        expect.objectContaining({ code: 'VALUE_OUT_OF_RANGE', path: 'rows[0].qty_sum' }),
      );
      expect(await scratchTables()).toBe(0);
    });

    it('rejects bad table names, batch sizes and features named like its own columns', async () => {
      for (const table of ['', 'a.b.c', 'bad-name', 'x;drop']) {
        await expect(
          writeTrainingSetInto(executor, db.schema, [], { table, features }),
        ).rejects.toThrow(expect.objectContaining({ code: 'INVALID_IDENTIFIER', path: 'table' }));
      }
      await expect(
        writeTrainingSetInto(executor, db.schema, [], { table: 't', features, batchSize: 0 }),
      ).rejects.toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', path: 'batchSize' }));
      await expect(
        writeTrainingSetInto(executor, db.schema, [], {
          table: 't',
          features: [tx.count().as('row_number')],
        }),
      ).rejects.toThrow(expect.objectContaining({ code: 'DUPLICATE_NAME', path: 'row_number' }));
    });

    it('streams a larger set in batches', async () => {
      const many = Array.from({ length: 12_000 }, (_, i) => ({
        user_id: `u${i % 5}`,
        ts: T0 + (i % 25) * DAY,
        i,
      }));
      const result = await writeTrainingSetInto(
        executor,
        db.schema,
        store.getTrainingSet({ features, entityRows: many }),
        { table: 'many', features, batchSize: 5_000 },
      );
      expect(result.rows).toBe(12_000);
      const [check] = await executor.query<{ n: number; ordered: boolean }>(
        sql`SELECT CAST(count(*) AS integer) AS n,
        bool_and(CAST(entity_row->>'i' AS bigint) = row_number - 1) AS ordered
        FROM ${sql.identifier(db.schema)}.many`,
      );
      expect(check).toEqual({ n: 12_000, ordered: true });
    });
  },
);
