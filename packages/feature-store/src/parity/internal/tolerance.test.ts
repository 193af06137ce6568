import {
  type AggregationSpec,
  accumulate,
  emptyIntermediate,
  finalize,
  type Moments,
  merge,
} from '@tandem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { derivedTolerance, momentTolerance, sumBound } from './tolerance.js';

const amount = fc.oneof(
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((x) => x === 0 || Math.abs(x) > 1e-150),
  fc.double({ min: 1e5, max: 1e6, noNaN: true }),
  fc.integer({ min: -100, max: 100 }),
);

/** Moments of `values` added one by one in the given order. */
function sequential(spec: AggregationSpec, values: readonly number[]): Moments {
  let state = emptyIntermediate(spec) as Moments;
  for (const value of values) {
    state = accumulate(spec, state as never, { ts: 0, eventId: null, seq: null, value }) as Moments;
  }
  return state;
}

/** Moments of `values` merged as tiles of `size` (the online store's tree of partial sums). */
function tiled(spec: AggregationSpec, values: readonly number[], size: number): Moments {
  let state = emptyIntermediate(spec) as Moments;
  for (let i = values.length - size; i > -size; i -= size) {
    const tile = sequential(spec, values.slice(Math.max(0, i), i + size));
    state = merge(spec, tile as never, state as never) as Moments;
  }
  return state;
}

describe('momentTolerance', () => {
  it.each(['sum', 'mean', 'variance', 'stddev'] as const)(
    'holds %s of the same values summed in different orders',
    (fn) => {
      const spec = { fn } as AggregationSpec;
      fc.assert(
        fc.property(
          fc.array(amount, { minLength: 1, maxLength: 80 }),
          fc.integer({ min: 1, max: 9 }),
          fc.integer(),
          (values, size, seed) => {
            const shuffled = [...values].sort(
              (a, b) => Math.sin(a * 7919 + seed) - Math.sin(b * 7919 + seed),
            );
            const a = finalize(spec, sequential(spec, values) as never) as number | null;
            const b = finalize(spec, tiled(spec, shuffled, size) as never) as number | null;
            if (a === null || b === null) {
              expect(a).toBe(b);
              return;
            }
            const reference = sequential(spec, shuffled.toReversed());
            const tolerance = momentTolerance(fn, reference, false, a, b);
            expect(Math.abs(a - b)).toBeLessThanOrEqual(tolerance);
          },
        ),
        { numRuns: 2000 },
      );
    },
  );

  it('is the DESIGN §3 bound for sums, and 0 for integer sums below 2^53', () => {
    const moments: Moments = { n: 3, sum: 0.6000000000000001, sumAbs: 0.6 };
    expect(sumBound(3, 0.6)).toBe(2 * 2 * 2 ** -53 * 0.6);
    expect(momentTolerance('sum', moments, false, 0.6, 0.6000000000000001)).toBeGreaterThan(
      0.6000000000000001 - 0.6,
    );
    expect(momentTolerance('sum', { n: 3, sum: 6, sumAbs: 6 }, true, 6, 7)).toBe(0);
    expect(momentTolerance('mean', { n: 0, sum: 0, sumAbs: 0 }, false, 0, 0)).toBe(0);
  });

  it('catches a real difference: one value more or less', () => {
    const values = [0.1, 0.2, 0.3, 1e3, -7.25];
    for (const fn of ['sum', 'mean', 'variance', 'stddev'] as const) {
      const spec = { fn } as AggregationSpec;
      const a = finalize(spec, sequential(spec, values) as never) as number;
      const b = finalize(spec, sequential(spec, values.slice(1)) as never) as number;
      const tolerance = momentTolerance(fn, sequential(spec, values), false, a, b);
      expect(Math.abs(a - b)).toBeGreaterThan(tolerance);
    }
  });
});

describe('derivedTolerance', () => {
  it('propagates input bounds through a ratio', () => {
    // d = s / n with s within 1e-12 of 10 and n exact.
    const tolerance = derivedTolerance(
      [
        { value: 10, bound: 1e-12 },
        { value: 4, bound: 0 },
      ],
      2.5,
      2.5 + 2e-13,
    );
    expect(tolerance).toBeGreaterThanOrEqual(2e-13);
    expect(tolerance).toBeLessThan(1e-11);
  });

  it('is 0 for exact inputs and Infinity for an input indistinguishable from 0', () => {
    expect(derivedTolerance([{ value: 3, bound: 0 }], 1, 2)).toBe(0);
    expect(derivedTolerance([{ value: 1e-20, bound: 1e-19 }], 1, 2)).toBe(Infinity);
    expect(derivedTolerance([{ value: null, bound: 1e-19 }], 1, 2)).toBe(Infinity);
  });
});
