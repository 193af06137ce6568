import { compileFolder, featureValue, type SourceEvent } from '@tandem/core';
import { openRedis, redisUnavailableReason, type TestRedis } from '@tandem/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineFeatures } from '../../test/online-model.js';
import type { OnlineAdapter } from './adapter.js';
import { memoryAdapter } from './memory/adapter.js';
import { redisAdapter } from './redis/adapter.js';
import { createOnlineStore, type OnlineEvent } from './store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2026, 10, 1);
const NOW = BASE + 40 * DAY;

const redisReason = await redisUnavailableReason();
let redis: TestRedis | undefined;
beforeAll(async () => {
  if (!redisReason) redis = await openRedis('online store');
});
afterAll(() => redis?.close());

const engines: [string, () => OnlineAdapter][] = [
  ['in-process', () => memoryAdapter()],
  ...(redisReason
    ? []
    : [['redis', () => redisAdapter({ client: redis!.client })] as [string, () => OnlineAdapter]]),
];

const eventArb = fc.record({
  customer: fc.constantFrom('a', 'b', 'c'),
  ts: fc.oneof(
    fc.integer({ min: NOW - 35 * DAY, max: NOW + HOUR }),
    fc.integer({ min: NOW - 2 * HOUR, max: NOW }),
  ),
  id: fc.integer({ min: 0, max: 400 }),
  amount: fc.oneof(
    // Squares of |x| < 1e-160 underflow: a separate test covers that error.
    fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((x) => x === 0 || Math.abs(x) > 1e-150),
    fc.integer({ min: -100, max: 100 }),
  ),
  items: fc.integer({ min: 0, max: 9 }),
  channel: fc.constantFrom(null, 'web', 'app', 'shop', 'phone'),
});

describe.each(engines)('online store on %s', (_name, makeAdapter) => {
  it('reads every aggregation exactly as the TS fold of the same events', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArb, { maxLength: 60 }),
        fc.array(fc.integer({ min: NOW - 3 * HOUR, max: NOW + 2 * HOUR }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (raw, queries) => {
          const adapter = makeAdapter();
          const store = createOnlineStore({
            adapter,
            features: [...onlineFeatures],
            allowedLateness: '60d',
            namespace: `${redis?.prefix ?? 'test:'}${Math.random().toString(36).slice(2, 8)}`,
            clock: () => NOW,
          });
          try {
            const events: OnlineEvent[] = raw.map((e, seq) => ({
              key: { customer_id: e.customer },
              ts: e.ts,
              eventId: `e${e.id}`,
              seq: seq + 1,
              ingestedAt: null,
              values: { amount: e.amount, items: e.items, channel: e.channel },
            }));
            await store.writeEvents('orders', events);
            for (const q of queries) {
              const rows = await store.getOnlineFeatures({
                service: [...onlineFeatures],
                entities: ['a', 'b', 'c', 'zz'].map((c) => ({ customer_id: c })),
                at: q,
              });
              for (const row of rows) {
                const mine: SourceEvent[] = events.filter(
                  (e) => e.key.customer_id === row.entity.customer_id,
                );
                for (const feature of onlineFeatures) {
                  // The online store serves -0 as 0 (JSON has no negative zero); compare numerically.
                  const expected = zeroSign(
                    featureValue(feature.ir, compileFolder(feature.ir).fold(mine, q)),
                  );
                  const actual = row.values[feature.name]!;
                  if (
                    typeof expected === 'number' &&
                    !(Number.isInteger(expected) && Number.isInteger(actual.value))
                  ) {
                    // Float sums agree within the DESIGN bound, not bit for bit.
                    expect(actual.value as number).toBeCloseTo(expected, 6);
                  } else {
                    expect({ f: feature.name, q, v: zeroSign(actual.value) }).toEqual({
                      f: feature.name,
                      q,
                      v: expected,
                    });
                  }
                  expect(actual.status).toBe(mine.length === 0 ? 'missing' : 'present');
                }
              }
            }
          } finally {
            await store.clear();
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});

function zeroSign<T>(value: T): T {
  if (Array.isArray(value)) return value.map(zeroSign) as T;
  return (value === 0 ? 0 : value) as T;
}

describe.each(engines)('events without id or sequence on %s', (_name, makeAdapter) => {
  it('counts identical events twice, as offline does (nothing to dedupe them by)', async () => {
    const store = createOnlineStore({
      adapter: makeAdapter(),
      features: [...onlineFeatures],
      namespace: `${redis?.prefix ?? 'test:'}noid${Math.random().toString(36).slice(2, 8)}`,
      clock: () => NOW,
    });
    try {
      const event: OnlineEvent = {
        key: { customer_id: 'a' },
        ts: NOW - 30_000,
        eventId: null,
        seq: null,
        ingestedAt: null,
        values: { amount: 2, items: 1, channel: 'web' },
      };
      expect(await store.writeEvents('orders', [event, event])).toEqual({
        applied: 2,
        duplicates: 0,
        late: 0,
      });
      const [row] = await store.getOnlineFeatures({
        service: [...onlineFeatures],
        entities: [{ customer_id: 'a' }],
        at: NOW,
      });
      const expected = compileFolder(onlineFeatures[0].ir).fold([event, event], NOW);
      expect(row!.values.orders_1h!.value).toBe(featureValue(onlineFeatures[0].ir, expected));
      expect(row!.values.orders_1h!.value).toBe(2);
      expect(row!.values.amount_7d!.value).toBe(4);
    } finally {
      await store.clear();
    }
  });
});
