import { ServingError } from '../errors/errors.js';
import { allocate, type Tensor, type TensorDataMap } from '../models/tensor.js';

/** Element types a feature matrix `[N, F]` can have. */
export type MatrixType = 'float32' | 'float64' | 'int32' | 'int64';

/**
 * One row of feature values, in the model's column order. Booleans become 0/1; `null` becomes
 * NaN for float inputs and is refused for integer inputs.
 */
export type FeatureVector =
  | readonly (number | boolean | bigint | null)[]
  | Float32Array
  | Float64Array;

/** A row already converted to the storage of the input type. */
export type EncodedRow = TensorDataMap[MatrixType];

/**
 * Converts one row to the input's storage type, checking its width and values. Throws
 * `INVALID_TENSOR` naming the offending column, so a bad row fails only its own request.
 */
export function encodeRow(
  type: MatrixType,
  width: number,
  row: FeatureVector,
  columnNames?: readonly string[],
): EncodedRow {
  if (row.length !== width) {
    throw new ServingError(
      'INVALID_TENSOR',
      `a feature row has ${row.length} values, the model expects ${width}`,
    );
  }
  const column = (j: number) => columnNames?.[j] ?? `column ${j}`;
  if (type === 'float32' || type === 'float64') {
    const out = allocate(type, width) as Float32Array | Float64Array;
    for (let j = 0; j < width; j++) {
      const value = row[j];
      out[j] =
        value === null || value === undefined
          ? Number.NaN
          : typeof value === 'boolean'
            ? Number(value)
            : Number(value);
    }
    return out;
  }
  if (type === 'int32') {
    const out = new Int32Array(width);
    for (let j = 0; j < width; j++) {
      const value = row[j];
      const number = typeof value === 'boolean' ? Number(value) : Number(value);
      if (
        value === null ||
        value === undefined ||
        !Number.isInteger(number) ||
        number !== (number | 0)
      ) {
        throw new ServingError(
          'INVALID_TENSOR',
          `${column(j)} must be a 32-bit integer for this model, got ${String(value)}`,
        );
      }
      out[j] = number;
    }
    return out;
  }
  const out = new BigInt64Array(width);
  for (let j = 0; j < width; j++) {
    const value = row[j];
    if (typeof value === 'bigint') out[j] = value;
    else if (typeof value === 'boolean') out[j] = value ? 1n : 0n;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) out[j] = BigInt(value);
    else {
      throw new ServingError(
        'INVALID_TENSOR',
        `${column(j)} must be an integer for this model, got ${String(value)}`,
      );
    }
  }
  return out;
}

/** Stacks encoded rows into one `[N, width]` tensor. */
export function stackRows<T extends MatrixType>(
  type: T,
  width: number,
  rows: readonly EncodedRow[],
): Tensor<T> {
  const data = allocate(type, rows.length * width) as TensorDataMap[MatrixType];
  for (let i = 0; i < rows.length; i++) {
    (data as Float32Array).set(rows[i] as Float32Array, i * width);
  }
  return { type, dims: [rows.length, width], data: data as TensorDataMap[T] };
}

/**
 * Splits batch outputs into one result per row: an output whose first dimension is the batch
 * size is sliced (each row gets its own `dims.slice(1)` part, a view, no copy); any other output
 * (a scalar, a per-model constant) is given whole to every row.
 */
export function splitRows(
  outputs: Readonly<Record<string, Tensor>>,
  count: number,
): Record<string, Tensor>[] {
  const results: Record<string, Tensor>[] = new Array(count);
  for (let i = 0; i < count; i++) results[i] = {};
  for (const name in outputs) {
    if (!Object.hasOwn(outputs, name)) continue;
    const tensor = outputs[name]!;
    if (tensor.dims.length === 0 || tensor.dims[0] !== count) {
      for (const result of results) result[name] = tensor;
      continue;
    }
    const rowDims = tensor.dims.slice(1);
    const stride = count === 0 ? 0 : tensor.data.length / count;
    for (let i = 0; i < count; i++) {
      const data =
        tensor.type === 'string'
          ? (tensor.data as readonly string[]).slice(i * stride, (i + 1) * stride)
          : (tensor.data as Float32Array).subarray(i * stride, (i + 1) * stride);
      results[i]![name] = { type: tensor.type, dims: rowDims, data } as Tensor;
    }
  }
  return results;
}

/** Options of {@link rowBatchRunner}. */
export interface RowBatchRunnerOptions {
  /** Runs the model on feeds (a runtime's or a lease's `run`). */
  readonly run: (
    feeds: Readonly<Record<string, Tensor>>,
    outputs?: readonly string[],
  ) => Promise<Record<string, Tensor>>;
  /** Name of the `[N, F]` input. */
  readonly inputName: string;
  /** Its element type. */
  readonly type: MatrixType;
  /** F. */
  readonly width: number;
  /** Outputs to fetch (default all). */
  readonly outputs?: readonly string[];
}

/** The batch function of a row batcher: stack rows into `[N, F]`, one run, split the outputs. */
export function rowBatchRunner(
  options: RowBatchRunnerOptions,
): (rows: readonly EncodedRow[]) => Promise<Record<string, Tensor>[]> {
  const storage = allocate(options.type, 0).constructor;
  return async (rows) => {
    // A lone row of the input's storage (what `encodeRow` made for this run) is the input as it
    // is, without a copy.
    const only = rows.length === 1 && rows[0]!.constructor === storage ? rows[0] : undefined;
    const input: Tensor =
      only !== undefined && only.length === options.width
        ? { type: options.type, dims: [1, options.width], data: only }
        : stackRows(options.type, options.width, rows);
    const outputs = await options.run({ [options.inputName]: input }, options.outputs);
    return splitRows(outputs, rows.length);
  };
}
