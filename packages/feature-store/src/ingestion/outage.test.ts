/**
 * A real Redis outage during ingestion (issue 4): a `redis-server` of this file is stopped and
 * started again on the same port while events keep coming. Postgres stays the source of truth:
 * ingestion succeeds offline, reports the online lag, and `syncOnline` catches the online store
 * up once Redis is back.
 */
import { compileFolder, featureValue, type SourceEvent } from '@tandem/core';
import {
  openSqlEngines,
  redisServerUnavailableReason,
  startRedisServer,
  type TestDatabase,
  type TestRedisServer,
} from '@tandem/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import { onlineFeatures, orders } from '../../test/online-model.js';
import type { SqlExecutor } from '../executor/executor.js';
import { createOfflineStore, type OfflineStore } from '../offline/store.js';
import { redisAdapter } from '../online/redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../online/store.js';

const NOW = Date.UTC(2026, 10, 20, 12);
const AT = NOW + 1;
const CUSTOMERS = ['c0', 'c1', 'c2'] as const;

const skip = await redisServerUnavailableReason();
const engines: TestDatabase[] = await openSqlEngines('fs_redis_outage');
let server: TestRedisServer;
beforeAll(async () => {
  if (!skip) server = await startRedisServer();
});
afterAll(async () => {
  await server?.close();
  for (const engine of engines) await engine.close();
});

type OrderEvent = ReturnType<typeof events>[number];

/** `n` order events, a minute apart going back from NOW, ids `e<offset>`... */
const events = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => ({
    customer_id: CUSTOMERS[(i + offset) % 3]!,
    ts: NOW - (i + offset) * 60_000,
    eventId: `e${i + offset}`,
    amount: (i + offset) * 1.5,
    items: (i + offset) % 7,
    channel: (i + offset) % 2 === 0 ? 'web' : null,
  }));

/** Every online feature of `customer` as of AT: the TS fold (core) of `all`, deduped by id. */
function folded(all: readonly OrderEvent[], customer: string) {
  const byId = new Map(all.map((e) => [e.eventId, e]));
  const mine: SourceEvent[] = [...byId.values()]
    .filter((e) => e.customer_id === customer)
    .map((e) => ({ ts: e.ts, eventId: e.eventId, seq: null, ingestedAt: null, values: e }));
  return Object.fromEntries(
    onlineFeatures.map((f) => [f.name, featureValue(f.ir, compileFolder(f.ir).fold(mine, AT))]),
  );
}

async function readOnline(online: OnlineStore) {
  const rows = await online.getOnlineFeatures({
    service: [...onlineFeatures],
    entities: CUSTOMERS.map((customer_id) => ({ customer_id })),
    at: AT,
  });
  return rows.map((row) =>
    Object.fromEntries(Object.entries(row.values).map(([name, v]) => [name, v.value])),
  );
}

/** Waits until the client is connected again (it reconnects by itself every 50 ms). */
async function reconnected(client: Redis): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      await client.ping();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

describe.skipIf(skip).each(engines.map((e) => [e.engine, e] as const))(
  'ingestion through a real Redis outage on %s',
  (engineName, database) => {
    let client: Redis;
    let online: OnlineStore;
    let executor: SqlExecutor;
    let offline: OfflineStore;
    beforeAll(async () => {
      client = server.client();
      await reconnected(client);
      online = createOnlineStore({
        adapter: redisAdapter({ client }),
        features: [...onlineFeatures],
        namespace: `outage:${engineName}`,
        clock: () => NOW,
        allowedLateness: '1d',
      });
      executor = pgliteOrPostgresExecutor(database);
      offline = createOfflineStore({
        executor,
        schema: database.schema,
        clock: () => NOW,
        online,
      });
      await offline.apply([orders]);
    });
    afterAll(async () => {
      client?.disconnect();
      await executor?.close();
    });

    it('ingests offline while Redis is stopped, reports the lag, and loses nothing', async () => {
      await online.clear();
      const before = events(30);
      const first = await offline.ingest(orders, before);
      expect(first.inserted).toBe(30);
      expect(first.online).toEqual({ status: 'applied', applied: 30, duplicates: 0, late: 0 });

      // Outage: the server goes down (saving its dataset, like a Redis with persistence).
      await server.stop({ keepData: true });
      const during = events(12, 30);
      const second = await offline.ingest(orders, during);
      expect(second.inserted).toBe(12);
      expect(second.online).toMatchObject({ status: 'pending', pending: 12 });
      expect(second.online?.status === 'pending' && second.online.error).toMatch(
        /max retries per request/i,
      );
      // A replayed batch with 8 new events: Postgres dedupes, only the new ones wait.
      const replay = events(20, 30);
      const third = await offline.ingest(orders, replay);
      expect(third).toMatchObject({ inserted: 8, duplicates: 12 });
      expect(third.online).toMatchObject({ status: 'pending', pending: 8 });
      expect(await offline.onlineLag()).toEqual({
        pendingEvents: { orders: 20 },
        oldestFailureAt: NOW,
      });
      // Reads and a sync fail while Redis is down; the backlog keeps everything.
      await expect(readOnline(online)).rejects.toThrow();
      await expect(offline.syncOnline([orders])).rejects.toThrow(/max retries per request/i);
      expect((await offline.onlineLag()).pendingEvents).toEqual({ orders: 20 });

      // Recovery.
      await server.start();
      await reconnected(client);
      const synced = await offline.syncOnline([orders]);
      expect(synced).toEqual({ applied: 20, duplicates: 0, late: 0, batches: 2 });
      expect(await offline.onlineLag()).toEqual({ pendingEvents: {}, oldestFailureAt: null });
      const all = [...before, ...during, ...replay];
      expect(await readOnline(online)).toEqual(CUSTOMERS.map((c) => folded(all, c)));

      // A second sync has nothing left to do; new ingestion is online again at once.
      expect(await offline.syncOnline([orders])).toEqual({
        applied: 0,
        duplicates: 0,
        late: 0,
        batches: 0,
      });
      const after = events(5, 50);
      const fourth = await offline.ingest(orders, after);
      expect(fourth.online).toEqual({ status: 'applied', applied: 5, duplicates: 0, late: 0 });
      expect(await readOnline(online)).toEqual(CUSTOMERS.map((c) => folded([...all, ...after], c)));
    });

    it('after a restart that lost Redis memory, the backlog restores only what failed', async () => {
      await online.clear();
      const base = events(9, 100);
      expect((await offline.ingest(orders, base)).online).toMatchObject({ status: 'applied' });

      // No persistence: the server comes back empty.
      await server.stop();
      const during = events(6, 200);
      expect((await offline.ingest(orders, during)).online).toMatchObject({
        status: 'pending',
        pending: 6,
      });
      await server.start();
      await reconnected(client);
      expect(await offline.syncOnline([orders])).toMatchObject({ applied: 6, batches: 1 });
      expect(await offline.onlineLag()).toEqual({ pendingEvents: {}, oldestFailureAt: null });
      // The events of before the outage were only in Redis's memory: batch materialization
      // (from Postgres) is what repairs them, not the backlog.
      expect(await readOnline(online)).toEqual(CUSTOMERS.map((c) => folded(during, c)));
    });
  },
);
