import { compileFolder, featureValue } from '@tandem/core';
import { openRedis, redisUnavailableReason, type TestRedis } from '@tandem/testing';
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

// The fold property of every aggregation runs in the shared conformance suite
// (`describeOnlineAdapterConformance`, conformance.test.ts) on every engine.

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
