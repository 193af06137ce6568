import { createHash } from 'node:crypto';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { denseNetworkOnnx, denseNetworkWeights, predictDenseNetwork } from './dense.js';
import { encodeOnnxModel } from './encode.js';
import { readFields } from './internal/protobuf.js';
import {
  logisticRegressionOnnx,
  predictLogisticRegression,
  trainLogisticRegression,
} from './logistic.js';

async function run(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
): Promise<{ session: ort.InferenceSession; out: ort.InferenceSession.ReturnType }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const out = await session.run(feeds);
  return { session, out };
}

function matrix(rows: readonly (readonly number[])[]): ort.Tensor {
  const width = rows[0]?.length ?? 0;
  return new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, width]);
}

describe('ProtoWriter / encodeOnnxModel', () => {
  it('writes a ModelProto whose top-level fields a protobuf reader finds', () => {
    const bytes = encodeOnnxModel({
      inputs: [{ name: 'x', type: 'float32', shape: ['N', 2] }],
      outputs: [{ name: 'y', type: 'float32', shape: ['N', 2] }],
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
      metadata: { owner: 'tests' },
    });
    const fields = readFields(bytes);
    expect(fields.map((f) => f.field)).toEqual([1, 2, 3, 7, 8, 14]);
    expect(fields[0]!.value).toBe(8n);
  });

  it('encodes varints of negative int64 attributes in ten bytes, as protobuf does', async () => {
    const bytes = encodeOnnxModel({
      inputs: [{ name: 'x', type: 'float32', shape: [2, 3] }],
      outputs: [{ name: 'y', type: 'float32', shape: [3, 2] }],
      nodes: [
        { op: 'Transpose', inputs: ['x'], outputs: ['y'], attributes: { perm: { ints: [1, 0] } } },
      ],
    });
    const { session, out } = await run(bytes, {
      x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 4, 2, 5, 3, 6]);
    await session.release();
    const flatten = encodeOnnxModel({
      inputs: [{ name: 'x', type: 'float32', shape: [2, 3] }],
      outputs: [{ name: 'y', type: 'float32', shape: [2, 3] }],
      nodes: [{ op: 'Flatten', inputs: ['x'], outputs: ['y'], attributes: { axis: { int: -1 } } }],
    });
    const second = await run(flatten, {
      x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    });
    expect(second.out.y!.dims).toEqual([2, 3]);
    await second.session.release();
  });

  it('round-trips every initializer type through onnxruntime (Identity of constants)', async () => {
    const cases = [
      { type: 'float32', values: [1.5, -2.25], expected: [1.5, -2.25] },
      { type: 'float64', values: [1e-300, 3], expected: [1e-300, 3] },
      { type: 'int32', values: [-7, 2 ** 31 - 1], expected: [-7, 2 ** 31 - 1] },
      { type: 'int64', values: [-(2n ** 62n), 5n], expected: [-(2n ** 62n), 5n] },
      { type: 'uint8', values: [0, 255], expected: [0, 255] },
      { type: 'bool', values: [true, false], expected: [true, false] },
      { type: 'string', values: ['ä', ''], expected: ['ä', ''] },
    ] as const;
    for (const c of cases) {
      const bytes = encodeOnnxModel({
        inputs: [],
        outputs: [{ name: 'y', type: c.type, shape: [2] }],
        nodes: [{ op: 'Identity', inputs: ['c'], outputs: ['y'] }],
        initializers: [{ name: 'c', type: c.type, dims: [2], values: c.values }],
      });
      const { session, out } = await run(bytes, {});
      const data = out.y!.data as ArrayLike<unknown>;
      const values = c.type === 'bool' ? Array.from(data, Boolean) : Array.from(data);
      expect(values, c.type).toEqual(c.expected);
      await session.release();
    }
  });

  it('refuses initializers whose value count does not match their dims', () => {
    expect(() =>
      encodeOnnxModel({
        inputs: [],
        outputs: [{ name: 'y', type: 'float32', shape: [3] }],
        nodes: [{ op: 'Identity', inputs: ['c'], outputs: ['y'] }],
        initializers: [{ name: 'c', type: 'float32', dims: [3], values: [1, 2] }],
      }),
    ).toThrow(/dims \[3\] \(3 elements\) but 2 values/);
  });
});

describe('logisticRegressionOnnx', () => {
  it('declares an FP32 [N, F] input with a dynamic batch dimension and the chosen outputs', async () => {
    const bytes = logisticRegressionOnnx({
      weights: [0.5, -1, 2],
      bias: 0.1,
      inputName: 'x',
      outputs: ['probability', 'logit', 'label'],
    });
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['x']);
    expect(session.outputNames).toEqual(['probability', 'logit', 'label']);
    const input = session.inputMetadata[0]!;
    expect(input.isTensor && input.type).toBe('float32');
    expect(input.isTensor && input.shape).toEqual(['N', 3]);
    const label = session.outputMetadata[2]!;
    expect(label.isTensor && label.type).toBe('int64');
    await session.release();
  });

  it('computes the TypeScript reference for random weights and rows (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }).chain((f) =>
          fc.record({
            weights: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), {
              minLength: f,
              maxLength: f,
            }),
            bias: fc.double({ min: -3, max: 3, noNaN: true }),
            rows: fc.array(
              fc.array(fc.double({ min: -10, max: 10, noNaN: true }), {
                minLength: f,
                maxLength: f,
              }),
              { minLength: 1, maxLength: 20 },
            ),
          }),
        ),
        async ({ weights, bias, rows }) => {
          const model = {
            weights: weights.map(Math.fround),
            bias: Math.fround(bias),
          };
          const f32rows = rows.map((row) => row.map(Math.fround));
          const { session, out } = await run(
            logisticRegressionOnnx({ ...model, outputs: ['probability', 'label'] }),
            { features: matrix(f32rows) },
          );
          const expected = predictLogisticRegression(model, f32rows);
          const probability = Array.from(out.probability!.data as Float32Array);
          expect(out.probability!.dims).toEqual([rows.length, 1]);
          probability.forEach((p, i) => {
            expect(Math.abs(p - expected[i]!)).toBeLessThan(2e-6);
          });
          const labels = Array.from(out.label!.data as BigInt64Array);
          labels.forEach((label, i) => {
            expect(label).toBe(probability[i]! > 0.5 ? 1n : 0n);
          });
          await session.release();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('is deterministic: the same options give the same bytes', () => {
    const a = logisticRegressionOnnx({ weights: [1, 2], bias: 3 });
    const b = logisticRegressionOnnx({ weights: [1, 2], bias: 3 });
    const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    expect(sha(a)).toBe(sha(b));
    expect(sha(logisticRegressionOnnx({ weights: [1, 2], bias: 3.5 }))).not.toBe(sha(a));
  });

  it('rejects empty or non-finite weights', () => {
    expect(() => logisticRegressionOnnx({ weights: [], bias: 0 })).toThrow(/at least one weight/);
    expect(() => logisticRegressionOnnx({ weights: [Number.NaN], bias: 0 })).toThrow(/finite/);
  });
});

describe('trainLogisticRegression', () => {
  // Two Gaussian-ish clusters from a fixed linear congruential sequence: no randomness.
  const rows: number[][] = [];
  const labels: number[] = [];
  let state = 12345;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  for (let i = 0; i < 400; i++) {
    const label = i % 2;
    rows.push([label * 2 + next() * 1.5, 100 + next() * 50 - label * 30, next()]);
    labels.push(label);
  }

  it('is deterministic and separates the classes', () => {
    const a = trainLogisticRegression(rows, labels, { epochs: 300 });
    const b = trainLogisticRegression(rows, labels, { epochs: 300 });
    expect(a).toEqual(b);
    const predictions = predictLogisticRegression(a, rows);
    const accuracy =
      predictions.filter((p, i) => (p > 0.5 ? 1 : 0) === labels[i]).length / rows.length;
    expect(accuracy).toBeGreaterThan(0.9);
    expect(a.loss).toBeLessThan(0.4);
  });

  it('exports to ONNX with outputs equal to the TypeScript reference', async () => {
    const model = trainLogisticRegression(rows, labels, { epochs: 200, l2: 0.01 });
    const { session, out } = await run(logisticRegressionOnnx(model), { features: matrix(rows) });
    const expected = predictLogisticRegression(model, rows);
    const actual = Array.from(out.probability!.data as Float32Array);
    actual.forEach((p, i) => {
      expect(Math.abs(p - expected[i]!)).toBeLessThan(1e-5);
    });
    await session.release();
  });

  it('checks its arguments', () => {
    expect(() => trainLogisticRegression([], [])).toThrow(/at least one row/);
    expect(() => trainLogisticRegression([[1]], [1, 0])).toThrow(/1 rows but 2 labels/);
    expect(() => trainLogisticRegression([[1], [1, 2]], [1, 0])).toThrow(/rows\[1\]/);
    expect(() => trainLogisticRegression([[1]], [2])).toThrow(/0 or 1/);
    expect(() => trainLogisticRegression([[Number.NaN]], [1])).toThrow(/not finite/);
  });
});

describe('denseNetworkOnnx', () => {
  it('matches its TypeScript reference', async () => {
    const options = { inputSize: 8, hidden: [16, 16], seed: 7 };
    const rows = Array.from({ length: 5 }, (_, i) =>
      Array.from({ length: 8 }, (_, j) => Math.fround(Math.sin(i * 8 + j))),
    );
    const { session, out } = await run(denseNetworkOnnx(options), { features: matrix(rows) });
    const expected = predictDenseNetwork(denseNetworkWeights(options), rows);
    Array.from(out.score!.data as Float32Array).forEach((p, i) => {
      expect(Math.abs(p - expected[i]!)).toBeLessThan(1e-5);
    });
    await session.release();
  });
});
