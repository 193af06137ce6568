import type { FeatureService, LayoutEntry } from '@tandem/core';
import type { MatrixType } from '../batching/rows.js';
import { ModelLoadError } from './errors.js';
import { formatShape, type ModelSignature, type TensorSpec } from './tensor.js';

/**
 * How rows of feature values reach a model: one input of shape `[N, F]` whose columns are the
 * feature service's layout, in order.
 */
export interface FeatureInputBinding {
  /** The `[N, F]` input. */
  readonly inputName: string;
  /** Its element type (rows are converted to it). */
  readonly type: MatrixType;
  /** F: values per row. */
  readonly width: number;
  /** Largest batch the model accepts: unbounded (`undefined`) for a dynamic batch dim, else 1. */
  readonly maxBatchSize: number | undefined;
  /** Column names (the layout's feature names, or `column i` without a service). */
  readonly columns: readonly string[];
  /** The feature service's layout, when the model was bound to one. */
  readonly layout: readonly LayoutEntry[] | undefined;
}

const MATRIX_TYPES: readonly string[] = ['float32', 'float64', 'int32', 'int64'];

/**
 * Checks a model's inputs against a feature service at load and tells how rows feed it. With a
 * service, a mismatch throws {@link ModelLoadError} (`signature_mismatch`) with a message that
 * names the input, the expected and actual shape or type, and the features. Without a service,
 * returns a binding when the model has one numeric `[N, F]` input with a fixed F, else undefined
 * (the model is then reachable through tensor-level inference only).
 */
export function bindFeatureInput(
  signature: ModelSignature,
  options: {
    readonly model: string;
    readonly version: string;
    readonly service?: FeatureService | undefined;
    readonly inputName?: string | undefined;
  },
): FeatureInputBinding | undefined {
  const { model, version, service } = options;
  const fail = (message: string): never => {
    throw new ModelLoadError('signature_mismatch', model, version, message);
  };
  const inputNames = signature.inputs.map((i) => i.name).join(', ');
  let input: TensorSpec | undefined;
  if (options.inputName !== undefined) {
    input = signature.inputs.find((i) => i.name === options.inputName);
    if (input === undefined) {
      return fail(`the model has no input ${options.inputName} (its inputs: ${inputNames})`);
    }
  } else if (signature.inputs.length === 1) {
    input = signature.inputs[0];
  }
  if (input === undefined) {
    if (service === undefined) return undefined;
    return fail(
      `the model has ${signature.inputs.length} inputs (${inputNames}); feature service ${service.name} feeds one [N, ${service.layout.length}] input: name it with inputName`,
    );
  }
  if (service !== undefined && signature.inputs.length > 1) {
    const others = signature.inputs.filter((i) => i !== input).map((i) => i.name);
    return fail(
      `inputs ${others.join(', ')} would get no value: feature service ${service.name} feeds only ${input.name}`,
    );
  }
  const where = `input ${input.name}`;
  if (!MATRIX_TYPES.includes(input.type)) {
    if (service === undefined) return undefined;
    return fail(
      `${where} has element type ${input.type}; feature rows feed float32, float64, int32 or int64 inputs`,
    );
  }
  const type = input.type as MatrixType;
  if (input.shape.length !== 2) {
    if (service === undefined) return undefined;
    return fail(
      `${where} has shape ${formatShape(input.shape)}; feature service ${service.name} needs a 2-D [N, ${service.layout.length}] input`,
    );
  }
  const [batch, width] = input.shape as [number, number];
  if (batch !== -1 && batch !== 1) {
    if (service === undefined) return undefined;
    return fail(
      `${where} has a fixed batch dimension of ${batch} (shape ${formatShape(input.shape)}); export it with a dynamic first dimension, or 1`,
    );
  }
  const maxBatchSize = batch === 1 ? 1 : undefined;
  if (service === undefined) {
    if (width === -1) return undefined;
    return {
      inputName: input.name,
      type,
      width,
      maxBatchSize,
      columns: Array.from({ length: width }, (_, j) => `column ${j}`),
      layout: undefined,
    };
  }
  const layout = service.layout;
  const names = layout.map((entry) => entry.name);
  if (width !== -1 && width !== layout.length) {
    return fail(
      `${where} has shape ${formatShape(input.shape)} (${width} columns) but feature service ${service.name} has ${layout.length} features (${names.join(', ')})`,
    );
  }
  const problems: string[] = [];
  for (const entry of layout) {
    if (entry.list) {
      problems.push(`${entry.name} is a list feature, which does not fit one tensor column`);
    } else if (entry.valueType === 'string') {
      problems.push(
        `${entry.name} is a string feature; encode it as a number (a derived feature) for a ${type} input`,
      );
    } else if (entry.valueType === 'float' && (type === 'int32' || type === 'int64')) {
      problems.push(`${entry.name} is a float feature but ${where} is ${type}`);
    }
  }
  if (problems.length > 0) {
    return fail(`feature service ${service.name} does not fit ${where}: ${problems.join('; ')}`);
  }
  return {
    inputName: input.name,
    type,
    width: layout.length,
    maxBatchSize,
    columns: names,
    layout,
  };
}
