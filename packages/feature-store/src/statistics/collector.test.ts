import { entity, eventSource, featureService, isTandemError } from '@tandem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStatisticsCollector, withStatistics } from './collector.js';
import { histogramBin } from './numeric.js';
import {
  HISTOGRAM_SAMPLE,
  type ListFeatureStatistics,
  type NumericFeatureStatistics,
  type NumericSummary,
  type StringFeatureStatistics,
  TOP_VALUE_CAPACITY,
} from './types.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', qty: 'int', merchant: 'string', approved: 'bool' },
});
const amount = tx.sum('amount').as('amount_sum');
const qty = tx.max('qty').as('qty_max');
const merchant = tx.last('merchant').as('last_merchant');
const approved = tx.last('approved').as('last_approved');
const recent = tx.lastK('amount', 3).as('recent_amounts');
const features = [amount, qty, merchant, approved, recent] as const;

const numeric = (
  stats: ReturnType<ReturnType<typeof createStatisticsCollector>['result']>,
  i = 0,
) => stats.features[i] as NumericFeatureStatistics;

/** Brute-force checks of a numeric summary of `values` (all added, none null). */
function checkSummary(summary: NumericSummary, values: readonly number[]): void {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  // -0 and 0 are equal values and tie in any sort: compare them as equal (+ 0 folds -0 into 0).
  expect(summary.min! + 0).toBe(sorted[0]! + 0);
  expect(summary.max! + 0).toBe(sorted[n - 1]! + 0);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const scale = Math.max(1, ...values.map(Math.abs));
  expect(Math.abs(summary.mean! - mean)).toBeLessThanOrEqual(1e-9 * scale);
  if (n < 2) {
    expect(summary.std).toBeNull();
  } else {
    const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
    expect(Math.abs(summary.std! - Math.sqrt(variance))).toBeLessThanOrEqual(1e-6 * scale);
  }
  // Each quantile is within 1% of a value whose rank is q(n - 1), rounded either way.
  for (const [name, q] of [
    ['p1', 0.01],
    ['p5', 0.05],
    ['p25', 0.25],
    ['p50', 0.5],
    ['p75', 0.75],
    ['p95', 0.95],
    ['p99', 0.99],
  ] as const) {
    const got = summary.quantiles![name];
    const low = sorted[Math.floor(q * (n - 1))]!;
    const high = sorted[Math.ceil(q * (n - 1))]!;
    const slack = (x: number) => 0.0101 * Math.abs(x) + 1e-300;
    expect(got, name).toBeGreaterThanOrEqual(low - slack(low));
    expect(got, name).toBeLessThanOrEqual(high + slack(high));
    expect(got).toBeGreaterThanOrEqual(summary.min!);
    expect(got).toBeLessThanOrEqual(summary.max!);
  }
  const { edges, counts } = summary.histogram;
  expect(edges[0]! + 0).toBe(sorted[0]! + 0);
  expect(edges.at(-1)!).toBeGreaterThan(sorted[n - 1]!);
  for (let i = 1; i < edges.length; i++) expect(edges[i]!).toBeGreaterThan(edges[i - 1]!);
  expect(edges.length).toBeLessThanOrEqual(11);
  expect(counts).toHaveLength(edges.length + 1);
  expect(counts[0]).toBe(0);
  expect(counts.at(-1)).toBe(0);
  if (n <= HISTOGRAM_SAMPLE) {
    const exact = new Array<number>(counts.length).fill(0);
    for (const v of values) exact[edges.filter((e) => e <= v).length]!++;
    expect(counts).toEqual(exact);
  } else {
    expect(counts.reduce((a, b) => a + b, 0)).toBe(HISTOGRAM_SAMPLE);
  }
}

describe('numeric statistics', () => {
  it('match a brute-force computation (count, nulls, moments, quantiles, histogram)', () => {
    const value = fc.oneof(
      fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: -50, max: 50 }),
      fc.constant(0),
    );
    fc.assert(
      fc.property(
        fc.array(fc.option(value, { freq: 5 }), { minLength: 1, maxLength: 300 }),
        (xs) => {
          const collector = createStatisticsCollector([amount]);
          for (const x of xs) collector.add({ amount_sum: x });
          const stats = numeric(collector.result());
          const values = xs.filter((x): x is number => x !== null);
          expect(stats.count).toBe(values.length);
          expect(stats.nulls).toBe(xs.length - values.length);
          if (values.length > 0) checkSummary(stats, values);
          else {
            expect(stats).toMatchObject({ mean: null, std: null, min: null, max: null });
            expect(stats.histogram).toEqual({ edges: [], counts: [0] });
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('stay accurate beyond the histogram sample, deterministically', () => {
    const values = Array.from({ length: 60_000 }, (_, i) => ((i * 7919) % 60_000) / 100 - 100);
    const run = () => {
      const collector = createStatisticsCollector([amount]);
      for (const v of values) collector.add({ amount_sum: v });
      return collector.result();
    };
    const stats = run();
    checkSummary(numeric(stats), values);
    expect(JSON.stringify(run())).toBe(JSON.stringify(stats));
    // A uniform sample: every decile bin holds about a tenth of it.
    const inner = numeric(stats).histogram.counts.slice(1, -1);
    expect(inner).toHaveLength(10);
    for (const c of inner) expect(Math.abs(c / HISTOGRAM_SAMPLE - 0.1)).toBeLessThan(0.02);
  });

  it('bins ties and constants so that values off the training range fall outside', () => {
    const collector = createStatisticsCollector([qty]);
    for (let i = 0; i < 100; i++) collector.add({ qty_max: i < 60 ? 0 : 5 });
    const stats = numeric(collector.result());
    expect(stats.quantiles).toMatchObject({ p1: 0, p50: 0 });
    expect(stats.histogram.edges[0]).toBe(0);
    const bin = (v: number) => histogramBin(stats.histogram.edges, v);
    expect(stats.histogram.counts[bin(0)]).toBe(60);
    expect(stats.histogram.counts[bin(5)]).toBe(40);
    expect(bin(-1)).toBe(0);
    expect(bin(6)).toBe(stats.histogram.edges.length);

    const constant = createStatisticsCollector([qty]);
    for (let i = 0; i < 10; i++) constant.add({ qty_max: 7 });
    const c = numeric(constant.result());
    expect(c).toMatchObject({ mean: 7, std: 0, min: 7, max: 7 });
    expect(c.histogram.counts).toEqual([0, 10, 0]);
    expect(histogramBin(c.histogram.edges, 8)).toBe(2);
  });

  it('keeps extreme magnitudes finite or null', () => {
    const collector = createStatisticsCollector([amount]);
    for (const v of [Number.MAX_VALUE, -Number.MAX_VALUE, 1e-300, 0, -0]) {
      collector.add({ amount_sum: v });
    }
    const stats = numeric(collector.result());
    expect(stats.min).toBe(-Number.MAX_VALUE);
    expect(stats.max).toBe(Number.MAX_VALUE);
    expect(() => JSON.stringify(stats)).not.toThrow();
    for (const x of [stats.mean, stats.std, ...Object.values(stats.quantiles!)]) {
      expect(x === null || Number.isFinite(x)).toBe(true);
    }
    expect(stats.histogram.edges.every(Number.isFinite)).toBe(true);
  });
});

describe('bool, string and list statistics', () => {
  it('count trues, distinct and top values, list lengths', () => {
    const collector = createStatisticsCollector(featureService('fraud_v1', [...features]));
    const merchants = ['a', 'b', 'b', 'c', 'c', 'c', null, '', 'é', 'c'];
    merchants.forEach((m, i) => {
      collector.add({
        user_id: `u${i}`,
        label: i % 2,
        amount_sum: i,
        qty_max: null,
        last_merchant: m,
        last_approved: i === 9 ? null : i % 3 === 0,
        recent_amounts: i === 0 ? null : Array.from({ length: i % 4 }, () => 1.5),
      });
    });
    const stats = collector.result();
    expect(stats).toMatchObject({ version: 1, service: 'fraud_v1', rows: 10 });
    expect(stats.features.map((f) => f.name)).toEqual(features.map((f) => f.name));
    expect(stats.features[1]).toMatchObject({ kind: 'numeric', count: 0, nulls: 10, mean: null });
    expect(stats.features[2]).toEqual({
      name: 'last_merchant',
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      kind: 'string',
      count: 9,
      nulls: 1,
      distinct: 5,
      top: [
        { value: 'c', count: 4 },
        { value: 'b', count: 2 },
        { value: '', count: 1 },
        { value: 'a', count: 1 },
        { value: 'é', count: 1 },
      ],
    });
    expect(stats.features[3]).toMatchObject({ kind: 'bool', count: 9, nulls: 1, trueCount: 3 });
    expect((stats.features[3] as { trueRate: number }).trueRate).toBeCloseTo(3 / 9, 15);
    const list = stats.features[4] as ListFeatureStatistics;
    expect(list).toMatchObject({ kind: 'list', valueType: 'float', count: 9, nulls: 1 });
    checkSummary(list.length, [1, 2, 3, 0, 1, 2, 3, 0, 1]);
  });

  it('estimate distinct values and keep heavy hitters past the counter capacity', () => {
    const collector = createStatisticsCollector([merchant]);
    const n = 50_000;
    let heavy = 0;
    for (let i = 0; i < n; i++) {
      const value = i % 5 === 0 ? 'heavy' : `m${i % 20_000}`;
      if (value === 'heavy') heavy++;
      collector.add({ last_merchant: value });
    }
    const stats = collector.result().features[0] as StringFeatureStatistics;
    const distinct =
      1 + new Set(Array.from({ length: n }, (_, i) => i % 20_000).filter((i) => i % 5 !== 0)).size;
    expect(Math.abs(stats.distinct - distinct) / distinct).toBeLessThan(0.05);
    expect(stats.top[0]!.value).toBe('heavy');
    expect(stats.top[0]!.count).toBeLessThanOrEqual(heavy);
    expect(stats.top[0]!.count).toBeGreaterThanOrEqual(heavy - n / (TOP_VALUE_CAPACITY + 1));
  });
});

describe('fingerprints and errors', () => {
  it('fingerprints the feature list by names and definitions', () => {
    const fp = (list: Parameters<typeof createStatisticsCollector>[0]) =>
      createStatisticsCollector(list).result().fingerprint;
    expect(fp([amount, qty])).toBe(fp(featureService('svc', [amount, qty])));
    expect(fp([amount, qty])).not.toBe(fp([qty, amount]));
    expect(fp([amount])).not.toBe(fp([tx.sum('amount').window('7d').as('amount_sum')]));
  });

  it('names the row and feature of a missing or mistyped value', () => {
    const collector = createStatisticsCollector([amount, qty, merchant, recent]);
    const good = { amount_sum: 1, qty_max: 2, last_merchant: 'x', recent_amounts: [1, null] };
    collector.add(good);
    const failure = (row: Record<string, unknown>) => {
      try {
        collector.add(row);
      } catch (error) {
        expect(isTandemError(error)).toBe(true);
        return `${(error as { code: string }).code} ${(error as { path: string }).path}`;
      }
      return 'no error';
    };
    expect(failure({ amount_sum: 1, last_merchant: 'x', recent_amounts: [] })).toBe(
      'UNKNOWN_COLUMN rows[1].qty_max',
    );
    expect(failure({ ...good, qty_max: 2.5 })).toBe('TYPE_MISMATCH rows[1].qty_max');
    expect(failure({ ...good, amount_sum: Number.NaN })).toBe('TYPE_MISMATCH rows[1].amount_sum');
    expect(failure({ ...good, amount_sum: '1' })).toBe('TYPE_MISMATCH rows[1].amount_sum');
    expect(failure({ ...good, last_merchant: 3 })).toBe('TYPE_MISMATCH rows[1].last_merchant');
    expect(failure({ ...good, recent_amounts: [1, 'x'] })).toBe(
      'TYPE_MISMATCH rows[1].recent_amounts[1]',
    );
    expect(failure({ ...good, recent_amounts: 1 })).toBe('TYPE_MISMATCH rows[1].recent_amounts');
  });
});

describe('withStatistics', () => {
  it('passes rows through unchanged and gives the statistics once they are all read', async () => {
    async function* source() {
      for (let i = 0; i < 5; i++) yield { id: i, amount_sum: i * 2 };
    }
    const { rows, statistics } = withStatistics(source(), [amount]);
    const seen: unknown[] = [];
    for await (const row of rows) {
      seen.push(row);
      if (seen.length === 2) expect(() => statistics()).toThrow(/every row has been read/);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => ({ id: i, amount_sum: i * 2 })));
    expect(numeric(statistics())).toMatchObject({ count: 5, mean: 4, min: 0, max: 8 });
    expect(statistics().rows).toBe(5);
  });
});
