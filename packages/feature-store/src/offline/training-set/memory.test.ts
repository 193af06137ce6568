import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { entity, eventSource } from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { sourceTableSql } from '../managed-tables.js';
import { createOfflineStore, type OfflineStore } from '../store.js';

const ROWS = 200_000;
const USERS = 10_000;
/** Bytes of label text per entity row: all rows together hold about 40 MB of it. */
const PAYLOAD = 200;
/**
 * Allowed growth of the live heap after the first checkpoint: the pages in flight (up to three
 * pages of {@link PAGE} rows) fit easily; the 180k rows read since would not (their labels alone
 * are about 37 MB).
 */
const BOUND = 16 * 2 ** 20;
const PAGE = 2_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const liveHeap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const tx = eventSource({ name: 'tx', entity: user, fields: { amount: 'float' } });
const features = [
  tx.count().window('7d').as('count_7d'),
  tx.sum('amount').window('7d').as('sum_7d'),
  tx.lastK('amount', 3).as('last3'),
];

const engines: TestDatabase[] = await openSqlEngines('fs_ts_memory');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))(
  'training-set memory on %s',
  (_n, database) => {
    let store: OfflineStore;
    beforeAll(async () => {
      store = createOfflineStore({
        executor: pgliteOrPostgresExecutor(database),
        schema: database.schema,
      });
      await store.apply([tx]);
      // 200k events over 10k users in one day, written server side.
      await store.executor.query(sql`
      INSERT INTO ${sourceTableSql(store.schema, tx.ir)} (user_id, ts, event_id, ingested_at, amount)
      SELECT 'u' || (i % ${USERS}), (i * 432) % 86400000, 'e' || i, 0, (i % 97) / 4.0
      FROM generate_series(1, ${ROWS}) AS i`);
      await store.executor.query(sql`ANALYZE ${sourceTableSql(store.schema, tx.ir)}`);
    }, 300_000);
    afterAll(() => store.executor.close());

    it(`streams ${ROWS} rows with a flat heap`, async () => {
      const entityRows = {
        query: sql`SELECT 'u' || (i % ${USERS}) AS user_id, 86400000 + (i % 1000) AS ts,
        repeat('x', ${PAYLOAD}) || i AS label
        FROM generate_series(1, ${ROWS}) AS i`,
      };
      const checkpoints: number[] = [];
      let seen = 0;
      let bytes = 0;
      let events = 0;
      for await (const row of store.getTrainingSet({ features, entityRows, pageSize: PAGE })) {
        seen += 1;
        bytes += (row.label as string).length;
        events += row.count_7d as number;
        if (seen % 20_000 === 0) checkpoints.push(liveHeap());
      }
      expect(seen).toBe(ROWS);
      // Every user has 20 events before q, all within 7 days.
      expect(events).toBe(ROWS * (ROWS / USERS));
      // Holding the rows would need more than the bound: the test can tell the difference.
      expect(bytes).toBeGreaterThan(2 * BOUND);
      const growth = Math.max(...checkpoints) - checkpoints[0]!;
      expect(
        growth,
        `live heap at checkpoints (MB): ${checkpoints.map((b) => (b / 2 ** 20).toFixed(1)).join(', ')}`,
      ).toBeLessThan(BOUND);
      const scratch = await store.executor.query(
        sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${store.schema} AND table_name LIKE ${'\\_\\_rows%'}`,
      );
      expect(scratch).toEqual([]);
    }, 300_000);
  },
);
