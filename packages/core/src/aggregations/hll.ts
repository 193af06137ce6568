import { createHash } from 'node:crypto';
import type { HllSketch } from './spec.js';

/**
 * The HyperLogLog item of a value's canonical text: md5 of its UTF-8 bytes; the first 12 bits pick
 * the register, the rank is the position of the first 1 bit in the next 52 (53 when none).
 * The SQL compiler computes the same item with Postgres' `md5`.
 */
export function hllItem(text: string): number {
  const hex = createHash('md5').update(text, 'utf8').digest('hex');
  const register = Number.parseInt(hex.slice(0, 3), 16);
  let rank = 1;
  for (let i = 3; i < 16; i++) {
    const nibble = Number.parseInt(hex[i]!, 16);
    if (nibble !== 0) return register * 64 + rank + Math.clz32(nibble) - 28;
    rank += 4;
  }
  return register * 64 + 53;
}

/**
 * Adds an item to a sketch (keeping the highest rank per register). Binary search and one copy:
 * folding n values costs O(n * registers) at worst, not O(n * registers * log registers).
 */
export function hllAdd(sketch: HllSketch, item: number): HllSketch {
  const first = Math.floor(item / 64) * 64; // the smallest item of the item's register
  let lo = 0;
  let hi = sketch.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sketch[mid]! < first) lo = mid + 1;
    else hi = mid;
  }
  const current = sketch[lo];
  if (current !== undefined && current < first + 64) {
    if (current >= item) return sketch;
    const next = [...sketch];
    next[lo] = item;
    return next;
  }
  const next = [...sketch];
  next.splice(lo, 0, item);
  return next;
}

/** Merges two sketches: the highest rank per register. */
export function hllMerge(a: HllSketch, b: HllSketch): HllSketch {
  const best = new Map<number, number>();
  for (const item of [...a, ...b]) {
    const register = Math.floor(item / 64);
    const previous = best.get(register);
    if (previous === undefined || item > previous) best.set(register, item);
  }
  return [...best.values()].sort((x, y) => x - y);
}

/** Normalizes any list of items (duplicates, several ranks per register) into a sketch. */
export function hllFromItems(items: readonly number[]): HllSketch {
  return hllMerge([], items);
}

/** `2^-rank` for every rank an item can carry (its low 6 bits): exact powers of two. */
const RANK_WEIGHTS = Float64Array.from({ length: 64 }, (_, rank) => 2 ** -rank);

/** The cardinality estimate of a sketch with `2^precision` registers (with small-range correction). */
export function hllEstimate(sketch: HllSketch, precision: number): number {
  const m = 2 ** precision;
  let harmonic = m - sketch.length; // empty registers contribute 2^0 each
  for (const item of sketch) harmonic += RANK_WEIGHTS[item % 64]!;
  const alpha = 0.7213 / (1 + 1.079 / m);
  const raw = (alpha * m * m) / harmonic;
  const empty = m - sketch.length;
  const estimate = raw <= 2.5 * m && empty > 0 ? m * Math.log(m / empty) : raw;
  return Math.round(estimate);
}
