import { type AnyFeature, entity, eventSource } from '@tandem/core';
import { describe, expect, it } from 'vitest';
import { createStatisticsCollector } from './collector.js';
import { featureBins, PSI_EPSILON, populationStabilityIndex, psiFromCounts } from './psi.js';
import type { FeatureStatistics } from './types.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', merchant: 'string', approved: 'bool' },
});
const amount = tx.sum('amount').as('amount_sum');
const merchant = tx.last('merchant').as('last_merchant');
const approved = tx.last('approved').as('last_approved');
const recent = tx.lastK('amount', 3).as('recent_amounts');

/** Statistics of one feature over the given values. */
function statsOf(feature: AnyFeature, values: readonly unknown[]): FeatureStatistics {
  const collector = createStatisticsCollector([feature]);
  for (const value of values) collector.add({ [feature.name]: value });
  return collector.result().features[0]!;
}

/** PSI by the textbook formula. */
function textbook(expected: readonly number[], actual: readonly number[]): number {
  return expected.reduce((sum, e, i) => {
    const p = Math.max(e, PSI_EPSILON);
    const a = Math.max(actual[i]!, PSI_EPSILON);
    return sum + (a - p) * Math.log(a / p);
  }, 0);
}

const uniform = (n: number, from: number, to: number) =>
  Array.from({ length: n }, (_, i) => from + ((to - from) * ((i * 7919) % n)) / n);

describe('population stability index', () => {
  it('is 0 for the training distribution itself and grows with a shift', () => {
    const training = [...uniform(5_000, 0, 100), null, null];
    const stats = statsOf(amount, training);
    expect(populationStabilityIndex(stats, training)).toBeCloseTo(0, 12);
    expect(populationStabilityIndex(stats, uniform(1_000, 0, 100))).toBeLessThan(0.1);
    const shifted = populationStabilityIndex(stats, uniform(1_000, 30, 130));
    expect(shifted).toBeGreaterThan(0.25);
    // Values beyond the training maximum land in the outer bin, whose training share is 0.
    const bins = featureBins(stats);
    expect(bins.bin(100.5)).toBe(bins.expected.length - 2);
    expect(bins.expected.at(-2)).toBe(0);
    expect(bins.bin(null)).toBe(bins.expected.length - 1);
  });

  it('matches the textbook formula bin by bin', () => {
    const training = [1, 1, 2, 3, 3, 3, 4, 5, 8, 13, null];
    const stats = statsOf(amount, training);
    const bins = featureBins(stats);
    expect(bins.expected.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(bins.expected.at(-1)).toBeCloseTo(1 / 11, 15);
    const sample = [1, 2, 2, 2, 9, 20, null, null, -4];
    const counts = new Array<number>(bins.expected.length).fill(0);
    for (const v of sample) counts[bins.bin(v)]!++;
    const want = textbook(
      bins.expected,
      counts.map((c) => c / sample.length),
    );
    expect(populationStabilityIndex(stats, sample)).toBeCloseTo(want, 12);
    expect(psiFromCounts(bins.expected, counts)).toBeCloseTo(want, 12);
    expect(psiFromCounts([0.5, 0.5], [1, 3])).toBeCloseTo(
      (0.75 - 0.5) * Math.log(1.5) + (0.25 - 0.5) * Math.log(0.5),
      15,
    );
  });

  it('bins bools, strings (top values, then any other value) and list lengths', () => {
    const bools = statsOf(approved, [true, true, false, null]);
    expect(featureBins(bools).expected).toEqual([0.25, 0.5, 0.25]);
    expect(populationStabilityIndex(bools, [true, true, false, null])).toBe(0);
    expect(populationStabilityIndex(bools, [false, false, false, false])).toBeGreaterThan(1);

    const strings = statsOf(merchant, ['a', 'a', 'b', 'c', null]);
    const bins = featureBins(strings);
    expect(bins.expected).toEqual([0.4, 0.2, 0.2, 0, 0.2]);
    expect([bins.bin('a'), bins.bin('c'), bins.bin('zzz'), bins.bin(null)]).toEqual([0, 2, 3, 4]);
    expect(populationStabilityIndex(strings, ['new', 'new', 'a'])).toBeGreaterThan(1);

    const lists = statsOf(recent, [[1], [1, 2], [1, 2, 3], [], null]);
    const listBins = featureBins(lists);
    expect(listBins.bin([9, 9, 9])).toBe(listBins.bin([1, 2, 3]));
    expect(populationStabilityIndex(lists, [[1], [1, 2], [1, 2, 3], [], null])).toBeCloseTo(0, 12);
  });

  it('sees a change of the null rate', () => {
    const stats = statsOf(amount, [...uniform(900, 0, 1), ...Array(100).fill(null)]);
    const moreNulls = [...uniform(500, 0, 1), ...Array(500).fill(null)];
    expect(populationStabilityIndex(stats, moreNulls)).toBeGreaterThan(0.25);
  });

  it('rejects mistyped values, empty samples and statistics without rows', () => {
    const stats = statsOf(amount, [1, 2, 3]);
    expect(() => populationStabilityIndex(stats, [1, '2'])).toThrow(
      expect.objectContaining({ code: 'TYPE_MISMATCH', path: 'sample[1]' }),
    );
    expect(() => populationStabilityIndex(stats, [])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => psiFromCounts([0.5, 0.5], [1])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => featureBins(statsOf(amount, []))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', path: 'amount_sum' }),
    );
  });
});
