import type { TimedValue } from '../aggregations/spec.js';
import type { ScalarValue } from '../expr/types.js';

/** Makes every safe-integer `ts` non-negative; a BigInt, as `ts + 2^53` is inexact in a double. */
const TS_OFFSET = 2n ** 53n;
const textEncoder = new TextEncoder();

/**
 * A string whose bytewise order is the event order of {@link compareEventOrder}: `ts`, then
 * `eventId` bytewise (absent first), then ingestion sequence (absent first), then the value. The
 * online stores compare these keys (in Lua too) to keep `last`, `latest`, `lastK` and `firstK`
 * without knowing the rules. Only `[0-9a-f.]` characters are used.
 */
export function eventOrderKey(value: TimedValue): string {
  return (
    (BigInt(value.ts) + TS_OFFSET).toString(16).padStart(14, '0') +
    (value.eventId === null ? '0' : `1${utf8Hex(value.eventId)}.`) +
    (value.seq === null ? '0' : `1${hexPad(value.seq, 14)}`) +
    scalarKey(value.value)
  );
}

function scalarKey(value: ScalarValue): string {
  if (value === null) return '0';
  if (typeof value === 'boolean') return value ? '11' : '10';
  if (typeof value === 'string') return `2${utf8Hex(value)}.`;
  return `1${sortableDouble(value)}`;
}

/** 16 hex digits whose order is the numeric order of finite doubles (-0 equals 0). */
function sortableDouble(x: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x === 0 ? 0 : x);
  let hi = view.getUint32(0);
  let lo = view.getUint32(4);
  if (hi & 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else {
    hi = (hi | 0x80000000) >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

function hexPad(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function utf8Hex(text: string): string {
  let out = '';
  for (const byte of textEncoder.encode(text)) out += byte.toString(16).padStart(2, '0');
  return out;
}
