import { compileFolder, featureValue, isTandemError, type SourceEvent } from '@tandem/core';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import { onlineFeatures, orders } from '../../test/online-model.js';
import { openTestServices } from '../../test/services.js';
import { createOfflineStore } from '../offline/store.js';
import { memoryAdapter } from '../online/memory/adapter.js';
import { redisAdapter } from '../online/redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../online/store.js';

const NOW = Date.UTC(2026, 10, 20, 12);

const {
  databases: engines,
  redisReason,
  redis,
} = await openTestServices('fs_stream_ingest', 'stream ingest');

const events = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => ({
    customer_id: `c${i % 3}`,
    ts: NOW - (i + offset) * 60_000,
    eventId: `e${i + offset}`,
    amount: (i + offset) * 1.5,
    items: (i + offset) % 7,
    channel: i % 2 === 0 ? 'web' : null,
  }));

/** The TS fold of everything in the managed table, per customer, as of `q`. */
function expected(all: readonly ReturnType<typeof events>[number][], customer: string, q: number) {
  const mine: SourceEvent[] = all
    .filter((e) => e.customer_id === customer)
    .map((e) => ({ ts: e.ts, eventId: e.eventId, seq: null, ingestedAt: null, values: e }));
  return Object.fromEntries(
    onlineFeatures.map((f) => [f.name, featureValue(f.ir, compileFolder(f.ir).fold(mine, q))]),
  );
}

function values(row: { values: Record<string, { value: unknown }> }) {
  return Object.fromEntries(Object.entries(row.values).map(([name, v]) => [name, v.value]));
}

describe.each(engines.map((e) => [e.engine, e] as const))(
  'streaming ingestion on %s',
  (_name, database) => {
    const makeOnline = (adapter = memoryAdapter()) =>
      createOnlineStore({
        adapter,
        features: [...onlineFeatures],
        namespace: `${redis?.prefix ?? 'test:'}${database.engine}`,
        clock: () => NOW,
        allowedLateness: '1d',
      });

    it('writes Postgres first, then every affected online feature; duplicates count once', async () => {
      const online = makeOnline();
      const store = createOfflineStore({
        executor: pgliteOrPostgresExecutor(database),
        schema: database.schema,
        clock: () => NOW,
        online,
      });
      try {
        await store.apply([orders]);
        const first = await store.ingest(orders, events(20));
        expect(first.inserted).toBe(20);
        expect(first.online).toEqual({ status: 'applied', applied: 20, duplicates: 0, late: 0 });
        const again = await store.ingest(orders, events(25));
        expect(again).toMatchObject({ inserted: 5, duplicates: 20 });
        expect(again.online).toEqual({ status: 'applied', applied: 5, duplicates: 0, late: 0 });
        const rows = await online.getOnlineFeatures({
          service: [...onlineFeatures],
          entities: [{ customer_id: 'c0' }, { customer_id: 'c2' }],
          at: NOW + 1,
        });
        expect(values(rows[0]!)).toEqual(expected(events(25), 'c0', NOW + 1));
        expect(values(rows[1]!)).toEqual(expected(events(25), 'c2', NOW + 1));
      } finally {
        await online.clear();
        await store.executor.close();
      }
    });

    it('rejects a bad batch whole: nothing offline, nothing online', async () => {
      const online = makeOnline();
      const store = createOfflineStore({
        executor: pgliteOrPostgresExecutor(database),
        schema: database.schema,
        clock: () => NOW,
        online,
      });
      try {
        await store.apply([orders]);
        const bad = [...events(3, 100), { ...events(1, 200)[0]!, amount: 'lots' }];
        const error = await store.ingest(orders, bad).catch((e: unknown) => e);
        expect(isTandemError(error) && error.code).toBe('INVALID_EVENT');
        expect(isTandemError(error) && error.path).toBe('events[3].amount');
        const [row] = await online.getOnlineFeatures({
          service: [...onlineFeatures],
          entities: [{ customer_id: 'c0' }],
          at: NOW + 1,
        });
        expect(row!.values.orders_7d).toEqual({ value: 0, status: 'missing', freshnessMs: null });
        expect(await online.lateEvents()).toEqual({ orders: 0 });
      } finally {
        await online.clear();
        await store.executor.close();
      }
    });

    it.skipIf(redisReason)(
      'keeps ingesting while Redis is down, reports the lag, and catches up',
      async () => {
        // A real client to a port where no Redis listens: every command fails fast.
        const dead = new Redis({
          host: '127.0.0.1',
          port: 1,
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        dead.on('error', () => {});
        const down = makeOnline(redisAdapter({ client: dead }));
        const up: OnlineStore = makeOnline(redisAdapter({ client: redis!.client }));
        const executor = pgliteOrPostgresExecutor(database);
        const offline = createOfflineStore({
          executor,
          schema: `${database.schema}`,
          clock: () => NOW,
          online: down,
        });
        try {
          await offline.apply([orders]);
          await up.clear();
          const before = await offline.onlineLag();
          const result = await offline.ingest(orders, events(10, 300));
          expect(result.inserted).toBe(10);
          expect(result.online).toMatchObject({ status: 'pending', pending: 10 });
          const lag = await offline.onlineLag();
          expect((lag.pendingEvents.orders ?? 0) - (before.pendingEvents.orders ?? 0)).toBe(10);
          expect(lag.oldestFailureAt).toBe(NOW);

          const recovered = createOfflineStore({
            executor,
            schema: database.schema,
            clock: () => NOW,
            online: up,
          });
          const synced = await recovered.syncOnline([orders]);
          expect(synced.applied).toBeGreaterThanOrEqual(10);
          expect(await recovered.onlineLag()).toEqual({ pendingEvents: {}, oldestFailureAt: null });
          // Replaying again is harmless: the online store dedupes by event id.
          const [row] = await up.getOnlineFeatures({
            service: [...onlineFeatures],
            entities: [{ customer_id: 'c1' }],
            at: NOW + 1,
          });
          const all = [...events(10, 300)];
          const mine = values(row!);
          expect(mine.orders_7d).toBe(expected(all, 'c1', NOW + 1).orders_7d);
          expect(mine.amount_7d).toBe(expected(all, 'c1', NOW + 1).amount_7d);
        } finally {
          await up.clear();
          dead.disconnect();
          await executor.close();
        }
      },
    );
  },
);
