import { DDSketch } from '@datadog/sketches-js';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { HISTOGRAM_SAMPLE, type Histogram, type NumericSummary } from './types.js';

/** Seed of the histogram sample: the same rows always give the same statistics. */
const SAMPLE_SEED = 0x5eed;

/** Relative accuracy of the quantile sketch. */
const RELATIVE_ACCURACY = 0.01;

const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/**
 * Summarizes a stream of finite numbers in constant memory: Welford mean and variance, min/max,
 * a DDSketch for quantiles and a reservoir sample (fixed seed) for the histogram counts.
 */
export class NumericAccumulator {
  #count = 0;
  #mean = 0;
  #m2 = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;
  // Buckets span the magnitudes seen: at most about 71,000 per sign over the whole double range.
  readonly #sketch = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY });
  readonly #sample = new Float64Array(HISTOGRAM_SAMPLE);
  readonly #random = xoroshiro128plus(SAMPLE_SEED);

  /** Adds one value (finite; the caller checks). */
  add(value: number): void {
    this.#count++;
    const delta = value - this.#mean;
    this.#mean += delta / this.#count;
    this.#m2 += delta * (value - this.#mean);
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
    this.#sketch.accept(value);
    // Reservoir sampling (algorithm R): every value seen so far is in the sample with equal odds.
    if (this.#count <= HISTOGRAM_SAMPLE) {
      this.#sample[this.#count - 1] = value;
    } else {
      const slot = uniformInt(this.#random, 0, this.#count - 1);
      if (slot < HISTOGRAM_SAMPLE) this.#sample[slot] = value;
    }
  }

  /** The summary of the values added so far. */
  summary(): NumericSummary {
    if (this.#count === 0) {
      return {
        mean: null,
        std: null,
        min: null,
        max: null,
        quantiles: null,
        histogram: { edges: [], counts: [0] },
      };
    }
    const min = this.#min;
    const max = this.#max;
    const quantile = (q: number) =>
      Math.min(max, Math.max(min, this.#sketch.getValueAtQuantile(q)));
    const edges: number[] = [];
    for (const edge of [min, ...DECILES.map(quantile), nextUp(max)]) {
      if (Number.isFinite(edge) && edge !== edges.at(-1)) edges.push(edge);
    }
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const value of this.#sample.subarray(0, Math.min(this.#count, HISTOGRAM_SAMPLE))) {
      counts[histogramBin(edges, value)]!++;
    }
    return {
      mean: finiteOrNull(this.#mean),
      std: this.#count < 2 ? null : finiteOrNull(Math.sqrt(this.#m2 / (this.#count - 1))),
      min,
      max,
      quantiles: {
        p1: quantile(0.01),
        p5: quantile(0.05),
        p25: quantile(0.25),
        p50: quantile(0.5),
        p75: quantile(0.75),
        p95: quantile(0.95),
        p99: quantile(0.99),
      },
      histogram: { edges, counts },
    };
  }
}

/** The bin of `value` in a {@link Histogram}: the number of edges at or below it. */
export function histogramBin(edges: Histogram['edges'], value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The smallest double above `x` (finite `x`). */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigInt64(0);
  view.setBigInt64(0, x > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}

/** Mean and variance of values near the double range overflow to infinity: stored as null. */
function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
