import { type LayoutEntry, TandemError } from '@tandem/core';
import { checkFeatureValue } from '../export/layout.js';
import { histogramBin } from './numeric.js';
import type { FeatureStatistics, NumericSummary } from './types.js';

/** Proportions below this are raised to it, so an empty bin does not make PSI infinite. */
export const PSI_EPSILON = 1e-4;

/** The drift bins of a feature: training proportions and how a live value is binned. */
export interface FeatureBins {
  /** Training proportion of each bin (they add up to 1); the last bin is null. */
  readonly expected: readonly number[];
  /**
   * The bin of a live value (null and undefined: the last bin).
   * @throws {TandemError} `TYPE_MISMATCH` when the value does not have the feature's type.
   */
  bin(value: unknown, path?: string): number;
}

/**
 * The drift bins of a feature's training statistics: histogram bins (numeric values, list
 * lengths), false/true (bool), or the top values plus one bin for every other value (string);
 * then one bin for null. Serving can count live values per bin with `bin` and compare with
 * {@link psiFromCounts}.
 * @throws {TandemError} `INVALID_ARGUMENT` when the statistics saw no rows.
 */
export function featureBins(feature: FeatureStatistics): FeatureBins {
  const total = feature.count + feature.nulls;
  if (total === 0) {
    throw new TandemError('INVALID_ARGUMENT', 'the training statistics saw no rows', {
      path: feature.name,
    });
  }
  const entry: LayoutEntry = {
    name: feature.name,
    fingerprint: feature.fingerprint,
    valueType:
      feature.kind === 'numeric' || feature.kind === 'list' ? feature.valueType : feature.kind,
    list: feature.kind === 'list',
  };
  let values: number[];
  let binOf: (value: never) => number;
  switch (feature.kind) {
    case 'numeric':
    case 'list': {
      const summary: NumericSummary = feature.kind === 'numeric' ? feature : feature.length;
      const sampled = summary.histogram.counts.reduce((a, b) => a + b, 0);
      values = summary.histogram.counts.map((c) => (sampled === 0 ? 0 : c / sampled));
      binOf =
        feature.kind === 'numeric'
          ? (value: number) => histogramBin(summary.histogram.edges, value)
          : (value: readonly unknown[]) => histogramBin(summary.histogram.edges, value.length);
      break;
    }
    case 'bool':
      values = feature.count === 0 ? [0, 0] : [1 - feature.trueRate!, feature.trueRate!];
      binOf = (value: boolean) => (value ? 1 : 0);
      break;
    case 'string': {
      const index = new Map(feature.top.map((t, i) => [t.value, i]));
      const topCount = feature.top.reduce((a, t) => a + t.count, 0);
      values = [...feature.top.map((t) => t.count), feature.count - topCount].map((c) =>
        feature.count === 0 ? 0 : c / feature.count,
      );
      binOf = (value: string) => index.get(value) ?? feature.top.length;
      break;
    }
  }
  const share = feature.count / total;
  const nullBin = values.length;
  return {
    expected: [...values.map((v) => v * share), feature.nulls / total],
    bin(value, path = feature.name) {
      if (value === null || value === undefined) return nullBin;
      checkFeatureValue(entry, value, path);
      return binOf(value as never);
    },
  };
}

/**
 * Population stability index of live bin counts against training proportions:
 * sum over bins of (a - e) * ln(a / e), with proportions raised to {@link PSI_EPSILON}. Rules of
 * thumb: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one.
 * @throws {TandemError} `INVALID_ARGUMENT` when the lengths differ or there is no live value.
 */
export function psiFromCounts(expected: readonly number[], counts: readonly number[]): number {
  if (expected.length !== counts.length) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `${counts.length} counts for ${expected.length} bins`,
      { path: 'counts' },
    );
  }
  const total = counts.reduce((a, b) => a + b, 0);
  if (!(total > 0)) {
    throw new TandemError('INVALID_ARGUMENT', 'no live value to compare', { path: 'counts' });
  }
  let psi = 0;
  expected.forEach((e, i) => {
    const p = Math.max(e, PSI_EPSILON);
    const a = Math.max(counts[i]! / total, PSI_EPSILON);
    psi += (a - p) * Math.log(a / p);
  });
  return psi;
}

/**
 * Population stability index of a sample of live values of a feature (nulls included) against
 * its training statistics; see {@link featureBins} and {@link psiFromCounts}.
 * @throws {TandemError} `TYPE_MISMATCH` naming `sample[i]` for a value of the wrong type,
 * `INVALID_ARGUMENT` for an empty sample or statistics without rows.
 */
export function populationStabilityIndex(
  feature: FeatureStatistics,
  sample: Iterable<unknown>,
): number {
  const bins = featureBins(feature);
  const counts = new Array<number>(bins.expected.length).fill(0);
  let i = 0;
  for (const value of sample) {
    counts[bins.bin(value, `sample[${i}]`)]!++;
    i++;
  }
  return psiFromCounts(bins.expected, counts);
}
