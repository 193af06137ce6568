import type { TestDatabase } from '@tandem/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { onlineFeatures } from '../../../test/online-model.js';
import { openTestServices } from '../../../test/services.js';
import type { SqlExecutor } from '../../executor/executor.js';
import type { WrittenEvent } from '../../offline/ingest.js';
import { applyDefinitions } from '../../registry/registry.js';
import { readWatermark } from '../../registry/watermarks.js';
import type { OnlineAdapter } from '../adapter.js';
import { memoryAdapter } from '../memory/adapter.js';
import { redisAdapter } from '../redis/adapter.js';
import { createOnlineStore } from '../store.js';
import {
  DAY,
  expectParity,
  HOUR,
  ingestAt,
  MINUTE,
  resetData,
  snapshotRedis,
  type TimedEvent,
} from './harness.js';
import { materialize } from './materialize.js';

/** Two runs: R1 (the first, full) and R2 (incremental), not aligned to any grain. */
const R1 = Date.UTC(2026, 10, 1) + 40 * DAY + 17 * MINUTE + 123;
const R2 = R1 + 6 * HOUR;
const CUSTOMERS = ['a', 'b', 'c', 'd', 'zz'];

const { databases, redisReason, redis } = await openTestServices('fs_materialize', 'materialize');

/** Event time and arrival delay: on time (streamed), or late (refused by the stream layer). */
const timingArb = fc.oneof(
  fc.record({
    ts: fc.oneof(
      fc.integer({ min: R1 - 35 * DAY, max: R2 }),
      fc.integer({ min: R1 - 3 * HOUR, max: R1 + HOUR }),
      fc.integer({ min: R2 - 3 * HOUR, max: R2 }),
    ),
    delay: fc.oneof(
      fc.integer({ min: 0, max: 30 * MINUTE }),
      fc.integer({ min: HOUR + 1, max: 20 * DAY }),
    ),
  }),
  // Late, arriving between the runs: the second run's late repair must pick it up.
  fc
    .record({
      arrival: fc.integer({ min: R1 + 1, max: R2 - 150 * MINUTE }),
      delay: fc.oneof(
        fc.integer({ min: HOUR + 1, max: 3 * HOUR }),
        fc.integer({ min: HOUR + 1, max: 40 * DAY }),
      ),
    })
    .map(({ arrival, delay }) => ({ ts: arrival - delay, delay })),
);

const rawEventArb = fc.record({
  customer: fc.constantFrom('a', 'b', 'c', 'd'),
  timing: timingArb,
  id: fc.integer({ min: 0, max: 150 }),
  // Multiples of 1/4: every sum and sum of squares is exact, so values compare exactly.
  amount: fc.integer({ min: -40_000, max: 40_000 }).map((x) => x / 4),
  items: fc.integer({ min: 0, max: 9 }),
  channel: fc.constantFrom(null, 'web', 'app', 'shop'),
});

type RawEvent = typeof rawEventArb extends fc.Arbitrary<infer T> ? T : never;

/**
 * Arrival order. A late event that arrives within one grain before a run is not visible until the
 * run after (its tile straddles the watermark; docs/online.md), so late arrivals keep 2.5 hours
 * clear of each run.
 */
function timeline(raw: readonly RawEvent[]): TimedEvent[] {
  const events: TimedEvent[] = [];
  for (const e of raw) {
    const { ts, delay } = e.timing;
    let arrival = ts + delay;
    if (arrival > R2) continue;
    for (const run of [R1, R2]) {
      if (ts < arrival - HOUR && arrival > run - 150 * MINUTE && arrival <= run) {
        arrival = Math.max(ts, run - 150 * MINUTE);
      }
    }
    events.push({
      customer: e.customer,
      ts,
      arrival,
      id: `e${e.id}`,
      amount: e.amount,
      items: e.items,
      channel: e.channel,
    });
  }
  return events.sort((a, b) => a.arrival - b.arrival);
}

interface Combo {
  readonly name: string;
  readonly database: TestDatabase;
  readonly adapter: () => OnlineAdapter;
  readonly runs: number;
}

const combos: Combo[] = databases.flatMap((database): Combo[] => {
  const memory: Combo = {
    name: `${database.engine} + in-process`,
    database,
    adapter: () => memoryAdapter(),
    runs: database.engine === 'postgres' ? 25 : 8,
  };
  if (database.engine !== 'postgres' || redisReason) return [memory];
  return [
    memory,
    {
      name: `${database.engine} + redis`,
      database,
      adapter: () => redisAdapter({ client: redis!.client }),
      runs: 20,
    },
  ];
});

describe.each(combos)('materialize on $name', ({ database, adapter, runs }) => {
  let executor: SqlExecutor;
  const schema = database.schema;
  beforeAll(async () => {
    executor = pgliteOrPostgresExecutor(database);
    await applyDefinitions(executor, schema, { features: [...onlineFeatures] });
  });
  afterAll(() => executor.close());

  it('batch tiles + stream layer read exactly as the TS fold; late events repaired; idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rawEventArb, { maxLength: 40 }), async (raw) => {
        await resetData(executor, schema);
        let now = 0;
        const namespace = `${redis?.prefix ?? 'test:'}m${Math.random().toString(36).slice(2, 8)}`;
        const online = createOnlineStore({
          adapter: adapter(),
          features: [...onlineFeatures],
          namespace,
          allowedLateness: '1h',
          clock: () => now,
        });
        const run = (at: number, extra: { full?: boolean } = {}) => {
          now = at;
          return materialize({ executor, schema, online, clock: () => at, chunkSize: 2, ...extra });
        };
        try {
          const written: WrittenEvent[] = [];
          let first = false;
          for (const event of timeline(raw)) {
            if (!first && event.arrival > R1) {
              const result = await run(R1);
              expect(result.runs.map((r) => r.mode)).toEqual(['full']);
              await expectParity(online, written, CUSTOMERS, R1);
              first = true;
            }
            written.push(...(await ingestAt(executor, schema, online, (t) => (now = t), event)));
          }
          if (!first) await run(R1);
          const second = await run(R2);
          expect(second.runs).toMatchObject([
            { mode: 'incremental', previous: R1 - HOUR, watermark: R2 - HOUR },
          ]);
          expect(await online.watermark('orders')).toBe(R2 - HOUR);
          await expectParity(online, written, CUSTOMERS, R2);

          // Same end again: nothing to do. A full run rewrites the same tiles with the same values.
          expect((await run(R2)).runs.map((r) => r.mode)).toEqual(['up_to_date']);
          const before =
            redis === undefined ? null : await snapshotRedis(redis.client, namespace, 'b');
          expect((await run(R2, { full: true })).runs.map((r) => r.mode)).toEqual(['full']);
          if (before !== null) {
            expect(await snapshotRedis(redis!.client, namespace, 'b')).toEqual(before);
          }
          await expectParity(online, written, CUSTOMERS, R2);
        } finally {
          await online.clear();
        }
      }),
      // Each run costs seconds of SQL and Redis: report the failing case as found, unshrunk.
      { numRuns: runs, endOnFailure: true },
    );
    const watermark = await readWatermark(executor, schema, 'orders_7d');
    expect(watermark?.watermark).toBe(R2 - HOUR);
  }, 600_000);
});
