/** Element types of model tensors, named as onnxruntime names them. */
export type TensorType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

/** The storage of each {@link TensorType} (`bool` as 0/1 bytes, `float16` as raw 16-bit words). */
export interface TensorDataMap {
  /** 32-bit floats. */
  float32: Float32Array;
  /** 64-bit floats. */
  float64: Float64Array;
  /** IEEE half floats as raw 16-bit words. */
  float16: Uint16Array;
  /** 8-bit integers. */
  int8: Int8Array;
  /** 16-bit integers. */
  int16: Int16Array;
  /** 32-bit integers. */
  int32: Int32Array;
  /** 64-bit integers. */
  int64: BigInt64Array;
  /** Unsigned bytes. */
  uint8: Uint8Array;
  /** Unsigned 16-bit integers. */
  uint16: Uint16Array;
  /** Unsigned 32-bit integers. */
  uint32: Uint32Array;
  /** Unsigned 64-bit integers. */
  uint64: BigUint64Array;
  /** Booleans as 0/1 bytes. */
  bool: Uint8Array;
  /** Strings (ONNX `STRING`, OIP `BYTES`). */
  string: readonly string[];
}

/** The storage of any tensor. */
export type TensorData = TensorDataMap[TensorType];

/**
 * A dense tensor, independent of onnxruntime's class so it crosses `worker_threads` boundaries
 * by structured clone: element type, dimensions, and row-major values.
 */
export interface Tensor<T extends TensorType = TensorType> {
  /** Element type. */
  readonly type: T;
  /** Dimensions; `[]` for a scalar. */
  readonly dims: readonly number[];
  /** Row-major values; `data.length` is the product of `dims`. */
  readonly data: TensorDataMap[T];
}

/** A declared model input or output. */
export interface TensorSpec {
  /** Name, as the model declares it. */
  readonly name: string;
  /** Element type. */
  readonly type: TensorType;
  /** Declared shape; `-1` marks a dynamic (symbolic or unknown) dimension. */
  readonly shape: readonly number[];
}

/** The inputs and outputs of a loaded model. */
export interface ModelSignature {
  /** Inputs, in model order. */
  readonly inputs: readonly TensorSpec[];
  /** Outputs, in model order. */
  readonly outputs: readonly TensorSpec[];
}

/** Every {@link TensorType}, in a stable order. */
export const TENSOR_TYPES: readonly TensorType[] = Object.freeze([
  'float32',
  'float64',
  'float16',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
]);

type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor;

const STORAGE: Readonly<Record<Exclude<TensorType, 'string'>, TypedArrayConstructor>> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

/** The number of elements of a shape (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  let count = 1;
  for (const dim of dims) count *= dim;
  return count;
}

/** A zero-filled tensor (`''` for strings, `false` for booleans). */
export function zeroTensor<T extends TensorType>(type: T, dims: readonly number[]): Tensor<T> {
  return { type, dims: [...dims], data: allocate(type, elementCount(dims)) };
}

/** A new, empty typed storage of `type` for `count` elements. */
export function allocate<T extends TensorType>(type: T, count: number): TensorDataMap[T] {
  if (type === 'string') return new Array<string>(count).fill('') as unknown as TensorDataMap[T];
  return new STORAGE[type as Exclude<TensorType, 'string'>](count) as TensorDataMap[T];
}

/** Formats a shape as `[N, 4]`-style text, `-1` shown as `-1`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
