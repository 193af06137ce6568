import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { entity, eventSource, featureService } from '@tandem/core';
import {
  encodeOnnxModel,
  logisticRegressionOnnx,
  predictLogisticRegression,
} from '@tandem/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import { isModelLoadError } from './errors.js';
import { type ModelEvent, ModelRegistry } from './registry.js';
import type { Tensor } from './tensor.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const transactions = eventSource({
  name: 'transactions',
  entity: user,
  fields: { amount: 'float', merchant: 'string', is_refund: 'bool' },
});
const txCount7d = transactions.count().window('7d').as('tx_count_7d');
const txSum7d = transactions.sum('amount').window('7d').as('tx_sum_7d');
const refunds30d = transactions
  .count()
  .where((t) => t.is_refund)
  .window('30d')
  .as('refunds_30d');
const lastMerchant = transactions.last('merchant').as('last_merchant');
const recentAmounts = transactions.lastK('amount', 3).as('recent_amounts');
const fraud = featureService('fraud_v1', [txCount7d, txSum7d, refunds30d]);

const V1 = { weights: [0.2, 0.01, 1.5], bias: -2 };
const V2 = { weights: [-0.1, 0.02, 0.5], bias: 0.5 };
const BYTES_V1 = logisticRegressionOnnx({ ...V1, outputs: ['probability', 'label'] });
const BYTES_V2 = logisticRegressionOnnx({ ...V2, outputs: ['probability', 'label'] });
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const probability = (outputs: Record<string, Tensor>) =>
  (outputs.probability!.data as Float32Array)[0]!;

function row(i: number): number[] {
  return [i % 7, Math.fround((i * 13.5) % 400), i % 3];
}

async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('ModelRegistry', () => {
  const registries: ModelRegistry[] = [];
  const open = (options?: ConstructorParameters<typeof ModelRegistry>[0]) => {
    const registry = new ModelRegistry(options);
    registries.push(registry);
    return registry;
  };
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-models-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((registry) => registry.close()));
  });

  it('loads from a file, records sha256, load time and cold start, and emits events', async () => {
    const path = join(dir, 'fraud-1.onnx');
    await writeFile(path, BYTES_V1);
    const events: ModelEvent[] = [];
    const registry = open({ onEvent: (event) => events.push(event) });
    const info = await registry.load({
      name: 'fraud',
      version: '1',
      path,
      sha256: sha(BYTES_V1),
      service: fraud,
      metadata: { run: 'r-42' },
    });
    expect(info).toMatchObject({
      name: 'fraud',
      version: '1',
      isDefault: true,
      sha256: sha(BYTES_V1),
      sizeBytes: BYTES_V1.byteLength,
      runtime: 'onnxruntime',
      service: fraud,
      metadata: { run: 'r-42' },
    });
    expect(info.binding).toMatchObject({
      inputName: 'features',
      type: 'float32',
      width: 3,
      columns: ['tx_count_7d', 'tx_sum_7d', 'refunds_30d'],
    });
    expect(info.loadMs).toBeGreaterThan(0);
    expect(info.coldStartMs).toBeGreaterThan(0);
    expect(info.warmupMs).toBeGreaterThanOrEqual(info.coldStartMs);
    expect(events.map((e) => e.type)).toEqual(['load_started', 'default_changed', 'loaded']);
    const loaded = events[2] as Extract<ModelEvent, { type: 'loaded' }>;
    expect(loaded.replaced).toBe(false);
    expect(loaded.info.coldStartMs).toBe(info.coldStartMs);
    expect(registry.isReady()).toBe(true);
    expect(registry.isModelReady('fraud')).toBe(true);
    expect(registry.get('fraud')?.version).toBe('1');
  });

  it('predicts rows through the micro-batcher with the reference results', async () => {
    const events: ModelEvent[] = [];
    const registry = open({ onEvent: (event) => events.push(event) });
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    const rows = Array.from({ length: 50 }, (_, i) => row(i));
    const results = await Promise.all(rows.map((r) => registry.predict('fraud', r)));
    const expected = predictLogisticRegression(V1, rows);
    results.forEach((result, i) => {
      expect(result.model).toEqual({ name: 'fraud', version: '1' });
      expect(Math.abs(probability(result.outputs) - expected[i]!)).toBeLessThan(1e-6);
      expect(result.outputs.label!.dims).toEqual([1]);
    });
    const batches = events.filter((e) => e.type === 'batch');
    expect(batches.reduce((sum, b) => sum + b.size, 0)).toBe(50);
    expect(Math.max(...batches.map((b) => b.size))).toBeGreaterThan(1);
    for (const batch of batches) expect(batch.queueMs).toHaveLength(batch.size);
  });

  it('refuses an artifact whose sha256 does not match; the previous version keeps serving', async () => {
    const events: ModelEvent[] = [];
    const registry = open({ onEvent: (event) => events.push(event) });
    await registry.load({
      name: 'fraud',
      version: '1',
      bytes: BYTES_V1,
      sha256: `sha256:${sha(BYTES_V1).toUpperCase()}`,
      service: fraud,
    });
    const error = await rejection(
      registry.load({
        name: 'fraud',
        version: '2',
        bytes: BYTES_V2,
        sha256: sha(BYTES_V1),
        service: fraud,
      }),
    );
    expect(isModelLoadError(error, 'checksum_mismatch')).toBe(true);
    expect(isServingError(error, 'MODEL_LOAD_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(
      /model fraud version 2: sha256 mismatch: expected [0-9a-f]{64}, the artifact has [0-9a-f]{64}; it was not loaded \(version 1 keeps serving\)/,
    );
    expect(events.at(-1)).toMatchObject({ type: 'load_failed', reason: 'checksum_mismatch' });
    expect(registry.versions('fraud')).toEqual(['1']);
    const result = await registry.predict('fraud', row(3));
    expect(result.model.version).toBe('1');
    // The same label with a tampered artifact does not replace the serving one either.
    const tampered = BYTES_V2.slice();
    const again = await rejection(
      registry.load({ name: 'fraud', version: '1', bytes: tampered, sha256: sha(BYTES_V1) }),
    );
    expect(isModelLoadError(again, 'checksum_mismatch')).toBe(true);
    expect(registry.get('fraud')!.sha256).toBe(sha(BYTES_V1));
    expect(registry.isReady()).toBe(true);
  });

  it('checks specs: names, one source, sha256 format, requireSha256', async () => {
    const registry = open({ requireSha256: true });
    const cases: [Parameters<ModelRegistry['load']>[0], RegExp][] = [
      [{ name: 'bad name', version: '1', bytes: BYTES_V1 }, /model name/],
      [{ name: 'fraud', version: '', bytes: BYTES_V1 }, /model version/],
      [{ name: 'fraud', version: '1' }, /exactly one of path and bytes/],
      [
        { name: 'fraud', version: '1', bytes: BYTES_V1, path: 'x' },
        /exactly one of path and bytes/,
      ],
      [{ name: 'fraud', version: '1', bytes: BYTES_V1, sha256: 'abc' }, /64 hex digits/],
      [{ name: 'fraud', version: '1', bytes: BYTES_V1 }, /a sha256 is required/],
    ];
    for (const [spec, message] of cases) {
      const error = await rejection(registry.load(spec));
      expect(isServingError(error, 'INVALID_OPTIONS'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    const missing = await rejection(
      registry.load({
        name: 'fraud',
        version: '1',
        path: join(dir, 'nope.onnx'),
        sha256: sha(BYTES_V1),
      }),
    );
    expect(isModelLoadError(missing, 'read_failed')).toBe(true);
    const garbage = new TextEncoder().encode('garbage');
    const invalid = await rejection(
      registry.load({ name: 'fraud', version: '1', bytes: garbage, sha256: sha(garbage) }),
    );
    expect(isModelLoadError(invalid, 'invalid_model')).toBe(true);
    expect((invalid as Error).message).toMatch(/onnxruntime refused the model/);
  });

  it('serves several models and versions side by side, addressed by version', async () => {
    const registry = open();
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    await registry.load({
      name: 'fraud',
      version: '2',
      bytes: BYTES_V2,
      service: fraud,
      makeDefault: false,
      runtime: 'worker-pool',
      workers: 1,
    });
    await registry.load({ name: 'churn', version: 'a', bytes: BYTES_V2 });
    expect(registry.versions('fraud')).toEqual(['1', '2']);
    expect(registry.defaultVersion('fraud')).toBe('1');
    expect(registry.get('fraud', '2')).toMatchObject({
      isDefault: false,
      runtime: 'onnxruntime-workers',
    });
    expect(registry.list().map((m) => `${m.name}:${m.version}`)).toEqual([
      'fraud:1',
      'fraud:2',
      'churn:a',
    ]);
    const r = row(5);
    const [d, v1, v2, churn] = await Promise.all([
      registry.predict('fraud', r),
      registry.predict('fraud', r, { version: '1' }),
      registry.predict('fraud', r, { version: '2' }),
      registry.predict('churn', r),
    ]);
    expect(d.model.version).toBe('1');
    expect(probability(v1.outputs)).toBeCloseTo(predictLogisticRegression(V1, [r])[0]!, 6);
    expect(probability(v2.outputs)).toBeCloseTo(predictLogisticRegression(V2, [r])[0]!, 6);
    expect(churn.model).toEqual({ name: 'churn', version: 'a' });
    const before = registry.acquire('fraud', '1');
    expect(before.info.isDefault).toBe(true);
    before.release();
    registry.setDefault('fraud', '2');
    expect((await registry.predict('fraud', r)).model.version).toBe('2');
    expect(registry.get('fraud', '1')!.isDefault).toBe(false);
    // A lease's info follows the default (it is made once per value, not per lease).
    const after = registry.acquire('fraud', '1');
    expect(after.info.isDefault).toBe(false);
    expect(after.info.version).toBe('1');
    after.release();

    const unknown = await rejection(registry.predict('nope', r));
    expect(isServingError(unknown, 'UNKNOWN_MODEL')).toBe(true);
    const noVersion = await rejection(registry.predict('fraud', r, { version: '9' }));
    expect(isServingError(noVersion, 'UNKNOWN_VERSION')).toBe(true);
    expect((noVersion as Error).message).toMatch(/loaded: 1, 2/);
    expect(() => registry.setDefault('fraud', '9')).toThrow(/no version 9/);
  });

  it('hot-swaps versions under load with zero failed requests and frees the old sessions', async () => {
    const events: ModelEvent[] = [];
    const registry = open({ onEvent: (event) => events.push(event) });
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    let stop = false;
    let failures = 0;
    let served = 0;
    const versionsSeen = new Set<string>();
    const client = async (id: number) => {
      let i = id;
      while (!stop) {
        try {
          const result = await registry.predict('fraud', row(i++));
          versionsSeen.add(result.model.version);
          const expected = predictLogisticRegression(result.model.version === '2' ? V2 : V1, [
            row(i - 1),
          ])[0]!;
          if (Math.abs(probability(result.outputs) - expected) > 1e-6) failures++;
          served++;
        } catch {
          failures++;
        }
      }
    };
    const clients = Array.from({ length: 32 }, (_, id) => client(id * 1000));
    const swaps: [string, Uint8Array, 'in-thread' | 'worker-pool'][] = [
      ['2', BYTES_V2, 'in-thread'],
      ['1', BYTES_V1, 'worker-pool'],
      ['2', BYTES_V2, 'worker-pool'],
      ['1', BYTES_V1, 'in-thread'],
      ['2', BYTES_V2, 'in-thread'],
    ];
    for (const [version, bytes, runtime] of swaps) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      await registry.load({ name: 'fraud', version, bytes, service: fraud, runtime, workers: 1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    stop = true;
    await Promise.all(clients);
    expect(failures).toBe(0);
    expect(served).toBeGreaterThan(100);
    expect([...versionsSeen].sort()).toEqual(['1', '2']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Four loads re-used a serving label (1, 2, 1, 2): four old sessions drained and freed.
    const replaced = events.filter((e) => e.type === 'retired' && e.reason === 'replaced');
    const closed = events.filter((e) => e.type === 'closed');
    expect(replaced).toHaveLength(4);
    expect(closed).toHaveLength(4);
    expect(registry.defaultVersion('fraud')).toBe('2');
  });

  it('keeps a retired version alive while a lease holds it', async () => {
    const events: ModelEvent[] = [];
    const registry = open({ onEvent: (event) => events.push(event) });
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    const lease = registry.acquire('fraud');
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V2, service: fraud });
    expect(events.filter((e) => e.type === 'retired')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'closed')).toHaveLength(0);
    // The old session still answers through the lease, with the old weights.
    const old = await lease.predict(row(2));
    expect(probability(old)).toBeCloseTo(predictLogisticRegression(V1, [row(2)])[0]!, 6);
    const fresh = await registry.predict('fraud', row(2));
    expect(probability(fresh.outputs)).toBeCloseTo(predictLogisticRegression(V2, [row(2)])[0]!, 6);
    lease.release();
    lease.release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events.filter((e) => e.type === 'closed')).toHaveLength(1);
    const released = await rejection(lease.predict(row(1)));
    expect(isServingError(released, 'MODEL_NOT_READY')).toBe(true);
  });

  it('checks the model inputs against the feature service with a clear error', async () => {
    const registry = open();
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    const four = logisticRegressionOnnx({ weights: [1, 2, 3, 4], bias: 0 });
    const error = await rejection(
      registry.load({ name: 'fraud', version: '2', bytes: four, service: fraud }),
    );
    expect(isModelLoadError(error, 'signature_mismatch')).toBe(true);
    expect((error as Error).message).toBe(
      'model fraud version 2: input features has shape [-1, 4] (4 columns) but feature service fraud_v1 has 3 features (tx_count_7d, tx_sum_7d, refunds_30d)',
    );
    expect(registry.versions('fraud')).toEqual(['1']);

    const withText = featureService('with_text', [txCount7d, lastMerchant, recentAmounts]);
    const three = logisticRegressionOnnx({ weights: [1, 2, 3], bias: 0 });
    const textError = await rejection(
      registry.load({ name: 'x', version: '1', bytes: three, service: withText }),
    );
    expect((textError as Error).message).toMatch(
      /last_merchant is a string feature.*; recent_amounts is a list feature/,
    );

    const intModel = encodeOnnxModel({
      inputs: [{ name: 'x', type: 'int64', shape: ['N', 3] }],
      outputs: [{ name: 'y', type: 'int64', shape: ['N', 3] }],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });
    const intError = await rejection(
      registry.load({ name: 'x', version: '1', bytes: intModel, service: fraud }),
    );
    expect((intError as Error).message).toMatch(
      /tx_sum_7d is a float feature but input x is int64/,
    );

    const twoInputs = encodeOnnxModel({
      inputs: [
        { name: 'a', type: 'float32', shape: ['N', 3] },
        { name: 'b', type: 'float32', shape: ['N', 3] },
      ],
      outputs: [{ name: 'y', type: 'float32', shape: ['N', 3] }],
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
    });
    const twoError = await rejection(
      registry.load({ name: 'x', version: '1', bytes: twoInputs, service: fraud }),
    );
    expect((twoError as Error).message).toMatch(
      /the model has 2 inputs \(a, b\).*name it with inputName/,
    );
    const named = await rejection(
      registry.load({ name: 'x', version: '1', bytes: twoInputs, service: fraud, inputName: 'a' }),
    );
    expect((named as Error).message).toMatch(/inputs b would get no value/);

    const fixedBatch = encodeOnnxModel({
      inputs: [{ name: 'x', type: 'float32', shape: [8, 3] }],
      outputs: [{ name: 'y', type: 'float32', shape: [8, 3] }],
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
    });
    const fixedError = await rejection(
      registry.load({ name: 'x', version: '1', bytes: fixedBatch, service: fraud }),
    );
    expect((fixedError as Error).message).toMatch(/fixed batch dimension of 8/);

    const single = encodeOnnxModel({
      inputs: [{ name: 'x', type: 'float64', shape: [1, 3] }],
      outputs: [{ name: 'y', type: 'float64', shape: [1, 3] }],
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
    });
    const info = await registry.load({
      name: 'single',
      version: '1',
      bytes: single,
      service: fraud,
    });
    expect(info.binding).toMatchObject({ type: 'float64', maxBatchSize: 1 });
    const outs = await Promise.all([1, 2, 3].map((i) => registry.predict('single', [i, -i, null])));
    expect(outs.map((o) => Array.from(o.outputs.y!.data as Float64Array))).toEqual([
      [1, 0, Number.NaN],
      [2, 0, Number.NaN],
      [3, 0, Number.NaN],
    ]);
  });

  it('refuses a model whose warmup fails, unless given warmup feeds that work', async () => {
    const registry = open();
    const reshape = encodeOnnxModel({
      inputs: [
        { name: 'x', type: 'float32', shape: ['N'] },
        { name: 'shape', type: 'int64', shape: [2] },
      ],
      outputs: [{ name: 'y', type: 'float32', shape: [null, null] }],
      nodes: [
        {
          op: 'Reshape',
          inputs: ['x', 'shape'],
          outputs: ['y'],
          attributes: { allowzero: { int: 1 } },
        },
      ],
      opset: 14,
    });
    const error = await rejection(registry.load({ name: 'r', version: '1', bytes: reshape }));
    expect(isModelLoadError(error, 'warmup_failed')).toBe(true);
    expect(registry.isReady()).toBe(false);
    const info = await registry.load({
      name: 'r',
      version: '1',
      bytes: reshape,
      warmup: {
        runs: 1,
        feeds: {
          x: { type: 'float32', dims: [4], data: new Float32Array(4) },
          shape: { type: 'int64', dims: [2], data: BigInt64Array.from([2n, 2n]) },
        },
      },
    });
    expect(info.binding).toBeUndefined();
    expect(registry.isReady()).toBe(true);
    const predictError = await rejection(registry.predict('r', [1]));
    expect(isServingError(predictError, 'INVALID_REQUEST')).toBe(true);
    const result = await registry.infer(
      'r',
      {
        x: { type: 'float32', dims: [6], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
        shape: { type: 'int64', dims: [2], data: BigInt64Array.from([3n, 2n]) },
      },
      { outputs: ['y'] },
    );
    expect(result.outputs.y!.dims).toEqual([3, 2]);
  });

  it('is not ready while a first load runs, and answers MODEL_NOT_READY meanwhile', async () => {
    const registry = open();
    expect(registry.isReady()).toBe(true);
    const loading = registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    expect(registry.isReady()).toBe(false);
    expect(registry.isLoading('fraud')).toBe(true);
    const early = await rejection(() => registry.acquire('fraud'));
    expect(isServingError(early, 'MODEL_NOT_READY')).toBe(true);
    expect((early as { retryAfterSeconds?: number }).retryAfterSeconds).toBe(1);
    await loading;
    expect(registry.isReady()).toBe(true);
    expect(registry.isLoading('fraud')).toBe(false);
    // A model whose only load failed holds readiness back until it is unloaded.
    await rejection(registry.load({ name: 'broken', version: '1', bytes: new Uint8Array(3) }));
    expect(registry.isReady()).toBe(false);
    await registry.unload('broken');
    expect(registry.isReady()).toBe(true);
  });

  it('unloads a version after its leases are released and moves the default', async () => {
    const registry = open();
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    await registry.load({ name: 'fraud', version: '2', bytes: BYTES_V2, service: fraud });
    const lease = registry.acquire('fraud', '2');
    let unloaded = false;
    const unloading = registry.unload('fraud', '2').then(() => {
      unloaded = true;
    });
    expect(registry.defaultVersion('fraud')).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unloaded).toBe(false);
    await lease.predict(row(1));
    lease.release();
    await unloading;
    expect(registry.versions('fraud')).toEqual(['1']);
    await registry.unload('fraud');
    expect(registry.versions('fraud')).toEqual([]);
    expect(registry.defaultVersion('fraud')).toBeUndefined();
    const gone = await rejection(registry.predict('fraud', row(1)));
    expect(isServingError(gone, 'UNKNOWN_MODEL')).toBe(true);
    const missing = await rejection(registry.unload('fraud'));
    expect(isServingError(missing, 'UNKNOWN_MODEL')).toBe(true);
  });

  it('fails a bad row alone, and refuses everything after close', async () => {
    const registry = open();
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    const [bad, good] = await Promise.allSettled([
      registry.predict('fraud', [1, 2]),
      registry.predict('fraud', row(4)),
    ]);
    expect(bad.status).toBe('rejected');
    expect(isServingError((bad as PromiseRejectedResult).reason, 'INVALID_TENSOR')).toBe(true);
    expect(good.status).toBe('fulfilled');
    await registry.close();
    expect(registry.isReady()).toBe(false);
    const after = await rejection(registry.predict('fraud', row(1)));
    expect(isServingError(after, 'UNAVAILABLE')).toBe(true);
    const load = await rejection(registry.load({ name: 'fraud', version: '3', bytes: BYTES_V1 }));
    expect(isServingError(load, 'UNAVAILABLE')).toBe(true);
  });
});
