import type { PGlite } from '@electric-sql/pglite';
import { derived, entity, eventSource, featureService } from '@tandem/core';
import {
  createOfflineStore,
  createOnlineStore,
  memoryAdapter,
  type OfflineStore,
  pgliteExecutor,
  redisAdapter,
  type SqlExecutor,
} from '@tandem/feature-store';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite, type TestDatabase } from '../env/postgres/open.js';
import { openRedis, type TestRedis } from '../env/redis/open.js';
import { redisUnavailableReason } from '../env/redis/resolve.js';
import { expectParity, ParityAssertionError } from './expect-parity.js';
import { loadParityStream, parityPoints } from './load.js';
import { combineParityStreams, parityStreamArb } from './streams.js';

const customer = entity({ name: 'customer', keys: { customer_id: 'string' } });
const orders = eventSource({
  name: 'orders',
  entity: customer,
  fields: { amount: 'float', items: 'int', channel: { type: 'string', nullable: true } },
});
const n1h = orders.count().window('1h').as('n_1h');
const amount1h = orders.sum('amount').window('1h').as('amount_1h');
const last2h = orders.last('channel').window('2h', { hop: '10m' }).as('last_channel_2h');
const items3 = orders.lastK('items', 3).window('1h').as('items_last3_1h');
const avg = derived('avg_1h', { s: amount1h, n: n1h }, (f) => f.s.div(f.n));
const service = featureService('orders_parity', [n1h, amount1h, last2h, items3, avg]);

const LATENESS = 10 * 60_000;
const stream = combineParityStreams(
  customer,
  fc.sample(
    parityStreamArb({
      source: orders,
      windows: service.features,
      allowedLateness: LATENESS,
      lateRate: 0,
      queries: { min: 4, max: 10 },
      extraReads: 10,
    }),
    { numRuns: 30, seed: 11 },
  ),
);
const points = parityPoints(stream);

let database: TestDatabase;
let executor: SqlExecutor;
let offline: OfflineStore;
const redisReason = await redisUnavailableReason();
let redis: TestRedis | undefined;

beforeAll(async () => {
  database = await openPglite('expect_parity');
  executor = pgliteExecutor((database.db as unknown as { $client: PGlite }).$client);
  offline = createOfflineStore({ executor, schema: database.schema });
  await loadParityStream(offline, orders, stream);
  if (!redisReason) redis = await openRedis('expect_parity');
});
afterAll(async () => {
  await redis?.close();
  await database?.close();
});

describe('expectParity', () => {
  it('passes and returns the report when both paths agree (in-process engine)', async () => {
    const report = await expectParity({
      offline,
      service,
      sample: points,
      allowedLateness: LATENESS,
      minPoints: points.length,
    });
    expect(report.ok).toBe(true);
    expect(report.sample.points).toBe(points.length);
    expect(report.totals.values).toBe(points.length * service.features.length);
  });

  it.skipIf(redisReason)('passes on Redis too', async () => {
    const report = await expectParity({
      offline,
      online: redisAdapter({ client: redis!.client }),
      namespace: redis!.prefix,
      service,
      sample: points,
      allowedLateness: LATENESS,
    });
    expect(report.replay.engine).toBe('adapter');
    expect(await redis!.client.keys(`${redis!.prefix}*`)).toEqual([]);
  });

  it('fails with a readable diff when the online path shifts the window by 1 ms', async () => {
    const error = await expectParity({
      offline,
      service,
      sample: points,
      allowedLateness: LATENESS,
      online: ({ namespace, clock, features, allowedLateness }) => {
        const store = createOnlineStore({
          adapter: memoryAdapter({ now: clock }),
          features,
          namespace,
          clock,
          allowedLateness,
          watermarkCacheMs: 0,
        });
        // The bug: reads as of q + 1, so an event at q counts and T(q) moves at hop boundaries.
        return {
          ...store,
          getOnlineFeatures: (request) =>
            store.getOnlineFeatures({ ...request, at: (request.at ?? clock()) + 1 }),
        };
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ParityAssertionError);
    const failure = error as ParityAssertionError;
    expect(failure.report.ok).toBe(false);
    const message = failure.message;
    expect(message).toMatch(/^offline and online disagree: \d+ of \d+ values/);
    expect(message).toContain('n_1h: mismatch at customer_id=');
    expect(message).toMatch(/\nfeature +comparison +total +agree +both_null/);
    expect(message).toMatch(/\nn_1h +exact +\d+/);
    // The offending events are listed: one exactly at q (edge `q`, 0 ms before q, not counted).
    expect(message).toMatch(/\n +after +\S+ \d+ +0 +q +\S+ +\d+ +\d+ +no /);
    expect(message).toContain('n_1h over orders, window [T(q)=');
  });

  it('fails when fewer points were checked than required', async () => {
    await expect(
      expectParity({
        offline,
        service,
        sample: points.slice(0, 3),
        allowedLateness: LATENESS,
        minPoints: 10,
      }),
    ).rejects.toThrow(/only 3 points checked; expected at least 10/);
  });
});
