import type { TensorType } from '../models/tensor.js';

/** Tensor datatypes of the Open Inference Protocol v2. */
export type OipDatatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

const TO_OIP: Readonly<Record<TensorType, OipDatatype>> = Object.freeze({
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
});

const FROM_OIP: Readonly<Record<OipDatatype, TensorType>> = Object.freeze(
  Object.fromEntries(Object.entries(TO_OIP).map(([type, datatype]) => [datatype, type])) as Record<
    OipDatatype,
    TensorType
  >,
);

/** Every OIP datatype. */
export const OIP_DATATYPES: readonly OipDatatype[] = Object.freeze(Object.values(TO_OIP));

/** The OIP datatype of a tensor element type (`float32` -> `FP32`, `string` -> `BYTES`). */
export function toOipDatatype(type: TensorType): OipDatatype {
  return TO_OIP[type];
}

/** The tensor element type of an OIP datatype, undefined for an unknown name. */
export function fromOipDatatype(datatype: string): TensorType | undefined {
  return Object.hasOwn(FROM_OIP, datatype) ? FROM_OIP[datatype as OipDatatype] : undefined;
}

/** IEEE 754 half-precision bits of a number (round to nearest even). */
export function toHalf(value: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  if (half >>> 10 >= 0x1f) return sign | 0x7c00;
  return sign | half;
}

/** The number of IEEE 754 half-precision bits. */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
