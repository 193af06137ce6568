import type { OnlineStore } from '@tandem/feature-store';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedProbability,
  FlakyReader,
  fraudRegistry,
  fraudService,
  logisticBytes,
  pickyBytes,
  seededStore,
} from '../../test/fixtures.js';
import { ModelRegistry } from '../models/registry.js';
import { middleware } from './router.js';

let store: OnlineStore;
let registry: ModelRegistry;

beforeAll(async () => {
  store = await seededStore();
  registry = await fraudRegistry();
  // Version 2 fails for users with 4 or more transactions (bob has 5).
  await registry.load({
    name: 'fraud',
    version: '2',
    bytes: pickyBytes(),
    service: fraudService,
    makeDefault: false,
  });
});
afterAll(async () => {
  await registry.close();
  await store.close();
});

function appWith(options: Partial<Parameters<typeof middleware>[0]> = {}) {
  const router = middleware({ store, models: registry, logging: { level: 'silent' }, ...options });
  const app = express();
  app.use('/ml', router);
  return { app, router };
}

async function until(condition: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('canary', () => {
  it('splits traffic and rolls the canary back when its error rate exceeds the primary one', async () => {
    const { app, router } = appWith({
      perModel: {
        fraud: {
          canary: {
            version: '2',
            percent: 50,
            windowSize: 40,
            minSamples: 10,
            maxErrorRateIncrease: 0.2,
          },
        },
      },
    });
    const versions: string[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 120; i++) {
      const res = await request(app)
        .post('/ml/models/fraud/predict')
        .send({ user_id: 'bob', amount: 10 });
      statuses.push(res.status);
      if (res.status === 200) versions.push(res.body.model.version);
    }
    const canary = router.predictor.canary('fraud')!;
    expect(canary.rollback?.reason).toBe('error_rate');
    expect(canary.percent).toBe(0);
    // Before the rollback the canary served (and failed) some requests; after it, none.
    expect(statuses.filter((s) => s === 500).length).toBeGreaterThanOrEqual(10);
    expect(statuses.slice(-40).every((s) => s === 200)).toBe(true);
    expect(versions.every((v) => v === '1')).toBe(true);
    const text = await router.predictor.metrics.registry.metrics();
    expect(text).toContain('tandem_serving_canary_rollbacks_total{model="fraud"} 1');
    expect(text).toContain('tandem_serving_canary_percent{model="fraud"} 0');
    expect(text).toMatch(
      /tandem_serving_requests_total\{model="fraud",version="2",outcome="error",code="MODEL_FAILED"\} \d+/,
    );
  });

  it('keeps a healthy canary and serves both versions', async () => {
    const { app, router } = appWith({
      perModel: {
        fraud: {
          // Latency is noisy on a shared machine: judge the error rate only.
          canary: {
            version: '2',
            percent: 50,
            minSamples: 5,
            windowSize: 20,
            maxP99Increase: 1000,
          },
        },
      },
    });
    const versions = new Set<string>();
    for (let i = 0; i < 40; i++) {
      // ann has 2 transactions: version 2 answers her fine.
      const res = await request(app)
        .post('/ml/models/fraud/predict')
        .send({ user_id: 'ann', amount: 10 })
        .expect(200);
      versions.add(res.body.model.version);
    }
    expect([...versions].sort()).toEqual(['1', '2']);
    expect(router.predictor.canary('fraud')!.rollback).toBeUndefined();
  });
});

describe('shadow', () => {
  it('mirrors traffic to a failing shadow model without touching any response', async () => {
    const { app, router } = appWith({ perModel: { fraud: { shadow: { version: '2' } } } });
    const want = expectedProbability([5, 100, 0.1]);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(app).post('/ml/models/fraud/predict').send({ user_id: 'bob', amount: 10 }),
      ),
    );
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(res.body.model.version).toBe('1');
      expect(res.body.prediction.probability).toBeCloseTo(want, 6);
      expect(res.body.fallback).toBeUndefined();
    }
    const shadow = router.predictor.shadow('fraud')!;
    await shadow.idle();
    expect(shadow.stats.error + shadow.stats.dropped).toBe(20);
    expect(shadow.stats.error).toBeGreaterThan(0);
    const text = await router.predictor.metrics.registry.metrics();
    expect(text).toMatch(
      /tandem_serving_shadow_requests_total\{model="fraud",version="2",outcome="error"\} [1-9]/,
    );
  });

  it('counts a shadow that succeeds', async () => {
    const { app, router } = appWith({ perModel: { fraud: { shadow: { version: '2' } } } });
    await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 10 })
      .expect(200);
    const shadow = router.predictor.shadow('fraud')!;
    await shadow.idle();
    expect(shadow.stats).toEqual({ ok: 1, error: 0, dropped: 0 });
  });
});

describe('backpressure and deadlines', () => {
  it('answers 429 when the queue is full and 503 when the wait is too long, both with Retry-After', async () => {
    const slow = new FlakyReader(store);
    let open!: () => void;
    slow.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { app, router } = appWith({
      store: slow,
      limits: { maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 100, retryAfterSeconds: 2 },
    });
    const body = { user_id: 'ann', amount: 10 };
    const first = request(app)
      .post('/ml/models/fraud/predict')
      .send(body)
      .then((r) => r);
    await until(() => slow.calls === 1);
    const second = request(app)
      .post('/ml/models/fraud/predict')
      .send(body)
      .then((r) => r);
    await until(() => router.predictor.limiter!.queued === 1);
    const third = await request(app).post('/ml/models/fraud/predict').send(body);
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('2');
    expect(third.body.code).toBe('OVERLOADED');
    const waited = await second;
    expect(waited.status).toBe(503);
    expect(waited.headers['retry-after']).toBe('2');
    expect(waited.body.code).toBe('UNAVAILABLE');
    open();
    expect((await first).status).toBe(200);
    expect(router.predictor.limiter!.active).toBe(0);
    const text = await router.predictor.metrics.registry.metrics();
    expect(text).toContain(
      'tandem_serving_requests_total{model="fraud",version="1",outcome="error",code="OVERLOADED"} 1',
    );
    expect(text).toContain('tandem_serving_inflight_requests 0');
  });

  it('answers 504 when the deadline passes, per model', async () => {
    const slow = new FlakyReader(store);
    let open!: () => void;
    slow.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { app } = appWith({
      store: slow,
      deadlineMs: 10_000,
      perModel: { fraud: { deadlineMs: 50 } },
      fallback: { prediction: 0 },
    });
    const started = Date.now();
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 10 })
      .expect(504);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.body).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(res.body.error).toMatch(/50 ms/);
    open();
  });

  it('treats a store slower than the breaker call timeout as failed (fallback)', async () => {
    const slow = new FlakyReader(store);
    slow.gate = new Promise<void>(() => {});
    const { app } = appWith({
      store: slow,
      breaker: { callTimeoutMs: 30 },
      fallback: { prediction: 0 },
    });
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 10 })
      .expect(200);
    expect(res.body.fallback).toMatchObject({ reason: 'store_unavailable' });
  });
});

describe('hot swap through the middleware', () => {
  it('replaces a model version under load with zero failed requests', async () => {
    const swapRegistry = new ModelRegistry();
    await swapRegistry.load({
      name: 'swap',
      version: '1',
      bytes: logisticBytes(),
      service: fraudService,
    });
    const { app } = appWith({ models: swapRegistry });
    const statuses: number[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        const res = await request(app)
          .post('/ml/models/swap/predict')
          .send({ user_id: 'ann', amount: 10 });
        statuses.push(res.status);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      await swapRegistry.load({
        name: 'swap',
        version: '1',
        bytes: logisticBytes([0.1 * (i + 1), 0.01, 1], -1),
        service: fraudService,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    running = false;
    await Promise.all(workers);
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    await swapRegistry.close();
  });
});
