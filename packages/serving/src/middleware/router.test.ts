import type { OnlineStore } from '@tandem/feature-store';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedProbability,
  FlakyReader,
  fraudRegistry,
  seededStore,
} from '../../test/fixtures.js';
import { apiKeyAuth } from '../auth/auth.js';
import { isServingError } from '../errors/errors.js';
import type { ModelRegistry } from '../models/registry.js';
import { thresholdLabel } from './post-process.js';
import { middleware } from './router.js';

let store: OnlineStore;
let registry: ModelRegistry;

beforeAll(async () => {
  store = await seededStore();
  registry = await fraudRegistry({ picky: true });
});
afterAll(async () => {
  await registry.close();
  await store.close();
});

function appWith(options: Partial<Parameters<typeof middleware>[0]> = {}) {
  const router = middleware({ store, models: registry, logging: { level: 'silent' }, ...options });
  const app = express();
  app.use('/ml', router);
  app.get('/ml/host-route', (_req, res) => {
    res.send('host');
  });
  return { app, router };
}

describe('POST /models/:name/predict', () => {
  let app: express.Express;
  beforeAll(() => {
    app = appWith().app;
  });

  it('predicts from the store features, request-time features included, in layout order', async () => {
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 20 })
      .expect(200);
    // ann: 2 transactions summing 40; amount_share = 20 / 40.
    const want = expectedProbability([2, 40, 0.5]);
    expect(res.body.prediction.probability).toBeCloseTo(want, 6);
    expect(res.body.model).toEqual({ name: 'fraud', version: '1' });
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.fallback).toBeUndefined();
    expect(res.body.features).toBeUndefined();
  });

  it('returns the feature vector with status and freshness when asked', async () => {
    const res = await request(app)
      .post('/ml/models/fraud/predict?features=true')
      .send({ user_id: 'bob', amount: 50 })
      .expect(200);
    expect(Object.keys(res.body.features)).toEqual(['tx_count_7d', 'tx_sum_7d', 'amount_share']);
    expect(res.body.features.tx_count_7d).toMatchObject({ value: 5, status: 'present' });
    expect(res.body.features.tx_sum_7d.value).toBe(100);
    expect(res.body.features.amount_share.value).toBeCloseTo(0.5, 12);
    expect(typeof res.body.features.tx_count_7d.freshnessMs).toBe('number');
  });

  it('answers 400 with field paths for wrong types, missing and unknown fields', async () => {
    const wrong = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 7, amount: 'twelve' })
      .expect(400);
    expect(wrong.body).toMatchObject({ code: 'INVALID_REQUEST', issues: ['user_id', 'amount'] });
    expect(wrong.body.error).toMatch(/fraud_v1/);
    const missing = await request(app).post('/ml/models/fraud/predict').send({}).expect(400);
    expect(missing.body.issues).toEqual(['user_id', 'amount']);
    const extra = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 1, admin: true })
      .expect(400);
    expect(extra.body.issues).toEqual(['admin']);
    const negative = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: -1 })
      .expect(400);
    expect(negative.body.issues).toEqual(['amount']);
    const array = await request(app).post('/ml/models/fraud/predict').send([1, 2]).expect(400);
    expect(array.body).toMatchObject({ code: 'INVALID_REQUEST', issues: ['(root)'] });
  });

  it('serves the predict routes in every spelling the router accepts, with the same body rules', async () => {
    const want = expectedProbability([2, 40, 10 / 40]);
    for (const path of [
      '/ml/models/fraud/predict',
      '/ml/models/fraud/predict/',
      '/ml/Models/fraud/Predict',
      '/ml/models/fr%61ud/predict',
      '/ml/models/fraud/versions/1/predict',
      '/ml/models/fraud/predict?features=true',
    ]) {
      const res = await request(app).post(path).send({ user_id: 'ann', amount: 10 }).expect(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.body.model).toEqual({ name: 'fraud', version: '1' });
      expect(res.body.prediction.probability).toBeCloseTo(want, 6);
      expect(res.body.features !== undefined).toBe(path.endsWith('features=true'));
      for (const body of ['"ann"', '{"user_id": "ann",']) {
        const bad = await request(app)
          .post(path)
          .set('Content-Type', 'application/json')
          .send(body)
          .expect(400);
        expect(bad.body.code).toBe('MALFORMED_JSON');
      }
    }
  });

  it('predicts on a body the host app already parsed', async () => {
    const host = express();
    host.use(express.json());
    host.use('/ml', appWith().router);
    const res = await request(host)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 10 })
      .expect(200);
    expect(res.body.prediction.probability).toBeCloseTo(expectedProbability([2, 40, 10 / 40]), 6);
  });

  it('answers 400 for malformed JSON, 413 for an oversized body, 415 for another content type', async () => {
    const malformed = await request(app)
      .post('/ml/models/fraud/predict')
      .set('Content-Type', 'application/json')
      .send('{"user_id": "ann",')
      .expect(400);
    expect(malformed.body).toEqual({
      error: 'the request body is not valid JSON',
      code: 'MALFORMED_JSON',
    });
    const { app: small } = appWith({ bodyLimit: 100 });
    const large = await request(small)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 1, pad: 'x'.repeat(200) })
      .expect(413);
    expect(large.body.code).toBe('PAYLOAD_TOO_LARGE');
    const text = await request(app)
      .post('/ml/models/fraud/predict')
      .set('Content-Type', 'text/plain')
      .send('user_id=ann')
      .expect(415);
    expect(text.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const empty = await request(app).post('/ml/models/fraud/predict').expect(400);
    expect(empty.body.code).toBe('INVALID_REQUEST');
  });

  it('answers 404 for an unknown model or version, and lets other paths through to the host', async () => {
    const model = await request(app)
      .post('/ml/models/nope/predict')
      .send({ user_id: 'ann', amount: 1 })
      .expect(404);
    expect(model.body.code).toBe('UNKNOWN_MODEL');
    const version = await request(app)
      .post('/ml/models/fraud/versions/9/predict')
      .send({ user_id: 'ann', amount: 1 })
      .expect(404);
    expect(version.body.code).toBe('UNKNOWN_VERSION');
    const pinned = await request(app)
      .post('/ml/models/fraud/versions/1/predict')
      .send({ user_id: 'ann', amount: 1 })
      .expect(200);
    expect(pinned.body.model.version).toBe('1');
    await request(app).get('/ml/host-route').expect(200, 'host');
  });

  it('answers 404 UNKNOWN_ENTITY for an entity the store has never seen, without a fallback', async () => {
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'stranger', amount: 5 })
      .expect(404);
    expect(res.body.code).toBe('UNKNOWN_ENTITY');
    // Every feature is missing, the request-time one too (its input tx_sum_7d is missing).
    expect(res.body.issues).toEqual(['tx_count_7d', 'tx_sum_7d', 'amount_share']);
  });

  it('answers 500 MODEL_FAILED when the model fails and there is no fallback', async () => {
    // bob has 5 transactions: the picky model's Gather index is out of bounds.
    const res = await request(app)
      .post('/ml/models/picky/predict')
      .send({ user_id: 'bob', amount: 5 })
      .expect(500);
    expect(res.body).toEqual({ error: 'model picky version 1 failed', code: 'MODEL_FAILED' });
    const ok = await request(app)
      .post('/ml/models/picky/predict')
      .send({ user_id: 'ann', amount: 5 })
      .expect(200);
    expect(ok.body.prediction.score).toBeCloseTo(0.3, 6); // ann: 2 transactions
  });

  it('serves GET /metrics from the registry the user passes in', async () => {
    const registryOfHost = new Registry();
    const { app: withMetrics } = appWith({ metrics: { registry: registryOfHost } });
    await request(withMetrics).post('/ml/models/fraud/predict').send({ user_id: 'ann', amount: 1 });
    const res = await request(withMetrics).get('/ml/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toContain(
      'tandem_serving_requests_total{model="fraud",version="1",outcome="ok",code=""} 1',
    );
    expect(res.text).toContain(
      'tandem_serving_feature_fetch_duration_seconds_count{service="fraud_v1",result="ok"} 1',
    );
    expect(res.text).toContain('tandem_serving_circuit_state{breaker="online-store"} 0');
    expect(await registryOfHost.metrics()).toBe(res.text);
    const { app: noEndpoint } = appWith({ metricsEndpoint: false });
    await request(noEndpoint).get('/ml/metrics').expect(404);
  });
});

describe('fallbacks', () => {
  it('answers an unknown entity with the default prediction, flagged and counted', async () => {
    const { app, router } = appWith({ fallback: { prediction: { probability: 0.05 } } });
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'stranger', amount: 5 })
      .expect(200);
    expect(res.body.prediction).toEqual({ probability: 0.05 });
    expect(res.body.fallback).toMatchObject({ reason: 'unknown_entity', kind: 'default' });
    expect(await router.predictor.metrics.registry.metrics()).toContain(
      'tandem_serving_fallbacks_total{model="fraud",reason="unknown_entity",kind="default"} 1',
    );
  });

  it('falls back while the store fails, opens the circuit, and recovers after', async () => {
    const flaky = new FlakyReader(store);
    let clock = 0;
    const { app, router } = appWith({
      store: flaky,
      fallback: {
        prediction: (context: { reason: string }) => ({ probability: 0, why: context.reason }),
      },
      breaker: { failureThreshold: 2, openMs: 1000, now: () => clock },
    });
    const predict = () =>
      request(app)
        .post('/ml/models/fraud/predict')
        .send({ user_id: 'ann', amount: 20 })
        .expect(200);
    expect((await predict()).body.fallback).toBeUndefined();
    flaky.failing = true;
    const first = await predict();
    expect(first.body.prediction).toEqual({ probability: 0, why: 'store_unavailable' });
    expect(first.body.fallback).toMatchObject({ reason: 'store_unavailable', kind: 'default' });
    await predict();
    expect(router.predictor.breaker?.state).toBe('open');
    const calls = flaky.calls;
    const open = await predict();
    expect(open.body.fallback.reason).toBe('circuit_open');
    expect(flaky.calls).toBe(calls); // the open circuit does not call the store
    const text = await router.predictor.metrics.registry.metrics();
    expect(text).toContain('tandem_serving_circuit_state{breaker="online-store"} 2');
    expect(text).toContain(
      'tandem_serving_fallbacks_total{model="fraud",reason="circuit_open",kind="default"} 1',
    );
    // The store comes back; after openMs one trial closes the circuit.
    flaky.failing = false;
    clock += 1000;
    const recovered = await predict();
    expect(recovered.body.fallback).toBeUndefined();
    expect(recovered.body.prediction.probability).toBeCloseTo(expectedProbability([2, 40, 0.5]), 6);
    expect(router.predictor.breaker?.state).toBe('closed');
  });

  it('answers 503 STORE_UNAVAILABLE then CIRCUIT_OPEN with Retry-After when there is no fallback', async () => {
    const flaky = new FlakyReader(store);
    flaky.failing = true;
    const { app } = appWith({ store: flaky, breaker: { failureThreshold: 1, openMs: 5000 } });
    const down = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 20 })
      .expect(503);
    expect(down.body.code).toBe('STORE_UNAVAILABLE');
    const open = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 20 })
      .expect(503);
    expect(open.body.code).toBe('CIRCUIT_OPEN');
    expect(Number(open.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('answers with a fallback model when the model fails', async () => {
    const { app } = appWith({
      perModel: { picky: { fallback: { model: 'fraud' } } },
    });
    const res = await request(app)
      .post('/ml/models/picky/predict')
      .send({ user_id: 'bob', amount: 50 })
      .expect(200);
    expect(res.body.model).toEqual({ name: 'picky', version: '1' });
    expect(res.body.fallback).toMatchObject({
      reason: 'model_error',
      kind: 'model',
      model: { name: 'fraud', version: '1' },
    });
    expect(res.body.prediction.probability).toBeCloseTo(expectedProbability([5, 100, 0.5]), 6);
  });

  it('uses the default prediction when the fallback model fails too', async () => {
    const { app } = appWith({
      perModel: { fraud: { fallback: { model: 'picky', prediction: 0 } } },
      store: (() => {
        const flaky = new FlakyReader(store);
        flaky.failing = true;
        return flaky;
      })(),
      breaker: false,
    });
    // The store fails; the picky fallback model gets NaN features, casts them to an
    // out-of-range index and fails: the default answers.
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'bob', amount: 1 })
      .expect(200);
    expect(res.body).toMatchObject({
      prediction: 0,
      fallback: { reason: 'store_unavailable', kind: 'default' },
    });
  });

  it('rejects or predicts on missing features per configuration', async () => {
    const { app } = appWith({
      fallback: { prediction: null, features: { unknownEntity: 'predict' } },
    });
    const res = await request(app)
      .post('/ml/models/fraud/predict?features=1')
      .send({ user_id: 'stranger', amount: 5 })
      .expect(200);
    expect(res.body.fallback).toBeUndefined();
    expect(res.body.features.tx_count_7d.status).toBe('missing');
    expect(res.body.prediction.probability).toBeCloseTo(expectedProbability([0, 0, 0]), 6);
  });
});

describe('Open Inference Protocol routes in the same router', () => {
  const infer = {
    id: 'r1',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 3], data: [2, 40, 0.5] }],
  };

  it('mounts the OIP routes next to predict', async () => {
    const { app } = appWith();
    await request(app).get('/ml/v2/health/live').expect(200);
    await request(app).get('/ml/v2/health/ready').expect(200, { ready: true });
    const meta = await request(app).get('/ml/v2/models/fraud').expect(200);
    expect(meta.body.name).toBe('fraud');
    const res = await request(app).post('/ml/v2/models/fraud/infer').send(infer).expect(200);
    expect(res.body.id).toBe('r1');
    expect(res.body.outputs[0].data[0]).toBeCloseTo(expectedProbability([2, 40, 0.5]), 6);
    const { app: without } = appWith({ oip: false });
    await request(without).get('/ml/v2/health/live').expect(404);
  });

  it('applies the auth hook to OIP metadata and inference', async () => {
    const { app } = appWith({
      auth: apiKeyAuth({ keys: [{ id: 'ops', key: 'ops-key-1234', models: ['fraud'] }] }),
    });
    await request(app).get('/ml/v2/health/ready').expect(200);
    const denied = await request(app).post('/ml/v2/models/fraud/infer').send(infer).expect(401);
    expect(denied.body.code).toBe('UNAUTHENTICATED');
    await request(app).get('/ml/v2/models/fraud').expect(401);
    await request(app).get('/ml/v2/models/picky').set('x-api-key', 'ops-key-1234').expect(403);
    await request(app)
      .post('/ml/v2/models/fraud/infer')
      .set('x-api-key', 'ops-key-1234')
      .send(infer)
      .expect(200);
  });

  it('shares the concurrency limit between predict and infer (429 with Retry-After)', async () => {
    const slow = new FlakyReader(store);
    let open!: () => void;
    slow.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { app, router } = appWith({ store: slow, limits: { maxConcurrent: 1, maxQueue: 0 } });
    const held = request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 1 })
      .then((r) => r);
    while (slow.calls === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    const refused = await request(app).post('/ml/v2/models/fraud/infer').send(infer).expect(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body.code).toBe('OVERLOADED');
    open();
    expect((await held).status).toBe(200);
    await request(app).post('/ml/v2/models/fraud/infer').send(infer).expect(200);
    expect(router.predictor.limiter!.active).toBe(0);
  });
});

describe('post-processing, auth and options', () => {
  it('applies the post-processing hook (threshold and labels)', async () => {
    const { app } = appWith({
      perModel: {
        fraud: {
          postProcess: thresholdLabel({
            output: 'probability',
            threshold: 0.2,
            labels: ['legit', 'fraud'],
          }),
        },
      },
    });
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'bob', amount: 100 })
      .expect(200);
    const score = expectedProbability([5, 100, 1]);
    expect(res.body.prediction.score).toBeCloseTo(score, 6);
    expect(res.body.prediction.label).toBe(score > 0.2 ? 'fraud' : 'legit');
  });

  it('answers 401 and 403 per model with API keys, and leaves open models open', async () => {
    const { app } = appWith({
      auth: {
        default: apiKeyAuth({
          keys: [{ id: 'checkout', key: 'checkout-key-1', models: ['fraud'] }],
        }),
        models: { picky: null },
      },
    });
    const body = { user_id: 'ann', amount: 1 };
    const none = await request(app).post('/ml/models/fraud/predict').send(body).expect(401);
    expect(none.body.code).toBe('UNAUTHENTICATED');
    await request(app)
      .post('/ml/models/fraud/predict')
      .set('x-api-key', 'wrong-key-123')
      .send(body)
      .expect(401);
    await request(app)
      .post('/ml/models/fraud/predict')
      .set('x-api-key', 'checkout-key-1')
      .send(body)
      .expect(200);
    await request(app).post('/ml/models/picky/predict').send(body).expect(200);
    const other = appWith({
      auth: apiKeyAuth({ keys: [{ id: 'checkout', key: 'checkout-key-1', models: ['fraud'] }] }),
    });
    const forbidden = await request(other.app)
      .post('/ml/models/picky/predict')
      .set('authorization', 'Bearer checkout-key-1')
      .send(body)
      .expect(403);
    expect(forbidden.body.code).toBe('FORBIDDEN');
  });

  it('checks options when created, not on the first request', () => {
    const fails = (options: Record<string, unknown>, pattern: RegExp) => {
      let error: unknown;
      try {
        middleware({ store, models: registry, ...options } as Parameters<typeof middleware>[0]);
      } catch (e) {
        error = e;
      }
      expect(isServingError(error, 'INVALID_OPTIONS')).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    };
    fails({ store: {} }, /store must have a method getOnlineFeatures\(\)/);
    fails({ models: {} }, /models must have a method acquire\(\)/);
    fails(
      { perModel: { fraud: { canary: { version: '2', percent: 150 } } } },
      /perModel\.fraud\.canary\.percent/,
    );
    fails({ limits: { maxConcurrent: 0 } }, /limits/);
    fails({ bodyLimit: 'lots' }, /bodyLimit/);
    fails({ deadline: 5 }, /Unrecognized key/);
    fails(
      { fallback: { features: { missing: 'fallback' } } },
      /neither fallback\.prediction nor fallback\.model/,
    );
    fails({ perModel: { fraud: { shadow: {} } } }, /shadow needs a model or a version/);
  });
});
