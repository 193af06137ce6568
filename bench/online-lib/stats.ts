/** Latency percentiles of one run, µs. */
export interface Latency {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

/** Percentiles of `samples` (ms) in µs, rounded to 0.1 µs. */
export function latency(samples: readonly number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const us = (ms: number) => Math.round(ms * 10_000) / 10;
  return {
    n: sorted.length,
    p50: us(at(0.5)),
    p90: us(at(0.9)),
    p99: us(at(0.99)),
    mean: us(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
  };
}

/** The median of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Per-field medians of runs' latencies. */
export function medianLatency(runs: readonly Latency[]): Latency & { readonly runsP99: number[] } {
  return {
    n: runs.reduce((a, r) => a + r.n, 0),
    p50: median(runs.map((r) => r.p50)),
    p90: median(runs.map((r) => r.p90)),
    p99: median(runs.map((r) => r.p99)),
    mean: median(runs.map((r) => r.mean)),
    runsP99: runs.map((r) => r.p99),
  };
}

/** `a / b` to two decimals. */
export function ratio(a: number, b: number): number {
  return Number((a / b).toFixed(2));
}
