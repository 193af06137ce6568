import {
  entity,
  eventSource,
  isTandemError,
  requestFeature,
  type TandemErrorCode,
} from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { createOfflineStore, type OfflineStore } from '../store.js';
import type { TrainingSetOptions } from './training-set.js';

const user = entity({ name: 'user', keys: { user_id: 'string', shard: 'int' } });
const tx = eventSource({ name: 'tx', entity: user, fields: { amount: 'float' } });
/** Never applied: its managed table does not exist. */
const unapplied = eventSource({ name: 'unapplied', entity: user, fields: { amount: 'float' } });
const missingTable = eventSource({
  name: 'missing_table',
  entity: user,
  table: 'no_such_table',
  fields: { amount: 'float' },
});
const missingColumn = eventSource({
  name: 'missing_column',
  entity: user,
  table: 'app_events',
  fields: { amount: 'float', price: 'float' },
});

const countAll = tx.count().as('count_all');
const sumAll = tx.sum('amount').as('sum_all');
const variance = tx.variance('amount').as('variance');
const scaled = requestFeature({
  name: 'scaled',
  input: z.object({ factor: z.number().positive() }),
  uses: { sumAll },
  type: 'float',
  compute: (input, f) => f.sumAll * input.factor,
});

const engines: TestDatabase[] = await openSqlEngines('fs_ts_errors');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))(
  'training-set errors on %s',
  (_n, database) => {
    let store: OfflineStore;
    beforeAll(async () => {
      store = createOfflineStore({
        executor: pgliteOrPostgresExecutor(database),
        schema: database.schema,
        clock: () => 0,
      });
      await store.apply([tx]);
      await store.ingest(tx, [
        { user_id: 'u', shard: 1, ts: 1, eventId: 'a', amount: 1 },
        { user_id: 'tiny', shard: 1, ts: 1, eventId: 'a', amount: 1e-200 },
        { user_id: 'tiny', shard: 1, ts: 2, eventId: 'b', amount: 1e-200 },
      ]);
      await store.executor.query(
        sql`CREATE TABLE app_events (user_id text, shard int, ts bigint, amount float8)`,
      );
    });
    afterAll(() => store.executor.close());

    const scratchTables = async () =>
      (
        await store.executor.query<{ name: string }>(
          sql`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ${store.schema} AND table_name LIKE ${'\\_\\_rows%'}`,
        )
      ).map((t) => t.name);

    /** Reads the whole set and returns the error it fails with, plus the rows yielded before it. */
    const failure = async (options: TrainingSetOptions) => {
      const rows: unknown[] = [];
      try {
        for await (const row of store.getTrainingSet(options)) rows.push(row);
      } catch (error) {
        return { error, rows };
      }
      throw new Error(`no error; got ${JSON.stringify(rows)}`);
    };
    const expectError = async (
      options: TrainingSetOptions,
      code: TandemErrorCode,
      path: string | undefined,
    ) => {
      const { error, rows } = await failure(options);
      expect(isTandemError(error), String(error)).toBe(true);
      expect({
        code: (error as { code: string }).code,
        path: (error as { path?: string }).path,
      }).toEqual({ code, path });
      expect(await scratchTables()).toEqual([]);
      return { error: error as Error, rows };
    };

    const row = { user_id: 'u', shard: 1, ts: 10 };

    it.each([
      ['a missing key', { user_id: undefined }, 'entityRows[1].user_id'],
      ['an empty string key', { user_id: '' }, 'entityRows[1].user_id'],
      ['a fractional int key', { shard: 1.5 }, 'entityRows[1].shard'],
      ['a string int key', { shard: '1' }, 'entityRows[1].shard'],
      ['a missing time', { ts: undefined }, 'entityRows[1].ts'],
      ['a non-integer time', { ts: 1.5 }, 'entityRows[1].ts'],
      ['a NaN time', { ts: Number.NaN }, 'entityRows[1].ts'],
      ['an infinite time', { ts: Number.POSITIVE_INFINITY }, 'entityRows[1].ts'],
      ['a string time', { ts: 'yesterday' }, 'entityRows[1].ts'],
      ['an invalid Date', { ts: new Date('not a date') }, 'entityRows[1].ts'],
    ])(
      'an array entity row with %s is rejected naming row and field',
      async (_case, patch, path) => {
        await expectError(
          { features: [countAll], entityRows: [row, { ...row, ...patch }] },
          'INVALID_ARGUMENT',
          path,
        );
      },
    );

    it('an array entity row with a column JSON cannot hold names it', async () => {
      const cyclic: Record<string, unknown> = { ...row };
      cyclic.self = cyclic;
      await expectError(
        { features: [countAll], entityRows: [row, { ...row, label: 10n }] },
        'INVALID_ARGUMENT',
        'entityRows[1].label',
      );
      await expectError(
        { features: [countAll], entityRows: [cyclic] },
        'INVALID_ARGUMENT',
        'entityRows[0].self',
      );
    });

    it('a non-object entity row is rejected', async () => {
      await expectError(
        { features: [countAll], entityRows: [row, null as never] },
        'INVALID_ARGUMENT',
        'entityRows[1]',
      );
    });

    it('query entity rows with a null key or time name the row', async () => {
      await expectError(
        {
          features: [countAll],
          entityRows: {
            query: sql`SELECT * FROM (VALUES ('u', 1, 5), ('u', NULL, 6)) AS t(user_id, shard, ts)`,
          },
        },
        'INVALID_ARGUMENT',
        'entityRows[1].shard',
      );
      await expectError(
        {
          features: [countAll],
          entityRows: {
            query: sql`SELECT * FROM (VALUES ('u', 1, 5), ('u', 1, NULL)) AS t(user_id, shard, ts)`,
          },
        },
        'INVALID_ARGUMENT',
        'entityRows[1].ts',
      );
    });

    it('query entity rows with a non-integer time name the row, not round it', async () => {
      for (const type of ['numeric', 'double precision']) {
        const { error } = await expectError(
          {
            features: [countAll],
            entityRows: {
              query: sql`SELECT * FROM (VALUES ('u', 1, CAST(5 AS ${sql.raw(type)})), ('u', 1, CAST(1.5 AS ${sql.raw(type)}))) AS t(user_id, shard, ts)`,
            },
          },
          'INVALID_ARGUMENT',
          'entityRows[1].ts',
        );
        expect(error.message).toMatch(/non-integer time/);
      }
    });

    it('query entity rows without a key or time column name the column', async () => {
      await expectError(
        { features: [countAll], entityRows: { query: sql`SELECT 'u' AS user_id, 5 AS ts` } },
        'UNKNOWN_COLUMN',
        'entityRows.shard',
      );
      await expectError(
        {
          features: [countAll],
          entityRows: { query: sql`SELECT 'u' AS user_id, 1 AS shard, 5 AS at` },
        },
        'UNKNOWN_COLUMN',
        'entityRows.ts',
      );
      await expectError(
        { features: [countAll], entityRows: { table: 'app_events' }, timeColumn: 'happened_at' },
        'UNKNOWN_COLUMN',
        'entityRows.happened_at',
      );
    });

    it('bad options and names are rejected', async () => {
      await expectError(
        { features: [countAll], entityRows: [row], pageSize: 0 },
        'INVALID_ARGUMENT',
        'pageSize',
      );
      await expectError(
        { features: [countAll], entityRows: [row], timeColumn: 'ts; drop' },
        'INVALID_IDENTIFIER',
        'timeColumn',
      );
      await expectError(
        { features: [countAll], entityRows: { table: 'a.b.c' } },
        'INVALID_IDENTIFIER',
        'entityRows.table',
      );
    });

    it('a feature whose source was never applied is an UNKNOWN_FEATURE error, not a Postgres error', async () => {
      const { error } = await expectError(
        { features: [countAll, unapplied.count().as('never_count')], entityRows: [row] },
        'UNKNOWN_FEATURE',
        'feature never_count',
      );
      expect(error.message).toMatch(/source unapplied was never applied/);
      await expectError(
        { features: [missingTable.sum('amount').as('gone')], entityRows: [row] },
        'UNKNOWN_TABLE',
        'feature gone',
      );
      const column = await expectError(
        { features: [missingColumn.sum('price').as('price_sum')], entityRows: [row] },
        'UNKNOWN_COLUMN',
        'source missing_column.fields.price',
      );
      expect(column.error.message).toMatch(/no column price/);
    });

    it('request data failing the request feature schema names the row and field', async () => {
      const { rows } = await expectError(
        {
          features: [scaled],
          entityRows: [
            { ...row, factor: 2 },
            { ...row, factor: 3 },
            { ...row, factor: -1 },
            { ...row, factor: 4 },
          ],
          pageSize: 1,
        },
        'INVALID_ARGUMENT',
        'entityRows[2].factor',
      );
      expect(rows).toEqual([
        { ...row, factor: 2, scaled: 2 },
        { ...row, factor: 3, scaled: 3 },
      ]);
      await expectError(
        { features: [scaled], entityRows: [row] },
        'INVALID_ARGUMENT',
        'entityRows[0].factor',
      );
    });

    it('a feature named like an entity-row column is a DUPLICATE_NAME error', async () => {
      await expectError(
        { features: [countAll, sumAll], entityRows: [{ ...row, sum_all: 1 }] },
        'DUPLICATE_NAME',
        'entityRows[0].sum_all',
      );
    });

    it('a float underflow in an aggregation is VALUE_OUT_OF_RANGE, as in the TS engine', async () => {
      await expectError(
        {
          features: [variance],
          entityRows: [row, { ...row, user_id: 'tiny', ts: 5 }],
          pageSize: 1,
        },
        'VALUE_OUT_OF_RANGE',
        undefined,
      );
    });

    it('the scratch table is dropped after an early break, with pages still in flight', async () => {
      const rows = Array.from({ length: 50 }, (_, i) => ({ ...row, ts: i, id: i }));
      for (const concurrency of [1, 4]) {
        let seen = 0;
        for await (const out of store.getTrainingSet({
          features: [sumAll],
          entityRows: rows,
          pageSize: 3,
          concurrency,
        })) {
          expect(out.id).toBe(seen);
          seen += 1;
          if (seen === 4) break;
        }
        expect(seen).toBe(4);
        expect(await scratchTables()).toEqual([]);
      }
    });

    it('a page failing while the consumer holds an earlier row is no unhandled rejection', async () => {
      // The next page (the 'tiny' row, whose variance underflows) is already requested when the
      // first row is yielded; it fails while the consumer waits. Vitest reports an unhandled
      // rejection as an error of the run, and Node would exit on it.
      const options: TrainingSetOptions = {
        features: [variance],
        entityRows: [row, { ...row, user_id: 'tiny', ts: 5 }, row],
        pageSize: 1,
        concurrency: 2,
      };
      const wait = () => new Promise((resolve) => setTimeout(resolve, 300));
      for await (const _ of store.getTrainingSet(options)) {
        await wait();
        break;
      }
      expect(await scratchTables()).toEqual([]);
      const seen: unknown[] = [];
      const error = await (async () => {
        for await (const out of store.getTrainingSet(options)) {
          seen.push(out);
          await wait();
        }
      })().catch((e: unknown) => e);
      expect(isTandemError(error, 'VALUE_OUT_OF_RANGE')).toBe(true);
      expect(seen).toHaveLength(1);
      expect(await scratchTables()).toEqual([]);
    });

    it('the scratch table is dropped when the consumer throws', async () => {
      await expect(
        (async () => {
          for await (const _ of store.getTrainingSet({
            features: [sumAll],
            entityRows: [row, row],
          })) {
            throw new Error('consumer failed');
          }
        })(),
      ).rejects.toThrow('consumer failed');
      expect(await scratchTables()).toEqual([]);
    });
  },
);
