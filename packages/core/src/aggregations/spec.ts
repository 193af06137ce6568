import type { ScalarValue } from '../expr/types.js';

/** HyperLogLog precision of `countDistinct`: 2^12 registers, about 1.6% standard error. */
export const HLL_PRECISION = 12;

/** An aggregation function and its parameters. */
export type AggregationSpec =
  | { readonly fn: 'count' }
  | { readonly fn: 'sum' }
  | { readonly fn: 'mean' }
  | { readonly fn: 'min' }
  | { readonly fn: 'max' }
  | { readonly fn: 'last' }
  | { readonly fn: 'latest' }
  | { readonly fn: 'last_k'; readonly k: number }
  | { readonly fn: 'first_k'; readonly k: number }
  | { readonly fn: 'variance' }
  | { readonly fn: 'stddev' }
  | { readonly fn: 'count_distinct'; readonly precision: number };

/** Names of the aggregation functions. */
export type AggregationFn = AggregationSpec['fn'];

/** A value together with the event order key it came from. */
export interface TimedValue {
  /** Event time, epoch ms. */
  readonly ts: number;
  /** Event id, or null when the source has none. */
  readonly eventId: string | null;
  /** Ingestion sequence, or null when the source has none. */
  readonly seq: number | null;
  /** The aggregated value; null only in `latest`, which keeps null attribute values. */
  readonly value: ScalarValue;
}

/**
 * Running sums of `sum`, `mean`, `variance` and `stddev`. `sumAbs` (sum of |x|) bounds the
 * rounding error of float sums (DESIGN §3); `sumSq` is kept only by variance and stddev.
 */
export interface Moments {
  readonly n: number;
  readonly sum: number;
  readonly sumAbs: number;
  readonly sumSq?: number;
}

/**
 * A HyperLogLog sketch: sorted `register * 64 + rank` items, one per non-empty register
 * (the highest rank seen), so it is small for small sets and plain JSON.
 */
export type HllSketch = readonly number[];

/** The intermediate value of each aggregation: what both engines produce and `finalize` reads. */
export interface IntermediateOf {
  count: number;
  sum: Moments;
  mean: Moments;
  variance: Moments;
  stddev: Moments;
  min: number | null;
  max: number | null;
  last: TimedValue | null;
  latest: TimedValue | null;
  last_k: readonly TimedValue[];
  first_k: readonly TimedValue[];
  count_distinct: HllSketch;
}

/** Any intermediate value. */
export type Intermediate = IntermediateOf[AggregationFn];
