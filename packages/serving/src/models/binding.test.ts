import { entity, eventSource, featureService } from '@tandem/core';
import { describe, expect, it } from 'vitest';
import { bindFeatureInput } from './binding.js';
import { isModelLoadError } from './errors.js';
import type { ModelSignature } from './tensor.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const clicks = eventSource({ name: 'clicks', entity: user, fields: { ms: 'int', ok: 'bool' } });
const service = featureService('clicks_v1', [
  clicks.count().window('1d').as('clicks_1d'),
  clicks
    .count()
    .where((c) => c.ok)
    .window('1d')
    .as('ok_clicks_1d'),
]);
const model = { model: 'm', version: '1' };

const signature = (inputs: ModelSignature['inputs']): ModelSignature => ({
  inputs,
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }],
});

describe('bindFeatureInput', () => {
  it('binds int and bool features to an int64 input (no float feature involved)', () => {
    const binding = bindFeatureInput(signature([{ name: 'x', type: 'int64', shape: [-1, 2] }]), {
      ...model,
      service,
    });
    expect(binding).toEqual({
      inputName: 'x',
      type: 'int64',
      width: 2,
      maxBatchSize: undefined,
      columns: ['clicks_1d', 'ok_clicks_1d'],
      layout: service.layout,
    });
  });

  it('accepts a dynamic feature dimension when a service fixes the width', () => {
    const binding = bindFeatureInput(signature([{ name: 'x', type: 'float32', shape: [-1, -1] }]), {
      ...model,
      service,
    });
    expect(binding?.width).toBe(2);
  });

  it('binds a single [N, F] numeric input without a service, and nothing else', () => {
    expect(
      bindFeatureInput(signature([{ name: 'x', type: 'float64', shape: [-1, 4] }]), model),
    ).toMatchObject({
      inputName: 'x',
      width: 4,
      columns: ['column 0', 'column 1', 'column 2', 'column 3'],
    });
    expect(
      bindFeatureInput(signature([{ name: 'x', type: 'float32', shape: [-1, -1] }]), model),
    ).toBeUndefined();
    expect(
      bindFeatureInput(signature([{ name: 'x', type: 'string', shape: [-1, 2] }]), model),
    ).toBeUndefined();
    expect(
      bindFeatureInput(signature([{ name: 'x', type: 'float32', shape: [-1] }]), model),
    ).toBeUndefined();
    expect(
      bindFeatureInput(
        signature([
          { name: 'a', type: 'float32', shape: [-1, 2] },
          { name: 'b', type: 'float32', shape: [-1, 2] },
        ]),
        model,
      ),
    ).toBeUndefined();
  });

  it('refuses what does not fit, naming the input and the service', () => {
    const refuse = (inputs: ModelSignature['inputs'], inputName?: string) => {
      try {
        bindFeatureInput(signature(inputs), { ...model, service, inputName });
      } catch (error) {
        expect(isModelLoadError(error, 'signature_mismatch')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(refuse([{ name: 'x', type: 'bool', shape: [-1, 2] }])).toBe(
      'model m version 1: input x has element type bool; feature rows feed float32, float64, int32 or int64 inputs',
    );
    expect(refuse([{ name: 'x', type: 'float32', shape: [-1, 2, 1] }])).toMatch(
      /has shape \[-1, 2, 1\]; feature service clicks_v1 needs a 2-D \[N, 2\] input/,
    );
    expect(refuse([{ name: 'x', type: 'float32', shape: [-1, 2] }], 'nope')).toMatch(
      /the model has no input nope \(its inputs: x\)/,
    );
  });
});
