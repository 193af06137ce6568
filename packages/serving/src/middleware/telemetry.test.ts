import { Writable } from 'node:stream';
import type { Span, SpanOptions, Tracer } from '@opentelemetry/api';
import {
  createStatisticsCollector,
  type OnlineStore,
  postgresExecutor,
  type SqlExecutor,
  saveTrainingStatistics,
} from '@tandem/feature-store';
import { openPostgres, type TestDatabase } from '@tandem/testing';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedProbability,
  fraudRegistry,
  fraudService,
  logisticBytes,
  seededStore,
} from '../../test/fixtures.js';
import { isServingError } from '../errors/errors.js';
import { ModelRegistry } from '../models/registry.js';
import { REDACTED } from '../telemetry/logger.js';
import { createPredictor } from './predictor.js';
import { middleware } from './router.js';

let store: OnlineStore;
let registry: ModelRegistry;
let db: TestDatabase;
let executor: SqlExecutor;

beforeAll(async () => {
  store = await seededStore();
  registry = await fraudRegistry({ picky: true });
  db = await openPostgres('serving_middleware_telemetry');
  executor =
    db.engine === 'postgres'
      ? postgresExecutor(db.connectionString)
      : (await import('@tandem/feature-store')).pgliteExecutor(db.pglite);
});
afterAll(async () => {
  await registry.close();
  await store.close();
  await executor?.close();
  await db?.close();
});

function lines() {
  const out: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) out.push(JSON.parse(line));
      callback();
    },
  });
  return { out, stream };
}

/** A tracer of the OpenTelemetry API that records the spans it starts. */
function recordingTracer() {
  const spans: {
    name: string;
    attributes: Record<string, unknown>;
    status?: number;
    ended: boolean;
  }[] = [];
  const start = (name: string, options: SpanOptions = {}): Span => {
    const record = {
      name,
      attributes: { ...(options.attributes ?? {}) },
      ended: false,
    } as (typeof spans)[number];
    spans.push(record);
    const span = {
      setAttribute(key: string, value: unknown) {
        record.attributes[key] = value;
        return span;
      },
      setAttributes(attributes: Record<string, unknown>) {
        Object.assign(record.attributes, attributes);
        return span;
      },
      setStatus(status: { code: number }) {
        record.status = status.code;
        return span;
      },
      recordException() {},
      end() {
        record.ended = true;
      },
      isRecording: () => true,
      addEvent: () => span,
      updateName: () => span,
      spanContext: () => ({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 1 }),
    } as unknown as Span;
    return span;
  };
  const tracer = {
    startSpan: start,
    startActiveSpan(name: string, ...args: unknown[]) {
      const fn = args[args.length - 1] as (span: Span) => unknown;
      const options = (args.length > 1 ? args[0] : {}) as SpanOptions;
      return fn(start(name, options));
    },
  } as unknown as Tracer;
  return { tracer, spans };
}

describe('telemetry through the middleware', () => {
  it('logs sampled predictions to Postgres with PII redacted, and attaches labels by id', async () => {
    const router = middleware({
      store,
      models: registry,
      logging: { level: 'silent', redact: ['amount'] },
      predictionLog: { executor, schema: db.schema, table: 'predictions', sampleRate: 1 },
    });
    const app = express().use('/ml', router);
    const res = await request(app)
      .post('/ml/models/fraud/predict')
      .send({ user_id: 'ann', amount: 20 })
      .expect(200);
    const log = router.predictor.predictionLog!;
    const stored = await log.get(res.body.id);
    expect(stored).toMatchObject({
      id: res.body.id,
      model: 'fraud',
      version: '1',
      entity: { user_id: 'ann' },
      request: { user_id: 'ann', amount: REDACTED },
      features: { tx_count_7d: 2, tx_sum_7d: 40, amount_share: 0.5 },
      fallback: null,
      label: null,
    });
    expect((stored!.prediction as { probability: number }).probability).toBeCloseTo(
      expectedProbability([2, 40, 0.5]),
      6,
    );
    expect(await log.attachLabel(res.body.id, { fraud: false })).toBe(true);
    expect((await log.get(res.body.id))?.label).toEqual({ fraud: false });
    await router.predictor.close();
    expect(await router.predictor.metrics.registry.metrics()).toMatch(
      /tandem_serving_prediction_logs_total\{outcome="written"\} 1/,
    );
  });

  it('exposes per-feature PSI against training statistics loaded from the database', async () => {
    const collector = createStatisticsCollector(fraudService);
    for (let i = 0; i < 500; i++) {
      collector.add({ tx_count_7d: i % 3, tx_sum_7d: (i % 3) * 20, amount_share: 0.5 });
    }
    await saveTrainingStatistics(executor, db.schema, 'fraud-train', collector.result());
    const router = middleware({
      store,
      models: registry,
      logging: { level: 'silent' },
      drift: {
        statistics: { fraud_v1: { executor, schema: db.schema, name: 'fraud-train' } },
        minSamples: 5,
      },
    });
    await router.predictor.ready;
    const app = express().use('/ml', router);
    for (let i = 0; i < 10; i++) {
      await request(app)
        .post('/ml/models/fraud/predict')
        .send({ user_id: 'bob', amount: 20 })
        .expect(200);
    }
    const monitor = router.predictor.drift.get('fraud_v1')!;
    expect(monitor.features).toEqual(['tx_count_7d', 'tx_sum_7d', 'amount_share']);
    const psi = monitor.psi();
    // bob always has 5 transactions: far from the training distribution of 0..2.
    expect(psi.tx_count_7d!).toBeGreaterThan(1);
    const text = await (await request(app).get('/ml/metrics')).text;
    expect(text).toMatch(
      /tandem_serving_feature_psi\{service="fraud_v1",feature="tx_count_7d"\} \d/,
    );
  });

  it('records spans for validate, fetch, infer and post-process under the request span', async () => {
    const { tracer, spans } = recordingTracer();
    const predictor = createPredictor({
      store,
      models: registry,
      tracer,
      logging: { level: 'silent' },
    });
    await predictor.predict('fraud', { user_id: 'ann', amount: 20 });
    expect(spans.map((s) => s.name)).toEqual([
      'tandem.predict',
      'validate',
      'fetch',
      'infer',
      'post-process',
    ]);
    expect(spans.every((s) => s.ended)).toBe(true);
    expect(spans[0]!.attributes).toMatchObject({
      'tandem.model': 'fraud',
      'tandem.model_version': '1',
    });
    spans.length = 0;
    await expect(predictor.predict('fraud', { user_id: 5 })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(spans.map((s) => [s.name, s.status])).toEqual([
      ['tandem.predict', 2],
      ['validate', 2],
    ]);
  });

  it('writes structured logs with the configured PII fields redacted', async () => {
    const { out, stream } = lines();
    const predictor = createPredictor({
      store,
      models: registry,
      logging: { level: 'debug', redact: ['user_id'], destination: stream },
      fallback: { prediction: 0 },
    });
    await predictor.predict('fraud', { user_id: 'stranger', amount: 1 });
    await predictor.predict('fraud', { user_id: 'ann', amount: 1 });
    const predictions = out.filter((l) => typeof l.id === 'string');
    expect(predictions.map((l) => l.msg)).toEqual(['fallback prediction', 'prediction']);
    for (const line of predictions) {
      expect(line).toMatchObject({
        component: 'tandem-serving',
        model: 'fraud',
        entity: { user_id: REDACTED },
      });
    }
    expect(JSON.stringify(out)).not.toContain('stranger');
  });

  it('counts feature statuses, batches and model loads from the registry', async () => {
    const models = new ModelRegistry();
    const predictor = createPredictor({ store, models, logging: { level: 'silent' } });
    await models.load({
      name: 'fraud',
      version: '7',
      bytes: logisticBytes(),
      service: fraudService,
    });
    await predictor.predict('fraud', { user_id: 'ann', amount: 1 });
    await expect(
      predictor.predict('fraud', { user_id: 'stranger', amount: 1 }),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_ENTITY',
    });
    const text = await predictor.metrics.registry.metrics();
    expect(text).toContain('tandem_serving_model_load_seconds_count{model="fraud",version="7"} 1');
    expect(text).toContain(
      'tandem_serving_model_cold_start_seconds_count{model="fraud",version="7"} 1',
    );
    expect(text).toContain('tandem_serving_batch_size_count{model="fraud",version="7"} 1');
    expect(text).toContain(
      'tandem_serving_feature_values_total{service="fraud_v1",feature="tx_count_7d",status="present"} 1',
    );
    expect(text).toContain(
      'tandem_serving_feature_values_total{service="fraud_v1",feature="tx_count_7d",status="missing"} 1',
    );
    expect(text).toContain(
      'tandem_serving_requests_total{model="fraud",version="7",outcome="error",code="UNKNOWN_ENTITY"} 1',
    );
    await predictor.close();
    await models.close();
  });
});

describe('programmatic predictor', () => {
  it('predicts without HTTP and throws ServingErrors', async () => {
    const predictor = createPredictor({ store, models: registry, logging: { level: 'silent' } });
    const result = await predictor.predict(
      'fraud',
      { user_id: 'cid', amount: 50 },
      { features: true },
    );
    expect(result.model).toEqual({ name: 'fraud', version: '1' });
    expect((result.prediction as { probability: number }).probability).toBeCloseTo(
      expectedProbability([1, 100, 0.5]),
      6,
    );
    expect(result.features?.tx_sum_7d?.value).toBe(100);
    const error = await predictor.predict('nope', {}).catch((e: unknown) => e);
    expect(isServingError(error, 'UNKNOWN_MODEL')).toBe(true);
    // An unknown model leaves no per-model state or metric behind.
    expect(predictor.canary('nope')).toBeUndefined();
    expect(await predictor.metrics.registry.metrics()).not.toContain('model="nope"');
  });
});
