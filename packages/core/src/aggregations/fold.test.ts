import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { timedValueArb } from '../../test/arbitraries/events.js';
import {
  type AggregationSpec,
  accumulate,
  compareEventOrder,
  emptyIntermediate,
  finalize,
  HLL_PRECISION,
  hllEstimate,
  hllItem,
  type Intermediate,
  intermediatesEqual,
  isTandemError,
  merge,
  type ScalarValue,
  type TimedValue,
  type ValueType,
} from '../index.js';

const NUM_RUNS = 1000;
const ALL_TYPES: readonly ValueType[] = ['int', 'float', 'string', 'bool'];
const NUMERIC: readonly ValueType[] = ['int', 'float'];

/** Every aggregation with the value types it accepts. `latest` is the only one fed null values. */
const CASES: readonly { spec: AggregationSpec; types: readonly ValueType[] }[] = [
  { spec: { fn: 'count' }, types: ALL_TYPES },
  { spec: { fn: 'sum' }, types: NUMERIC },
  { spec: { fn: 'mean' }, types: NUMERIC },
  { spec: { fn: 'min' }, types: NUMERIC },
  { spec: { fn: 'max' }, types: NUMERIC },
  { spec: { fn: 'variance' }, types: NUMERIC },
  { spec: { fn: 'stddev' }, types: NUMERIC },
  { spec: { fn: 'last' }, types: ALL_TYPES },
  { spec: { fn: 'latest' }, types: ALL_TYPES },
  { spec: { fn: 'last_k', k: 1 }, types: ALL_TYPES },
  { spec: { fn: 'last_k', k: 3 }, types: ALL_TYPES },
  { spec: { fn: 'first_k', k: 1 }, types: ALL_TYPES },
  { spec: { fn: 'first_k', k: 4 }, types: ALL_TYPES },
  { spec: { fn: 'count_distinct', precision: HLL_PRECISION }, types: ['int', 'string', 'bool'] },
];

interface Case {
  readonly spec: AggregationSpec;
  readonly type: ValueType;
}

const caseArb: fc.Arbitrary<Case> = fc
  .constantFrom(...CASES)
  .chain(({ spec, types }) => fc.constantFrom(...types).map((type) => ({ spec, type })));

const valuesOf = (c: Case, maxLength = 12) =>
  fc.array(timedValueArb(c.type, c.spec.fn === 'latest'), { maxLength });

function fold(spec: AggregationSpec, values: readonly TimedValue[]): Intermediate {
  let state = emptyIntermediate(spec) as Intermediate;
  for (const v of values) state = accumulate(spec, state as never, v);
  return state;
}

const mergeOf = (spec: AggregationSpec, a: Intermediate, b: Intermediate): Intermediate =>
  merge(spec, a as never, b as never);

const equal = (spec: AggregationSpec, a: Intermediate, b: Intermediate): boolean =>
  intermediatesEqual(spec, a as never, b as never);

/** Fails with both intermediates in the message, which fast-check then shrinks. */
function expectEqual(spec: AggregationSpec, actual: Intermediate, expected: Intermediate): void {
  if (!equal(spec, actual, expected)) {
    throw new Error(
      `${JSON.stringify(spec)}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`,
    );
  }
}

// ---- An independent reference of DESIGN §3 event order and the aggregations ----

function codePoints(s: string): number[] {
  return Array.from(s, (c) => c.codePointAt(0)!);
}

function cmp<T extends number | boolean>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareValues(a: ScalarValue, b: ScalarValue): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  if (typeof a === 'string') {
    const x = codePoints(a);
    const y = codePoints(b as string);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i]! - y[i]!;
    }
    return x.length - y.length;
  }
  return cmp(a as number, b as number);
}

/** (ts, eventId by code point with null first, seq with null first, value). */
function referenceOrder(a: TimedValue, b: TimedValue): number {
  return (
    cmp(a.ts, b.ts) ||
    compareValues(a.eventId, b.eventId) ||
    compareValues(a.seq, b.seq) ||
    compareValues(a.value, b.value)
  );
}

const U = 2 ** -53;

/** The finalized value computed directly from the values, with a tolerance for float results. */
function referenceValue(
  spec: AggregationSpec,
  values: readonly TimedValue[],
): { value: ScalarValue | readonly ScalarValue[]; tolerance: number } {
  const xs = values.map((v) => v.value);
  const nums = xs as number[];
  const exact = (value: ScalarValue | readonly ScalarValue[]) => ({ value, tolerance: 0 });
  const newestFirst = [...values].sort((a, b) => referenceOrder(b, a));
  const oldestFirst = [...values].sort(referenceOrder);
  switch (spec.fn) {
    case 'count':
      return exact(xs.length);
    case 'sum':
      return exact(nums.reduce((s, x) => s + x, 0));
    case 'mean':
      return exact(nums.length === 0 ? null : nums.reduce((s, x) => s + x, 0) / nums.length);
    case 'min':
      return exact(nums.length === 0 ? null : Math.min(...nums));
    case 'max':
      return exact(nums.length === 0 ? null : Math.max(...nums));
    case 'variance':
    case 'stddev': {
      const n = nums.length;
      if (n < 2) return exact(null);
      const mean = nums.reduce((s, x) => s + x, 0) / n;
      const variance = nums.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
      const sumSq = nums.reduce((s, x) => s + x * x, 0);
      // One-pass vs two-pass: both within a few n ulps of sum(x^2) / (n - 1) of the truth.
      const tolerance = (8 * n * U * sumSq) / (n - 1) + Number.MIN_VALUE;
      return spec.fn === 'variance'
        ? { value: variance, tolerance }
        : { value: Math.sqrt(variance), tolerance: Math.sqrt(tolerance) };
    }
    case 'last':
    case 'latest':
      return exact(newestFirst[0]?.value ?? null);
    case 'last_k':
      return exact(newestFirst.slice(0, spec.k).map((v) => v.value));
    case 'first_k':
      return exact(oldestFirst.slice(0, spec.k).map((v) => v.value));
    case 'count_distinct': {
      const distinct = new Set(xs.map((x) => String(x)));
      return exact(distinct.size);
    }
  }
}

describe('compareEventOrder', () => {
  it('is the total order (ts, eventId, seq, value) of DESIGN §3', () => {
    const type = fc.constantFrom(...ALL_TYPES);
    fc.assert(
      fc.property(
        type.chain((t) => fc.tuple(timedValueArb(t, true), timedValueArb(t, true))),
        ([a, b]) => {
          const sign = (x: number) => (x < 0 ? -1 : x > 0 ? 1 : 0);
          expect(sign(compareEventOrder(a, b))).toBe(sign(referenceOrder(a, b)));
          expect(sign(compareEventOrder(b, a))).toBe(-sign(compareEventOrder(a, b)) || 0);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('orders event ids by code point, not UTF-16 unit', () => {
    const at = (eventId: string | null): TimedValue => ({ ts: 0, eventId, seq: null, value: 1 });
    expect(compareEventOrder(at('\uFFFF'), at('\u{1F600}'))).toBeLessThan(0);
    expect(compareEventOrder(at(null), at(''))).toBeLessThan(0);
    expect(compareEventOrder(at('E'), at('e'))).toBeLessThan(0);
  });
});

describe('fold, merge and finalize', () => {
  it('folding is independent of event order', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) =>
          valuesOf(c).chain((values) =>
            fc.tuple(
              fc.constant(c),
              fc.constant(values),
              fc.shuffledSubarray(values, {
                minLength: values.length,
              }),
            ),
          ),
        ),
        ([c, values, shuffled]) => {
          expectEqual(c.spec, fold(c.spec, shuffled), fold(c.spec, values));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('merging the folds of any partition equals folding the whole', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) =>
          fc.tuple(
            fc.constant(c),
            fc.array(fc.tuple(timedValueArb(c.type, c.spec.fn === 'latest'), fc.nat(3)), {
              maxLength: 16,
            }),
            fc.boolean(),
          ),
        ),
        ([c, tagged, leftToRight]) => {
          const parts: TimedValue[][] = [[], [], [], []];
          for (const [value, part] of tagged) parts[part]!.push(value);
          const folds = parts.map((p) => fold(c.spec, p));
          const merged = leftToRight
            ? folds.reduce((acc, f) => mergeOf(c.spec, acc, f))
            : folds.reduceRight((acc, f) => mergeOf(c.spec, f, acc));
          expectEqual(
            c.spec,
            merged,
            fold(
              c.spec,
              tagged.map(([v]) => v),
            ),
          );
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('merge is commutative (exactly) and associative (within the float-sum bound)', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) =>
          fc.tuple(fc.constant(c), valuesOf(c, 6), valuesOf(c, 6), valuesOf(c, 6)),
        ),
        ([c, xs, ys, zs]) => {
          const [a, b, d] = [fold(c.spec, xs), fold(c.spec, ys), fold(c.spec, zs)];
          // IEEE addition is commutative, so even float sums commute exactly.
          expect(JSON.stringify(mergeOf(c.spec, a, b))).toBe(JSON.stringify(mergeOf(c.spec, b, a)));
          expectEqual(
            c.spec,
            mergeOf(c.spec, mergeOf(c.spec, a, b), d),
            mergeOf(c.spec, a, mergeOf(c.spec, b, d)),
          );
          // Associativity is exact for everything but sums that round (floats, or ints past 2^53).
          const exactSums = [...xs, ...ys, ...zs].every(
            (v) => Number.isInteger(v.value) && Math.abs(v.value as number) <= 2 ** 20,
          );
          if (!['sum', 'mean', 'variance', 'stddev'].includes(c.spec.fn) || exactSums) {
            expect(JSON.stringify(mergeOf(c.spec, mergeOf(c.spec, a, b), d))).toBe(
              JSON.stringify(mergeOf(c.spec, a, mergeOf(c.spec, b, d))),
            );
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('the empty intermediate is the identity of merge', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) => fc.tuple(fc.constant(c), valuesOf(c))),
        ([c, values]) => {
          const a = fold(c.spec, values);
          const empty = emptyIntermediate(c.spec) as Intermediate;
          expect(JSON.stringify(mergeOf(c.spec, empty, a))).toBe(JSON.stringify(a));
          expect(JSON.stringify(mergeOf(c.spec, a, empty))).toBe(JSON.stringify(a));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('finalize equals a direct computation from the values', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) => fc.tuple(fc.constant(c), valuesOf(c, 20))),
        ([c, values]) => {
          const actual = finalize(c.spec, fold(c.spec, values) as never);
          const expected = referenceValue(c.spec, values);
          if (c.spec.fn === 'count_distinct') {
            // Few values: the sketch's linear counting is exact unless two values share a register.
            const items = new Set(values.map((v) => Math.floor(hllItem(String(v.value)) / 64)));
            const registers = items.size;
            expect(actual).toBe(hllEstimate(fold(c.spec, values) as never, HLL_PRECISION));
            if (registers === expected.value) expect(actual).toBe(expected.value);
            return;
          }
          if (expected.tolerance > 0 && typeof actual === 'number') {
            expect(Math.abs(actual - (expected.value as number))).toBeLessThanOrEqual(
              expected.tolerance,
            );
            return;
          }
          // `===` per element: -0 and 0 are the same value.
          expect(JSON.stringify(actual)).toBe(JSON.stringify(expected.value));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("finalize of an empty intermediate gives DESIGN's empty-window values", () => {
    const empty = (spec: AggregationSpec) => finalize(spec, emptyIntermediate(spec) as never);
    expect(empty({ fn: 'count' })).toBe(0);
    expect(empty({ fn: 'sum' })).toBe(0);
    expect(empty({ fn: 'mean' })).toBeNull();
    expect(empty({ fn: 'min' })).toBeNull();
    expect(empty({ fn: 'max' })).toBeNull();
    expect(empty({ fn: 'last' })).toBeNull();
    expect(empty({ fn: 'latest' })).toBeNull();
    expect(empty({ fn: 'variance' })).toBeNull();
    expect(empty({ fn: 'stddev' })).toBeNull();
    expect(empty({ fn: 'last_k', k: 3 })).toEqual([]);
    expect(empty({ fn: 'first_k', k: 3 })).toEqual([]);
    expect(empty({ fn: 'count_distinct', precision: HLL_PRECISION })).toBe(0);
  });

  it('variance and stddev need two values; latest keeps a null value', () => {
    const one: TimedValue = { ts: 1, eventId: null, seq: null, value: 5 };
    for (const fn of ['variance', 'stddev'] as const) {
      expect(finalize({ fn }, fold({ fn }, [one]) as never)).toBeNull();
      expect(finalize({ fn }, fold({ fn }, [one, { ...one, ts: 2, value: 7 }]) as never)).toBe(
        fn === 'variance' ? 2 : Math.SQRT2,
      );
    }
    const older: TimedValue = { ts: 1, eventId: null, seq: null, value: 'x' };
    const newerNull: TimedValue = { ts: 2, eventId: null, seq: null, value: null };
    expect(finalize({ fn: 'latest' }, fold({ fn: 'latest' }, [older, newerNull]) as never)).toBe(
      null,
    );
    expect(finalize({ fn: 'latest' }, fold({ fn: 'latest' }, [newerNull, older]) as never)).toBe(
      null,
    );
    // At equal (ts, eventId, seq) a null value sorts first, so the non-null value is the latest.
    const tieNull: TimedValue = { ...older, value: null };
    expect(finalize({ fn: 'latest' }, fold({ fn: 'latest' }, [older, tieNull]) as never)).toBe('x');
    expect(finalize({ fn: 'latest' }, fold({ fn: 'latest' }, [tieNull, older]) as never)).toBe('x');
  });

  it('lastK is newest first; firstK keeps the newest-first intermediate but is oldest first', () => {
    const at = (ts: number): TimedValue => ({ ts, eventId: null, seq: null, value: ts * 10 });
    const values = [at(3), at(1), at(4), at(2), at(5)];
    expect(finalize({ fn: 'last_k', k: 3 }, fold({ fn: 'last_k', k: 3 }, values) as never)).toEqual(
      [50, 40, 30],
    );
    const firstK = fold({ fn: 'first_k', k: 3 }, values) as readonly TimedValue[];
    expect(firstK.map((v) => v.ts)).toEqual([3, 2, 1]);
    expect(finalize({ fn: 'first_k', k: 3 }, firstK as never)).toEqual([10, 20, 30]);
  });

  it('raises VALUE_OUT_OF_RANGE where Postgres does', () => {
    const big: TimedValue = { ts: 1, eventId: null, seq: null, value: 1e308 };
    const outOfRange = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return isTandemError(error, 'VALUE_OUT_OF_RANGE');
      }
      return false;
    };
    expect(outOfRange(() => fold({ fn: 'sum' }, [big, big]))).toBe(true);
    expect(outOfRange(() => fold({ fn: 'sum' }, [big, { ...big, value: -1e307 }]))).toBe(false);
    const half = fold({ fn: 'mean' }, [big]);
    expect(outOfRange(() => mergeOf({ fn: 'mean' }, half, half))).toBe(true);
    // x * x overflows or underflows to zero for a non-zero x.
    expect(outOfRange(() => fold({ fn: 'variance' }, [{ ...big, value: 1e200 }]))).toBe(true);
    expect(outOfRange(() => fold({ fn: 'stddev' }, [{ ...big, value: -1e-200 }]))).toBe(true);
    expect(outOfRange(() => fold({ fn: 'stddev' }, [{ ...big, value: 0 }]))).toBe(false);
    expect(outOfRange(() => fold({ fn: 'min' }, [big, big]))).toBe(false);
  });

  it('intermediatesEqual allows float sums to differ by summation order only', () => {
    const spec: AggregationSpec = { fn: 'sum' };
    const a = { n: 3, sum: 0.6000000000000001, sumAbs: 0.6000000000000001 };
    const b = { n: 3, sum: 0.6, sumAbs: 0.6 };
    expect(intermediatesEqual(spec, a, b)).toBe(true);
    expect(intermediatesEqual(spec, { ...a, n: 1 }, { ...b, n: 1 })).toBe(false);
    expect(intermediatesEqual(spec, a, { ...b, sum: 0.59 })).toBe(false);
    expect(intermediatesEqual(spec, a, { ...b, n: 2 })).toBe(false);
  });
});
