/**
 * Statistics of a training set, captured while its rows stream by and stored as JSON, so that
 * serving can compare live traffic against them (drift, e.g. PSI with `populationStabilityIndex`).
 *
 * Every feature has `count` (non-null values) and `nulls` (null values); `count + nulls` is the
 * number of rows. The shape per kind:
 * - `numeric` (int and float features): moments, min/max, quantiles and a histogram;
 * - `bool`: the number and rate of `true`;
 * - `string`: the number of distinct values and the most frequent values;
 * - `list` (`lastK`/`firstK` features): the same numeric summary, over list lengths.
 *
 * For drift, each kind defines bins (see `featureBins`): the histogram bins (numeric, list
 * lengths), false/true (bool) or the top values plus "any other value" (string), each followed
 * by one bin for null. The training proportions of those bins are what live proportions are
 * compared against.
 */
export interface TrainingStatistics {
  /** Version of this shape: 1. */
  readonly version: 1;
  /** Feature service the set was built from, or `null` for a plain feature list. */
  readonly service: string | null;
  /**
   * Fingerprint of the feature list: sha256 (hex) of the ordered (name, feature fingerprint)
   * pairs; equal for two sets exactly when they have the same features, defined the same way.
   */
  readonly fingerprint: string;
  /** Rows seen. */
  readonly rows: number;
  /** One entry per output feature, in output order. */
  readonly features: readonly FeatureStatistics[];
}

/** Statistics of one feature. */
export type FeatureStatistics =
  | NumericFeatureStatistics
  | BoolFeatureStatistics
  | StringFeatureStatistics
  | ListFeatureStatistics;

/** What every feature's statistics carry. */
export interface FeatureStatisticsBase {
  /** Feature name. */
  readonly name: string;
  /** Feature fingerprint: live values of a feature with another fingerprint are not comparable. */
  readonly fingerprint: string;
  /** Non-null values. */
  readonly count: number;
  /** Null values. */
  readonly nulls: number;
}

/** An `int` or `float` feature. */
export interface NumericFeatureStatistics extends FeatureStatisticsBase, NumericSummary {
  /** Discriminant. */
  readonly kind: 'numeric';
  /** Value type. */
  readonly valueType: 'int' | 'float';
}

/** A `bool` feature. */
export interface BoolFeatureStatistics extends FeatureStatisticsBase {
  /** Discriminant. */
  readonly kind: 'bool';
  /** Number of `true` values. */
  readonly trueCount: number;
  /** `trueCount / count`; `null` when there is no value. */
  readonly trueRate: number | null;
}

/** A `string` feature. */
export interface StringFeatureStatistics extends FeatureStatisticsBase {
  /** Discriminant. */
  readonly kind: 'string';
  /**
   * Distinct non-null values: exact up to {@link TOP_VALUE_CAPACITY} distinct values, above that
   * a HyperLogLog estimate (2^12 registers, about 1.6% standard error).
   */
  readonly distinct: number;
  /**
   * The most frequent values (at most {@link TOP_VALUES}), by count descending then value. Counts
   * are exact up to {@link TOP_VALUE_CAPACITY} distinct values; above that they are Misra-Gries
   * lower bounds, short of the true count by at most `count / (TOP_VALUE_CAPACITY + 1)`.
   */
  readonly top: readonly { readonly value: string; readonly count: number }[];
}

/** A list feature (`lastK`, `firstK`): statistics of the list lengths. */
export interface ListFeatureStatistics extends FeatureStatisticsBase {
  /** Discriminant. */
  readonly kind: 'list';
  /** Type of the elements. */
  readonly valueType: 'int' | 'float' | 'string' | 'bool';
  /** Summary of the lengths of the non-null lists. */
  readonly length: NumericSummary;
}

/** Summary of a stream of numbers. */
export interface NumericSummary {
  /** Mean; `null` without values. */
  readonly mean: number | null;
  /** Sample standard deviation (n - 1, Welford); `null` below two values. */
  readonly std: number | null;
  /** Smallest value; `null` without values. */
  readonly min: number | null;
  /** Largest value; `null` without values. */
  readonly max: number | null;
  /**
   * Quantiles from a DDSketch with 1% relative accuracy (each within 1% of a value of the right
   * rank), clamped to [min, max]; `null` without values.
   */
  readonly quantiles: Quantiles | null;
  /** Histogram for drift. */
  readonly histogram: Histogram;
}

/** Quantiles of a numeric summary. */
export interface Quantiles {
  readonly p1: number;
  readonly p5: number;
  readonly p25: number;
  readonly p50: number;
  readonly p75: number;
  readonly p95: number;
  readonly p99: number;
}

/**
 * A histogram with ascending `edges` e0 < e1 < ... < ek and `counts` of length k + 2: bin 0 holds
 * values below e0, bin i (1..k) values in [e(i-1), e(i)), bin k + 1 values from ek up. The edges
 * are the minimum, the deciles (duplicates dropped) and the next double above the maximum (when
 * finite), so
 * the training values fill the inner bins and the two outer bins catch live values out of the
 * training range. Counts are over a uniform sample of at most {@link HISTOGRAM_SAMPLE} values
 * (fixed seed): exact counts when there are no more values than that. No values: no edges,
 * counts `[0]`.
 */
export interface Histogram {
  /** Ascending bin edges. */
  readonly edges: readonly number[];
  /** Values per bin (`edges.length + 1` bins). */
  readonly counts: readonly number[];
}

/** Most frequent values kept per string feature. */
export const TOP_VALUES = 20;

/** Distinct values tracked per string feature (Misra-Gries counters). */
export const TOP_VALUE_CAPACITY = 1024;

/** Size of the uniform sample behind each histogram. */
export const HISTOGRAM_SAMPLE = 10_000;
