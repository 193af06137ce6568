/**
 * Shared fixtures of the middleware tests: a small fraud feature service, the real in-process
 * online store with a few users' events, and real ONNX models (a logistic regression and a
 * "picky" model that fails at run time when its first feature is 4 or more).
 */
import { entity, eventSource, featureService, requestFeature } from '@tandem/core';
import { createOnlineStore, memoryAdapter, type OnlineStore } from '@tandem/feature-store';
import { encodeOnnxModel, logisticRegressionOnnx } from '@tandem/testing';
import { z } from 'zod';
import type { FeatureReader } from '../src/features/source.js';
import { ModelRegistry } from '../src/models/registry.js';

export const user = entity({ name: 'user', keys: { user_id: 'string' } });
export const tx = eventSource({ name: 'tx', entity: user, fields: { amount: 'float' } });
export const txCount = tx.count().window('7d').as('tx_count_7d');
export const txSum = tx.sum('amount').window('7d').as('tx_sum_7d');
export const amountShare = requestFeature({
  name: 'amount_share',
  input: z.object({ amount: z.number().nonnegative() }),
  uses: { sum: txSum },
  type: 'float',
  compute: (request, { sum }) => (sum === null || sum === 0 ? 0 : request.amount / sum),
});
export const fraudService = featureService('fraud_v1', [txCount, txSum, amountShare]);

export const DAY = 86_400_000;
export const NOW = Date.now();

/** Weights of the logistic regression over [tx_count_7d, tx_sum_7d, amount_share]. */
export const WEIGHTS = [0.3, 0.01, 1.5] as const;
export const BIAS = -2;

export function logisticBytes(weights: readonly number[] = WEIGHTS, bias = BIAS): Uint8Array {
  return logisticRegressionOnnx({ weights, bias, outputs: ['probability'] });
}

/** The probability the logistic model gives a feature row. */
export function expectedProbability(
  row: readonly number[],
  weights = WEIGHTS,
  bias = BIAS,
): number {
  let z = bias;
  row.forEach((value, j) => {
    z += weights[j]! * value;
  });
  return 1 / (1 + Math.exp(-z));
}

/**
 * A real ONNX model over 3 float features whose run fails (Gather index out of bounds) when the
 * first feature is 4 or more; else it outputs `score = [0.1, 0.2, 0.3, 0.4][first]`.
 */
export function pickyBytes(): Uint8Array {
  return encodeOnnxModel({
    graphName: 'picky',
    inputs: [{ name: 'features', type: 'float32', shape: ['N', 3] }],
    outputs: [{ name: 'score', type: 'float32', shape: ['N', 1] }],
    nodes: [
      { op: 'Slice', inputs: ['features', 'starts', 'ends', 'axes'], outputs: ['first'] },
      { op: 'Cast', inputs: ['first'], outputs: ['idx'], attributes: { to: { int: 7 } } },
      {
        op: 'Gather',
        inputs: ['table', 'idx'],
        outputs: ['score'],
        attributes: { axis: { int: 0 } },
      },
    ],
    initializers: [
      { name: 'table', type: 'float32', dims: [4], values: [0.1, 0.2, 0.3, 0.4] },
      { name: 'starts', type: 'int64', dims: [1], values: [0n] },
      { name: 'ends', type: 'int64', dims: [1], values: [1n] },
      { name: 'axes', type: 'int64', dims: [1], values: [1n] },
    ],
  });
}

/**
 * The real in-process online store with: `ann` 2 transactions (10 + 30), `bob` 5 transactions
 * (5 x 20), `cid` 1 transaction (100). Other users are unknown.
 */
export async function seededStore(): Promise<OnlineStore> {
  const store = createOnlineStore({
    adapter: memoryAdapter(),
    features: [fraudService],
    allowedLateness: '30d',
    namespace: `serving-test-${Math.random().toString(36).slice(2, 8)}`,
  });
  const event = (userId: string, id: string, amount: number, ago: number) => ({
    key: { user_id: userId },
    ts: NOW - ago,
    eventId: id,
    values: { amount },
  });
  await store.writeEvents('tx', [
    event('ann', 'a1', 10, 2 * DAY),
    event('ann', 'a2', 30, DAY),
    ...[1, 2, 3, 4, 5].map((i) => event('bob', `b${i}`, 20, i * 3_600_000)),
    event('cid', 'c1', 100, 3 * DAY),
  ]);
  return store;
}

/**
 * A switchable outage in front of a real store: while `failing`, reads throw (as a store whose
 * connection is down); while `gate` is set, reads wait for it (a slow store).
 */
export class FlakyReader implements FeatureReader {
  failing = false;
  gate: Promise<void> | undefined;
  calls = 0;
  /** Entities of each read, in call order. */
  readonly reads: (readonly string[])[] = [];

  constructor(private readonly inner: FeatureReader) {}

  async getOnlineFeatures(request: Parameters<FeatureReader['getOnlineFeatures']>[0]) {
    this.calls++;
    this.reads.push(request.entities.map((e) => String(e.user_id)));
    if (this.gate !== undefined) await this.gate;
    if (this.failing) throw new Error('connection refused');
    return this.inner.getOnlineFeatures(request);
  }
}

/** A model registry serving `fraud` (a logistic regression on `fraudService`), and `picky` when asked. */
export async function fraudRegistry(
  options: { readonly picky?: boolean } = {},
): Promise<ModelRegistry> {
  const registry = new ModelRegistry();
  await registry.load({
    name: 'fraud',
    version: '1',
    bytes: logisticBytes(),
    service: fraudService,
  });
  if (options.picky) {
    await registry.load({
      name: 'picky',
      version: '1',
      bytes: pickyBytes(),
      service: fraudService,
    });
  }
  return registry;
}
