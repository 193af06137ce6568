import type { Metric, MetricValueWithName, Registry } from 'prom-client';

/** One label set of a {@link LocalHistogram}: observing is a few additions, no allocation. */
export interface HistogramSeries {
  /** Adds one value. */
  observe(value: number): void;
}

class Series implements HistogramSeries {
  /** Observations per bucket (not cumulative), one slot per upper bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    // prom-client throws on a value that is not finite: on the request path it is dropped.
    if (!Number.isFinite(value)) return;
    // A value above every bound counts in +Inf only.
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram registered on a prom-client `Registry` whose series are plain numbers:
 * `series(...)` binds a label set once, and each `observe` adds to it without hashing labels or
 * allocating (prom-client's `Histogram` does both on every observation, even through a child).
 * The exposition (buckets, `+Inf`, `_sum`, `_count`) is built when the registry is read, and
 * is the same text prom-client writes.
 */
export class LocalHistogram {
  /** What prom-client reads. */
  readonly type = 'histogram';
  /** How a cluster registry merges workers' values. */
  readonly aggregator = 'sum';
  readonly #labelNames: readonly string[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  /** Creates the histogram (buckets are upper bounds, in any order) and registers it. */
  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.#labelNames = labelNames;
    this.#bounds = [...buckets].sort((a, b) => a - b);
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set (label values in `labelNames` order); cache it. */
  series(...values: string[]): HistogramSeries {
    const key = values.join('\u0000');
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((label, i) => {
        labels[label] = values[i] ?? '';
      });
      series = new Series(labels, this.#bounds);
      this.#series.set(key, series);
    }
    return series;
  }

  /**
   * The exposition values (prom-client's `Metric.get`): as prom-client's histogram, a label set
   * appears once it has an observation, with `le` first.
   */
  async get(): Promise<{
    readonly name: string;
    readonly help: string;
    readonly type: 'histogram';
    readonly aggregator: 'sum';
    readonly values: MetricValueWithName<string>[];
  }> {
    const bucketName = `${this.name}_bucket`;
    const values: MetricValueWithName<string>[] = [];
    for (const series of this.#series.values()) {
      if (series.count === 0) continue;
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({
          metricName: bucketName,
          labels: { le: bound, ...series.labels },
          value: cumulative,
        });
      });
      values.push(
        { metricName: bucketName, labels: { le: '+Inf', ...series.labels }, value: series.count },
        { metricName: `${this.name}_sum`, labels: { ...series.labels }, value: series.sum },
        { metricName: `${this.name}_count`, labels: { ...series.labels }, value: series.count },
      );
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  /** Zeroes every series (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
