import { describe, expect, it } from 'vitest';
import type { Tensor } from '../models/tensor.js';
import { argmaxLabel, outputValue, outputValues, thresholdLabel } from './post-process.js';

const context = {
  model: { name: 'm', version: '1' },
  request: {},
  features: { entity: {}, values: {} },
};

describe('post-processing', () => {
  it('turns one row of output tensors into JSON values', () => {
    const t = (tensor: Tensor) => outputValue(tensor);
    expect(t({ type: 'float32', dims: [1], data: Float32Array.from([0.5]) })).toBe(0.5);
    expect(t({ type: 'float32', dims: [], data: Float32Array.from([Number.NaN]) })).toBeNull();
    expect(t({ type: 'int64', dims: [1], data: BigInt64Array.from([7n]) })).toBe(7);
    expect(t({ type: 'bool', dims: [1], data: Uint8Array.from([1]) })).toBe(true);
    expect(t({ type: 'string', dims: [1], data: ['fraud'] })).toBe('fraud');
    expect(t({ type: 'float64', dims: [3], data: Float64Array.from([1, 2, 3]) })).toEqual([
      1, 2, 3,
    ]);
    expect(t({ type: 'int32', dims: [2, 2], data: Int32Array.from([1, 2, 3, 4]) })).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(
      outputValues({
        probability: { type: 'float32', dims: [1], data: Float32Array.from([0.25]) },
        label: { type: 'int64', dims: [1], data: BigInt64Array.from([0n]) },
      }),
    ).toEqual({ probability: 0.25, label: 0 });
  });

  it('thresholds a score into labels', () => {
    const hook = thresholdLabel({ output: 'p', threshold: 0.7, labels: ['legit', 'fraud'] });
    expect(hook({ p: 0.9 }, context)).toEqual({ score: 0.9, label: 'fraud' });
    expect(hook({ p: [0.1] }, context)).toEqual({ score: 0.1, label: 'legit' });
    expect(hook({ p: null }, context)).toEqual({ score: null, label: null });
    expect(thresholdLabel()({ anything: 0.6 }, context)).toEqual({ score: 0.6, label: true });
  });

  it('picks the class with the highest score', () => {
    const hook = argmaxLabel({ labels: ['a', 'b', 'c'] });
    expect(hook({ scores: [0.1, 0.7, 0.2] }, context)).toEqual({
      label: 'b',
      score: 0.7,
      scores: { a: 0.1, b: 0.7, c: 0.2 },
    });
    expect(hook({ scores: [[0.5, 0.2, 0.3]] }, context)).toMatchObject({ label: 'a' });
  });
});
