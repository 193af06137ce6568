import { ServingError } from '../errors/errors.js';
import {
  allocate,
  formatShape,
  type ModelSignature,
  type Tensor,
  type TensorSpec,
  type TensorType,
} from '../models/tensor.js';
import { fromHalf, fromOipDatatype, type OipDatatype, toHalf, toOipDatatype } from './datatypes.js';

/** One tensor of an inference request or response, as OIP v2 JSON carries it. */
export interface OipTensor {
  /** Tensor name. */
  readonly name: string;
  /** Shape; every dimension a non-negative integer. */
  readonly shape: readonly number[];
  /** OIP datatype. */
  readonly datatype: OipDatatype;
  /** Optional tensor parameters. */
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** Row-major values, flat or nested by shape. */
  readonly data: readonly unknown[];
}

/** An OIP v2 inference request body. */
export interface OipInferenceRequest {
  /** Echoed in the response. */
  readonly id?: string;
  /** Request parameters. */
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** Input tensors. */
  readonly inputs: readonly OipTensor[];
  /** Outputs to return (default all). */
  readonly outputs?: readonly { readonly name: string; readonly parameters?: unknown }[];
}

/** An OIP v2 inference response body. */
export interface OipInferenceResponse {
  /** Model name. */
  readonly model_name: string;
  /** The version that answered. */
  readonly model_version: string;
  /** The request's `id`, when it had one. */
  readonly id?: string;
  /** Output tensors (flat data). */
  readonly outputs: readonly OipTensor[];
}

/** A request decoded and checked against the model: feeds and the outputs to return. */
export interface DecodedInference {
  /** The request id, if any. */
  readonly id: string | undefined;
  /** Feeds by input name. */
  readonly feeds: Record<string, Tensor>;
  /** Selected outputs, in request order (undefined: all). */
  readonly outputs: readonly string[] | undefined;
}

const invalid = (path: string, message: string): ServingError =>
  new ServingError('INVALID_REQUEST', `${path}: ${message}`, { issues: [path] });
const invalidTensor = (path: string, message: string): ServingError =>
  new ServingError('INVALID_TENSOR', `${path}: ${message}`, { issues: [path] });

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Decodes an OIP v2 inference request against a model signature, strictly: the body's shape,
 * every input present once and known, datatypes equal to the model's, shapes of the model's rank
 * with its fixed dimensions, data flat (length = product of the shape) or nested exactly as the
 * shape, and every element of the datatype's JSON type and range. Throws `INVALID_REQUEST` or
 * `INVALID_TENSOR` (400) with the offending field path.
 */
export function decodeInferenceRequest(body: unknown, signature: ModelSignature): DecodedInference {
  if (!isObject(body)) throw invalid('(root)', 'the body must be a JSON object');
  const id = body.id;
  if (id !== undefined && typeof id !== 'string') throw invalid('id', 'must be a string');
  if (body.parameters !== undefined && !isObject(body.parameters)) {
    throw invalid('parameters', 'must be an object');
  }
  if (isObject(body.parameters) && body.parameters.binary_data_output !== undefined) {
    throw invalid('parameters.binary_data_output', 'the binary tensor extension is not supported');
  }
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw invalid('inputs', 'must be a non-empty array of tensors');
  }
  const feeds: Record<string, Tensor> = {};
  inputs.forEach((raw: unknown, index) => {
    const path = `inputs.${index}`;
    if (!isObject(raw)) throw invalid(path, 'must be an object with name, shape, datatype, data');
    const name = raw.name;
    if (typeof name !== 'string' || name === '') throw invalid(`${path}.name`, 'must be a string');
    if (Object.hasOwn(feeds, name)) throw invalid(`${path}.name`, `input ${name} is given twice`);
    const spec = signature.inputs.find((input) => input.name === name);
    if (spec === undefined) {
      throw invalid(
        `${path}.name`,
        `unknown input ${name}; the model's inputs are ${signature.inputs.map((i) => i.name).join(', ')}`,
      );
    }
    feeds[name] = decodeTensor(raw, spec, path);
  });
  for (const input of signature.inputs) {
    if (!Object.hasOwn(feeds, input.name)) {
      throw invalid('inputs', `input ${input.name} is missing`);
    }
  }
  let outputs: string[] | undefined;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw invalid('outputs', 'must be an array');
    outputs = [];
    const seen = new Set<string>();
    body.outputs.forEach((raw: unknown, index) => {
      const path = `outputs.${index}`;
      if (!isObject(raw) || typeof raw.name !== 'string') {
        throw invalid(path, 'must be an object with a name');
      }
      if (
        isObject(raw.parameters) &&
        raw.parameters.binary_data !== undefined &&
        raw.parameters.binary_data !== false
      ) {
        throw invalid(
          `${path}.parameters.binary_data`,
          'the binary tensor extension is not supported',
        );
      }
      if (!signature.outputs.some((o) => o.name === raw.name)) {
        throw invalid(
          `${path}.name`,
          `unknown output ${raw.name}; the model's outputs are ${signature.outputs.map((o) => o.name).join(', ')}`,
        );
      }
      if (seen.has(raw.name))
        throw invalid(`${path}.name`, `output ${raw.name} is requested twice`);
      seen.add(raw.name);
      outputs!.push(raw.name);
    });
    if (outputs.length === 0) outputs = undefined;
  }
  return { id, feeds, outputs };
}

function decodeTensor(raw: Record<string, unknown>, spec: TensorSpec, path: string): Tensor {
  const datatype = raw.datatype;
  if (typeof datatype !== 'string') throw invalid(`${path}.datatype`, 'must be a string');
  const type = fromOipDatatype(datatype);
  if (type === undefined) throw invalid(`${path}.datatype`, `unknown datatype ${datatype}`);
  if (type !== spec.type) {
    throw invalidTensor(
      `${path}.datatype`,
      `input ${spec.name} has datatype ${toOipDatatype(spec.type)}, not ${datatype}`,
    );
  }
  if (isObject(raw.parameters) && raw.parameters.binary_data_size !== undefined) {
    throw invalid(
      `${path}.parameters.binary_data_size`,
      'the binary tensor extension is not supported',
    );
  }
  const shape = raw.shape;
  if (
    !Array.isArray(shape) ||
    !shape.every((dim) => typeof dim === 'number' && Number.isSafeInteger(dim) && dim >= 0)
  ) {
    throw invalid(`${path}.shape`, 'must be an array of non-negative integers');
  }
  const dims = shape as number[];
  const fits =
    dims.length === spec.shape.length &&
    spec.shape.every((dim, i) => dim === -1 || dim === dims[i]);
  if (!fits) {
    throw invalidTensor(
      `${path}.shape`,
      `input ${spec.name} has shape ${formatShape(dims)}, the model expects ${formatShape(spec.shape)}`,
    );
  }
  const data = raw.data;
  if (!Array.isArray(data)) throw invalid(`${path}.data`, 'must be an array');
  const count = dims.reduce((a, b) => a * b, 1);
  const flat = flatten(data, dims, `${path}.data`, count);
  return { type, dims, data: convert(flat, type, `${path}.data`) } as Tensor;
}

/** Flat data as is, or nested data checked level by level against the shape. */
function flatten(data: unknown[], dims: readonly number[], path: string, count: number): unknown[] {
  const nested = data.length > 0 && Array.isArray(data[0]);
  if (!nested) {
    if (data.length !== count) {
      throw invalidTensor(
        path,
        `has ${data.length} values, shape ${formatShape(dims)} needs ${count}`,
      );
    }
    return data;
  }
  const out: unknown[] = [];
  const walk = (node: unknown, depth: number, at: string) => {
    if (depth === dims.length) {
      if (Array.isArray(node))
        throw invalidTensor(at, `nests deeper than shape ${formatShape(dims)}`);
      out.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== dims[depth]) {
      throw invalidTensor(
        at,
        `nested data does not match shape ${formatShape(dims)} (expected ${dims[depth]} elements at depth ${depth})`,
      );
    }
    node.forEach((child, i) => {
      walk(child, depth + 1, `${at}.${i}`);
    });
  };
  walk(data, 0, path);
  return out;
}

const INT_RANGE: Partial<Record<TensorType, readonly [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

function convert(values: readonly unknown[], type: TensorType, path: string): Tensor['data'] {
  const bad = (i: number, expected: string) =>
    invalidTensor(`${path}`, `element ${i} is ${JSON.stringify(values[i])}, expected ${expected}`);
  if (type === 'string') {
    values.forEach((v, i) => {
      if (typeof v !== 'string') throw bad(i, 'a string (BYTES)');
    });
    return values as string[];
  }
  if (type === 'bool') {
    const out = new Uint8Array(values.length);
    values.forEach((v, i) => {
      if (typeof v !== 'boolean') throw bad(i, 'true or false (BOOL)');
      out[i] = v ? 1 : 0;
    });
    return out;
  }
  if (type === 'float32' || type === 'float64' || type === 'float16') {
    const out = allocate(type, values.length) as Float32Array | Float64Array | Uint16Array;
    values.forEach((v, i) => {
      if (typeof v !== 'number') throw bad(i, `a number (${toOipDatatype(type)})`);
      out[i] = type === 'float16' ? toHalf(v) : v;
    });
    return out;
  }
  const [min, max] = INT_RANGE[type]!;
  const datatype = toOipDatatype(type);
  const out = allocate(type, values.length);
  const big = type === 'int64' || type === 'uint64';
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(i, `an integer (${datatype})`);
    if (v < min || v > max) {
      throw bad(
        i,
        `an integer in [${min}, ${max}] (${datatype}${big ? ', exactly representable in JSON' : ''})`,
      );
    }
    (out as unknown as (number | bigint)[])[i] = big ? BigInt(v) : v;
  });
  return out;
}

/**
 * Encodes an output tensor as OIP v2 JSON (flat data). 64-bit integers outside the safe range
 * are kept exact with {@link BIGINT_MARK} markers that {@link stringifyOip} turns into bare
 * JSON numbers.
 */
export function encodeOutputTensor(name: string, tensor: Tensor): OipTensor {
  const datatype = toOipDatatype(tensor.type);
  let data: unknown[];
  switch (tensor.type) {
    case 'bool':
      data = Array.from(tensor.data as Uint8Array, (v) => v !== 0);
      break;
    case 'float16':
      data = Array.from(tensor.data as Uint16Array, fromHalf);
      break;
    case 'int64':
    case 'uint64':
      data = Array.from(tensor.data as BigInt64Array, (v: bigint) =>
        v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : `${BIGINT_MARK}${v}${BIGINT_MARK}`,
      );
      break;
    case 'string':
      data = [...(tensor.data as readonly string[])];
      break;
    default:
      data = Array.from(tensor.data as Float32Array, (v) => (Number.isFinite(v) ? v : null));
  }
  return { name, datatype, shape: [...tensor.dims], data };
}

/** Marks a 64-bit integer beyond 2^53 inside a JSON string until {@link stringifyOip}. */
export const BIGINT_MARK = '\u0001BIGINT\u0001';

const MARKED = /"\\u0001BIGINT\\u0001(-?\d+)\\u0001BIGINT\\u0001"/g;

/** `JSON.stringify` that writes marked 64-bit integers as exact bare numbers. */
export function stringifyOip(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes('\\u0001BIGINT') ? text.replace(MARKED, '$1') : text;
}
