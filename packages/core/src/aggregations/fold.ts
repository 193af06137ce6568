import { TandemError } from '../errors/errors.js';
import { compareCodePoints, compareScalars } from '../expr/evaluate.js';
import type { ScalarValue } from '../expr/types.js';
import { hllAdd, hllEstimate, hllItem, hllMerge } from './hll.js';
import type { AggregationSpec, Intermediate, IntermediateOf, Moments, TimedValue } from './spec.js';

/**
 * Event order (DESIGN §3): by `ts`, then `eventId` bytewise (absent sorts first), then ingestion
 * sequence (absent first), then the value itself, so "last" is fully deterministic.
 */
export function compareEventOrder(a: TimedValue, b: TimedValue): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  if (a.eventId !== b.eventId) {
    if (a.eventId === null) return -1;
    if (b.eventId === null) return 1;
    return compareCodePoints(a.eventId, b.eventId);
  }
  if (a.seq !== b.seq) {
    if (a.seq === null) return -1;
    if (b.seq === null) return 1;
    return a.seq < b.seq ? -1 : 1;
  }
  if (a.value === null || b.value === null)
    return a.value === b.value ? 0 : a.value === null ? -1 : 1;
  return compareScalars(a.value, b.value);
}

/** The intermediate of an empty window. */
export function emptyIntermediate<S extends AggregationSpec>(spec: S): IntermediateOf[S['fn']] {
  return EMPTY[spec.fn] as IntermediateOf[S['fn']];
}

const NO_MOMENTS: Moments = Object.freeze({ n: 0, sum: 0, sumAbs: 0 });
const NO_MOMENTS_SQ: Moments = Object.freeze({ n: 0, sum: 0, sumAbs: 0, sumSq: 0 });
const EMPTY: { readonly [F in AggregationSpec['fn']]: IntermediateOf[F] } = {
  count: 0,
  sum: NO_MOMENTS,
  mean: NO_MOMENTS,
  variance: NO_MOMENTS_SQ,
  stddev: NO_MOMENTS_SQ,
  min: null,
  max: null,
  last: null,
  latest: null,
  last_k: [],
  first_k: [],
  count_distinct: [],
};

/**
 * Adds one event's value to an intermediate. `value` is null only for `latest`: other
 * aggregations ignore null inputs before this point (for `count()` of events, pass `true`).
 * @throws {TandemError} `VALUE_OUT_OF_RANGE` when a float sum overflows, as Postgres does.
 */
export function accumulate<S extends AggregationSpec>(
  spec: S,
  state: IntermediateOf[S['fn']],
  input: TimedValue,
): IntermediateOf[S['fn']] {
  return ACCUMULATE[spec.fn](spec as never, state as never, input) as IntermediateOf[S['fn']];
}

type Step<F extends AggregationSpec['fn']> = (
  spec: Extract<AggregationSpec, { fn: F }>,
  state: IntermediateOf[F],
  input: TimedValue,
) => IntermediateOf[F];

const addMoments = (_spec: unknown, state: Moments, input: TimedValue): Moments => {
  const x = input.value as number;
  const next: Moments = {
    n: state.n + 1,
    sum: finite(state.sum + x),
    sumAbs: finite(state.sumAbs + Math.abs(x)),
  };
  if (state.sumSq === undefined) return next;
  const square = finite(x * x);
  if (square === 0 && x !== 0) throw outOfRange('underflow');
  return { ...next, sumSq: finite(state.sumSq + square) };
};

const ACCUMULATE: { readonly [F in AggregationSpec['fn']]: Step<F> } = {
  count: (_spec, state) => state + 1,
  sum: addMoments,
  mean: addMoments,
  variance: addMoments,
  stddev: addMoments,
  min: (_spec, state, input) =>
    state === null || (input.value as number) < state ? (input.value as number) : state,
  max: (_spec, state, input) =>
    state === null || (input.value as number) > state ? (input.value as number) : state,
  last: (_spec, state, input) =>
    state === null || compareEventOrder(input, state) > 0 ? input : state,
  latest: (_spec, state, input) =>
    state === null || compareEventOrder(input, state) > 0 ? input : state,
  last_k: (spec, state, input) => keepNewest([...state, input], spec.k),
  first_k: (spec, state, input) => keepOldest([...state, input], spec.k),
  count_distinct: (_spec, state, input) =>
    hllAdd(state, hllItem(canonicalText(input.value as Exclude<ScalarValue, null>))),
};

/** Merges the intermediates of two disjoint event sets. */
export function merge<S extends AggregationSpec>(
  spec: S,
  a: IntermediateOf[S['fn']],
  b: IntermediateOf[S['fn']],
): IntermediateOf[S['fn']] {
  return MERGE[spec.fn](spec as never, a as never, b as never) as IntermediateOf[S['fn']];
}

type Merge<F extends AggregationSpec['fn']> = (
  spec: Extract<AggregationSpec, { fn: F }>,
  a: IntermediateOf[F],
  b: IntermediateOf[F],
) => IntermediateOf[F];

const mergeMoments = (_spec: unknown, a: Moments, b: Moments): Moments => {
  const next: Moments = {
    n: a.n + b.n,
    sum: finite(a.sum + b.sum),
    sumAbs: finite(a.sumAbs + b.sumAbs),
  };
  return a.sumSq === undefined ? next : { ...next, sumSq: finite(a.sumSq + (b.sumSq ?? 0)) };
};

const MERGE: { readonly [F in AggregationSpec['fn']]: Merge<F> } = {
  count: (_spec, a, b) => a + b,
  sum: mergeMoments,
  mean: mergeMoments,
  variance: mergeMoments,
  stddev: mergeMoments,
  min: (_spec, a, b) => (a === null ? b : b === null ? a : Math.min(a, b)),
  max: (_spec, a, b) => (a === null ? b : b === null ? a : Math.max(a, b)),
  last: (_spec, a, b) => (a === null ? b : b === null ? a : compareEventOrder(a, b) >= 0 ? a : b),
  latest: (_spec, a, b) => (a === null ? b : b === null ? a : compareEventOrder(a, b) >= 0 ? a : b),
  last_k: (spec, a, b) => keepNewest([...a, ...b], spec.k),
  first_k: (spec, a, b) => keepOldest([...a, ...b], spec.k),
  count_distinct: (_spec, a, b) => hllMerge(a, b),
};

/** The feature value of an intermediate (before the feature's default applies). */
export function finalize<S extends AggregationSpec>(
  spec: S,
  state: IntermediateOf[S['fn']],
): ScalarValue | readonly ScalarValue[] {
  const s = state as Intermediate;
  switch (spec.fn) {
    case 'count':
      return s as number;
    case 'sum':
      return (s as Moments).sum;
    case 'mean': {
      const m = s as Moments;
      return m.n === 0 ? null : m.sum / m.n;
    }
    case 'variance':
    case 'stddev': {
      const m = s as Moments;
      if (m.n < 2) return null;
      const variance = Math.max(0, ((m.sumSq ?? 0) - (m.sum * m.sum) / m.n) / (m.n - 1));
      return spec.fn === 'variance' ? variance : Math.sqrt(variance);
    }
    case 'min':
    case 'max':
      return s as number | null;
    case 'last':
    case 'latest':
      return (s as TimedValue | null)?.value ?? null;
    case 'last_k':
      return (s as readonly TimedValue[]).map((t) => t.value);
    case 'first_k':
      return (s as readonly TimedValue[]).map((t) => t.value).reverse();
    case 'count_distinct':
      return hllEstimate(s as readonly number[], spec.precision);
  }
}

/**
 * True when two intermediates agree: exactly, except float sums, which may differ by summation
 * order within `2 (n - 1) 2^-53 * sum|x|` (DESIGN §3).
 */
export function intermediatesEqual<S extends AggregationSpec>(
  spec: S,
  a: IntermediateOf[S['fn']],
  b: IntermediateOf[S['fn']],
): boolean {
  switch (spec.fn) {
    case 'sum':
    case 'mean':
    case 'variance':
    case 'stddev': {
      const x = a as Moments;
      const y = b as Moments;
      if (x.n !== y.n) return false;
      const slack = 2 * Math.max(x.n - 1, 0) * 2 ** -53;
      const bound = slack * Math.max(x.sumAbs, y.sumAbs);
      if (!within(x.sum, y.sum, bound) || !within(x.sumAbs, y.sumAbs, bound)) return false;
      return (
        x.sumSq === undefined ||
        within(x.sumSq, y.sumSq ?? 0, slack * Math.max(x.sumSq, y.sumSq ?? 0))
      );
    }
    default:
      return JSON.stringify(a) === JSON.stringify(b);
  }
}

/** The text that `countDistinct` hashes: strings as they are, integers in decimal, `true`/`false`. */
export function canonicalText(value: Exclude<ScalarValue, null>): string {
  return typeof value === 'string' ? value : String(value);
}

function within(x: number, y: number, bound: number): boolean {
  return Math.abs(x - y) <= bound;
}

function keepNewest(values: TimedValue[], k: number): TimedValue[] {
  return values.sort((x, y) => compareEventOrder(y, x)).slice(0, k);
}

function keepOldest(values: TimedValue[], k: number): TimedValue[] {
  return values.sort(compareEventOrder).slice(0, k).reverse();
}

function finite(value: number): number {
  if (!Number.isFinite(value)) throw outOfRange('overflow');
  return value;
}

function outOfRange(what: string): TandemError {
  return new TandemError('VALUE_OUT_OF_RANGE', `value out of range: ${what} in an aggregation`);
}
