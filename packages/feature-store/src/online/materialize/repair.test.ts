import { compileFolder, eventSource, featureValue } from '@tandem/core';
import type { TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { customer, onlineFeatures } from '../../../test/online-model.js';
import { openTestServices } from '../../../test/services.js';
import type { SqlExecutor } from '../../executor/executor.js';
import { ingestEvents, type WrittenEvent } from '../../offline/ingest.js';
import { applyDefinitions } from '../../registry/registry.js';
import type { OnlineAdapter } from '../adapter.js';
import { memoryAdapter } from '../memory/adapter.js';
import { redisAdapter } from '../redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../store.js';
import {
  DAY,
  expectParity,
  flushPrefix,
  HOUR,
  ingestAt,
  MINUTE,
  resetData,
  type TimedEvent,
} from './harness.js';
import { materialize } from './materialize.js';
import { repair } from './repair.js';

const NOW = Date.UTC(2026, 10, 15, 13, 7, 11, 5);
const CUSTOMERS = ['a', 'b', 'c', 'zz'];

/** A second source, to repair one source and leave the other alone. */
const visits = eventSource({ name: 'visits', entity: customer, fields: { pages: 'int' } });
const visitFeatures = [
  visits.count().window('1d').as('visits_1d'),
  visits.sum('pages').as('pages_lifetime'),
] as const;

const { databases, redisReason, redis } = await openTestServices(
  'fs_mat_repair',
  'materialize repair',
);

const eventArb = fc.record({
  customer: fc.constantFrom('a', 'b', 'c'),
  ts: fc.oneof(
    fc.integer({ min: NOW - 32 * DAY, max: NOW }),
    fc.integer({ min: NOW - 4 * HOUR, max: NOW }),
  ),
  delay: fc.oneof(
    fc.integer({ min: 0, max: 20 * MINUTE }),
    fc.integer({ min: 2 * HOUR, max: 5 * DAY }),
  ),
  id: fc.integer({ min: 0, max: 100 }),
  amount: fc.integer({ min: -4000, max: 4000 }).map((x) => x / 4),
  items: fc.integer({ min: 0, max: 9 }),
  channel: fc.constantFrom(null, 'web', 'app'),
});

interface Combo {
  readonly name: string;
  readonly database: TestDatabase;
  readonly adapter: () => OnlineAdapter;
  /** What a data loss does to the namespace (Redis: its keys deleted, like a FLUSHALL). */
  readonly lose: (online: OnlineStore) => Promise<void>;
}

const combos: Combo[] = databases.flatMap((database): Combo[] => {
  // The in-process store loses its data by being dropped: a new adapter is empty.
  const memory: Combo = {
    name: `${database.engine} + in-process`,
    database,
    adapter: () => memoryAdapter(),
    lose: (online) => online.clear(),
  };
  if (database.engine !== 'postgres' || redisReason) return [memory];
  return [
    memory,
    {
      name: `${database.engine} + redis`,
      database,
      adapter: () => redisAdapter({ client: redis!.client }),
      lose: (online) => flushPrefix(redis!.client, `${online.namespace}:`),
    },
  ];
});

describe.each(combos)('repair on $name', ({ database, adapter, lose }) => {
  let executor: SqlExecutor;
  const schema = database.schema;
  beforeAll(async () => {
    executor = pgliteOrPostgresExecutor(database);
    await applyDefinitions(executor, schema, { features: [...onlineFeatures, ...visitFeatures] });
  });
  afterAll(() => executor.close());

  const makeStore = (clock: () => number) =>
    createOnlineStore({
      adapter: adapter(),
      features: [...onlineFeatures, ...visitFeatures],
      namespace: `${redis?.prefix ?? 'test:'}r${Math.random().toString(36).slice(2, 8)}`,
      allowedLateness: '1h',
      clock,
    });

  it('rebuilds the online store after data loss: values back to the TS fold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { maxLength: 30 }), async (raw) => {
        await resetData(executor, schema);
        let now = 0;
        const online = makeStore(() => now);
        try {
          const events: TimedEvent[] = raw
            .map((e) => ({ ...e, id: `e${e.id}`, arrival: Math.min(e.ts + e.delay, NOW) }))
            .sort((a, b) => a.arrival - b.arrival);
          const written: WrittenEvent[] = [];
          let materialized = false;
          for (const event of events) {
            if (!materialized && event.arrival > NOW - 3 * HOUR) {
              now = NOW - 3 * HOUR;
              await materialize({
                executor,
                schema,
                online,
                clock: () => now,
                sources: ['orders'],
              });
              materialized = true;
            }
            written.push(...(await ingestAt(executor, schema, online, (t) => (now = t), event)));
          }
          now = NOW;
          await lose(online);
          expect(await online.watermark('orders')).toBeNull();

          const result = await repair({ executor, schema, online, clock: () => NOW, chunkSize: 2 });
          expect(result.materialized.runs.map((r) => [r.source, r.mode])).toEqual([
            ['orders', 'full'],
            ['visits', 'full'],
          ]);
          const recent = written.filter((e) => e.ts >= NOW - HOUR - 2 ** 22);
          expect(result.replayed.orders).toMatchObject({ events: recent.length, late: 0 });
          expect(await online.watermark('orders')).toBe(NOW - HOUR);
          expect(await online.lateEvents()).toEqual({ orders: 0, visits: 0 });
          await expectParity(online, written, CUSTOMERS, NOW);
          // Streaming goes on after the repair.
          const later: TimedEvent = {
            customer: 'a',
            ts: NOW + 5 * MINUTE,
            arrival: NOW + 6 * MINUTE,
            id: 'after-repair',
            amount: 2.5,
            items: 3,
            channel: 'web',
          };
          written.push(...(await ingestAt(executor, schema, online, (t) => (now = t), later)));
          await expectParity(online, written, CUSTOMERS, NOW + 10 * MINUTE);
        } finally {
          await online.clear();
        }
      }),
      { numRuns: database.engine === 'postgres' ? 12 : 4 },
    );
  }, 600_000);

  it('repairs one source and leaves the others as they are', async () => {
    await resetData(executor, schema);
    await executor.query(sql`TRUNCATE ${sql.identifier(schema)}.events_visits`);
    let now = NOW - DAY;
    const online = makeStore(() => now);
    try {
      const orders: WrittenEvent[] = [];
      for (let i = 0; i < 12; i++) {
        const event: TimedEvent = {
          customer: ['a', 'b', 'c'][i % 3]!,
          ts: NOW - i * 5 * HOUR,
          arrival: NOW - i * 5 * HOUR + MINUTE,
          id: `o${i}`,
          amount: i,
          items: i % 4,
          channel: i % 2 === 0 ? 'web' : null,
        };
        if (event.arrival <= NOW) {
          orders.push(...(await ingestAt(executor, schema, online, (t) => (now = t), event)));
        }
      }
      const visitRows = ['a', 'b'].flatMap((c, i) =>
        [1, 2, 3].map((k) => ({
          customer_id: c,
          ts: NOW - k * 7 * HOUR,
          eventId: `v${i}${k}`,
          pages: k,
        })),
      );
      const { written: visitWritten = [] } = await ingestEvents(
        executor,
        schema,
        visits,
        visitRows,
        NOW - HOUR,
        true,
      );
      now = NOW;
      await online.writeEvents('visits', visitWritten);
      await materialize({ executor, schema, online, clock: () => NOW });
      const visitValues = async () =>
        (
          await online.getOnlineFeatures({
            service: [...visitFeatures],
            entities: [{ customer_id: 'a' }, { customer_id: 'b' }],
            at: NOW,
          })
        ).map((row) =>
          Object.fromEntries(Object.entries(row.values).map(([k, v]) => [k, v.value])),
        );
      const expectedVisits = ['a', 'b'].map((c) =>
        Object.fromEntries(
          visitFeatures.map((f) => [
            f.name,
            featureValue(
              f.ir,
              compileFolder(f.ir).fold(
                visitWritten.filter((e) => e.key.customer_id === c),
                NOW,
              ),
            ),
          ]),
        ),
      );
      expect(await visitValues()).toEqual(expectedVisits);
      await expectParity(online, orders, CUSTOMERS, NOW);

      // Lose the keys of orders only; repair orders only.
      await online.clear(['orders']);
      expect(await visitValues()).toEqual(expectedVisits);
      const result = await repair({
        executor,
        schema,
        online,
        clock: () => NOW,
        sources: ['orders'],
      });
      expect(result.materialized.runs.map((r) => r.source)).toEqual(['orders']);
      expect(Object.keys(result.replayed)).toEqual(['orders']);
      await expectParity(online, orders, CUSTOMERS, NOW);
      expect(await visitValues()).toEqual(expectedVisits);
      expect(await online.watermark('visits')).toBe(NOW - HOUR);
    } finally {
      await online.clear();
    }
  }, 120_000);
});
