import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  accumulate,
  canonicalText,
  emptyIntermediate,
  finalize,
  HLL_PRECISION,
  hllEstimate,
  hllItem,
  hllMerge,
} from '../index.js';
import { hllAdd, hllFromItems } from './hll.js';

const NUM_RUNS = 1000;
const REGISTERS = 2 ** HLL_PRECISION;

/** hllItem computed another way: bits of the md5 digest as a BigInt. */
function referenceItem(text: string): number {
  const digest = createHash('md5').update(Buffer.from(text, 'utf8')).digest();
  const high = BigInt(`0x${digest.subarray(0, 8).toString('hex')}`); // first 64 bits
  const register = Number(high >> 52n);
  const rest = (high >> 0n) & ((1n << 52n) - 1n); // the 52 bits after the register
  let rank = 1;
  for (let bit = 51; bit >= 0 && ((rest >> BigInt(bit)) & 1n) === 0n; bit--) rank++;
  return register * 64 + rank;
}

const itemArb = fc
  .tuple(fc.nat(REGISTERS - 1), fc.integer({ min: 1, max: 53 }))
  .map(([register, rank]) => register * 64 + rank);
const sketchArb = fc.array(itemArb, { maxLength: 40 }).map(hllFromItems);

describe('hllItem', () => {
  it('is the register (first 12 bits of md5) and the rank of the first 1 in the next 52', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (text) => {
        const item = hllItem(text);
        expect(item).toBe(referenceItem(text));
        expect(Math.floor(item / 64)).toBeLessThan(REGISTERS);
        expect(item % 64).toBeGreaterThanOrEqual(1);
        expect(item % 64).toBeLessThanOrEqual(53);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('hashes the canonical text: ints in decimal, bools as true/false', () => {
    expect(canonicalText(42)).toBe('42');
    expect(canonicalText(-7)).toBe('-7');
    expect(canonicalText(2 ** 53 - 1)).toBe('9007199254740991');
    expect(canonicalText(true)).toBe('true');
    expect(canonicalText(false)).toBe('false');
    expect(canonicalText('é')).toBe('é');
    // md5('') = d41d8cd98f00b204e9800998ecf8427e: register 0xd41, then 0xd = 1101 -> rank 1.
    expect(hllItem('')).toBe(0xd41 * 64 + 1);
  });
});

describe('HyperLogLog sketches', () => {
  it('merge is associative, commutative and idempotent', () => {
    fc.assert(
      fc.property(sketchArb, sketchArb, sketchArb, (a, b, c) => {
        expect(hllMerge(a, b)).toEqual(hllMerge(b, a));
        expect(hllMerge(hllMerge(a, b), c)).toEqual(hllMerge(a, hllMerge(b, c)));
        expect(hllMerge(a, a)).toEqual(a);
        expect(hllMerge(a, [])).toEqual(a);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('adding items one by one equals normalizing them at once', () => {
    fc.assert(
      fc.property(sketchArb, fc.array(itemArb, { maxLength: 40 }), (sketch, items) => {
        const added = items.reduce(hllAdd, sketch);
        expect(added).toEqual(hllFromItems([...sketch, ...items]));
        expect(added).toEqual(hllMerge(sketch, items));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('keeps one item per register, the highest rank, sorted', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 60 }), (items) => {
        const sketch = hllFromItems(items);
        const registers = sketch.map((item) => Math.floor(item / 64));
        expect(new Set(registers).size).toBe(sketch.length);
        expect([...sketch].sort((x, y) => x - y)).toEqual(sketch);
        for (const item of items) {
          const kept = sketch.find((s) => Math.floor(s / 64) === Math.floor(item / 64));
          expect(kept).toBeGreaterThanOrEqual(item);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('the sketch of a union is the merge of the sketches, and duplicates change nothing', () => {
    const spec = { fn: 'count_distinct', precision: HLL_PRECISION } as const;
    const sketchOf = (values: readonly string[]) =>
      values.reduce(
        (s, value) => accumulate(spec, s, { ts: 0, eventId: null, seq: null, value }),
        emptyIntermediate(spec),
      );
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 4 }), { maxLength: 30 }),
        fc.array(fc.string({ maxLength: 4 }), { maxLength: 30 }),
        (xs, ys) => {
          const union = sketchOf([...xs, ...ys]);
          expect(hllMerge(sketchOf(xs), sketchOf(ys))).toEqual(union);
          expect(sketchOf([...xs, ...xs, ...ys])).toEqual(union);
          expect(hllEstimate(union, HLL_PRECISION)).toBeGreaterThanOrEqual(
            hllEstimate(sketchOf(xs), HLL_PRECISION),
          );
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('counts small sets exactly when no two values share a register', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 8 }), { maxLength: 50 }), (values) => {
        const sketch = hllFromItems(values.map(hllItem));
        if (sketch.length === values.length) {
          expect(hllEstimate(sketch, HLL_PRECISION)).toBe(values.length);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('estimates 10k distinct values within 5%', () => {
    const spec = { fn: 'count_distinct', precision: HLL_PRECISION } as const;
    const datasets: [string, (i: number) => string | number | boolean][] = [
      ['decimal ints', (i) => i],
      ['negative ints', (i) => -1_000_000_007 * (i + 1)],
      ['prefixed strings', (i) => `user-${i}`],
      ['uuid-like strings', (i) => createHash('sha1').update(String(i)).digest('hex')],
      ['unicode strings', (i) => `é${String.fromCodePoint(0x1f600 + (i % 80))}${i}`],
    ];
    for (const [name, make] of datasets) {
      let sketch = emptyIntermediate(spec);
      for (let i = 0; i < 10_000; i++) {
        // Each value twice: duplicates must not count.
        for (let copy = 0; copy < 2; copy++) {
          sketch = accumulate(spec, sketch, { ts: i, eventId: null, seq: null, value: make(i) });
        }
      }
      const estimate = finalize(spec, sketch) as number;
      expect(Math.abs(estimate - 10_000) / 10_000, name).toBeLessThanOrEqual(0.05);
    }
  });

  it('estimates the empty sketch as 0 and a full range of sizes sensibly', () => {
    expect(hllEstimate([], HLL_PRECISION)).toBe(0);
    expect(hllEstimate([hllItem('x')], HLL_PRECISION)).toBe(1);
    let sketch = emptyIntermediate({ fn: 'count_distinct', precision: HLL_PRECISION });
    for (let i = 1; i <= 100_000; i++) {
      sketch = hllAdd(sketch, hllItem(`v${i}`));
      if ([10, 100, 1000, 5000, 20_000, 100_000].includes(i)) {
        const error = Math.abs(hllEstimate(sketch, HLL_PRECISION) - i) / i;
        expect(error, `n=${i}`).toBeLessThanOrEqual(0.05);
      }
    }
  });
});
