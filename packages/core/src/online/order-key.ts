import type { TimedValue } from '../aggregations/spec.js';
import type { ScalarValue } from '../expr/types.js';

const textEncoder = new TextEncoder();
/** Two hex digits per byte value. */
const BYTE_HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
/** Scratch space of {@link sortableDouble}. */
const doubleView = new DataView(new ArrayBuffer(8));

/**
 * A string whose bytewise order is the event order of {@link compareEventOrder}: `ts`, then
 * `eventId` bytewise (absent first), then ingestion sequence (absent first), then the value. The
 * online stores compare these keys (in Lua too) to keep `last`, `latest`, `lastK` and `firstK`
 * without knowing the rules. Only `[0-9a-f.]` characters are used.
 */
export function eventOrderKey(value: TimedValue): string {
  return (
    offsetTime(value.ts) +
    (value.eventId === null ? '0' : `1${utf8Hex(value.eventId)}.`) +
    (value.seq === null ? '0' : `1${value.seq.toString(16).padStart(14, '0')}`) +
    scalarKey(value.value)
  );
}

/**
 * `ts + 2^53` (non-negative for every safe integer) as 14 hex digits. The sum is inexact in a
 * double, so it is built from the high and low 32 bits of `ts`: `ts = high * 2^32 + low` with
 * `0 <= low < 2^32`, and `2^53 = 2^21 * 2^32`.
 */
function offsetTime(ts: number): string {
  const high = Math.floor(ts / 2 ** 32);
  const low = ts - high * 2 ** 32;
  return hex32(high + 2 ** 21).slice(2) + hex32(low);
}

function scalarKey(value: ScalarValue): string {
  if (value === null) return '0';
  if (typeof value === 'boolean') return value ? '11' : '10';
  if (typeof value === 'string') return `2${utf8Hex(value)}.`;
  return `1${sortableDouble(value)}`;
}

/** 16 hex digits whose order is the numeric order of finite doubles (-0 equals 0). */
function sortableDouble(x: number): string {
  doubleView.setFloat64(0, x === 0 ? 0 : x);
  let hi = doubleView.getUint32(0);
  let lo = doubleView.getUint32(4);
  if (hi & 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else {
    hi = (hi | 0x80000000) >>> 0;
  }
  return hex32(hi) + hex32(lo);
}

/** 8 hex digits of an unsigned 32-bit integer (a table look-up per byte: `toString(16)` is slower). */
function hex32(x: number): string {
  return (
    BYTE_HEX[x >>> 24]! +
    BYTE_HEX[(x >>> 16) & 255]! +
    BYTE_HEX[(x >>> 8) & 255]! +
    BYTE_HEX[x & 255]!
  );
}

/** The UTF-8 bytes of `text` in hex; ASCII text (one byte per code unit) skips the encoder. */
function utf8Hex(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) return bytesHex(textEncoder.encode(text));
    out += BYTE_HEX[unit]!;
  }
  return out;
}

function bytesHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += BYTE_HEX[byte]!;
  return out;
}
