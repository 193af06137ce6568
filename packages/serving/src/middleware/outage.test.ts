/**
 * A real Redis outage under the middleware (issue 6): the online store is the Redis store on a
 * `redis-server` of this file, filled through the offline store's ingestion (Postgres, or PGlite),
 * and the model a real ONNX logistic regression. The server is stopped and started again on the
 * same port while requests keep coming.
 */
import {
  createOfflineStore,
  createOnlineStore,
  type OnlineStore,
  pgliteExecutor,
  postgresExecutor,
  redisAdapter,
  type SqlExecutor,
} from '@tandem/feature-store';
import {
  openPostgres,
  redisServerUnavailableReason,
  startRedisServer,
  type TestDatabase,
  type TestRedisServer,
} from '@tandem/testing';
import express from 'express';
import type { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DAY, expectedProbability, fraudRegistry, fraudService, tx } from '../../test/fixtures.js';
import type { ModelRegistry } from '../models/registry.js';
import type { MiddlewareOptions } from './options.js';
import { middleware } from './router.js';

const NOW = Date.UTC(2026, 4, 1, 12);
const HOUR = 3_600_000;
const USERS = ['ann', 'bob', 'cid'] as const;
/** Feature rows of the users: [tx_count_7d, tx_sum_7d, amount_share] for amount 10. */
const ROWS = { ann: [2, 40, 0.25], bob: [5, 100, 0.1], cid: [1, 100, 0.1] } as const;
const FAILURES_TO_OPEN = 3;
const OPEN_MS = 5000;

const skip = await redisServerUnavailableReason();
let server: TestRedisServer;
let client: Redis;
let database: TestDatabase;
let executor: SqlExecutor;
let online: OnlineStore;
let registry: ModelRegistry;

/** Polls until the client answers again (it reconnects by itself every 50 ms). */
async function reconnected(redis: Redis): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      await redis.ping();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

beforeAll(async () => {
  if (skip) return;
  server = await startRedisServer();
  client = server.client();
  online = createOnlineStore({
    adapter: redisAdapter({ client }),
    features: [fraudService],
    namespace: 'serving-outage',
    clock: () => NOW,
    allowedLateness: '30d',
  });
  database = await openPostgres('serving_redis_outage');
  executor =
    database.engine === 'postgres'
      ? postgresExecutor(database.connectionString)
      : pgliteExecutor(database.pglite);
  const offline = createOfflineStore({
    executor,
    schema: database.schema,
    clock: () => NOW,
    online,
  });
  await offline.apply([tx]);
  const event = (user_id: string, eventId: string, amount: number, ago: number) => ({
    user_id,
    ts: NOW - ago,
    eventId,
    amount,
  });
  const ingested = await offline.ingest(tx, [
    event('ann', 'a1', 10, 2 * DAY),
    event('ann', 'a2', 30, DAY),
    ...[1, 2, 3, 4, 5].map((i) => event('bob', `b${i}`, 20, i * HOUR)),
    event('cid', 'c1', 100, 3 * DAY),
  ]);
  expect(ingested.online).toEqual({ status: 'applied', applied: 8, duplicates: 0, late: 0 });

  registry = await fraudRegistry();
});
afterAll(async () => {
  await registry?.close();
  await online?.clear().catch(() => {});
  await server?.close();
  await executor?.close();
  await database?.close();
});

/** An app with the middleware on the Redis store; the breaker's clock is `clock.now`. */
function appWith(options: Partial<MiddlewareOptions> = {}) {
  const clock = { now: Date.now() };
  const router = middleware({
    store: online,
    models: registry,
    logging: { level: 'silent' },
    breaker: { failureThreshold: FAILURES_TO_OPEN, openMs: OPEN_MS, now: () => clock.now },
    ...options,
  });
  const app = express();
  app.use('/ml', router);
  const predict = (user: string) =>
    request(app).post('/ml/models/fraud/predict?features=true').send({ user_id: user, amount: 10 });
  const metrics = async () => (await request(app).get('/ml/metrics').expect(200)).text;
  return { app, router, clock, predict, metrics };
}

/** The metric line's value, or undefined when the series does not exist. */
function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.skipIf(skip)('the middleware through a real Redis outage', () => {
  // Each test starts with Redis up, whatever the previous one left.
  beforeEach(async () => {
    await server.start();
    await reconnected(client);
  });

  it('falls back while Redis is stopped, opens the circuit, and predicts for real again after it', async () => {
    const { router, clock, predict, metrics } = appWith({
      fallback: { prediction: { probability: 0 } },
    });
    const breaker = router.predictor.breaker!;

    // Before: real predictions from the features ingested into Redis.
    const before = new Map<string, { prediction: unknown; features: unknown }>();
    for (const user of USERS) {
      const res = await predict(user).expect(200);
      expect(res.body.fallback).toBeUndefined();
      expect(res.body.prediction.probability).toBeCloseTo(expectedProbability(ROWS[user]), 6);
      expect(res.body.features.tx_count_7d).toEqual({
        value: ROWS[user][0],
        status: 'present',
        freshnessMs: expect.any(Number),
      });
      before.set(user, { prediction: res.body.prediction, features: res.body.features });
    }

    // Outage: the first reads fail (fast: the client does not queue them), then the circuit opens.
    await server.stop({ keepData: true });
    for (let i = 0; i < FAILURES_TO_OPEN; i++) {
      const res = await predict('ann').expect(200);
      expect(res.body.prediction).toEqual({ probability: 0 });
      expect(res.body.fallback).toMatchObject({ reason: 'store_unavailable', kind: 'default' });
      expect(res.body.fallback.message).toMatch(/online store failed/);
      expect(res.body.features).toBeUndefined();
    }
    expect(breaker.state).toBe('open');
    for (const user of USERS) {
      const res = await predict(user).expect(200);
      expect(res.body.fallback).toMatchObject({ reason: 'circuit_open', kind: 'default' });
    }
    let text = await metrics();
    expect(metric(text, 'tandem_serving_circuit_state{breaker="online-store"}')).toBe(2);
    expect(
      metric(
        text,
        'tandem_serving_fallbacks_total{model="fraud",reason="store_unavailable",kind="default"}',
      ),
    ).toBe(FAILURES_TO_OPEN);
    expect(
      metric(
        text,
        'tandem_serving_fallbacks_total{model="fraud",reason="circuit_open",kind="default"}',
      ),
    ).toBe(USERS.length);
    expect(
      metric(
        text,
        'tandem_serving_feature_fetch_duration_seconds_count{service="fraud_v1",result="error"}',
      ),
    ).toBe(FAILURES_TO_OPEN + USERS.length);

    // The half-open trial while Redis is still down fails and opens the circuit again.
    clock.now += OPEN_MS;
    expect(breaker.state).toBe('half_open');
    expect((await predict('ann').expect(200)).body.fallback.reason).toBe('store_unavailable');
    expect(breaker.state).toBe('open');

    // Redis is back (with its data). The circuit stays open until its cool-down is over.
    await server.start();
    await reconnected(client);
    expect((await predict('ann').expect(200)).body.fallback.reason).toBe('circuit_open');
    clock.now += OPEN_MS;
    // The half-open trial succeeds and closes the circuit: real predictions, equal to before.
    for (const user of USERS) {
      const res = await predict(user).expect(200);
      expect(res.body.fallback).toBeUndefined();
      expect({ prediction: res.body.prediction, features: res.body.features }).toEqual(
        before.get(user),
      );
    }
    expect(breaker.state).toBe('closed');
    text = await metrics();
    expect(metric(text, 'tandem_serving_circuit_state{breaker="online-store"}')).toBe(0);
    expect(
      metric(text, 'tandem_serving_circuit_transitions_total{breaker="online-store",to="open"}'),
    ).toBe(2);
    expect(
      metric(text, 'tandem_serving_circuit_transitions_total{breaker="online-store",to="closed"}'),
    ).toBe(1);
    expect(
      metric(
        text,
        'tandem_serving_requests_total{model="fraud",version="1",outcome="fallback",code=""}',
      ),
    ).toBe(FAILURES_TO_OPEN + USERS.length + 2);
  });

  it('answers 503 without a fallback: STORE_UNAVAILABLE, then CIRCUIT_OPEN with Retry-After', async () => {
    const { router, clock, predict } = appWith();
    const want = (await predict('bob').expect(200)).body.prediction;

    await server.stop({ keepData: true });
    for (let i = 0; i < FAILURES_TO_OPEN; i++) {
      const res = await predict('bob').expect(503);
      expect(res.body).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(res.body.error).not.toMatch(/127\.0\.0\.1|max retries/i); // no internals leak
    }
    const open = await predict('bob').expect(503);
    expect(open.body).toMatchObject({ code: 'CIRCUIT_OPEN' });
    expect(open.headers['retry-after']).toBe(String(OPEN_MS / 1000));
    clock.now += 2000;
    expect((await predict('bob').expect(503)).headers['retry-after']).toBe('3');

    await server.start();
    await reconnected(client);
    clock.now += OPEN_MS;
    const res = await predict('bob').expect(200);
    expect(res.body.prediction).toEqual(want);
    expect(router.predictor.breaker!.state).toBe('closed');
  });
});
