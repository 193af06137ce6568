/**
 * A minimal protocol-buffers writer: just what encoding an ONNX `ModelProto` needs (varints,
 * length-delimited fields, packed repeated scalars). Field order follows the calls.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

/** Appends protobuf fields to a growing byte buffer. */
export class ProtoWriter {
  private buffer = new Uint8Array(256);
  private length = 0;

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  /** A varint field (int32, int64, enum, bool); negative numbers use ten bytes as protobuf does. */
  varint(field: number, value: number | bigint | boolean): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(BigInt.asUintN(64, BigInt(typeof value === 'boolean' ? Number(value) : value)));
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A bytes field. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(BigInt(value.length));
    this.raw(value);
    return this;
  }

  /** An embedded message field. */
  message(field: number, build: (writer: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** A 32-bit float field. */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.raw(bytes);
    return this;
  }

  /** A 64-bit float field. */
  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    this.raw(bytes);
    return this;
  }

  /** A packed repeated varint field (`repeated int64 dims`, `repeated int64 ints`). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const value of values) inner.rawVarint(BigInt.asUintN(64, BigInt(value)));
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated 32-bit float field (`repeated float floats`). */
  packedFloats(field: number, values: readonly number[]): this {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((value, index) => {
      view.setFloat32(index * 4, value, true);
    });
    return this.bytes(field, bytes);
  }

  private tag(field: number, wire: number): void {
    if (!Number.isInteger(field) || field < 1) throw new RangeError(`bad field number ${field}`);
    this.rawVarint(BigInt(field) * 8n + BigInt(wire));
  }

  private rawVarint(value: bigint): void {
    let rest = value;
    do {
      const low = Number(rest & 0x7fn);
      rest >>= 7n;
      this.byte(rest === 0n ? low : low | 0x80);
    } while (rest !== 0n);
  }

  private byte(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  private raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
}

/** A minimal protobuf reader, for tests that check what the writer produced. */
export interface ProtoField {
  /** Field number. */
  readonly field: number;
  /** Wire type. */
  readonly wire: number;
  /** The varint value (wire 0) or the raw bytes (wire 1, 2, 5). */
  readonly value: bigint | Uint8Array;
}

/** Splits one message into its fields (not recursive). */
export function readFields(bytes: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = bytes[offset++];
      if (byte === undefined) throw new RangeError('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (offset < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === WIRE_VARINT) fields.push({ field, wire, value: varint() });
    else if (wire === WIRE_LENGTH_DELIMITED) {
      const size = Number(varint());
      fields.push({ field, wire, value: bytes.subarray(offset, offset + size) });
      offset += size;
    } else if (wire === WIRE_FIXED32 || wire === WIRE_FIXED64) {
      const size = wire === WIRE_FIXED32 ? 4 : 8;
      fields.push({ field, wire, value: bytes.subarray(offset, offset + size) });
      offset += size;
    } else throw new RangeError(`unsupported wire type ${wire}`);
  }
  if (offset !== bytes.length) throw new RangeError('truncated message');
  return fields;
}
