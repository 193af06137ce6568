import { entity, eventSource, featureService } from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import { loadTrainingStatistics } from '../statistics/store.js';
import { createOfflineStore } from './store.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const payments = eventSource({ name: 'payments', entity: user, fields: { amount: 'float' } });
const count1h = payments.count().window('1h').as('payments_1h');
const max1h = payments.max('amount').window('1h').as('max_amount_1h');
const service = featureService('payments_v1', [count1h, max1h]);

/** A store over the engine with `payments` applied and two events of user `a` (ts 1000, 2000). */
async function paymentsStore(database: TestDatabase) {
  const executor = pgliteOrPostgresExecutor(database);
  const store = createOfflineStore({ executor, schema: database.schema, clock: () => 0 });
  await store.apply([payments]);
  await store.ingest(payments, [
    { user_id: 'a', ts: 1_000, eventId: '1', amount: 5 },
    { user_id: 'a', ts: 2_000, eventId: '2', amount: 7 },
  ]);
  return { executor, store };
}

const engines: TestDatabase[] = await openSqlEngines('fs_store');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))(
  'writeTrainingSet on %s',
  (_name, database) => {
    it('writes the rows into a table and stores their statistics', async () => {
      const { executor, store } = await paymentsStore(database);
      try {
        await store.ingest(payments, [{ user_id: 'b', ts: 1_500, eventId: '3', amount: 1 }]);
        const result = await store.writeTrainingSet({
          features: service,
          entityRows: [
            { user_id: 'a', ts: 2_000, label: 1 },
            { user_id: 'a', ts: 2_001, label: 0 },
            { user_id: 'b', ts: 1_500, label: 0 },
          ],
          into: { table: 'payments_train' },
          statistics: { name: 'payments_v1_train' },
        });
        expect(result.rows).toBe(3);
        const rows = await executor.query<{ n: number; mx: number | null }>(sql`
        SELECT CAST(payments_1h AS integer) AS n, max_amount_1h AS mx
        FROM ${sql.identifier(database.schema)}.payments_train ORDER BY row_number`);
        expect(rows).toEqual([
          { n: 1, mx: 5 },
          { n: 2, mx: 7 },
          { n: 0, mx: null },
        ]);
        const stored = await loadTrainingStatistics(executor, database.schema, 'payments_v1_train');
        expect(stored?.statistics.rows).toBe(3);
        expect(stored?.statistics).toEqual(result.statistics);
      } finally {
        await executor.close();
      }
    });

    it('computes the values in SQL from a table, and refuses bad entity rows as getTrainingSet does', async () => {
      const { executor, store } = await paymentsStore(database);
      try {
        await executor.query(sql`CREATE TABLE sql_rows (user_id text, ts bigint, label int)`);
        await executor.query(
          sql`INSERT INTO sql_rows VALUES ('a', 2000, 1), ('a', 2001, 0), ('b', 5, 1)`,
        );
        const entityRows = { table: 'sql_rows' };
        const result = await store.writeTrainingSet({
          features: service,
          entityRows,
          into: { table: 'sql_train' },
        });
        expect(result).toEqual({ table: `${database.schema}.sql_train`, rows: 3 });
        const written = await executor.query<Record<string, unknown>>(sql`
          SELECT entity_row, CAST(payments_1h AS integer) AS payments_1h, max_amount_1h
          FROM ${sql.identifier(database.schema)}.sql_train ORDER BY row_number`);
        const streamed: Record<string, unknown>[] = [];
        for await (const row of store.getTrainingSet({ features: service, entityRows })) {
          streamed.push(row);
        }
        expect(
          written.map(({ entity_row, ...values }) => ({
            ...(typeof entity_row === 'string' ? JSON.parse(entity_row) : entity_row),
            ...values,
          })),
        ).toEqual(streamed);

        const refusal = (entityRows: { query: ReturnType<typeof sql> }) =>
          store
            .writeTrainingSet({ features: service, entityRows, into: { table: 'sql_bad' } })
            .then(
              () => null,
              (error: { code: string; path: string }) => ({ code: error.code, path: error.path }),
            );
        expect(
          await refusal({ query: sql`SELECT user_id, ts, 1 AS max_amount_1h FROM sql_rows` }),
        ).toEqual({ code: 'DUPLICATE_NAME', path: 'entityRows[0].max_amount_1h' });
        expect(
          await refusal({
            query: sql`SELECT NULLIF(user_id, 'b') AS user_id, ts FROM sql_rows ORDER BY ts DESC`,
          }),
        ).toEqual({ code: 'INVALID_ARGUMENT', path: 'entityRows[2].user_id' });
        expect(await refusal({ query: sql`SELECT user_id FROM sql_rows` })).toEqual({
          code: 'UNKNOWN_COLUMN',
          path: 'entityRows.ts',
        });
        const [left] = await executor.query<{ n: number }>(sql`
          SELECT CAST(count(*) AS integer) AS n FROM pg_tables
          WHERE schemaname = ${database.schema} AND tablename NOT IN ('sql_train')
            AND (tablename LIKE '__into%' OR tablename = 'sql_bad')`);
        expect(left?.n).toBe(0);
      } finally {
        await executor.close();
      }
    });
  },
);
