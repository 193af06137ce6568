import type { OnlineStore } from '@tandem/feature-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedProbability,
  FlakyReader,
  fraudRegistry,
  NOW,
  seededStore,
} from '../../test/fixtures.js';
import type { FeatureReader } from '../features/source.js';
import type { ModelRegistry } from '../models/registry.js';
import type { PredictorOptions } from './options.js';
import { createPredictor } from './predictor.js';

let store: OnlineStore;
let registry: ModelRegistry;

beforeAll(async () => {
  store = await seededStore();
  registry = await fraudRegistry();
});
afterAll(async () => {
  await registry.close();
  await store.close();
});

/** Feature rows of the seeded users: tx_count_7d, tx_sum_7d, amount_share. */
const ROWS: Readonly<Record<string, (amount: number) => number[]>> = {
  ann: (amount) => [2, 40, amount / 40],
  bob: (amount) => [5, 100, amount / 100],
  cid: (amount) => [1, 100, amount / 100],
};

function predictorOver(reader: FeatureReader, options: Partial<PredictorOptions> = {}) {
  return createPredictor({
    store: reader,
    models: registry,
    logging: { level: 'silent' },
    ...options,
  });
}

const probabilityOf = (result: { prediction: unknown }) =>
  (result.prediction as { probability: number }).probability;

describe('batched feature reads', () => {
  it('reads the entities of concurrent requests in one store read, each request its own row', async () => {
    const reader = new FlakyReader(store);
    const predictor = predictorOver(reader);
    const asks = [
      { user_id: 'ann', amount: 10 },
      { user_id: 'bob', amount: 30 },
      { user_id: 'cid', amount: 50 },
      { user_id: 'ann', amount: 20 },
    ];
    const results = await Promise.all(
      asks.map((ask) => predictor.predict('fraud', ask, { features: true })),
    );
    expect(reader.reads).toEqual([['ann', 'bob', 'cid', 'ann']]);
    results.forEach((result, i) => {
      const want = ROWS[asks[i]!.user_id]!(asks[i]!.amount);
      expect(result.features?.tx_count_7d?.value).toBe(want[0]);
      expect(result.features?.amount_share?.value).toBeCloseTo(want[2]!, 9);
      expect(probabilityOf(result)).toBeCloseTo(expectedProbability(want), 6);
    });
    const text = await predictor.metrics.registry.metrics();
    expect(text).toContain(
      'tandem_serving_feature_fetch_duration_seconds_count{service="fraud_v1",result="ok"} 1',
    );
    expect(text).toContain(
      'tandem_serving_feature_values_total{service="fraud_v1",feature="tx_count_7d",status="present"} 4',
    );
    await predictor.close();
  });

  it('gives an unknown entity its own fallback while the others in its read predict', async () => {
    const reader = new FlakyReader(store);
    const predictor = predictorOver(reader, { fallback: { prediction: { probability: -1 } } });
    const [ann, stranger, bob] = await Promise.all([
      predictor.predict('fraud', { user_id: 'ann', amount: 10 }),
      predictor.predict('fraud', { user_id: 'stranger', amount: 10 }),
      predictor.predict('fraud', { user_id: 'bob', amount: 10 }),
    ]);
    expect(reader.calls).toBe(1);
    expect(ann!.fallback).toBeUndefined();
    expect(probabilityOf(ann!)).toBeCloseTo(expectedProbability(ROWS.ann!(10)), 6);
    expect(stranger!.fallback).toMatchObject({ reason: 'unknown_entity', kind: 'default' });
    expect(stranger!.prediction).toEqual({ probability: -1 });
    expect(bob!.fallback).toBeUndefined();
    await predictor.close();
  });

  it('gives every request of a failed read the error (or its fallback)', async () => {
    const reader = new FlakyReader(store);
    reader.failing = true;
    const bare = predictorOver(reader);
    const failures = await Promise.allSettled([
      bare.predict('fraud', { user_id: 'ann', amount: 10 }),
      bare.predict('fraud', { user_id: 'bob', amount: 10 }),
    ]);
    expect(reader.calls).toBe(1);
    for (const failure of failures) {
      expect(failure).toMatchObject({
        status: 'rejected',
        reason: { code: 'STORE_UNAVAILABLE' },
      });
    }
    const withFallback = predictorOver(reader, { fallback: { prediction: { probability: 0 } } });
    const answers = await Promise.all([
      withFallback.predict('fraud', { user_id: 'ann', amount: 10 }),
      withFallback.predict('fraud', { user_id: 'cid', amount: 10 }),
    ]);
    expect(reader.calls).toBe(2);
    for (const answer of answers) {
      expect(answer.fallback).toMatchObject({ reason: 'store_unavailable', kind: 'default' });
    }
    await bare.close();
    await withFallback.close();
  });

  it('refuses a read that answers another number of rows than entities, for each request', async () => {
    const short: FeatureReader = {
      async getOnlineFeatures(request) {
        return (await store.getOnlineFeatures(request)).slice(1);
      },
    };
    const predictor = predictorOver(short, { breaker: false });
    const failures = await Promise.allSettled([
      predictor.predict('fraud', { user_id: 'ann', amount: 10 }),
      predictor.predict('fraud', { user_id: 'bob', amount: 10 }),
    ]);
    for (const failure of failures) {
      expect(failure).toMatchObject({
        status: 'rejected',
        reason: {
          code: 'STORE_UNAVAILABLE',
          message: 'the online store returned 1 rows for 2 entities',
        },
      });
    }
    await predictor.close();
  });

  it('splits reads at maxBatchSize, and reads alone when off or as of a given time', async () => {
    const users = ['ann', 'bob', 'cid', 'ann', 'bob'];
    const ask = (predictor: ReturnType<typeof predictorOver>, at?: number) =>
      Promise.all(
        users.map((user_id) =>
          predictor.predict('fraud', { user_id, amount: 10 }, at === undefined ? {} : { at }),
        ),
      );

    const small = new FlakyReader(store);
    await ask(predictorOver(small, { featureBatching: { maxBatchSize: 2 } }));
    expect(small.reads.flat().sort()).toEqual([...users].sort());
    expect(small.reads.every((read) => read.length <= 2)).toBe(true);
    expect(small.reads.length).toBe(3);

    const off = new FlakyReader(store);
    await ask(predictorOver(off, { featureBatching: false }));
    expect(off.reads).toEqual(users.map((user) => [user]));

    const asOf = new FlakyReader(store);
    const results = await ask(predictorOver(asOf), NOW);
    expect(asOf.reads).toEqual(users.map((user) => [user]));
    expect(probabilityOf(results[0]!)).toBeCloseTo(expectedProbability(ROWS.ann!(10)), 6);
  });

  it('refuses invalid batching options when created', () => {
    expect(() => predictorOver(store, { featureBatching: { maxBatchSize: 0 } })).toThrow(
      /featureBatching\.maxBatchSize/,
    );
  });
});
