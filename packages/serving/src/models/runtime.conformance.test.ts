/**
 * The one conformance suite of the ModelRuntime adapter interface: every implementation runs the
 * same cases against real onnxruntime-node and real models built by @tandem/testing.
 */
import {
  encodeOnnxModel,
  logisticRegressionOnnx,
  predictLogisticRegression,
} from '@tandem/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import { onnxRuntime } from './onnx-runtime.js';
import type { ModelRuntime } from './runtime.js';
import type { Tensor } from './tensor.js';
import { workerPoolRuntime } from './worker-pool.js';

const MODEL = { weights: [0.75, -1.5, 0.25], bias: -0.125 };
const LOGISTIC = logisticRegressionOnnx({ ...MODEL, outputs: ['probability', 'label'] });

/** Identity over several element types, one fixed-shape input. */
const TYPES = encodeOnnxModel({
  inputs: [
    { name: 'i64', type: 'int64', shape: ['N'] },
    { name: 'flag', type: 'bool', shape: ['N'] },
    { name: 'text', type: 'string', shape: ['N'] },
    { name: 'f64', type: 'float64', shape: [2, 2] },
  ],
  outputs: [
    { name: 'i64_out', type: 'int64', shape: ['N'] },
    { name: 'flag_out', type: 'bool', shape: ['N'] },
    { name: 'text_out', type: 'string', shape: ['N'] },
    { name: 'f64_out', type: 'float64', shape: [2, 2] },
  ],
  nodes: [
    { op: 'Identity', inputs: ['i64'], outputs: ['i64_out'] },
    { op: 'Not', inputs: ['flag'], outputs: ['flag_out'] },
    { op: 'Identity', inputs: ['text'], outputs: ['text_out'] },
    { op: 'Identity', inputs: ['f64'], outputs: ['f64_out'] },
  ],
});

/** Reshape to a shape given at run time: a wrong shape fails inside onnxruntime. */
const RESHAPE = encodeOnnxModel({
  inputs: [
    { name: 'x', type: 'float32', shape: ['N'] },
    { name: 'shape', type: 'int64', shape: [2] },
  ],
  outputs: [{ name: 'y', type: 'float32', shape: [null, null] }],
  nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
});

function rows(n: number, seed = 0): number[][] {
  return Array.from({ length: n }, (_, i) =>
    [0, 1, 2].map((j) => Math.fround(Math.sin(seed * 7 + i * 3 + j) * 4)),
  );
}

function features(values: readonly (readonly number[])[]): Tensor<'float32'> {
  return {
    type: 'float32',
    dims: [values.length, values[0]?.length ?? 3],
    data: Float32Array.from(values.flat()),
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const IMPLEMENTATIONS: readonly [string, () => ModelRuntime][] = [
  ['onnxRuntime (in-thread)', () => onnxRuntime()],
  ['workerPoolRuntime (2 workers)', () => workerPoolRuntime({ workers: 2 })],
];

describe.each(IMPLEMENTATIONS)('ModelRuntime conformance: %s', (_label, create) => {
  const opened: ModelRuntime[] = [];
  const open = () => {
    const runtime = create();
    opened.push(runtime);
    return runtime;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((runtime) => runtime.close()));
  });

  it('is not ready before load', async () => {
    const runtime = open();
    expect(() => runtime.describe()).toThrow(/no model loaded/);
    const error = await rejection(runtime.run({ features: features(rows(1)) }));
    expect(isServingError(error, 'MODEL_NOT_READY')).toBe(true);
    expect(runtime.concurrency).toBeGreaterThanOrEqual(1);
    expect(runtime.kind).toMatch(/^onnxruntime/);
  });

  it('loads a model and describes its inputs and outputs (-1 for dynamic dims)', async () => {
    const runtime = open();
    const signature = await runtime.load(LOGISTIC);
    expect(signature).toEqual({
      inputs: [{ name: 'features', type: 'float32', shape: [-1, 3] }],
      outputs: [
        { name: 'probability', type: 'float32', shape: [-1, 1] },
        { name: 'label', type: 'int64', shape: [-1, 1] },
      ],
    });
    expect(runtime.describe()).toEqual(signature);
  });

  it('computes what the TypeScript reference computes', async () => {
    const runtime = open();
    await runtime.load(LOGISTIC);
    const input = rows(17);
    const out = await runtime.run({ features: features(input) });
    expect(Object.keys(out).sort()).toEqual(['label', 'probability']);
    expect(out.probability!.type).toBe('float32');
    expect(out.probability!.dims).toEqual([17, 1]);
    const expected = predictLogisticRegression(MODEL, input);
    Array.from(out.probability!.data as Float32Array).forEach((p, i) => {
      expect(Math.abs(p - expected[i]!)).toBeLessThan(1e-6);
    });
    expect(out.label!.type).toBe('int64');
    expect(Array.from(out.label!.data as BigInt64Array)).toEqual(
      expected.map((p) => (p > 0.5 ? 1n : 0n)),
    );
  });

  it('returns only the selected outputs', async () => {
    const runtime = open();
    await runtime.load(LOGISTIC);
    const out = await runtime.run({ features: features(rows(2)) }, ['label']);
    expect(Object.keys(out)).toEqual(['label']);
  });

  it('serves many concurrent runs, each with its own result', async () => {
    const runtime = open();
    await runtime.load(LOGISTIC);
    const inputs = Array.from({ length: 120 }, (_, i) => rows(1 + (i % 5), i));
    const outs = await Promise.all(
      inputs.map((input) => runtime.run({ features: features(input) })),
    );
    outs.forEach((out, i) => {
      const expected = predictLogisticRegression(MODEL, inputs[i]!);
      const actual = Array.from(out.probability!.data as Float32Array);
      expect(actual.length).toBe(expected.length);
      actual.forEach((p, j) => {
        expect(Math.abs(p - expected[j]!)).toBeLessThan(1e-6);
      });
    });
  });

  it('refuses malformed feeds with INVALID_TENSOR and stays usable', async () => {
    const runtime = open();
    await runtime.load(LOGISTIC);
    const cases: [Record<string, Tensor>, readonly string[] | undefined, RegExp][] = [
      [{}, undefined, /input features is missing/],
      [
        { features: features(rows(1)), extra: features(rows(1)) },
        undefined,
        /unexpected input extra/,
      ],
      [
        { features: { type: 'float64', dims: [1, 3], data: new Float64Array(3) } },
        undefined,
        /type float64, the model expects float32/,
      ],
      [
        { features: { type: 'float32', dims: [1, 4], data: new Float32Array(4) } },
        undefined,
        /shape \[1, 4\], the model expects \[-1, 3\]/,
      ],
      [
        { features: { type: 'float32', dims: [2, 3], data: new Float32Array(5) } },
        undefined,
        /5 values, its shape \[2, 3\] needs 6/,
      ],
      [{ features: features(rows(1)) }, ['nope'], /unknown output nope/],
    ];
    for (const [feeds, outputs, message] of cases) {
      const error = await rejection(runtime.run(feeds, outputs));
      expect(isServingError(error, 'INVALID_TENSOR'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    const out = await runtime.run({ features: features(rows(1)) });
    expect(out.probability!.dims).toEqual([1, 1]);
  });

  it('reports a failure inside the model as MODEL_FAILED and stays usable', async () => {
    const runtime = open();
    await runtime.load(RESHAPE);
    const x: Tensor = { type: 'float32', dims: [6], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const bad: Tensor = { type: 'int64', dims: [2], data: BigInt64Array.from([4n, 4n]) };
    const error = await rejection(runtime.run({ x, shape: bad }));
    expect(isServingError(error, 'MODEL_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/inference failed/);
    const good: Tensor = { type: 'int64', dims: [2], data: BigInt64Array.from([2n, 3n]) };
    const out = await runtime.run({ x, shape: good });
    expect(out.y!.dims).toEqual([2, 3]);
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('moves int64, bool, string and float64 tensors in and out', async () => {
    const runtime = open();
    const signature = await runtime.load(TYPES);
    expect(signature.inputs.map((i) => [i.name, i.type, i.shape])).toEqual([
      ['i64', 'int64', [-1]],
      ['flag', 'bool', [-1]],
      ['text', 'string', [-1]],
      ['f64', 'float64', [2, 2]],
    ]);
    const out = await runtime.run({
      i64: { type: 'int64', dims: [3], data: BigInt64Array.from([-(2n ** 60n), 0n, 7n]) },
      flag: { type: 'bool', dims: [3], data: Uint8Array.from([1, 0, 1]) },
      text: { type: 'string', dims: [3], data: ['a', 'ünï', ''] },
      f64: { type: 'float64', dims: [2, 2], data: Float64Array.from([1e-300, -2, 3.5, 4]) },
    });
    expect(Array.from(out.i64_out!.data as BigInt64Array)).toEqual([-(2n ** 60n), 0n, 7n]);
    expect(out.flag_out!.type).toBe('bool');
    expect(Array.from(out.flag_out!.data as Uint8Array).map(Boolean)).toEqual([false, true, false]);
    expect(Array.from(out.text_out!.data as readonly string[])).toEqual(['a', 'ünï', '']);
    expect(Array.from(out.f64_out!.data as Float64Array)).toEqual([1e-300, -2, 3.5, 4]);
    expect(out.f64_out!.dims).toEqual([2, 2]);
  });

  it('refuses bytes that are not a model with MODEL_LOAD_FAILED', async () => {
    const runtime = open();
    const error = await rejection(runtime.load(new TextEncoder().encode('not a model')));
    expect(isServingError(error, 'MODEL_LOAD_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/onnxruntime refused the model/);
  });

  it('loads one model once', async () => {
    const runtime = open();
    await runtime.load(LOGISTIC);
    const error = await rejection(runtime.load(LOGISTIC));
    expect(isServingError(error)).toBe(true);
  });

  it('refuses runs after close; close is idempotent', async () => {
    const runtime = open();
    await runtime.load(LOGISTIC);
    await runtime.close();
    await runtime.close();
    const error = await rejection(runtime.run({ features: features(rows(1)) }));
    expect(isServingError(error, 'MODEL_NOT_READY')).toBe(true);
  });
});
