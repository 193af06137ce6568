import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServingErrorCode } from '../errors/errors.js';
import type { FeatureStatus } from '../features/source.js';
import type { CircuitState } from '../resilience/breaker.js';
import { type HistogramSeries, LocalHistogram } from './histogram.js';

/** How a request ended, for the `outcome` label. */
export type RequestOutcome = 'ok' | 'fallback' | 'error';

/** Options of {@link createServingMetrics}. */
export interface ServingMetricsOptions {
  /** Registry to register on; default a private one (exposed as `metrics.registry`). */
  readonly registry?: Registry;
  /** Metric name prefix; default `tandem_serving_`. */
  readonly prefix?: string;
  /** Latency buckets in seconds; default 0.25 ms .. 2.5 s. */
  readonly latencyBuckets?: readonly number[];
}

/** Bound metrics of one model version, cached so the request path does no label hashing. */
export interface ModelVersionMetrics {
  /** Counts a request and observes its latency. */
  request(outcome: RequestOutcome, seconds: number, code?: ServingErrorCode): void;
  /** Observes one batch: its size and how long each of its rows waited for it (ms). */
  batch(size: number, queueMs: readonly number[]): void;
}

/**
 * The Prometheus metrics of the serving layer, on one registry. Every method is cheap enough for
 * the request path (children are cached per label set).
 */
export interface ServingMetrics {
  /** The registry the metrics live on (for `GET /metrics` or the host app's endpoint). */
  readonly registry: Registry;
  /** Metrics bound to one model version. */
  model(name: string, version: string): ModelVersionMetrics;
  /** Observes one online feature read of a service (one round trip). */
  featureFetch(service: string, seconds: number, ok: boolean): void;
  /** Counts one feature value of a service by status (`missing`, `outside_ttl`, ...). */
  featureValue(service: string, feature: string, status: FeatureStatus): void;
  /**
   * A counter of the feature values of one service by feature index (in `features` order) and
   * status: plain numbers on the request path (which counts every feature of every request),
   * added to `feature_values_total` when the registry is read.
   */
  featureCounter(
    service: string,
    features: readonly string[],
  ): (index: number, status: FeatureStatus) => void;
  /**
   * Observes a model load (read, verify, create the session) and its cold start (the first
   * inference, run by the warmup before the version serves).
   */
  modelLoad(name: string, version: string, loadSeconds: number, coldStartSeconds: number): void;
  /** Counts a refused model load by reason (`checksum_mismatch`, `signature_mismatch`, ...). */
  modelLoadFailure(name: string, reason: string): void;
  /** Observes one tensor-level inference (Open Inference Protocol). */
  inference(name: string, version: string, seconds: number, ok: boolean): void;
  /** Counts a fallback answer. */
  fallback(model: string, reason: string, kind: 'default' | 'model'): void;
  /**
   * Sets the state of a circuit breaker (0 closed, 1 half-open, 2 open); counts a transition
   * unless `transition` is false (the initial state).
   */
  circuit(name: string, state: CircuitState, transition?: boolean): void;
  /** Counts one mirrored request to a shadow model. */
  shadow(model: string, version: string, outcome: 'ok' | 'error' | 'dropped'): void;
  /** Counts a canary rollback and sets the canary's share. */
  canary(model: string, percent: number, rolledBack: boolean): void;
  /** Counts prediction log records by outcome. */
  predictionLog(outcome: 'sampled' | 'written' | 'dropped' | 'failed', n?: number): void;
  /** Reports the PSI of a service's features (read when metrics are scraped). */
  trackDrift(service: string, read: () => Readonly<Record<string, number>>): void;
  /** Reads in-flight and queued requests when metrics are scraped. */
  trackLoad(read: () => { readonly active: number; readonly queued: number }): void;
}

const DEFAULT_BUCKETS = [
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
const FEATURE_STATUSES: readonly FeatureStatus[] = [
  'present',
  'missing',
  'outside_ttl',
  'definition_mismatch',
];
const STATUS_INDEX = Object.fromEntries(FEATURE_STATUSES.map((s, i) => [s, i])) as Readonly<
  Record<FeatureStatus, number>
>;
const CIRCUIT_VALUE: Readonly<Record<CircuitState, number>> = { closed: 0, half_open: 1, open: 2 };

const byRegistry = new WeakMap<Registry, Map<string, ServingMetrics>>();

/**
 * Creates the serving metrics on `options.registry` or a private registry. Asking twice for the
 * same registry and prefix returns the same instance (several middlewares can share a registry).
 */
export function createServingMetrics(options: ServingMetricsOptions = {}): ServingMetrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'tandem_serving_';
  let cached = byRegistry.get(registry);
  if (cached === undefined) {
    cached = new Map();
    byRegistry.set(registry, cached);
  }
  const existing = cached.get(prefix);
  if (existing !== undefined) return existing;
  const created = buildMetrics(registry, prefix, options);
  cached.set(prefix, created);
  return created;
}

function buildMetrics(
  registry: Registry,
  prefix: string,
  options: ServingMetricsOptions,
): ServingMetrics {
  const buckets = [...(options.latencyBuckets ?? DEFAULT_BUCKETS)];
  const registers = [registry];
  // Registering the same metric twice on one registry throws; reuse what is there.
  const counter = <L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    collect?: () => void,
  ) =>
    (registry.getSingleMetric(prefix + name) as Counter<L> | undefined) ??
    new Counter<L>({
      name: prefix + name,
      help,
      labelNames,
      registers,
      ...(collect === undefined ? {} : { collect }),
    });
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
    (registry.getSingleMetric(prefix + name) as Gauge<L> | undefined) ??
    new Gauge<L>({ name: prefix + name, help, labelNames, registers });
  const histogram = <L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    metricBuckets: number[],
  ) =>
    (registry.getSingleMetric(prefix + name) as Histogram<L> | undefined) ??
    new Histogram<L>({ name: prefix + name, help, labelNames, buckets: metricBuckets, registers });
  // The histograms observed on every request: plain numbers, the exposition built at scrape time.
  const localHistogram = (
    name: string,
    help: string,
    labelNames: string[],
    metricBuckets: number[],
  ) => {
    const existing = registry.getSingleMetric(prefix + name);
    return existing instanceof LocalHistogram
      ? existing
      : new LocalHistogram(prefix + name, help, labelNames, metricBuckets, registry);
  };

  // A counter whose hot counts are kept in plain numbers and added when the registry is read:
  // `flushes` run at each read. (A counter of that name that something else registered first is
  // reused as `counter` does, and does not run them.)
  const scrapedCounter = <L extends string>(name: string, help: string, labelNames: L[]) => {
    const flushes: (() => void)[] = [];
    const scraped = counter(name, help, labelNames, () => {
      for (const flush of flushes) flush();
    });
    return { counter: scraped, flushes };
  };

  // Answered requests (`ok`, and `fallback` without a code) are counted in plain numbers on the
  // request path and added to `requests_total` when the registry is read.
  const { counter: requests, flushes: requestFlushes } = scrapedCounter(
    'requests_total',
    'Prediction requests by model, version, outcome and error code.',
    ['model', 'version', 'outcome', 'code'],
  );
  const duration = localHistogram(
    'request_duration_seconds',
    'Prediction request latency (validation to response), by model, version and outcome.',
    ['model', 'version', 'outcome'],
    buckets,
  );
  const fetchDuration = localHistogram(
    'feature_fetch_duration_seconds',
    'Latency of one online feature read (one round trip) by feature service and result.',
    ['service', 'result'],
    buckets,
  );
  // Every feature of every request is counted: `featureCounter` keeps plain numbers on the
  // request path and adds them to the counter when the registry is read (prom-client hashes the
  // labels on every increment).
  const { counter: featureValues, flushes: featureFlushes } = scrapedCounter(
    'feature_values_total',
    'Feature values served by feature service, feature and status (present, missing, outside_ttl, definition_mismatch).',
    ['service', 'feature', 'status'],
  );
  const batchSize = localHistogram(
    'batch_size',
    'Rows per model run (micro-batching) by model and version.',
    ['model', 'version'],
    [1, 2, 4, 8, 16, 32, 64, 128, 256],
  );
  const batchQueue = localHistogram(
    'batch_queue_seconds',
    'Time each row waited for its micro-batch to run, by model and version.',
    ['model', 'version'],
    buckets,
  );
  const loadSeconds = histogram(
    'model_load_seconds',
    'Model load time (verify, create session, warm up) by model and version.',
    ['model', 'version'],
    [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const coldStarts = histogram(
    'model_cold_start_seconds',
    'First inference of a freshly loaded model version (run by the warmup before it serves).',
    ['model', 'version'],
    [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  );
  const loadFailures = counter('model_load_failures_total', 'Refused model loads by reason.', [
    'model',
    'reason',
  ]);
  const inferences = histogram(
    'inference_duration_seconds',
    'Tensor-level inferences (Open Inference Protocol) by model, version and result.',
    ['model', 'version', 'result'],
    buckets,
  );
  const fallbacks = counter(
    'fallbacks_total',
    'Fallback answers by model, reason and kind (default prediction or fallback model).',
    ['model', 'reason', 'kind'],
  );
  const circuitState = gauge(
    'circuit_state',
    'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
    ['breaker'],
  );
  const circuitTransitions = counter(
    'circuit_transitions_total',
    'Circuit breaker transitions by target state.',
    ['breaker', 'to'],
  );
  const shadows = counter(
    'shadow_requests_total',
    'Requests mirrored to a shadow model by outcome.',
    ['model', 'version', 'outcome'],
  );
  const canaryRollbacks = counter(
    'canary_rollbacks_total',
    'Automatic canary rollbacks by model.',
    ['model'],
  );
  const canaryPercent = gauge('canary_percent', 'Share of traffic sent to the canary, 0..100.', [
    'model',
  ]);
  const predictionLogs = counter(
    'prediction_logs_total',
    'Prediction log records: sampled, written, dropped (buffer full) or failed (database error).',
    ['outcome'],
  );
  const driftReaders: { service: string; read: () => Readonly<Record<string, number>> }[] = [];
  const psiGauge =
    (registry.getSingleMetric(`${prefix}feature_psi`) as
      | Gauge<'service' | 'feature'>
      | undefined) ??
    new Gauge<'service' | 'feature'>({
      name: `${prefix}feature_psi`,
      help: 'Population stability index of recent requests against training statistics, per feature.',
      labelNames: ['service', 'feature'],
      registers,
      collect() {
        for (const { service, read } of driftReaders) {
          try {
            for (const [feature, value] of Object.entries(read())) {
              this.labels(service, feature).set(value);
            }
          } catch {
            // A failing drift reader must not break the scrape.
          }
        }
      },
    });
  void psiGauge;
  const loadReaders: (() => { readonly active: number; readonly queued: number })[] = [];
  const sumLoad = (key: 'active' | 'queued') => loadReaders.reduce((a, read) => a + read()[key], 0);
  const inflight =
    (registry.getSingleMetric(`${prefix}inflight_requests`) as Gauge | undefined) ??
    new Gauge({
      name: `${prefix}inflight_requests`,
      help: 'Prediction requests holding a concurrency slot.',
      registers,
      collect() {
        this.set(sumLoad('active'));
      },
    });
  const queued =
    (registry.getSingleMetric(`${prefix}queued_requests`) as Gauge | undefined) ??
    new Gauge({
      name: `${prefix}queued_requests`,
      help: 'Prediction requests waiting for a concurrency slot.',
      registers,
      collect() {
        this.set(sumLoad('queued'));
      },
    });
  void inflight;
  void queued;

  // By name, then version: finding a version's metrics builds no key string.
  const models = new Map<string, Map<string, ModelVersionMetrics>>();
  const fetchSeries = new Map<
    string,
    { readonly ok: HistogramSeries; readonly error: HistogramSeries }
  >();
  const featureChildren = new Map<string, ReturnType<typeof featureValues.labels>>();

  return {
    registry,
    model(name, version) {
      let versions = models.get(name);
      if (versions === undefined) {
        versions = new Map();
        models.set(name, versions);
      }
      let bound = versions.get(version);
      if (bound === undefined) {
        const durations = {
          ok: duration.series(name, version, 'ok'),
          fallback: duration.series(name, version, 'fallback'),
          error: duration.series(name, version, 'error'),
        };
        let okCount = 0;
        let fallbackCount = 0;
        requestFlushes.push(() => {
          if (okCount > 0) requests.inc({ model: name, version, outcome: 'ok', code: '' }, okCount);
          if (fallbackCount > 0) {
            requests.inc({ model: name, version, outcome: 'fallback', code: '' }, fallbackCount);
          }
          okCount = 0;
          fallbackCount = 0;
        });
        const size = batchSize.series(name, version);
        const queue = batchQueue.series(name, version);
        bound = {
          request(outcome, seconds, code) {
            durations[outcome].observe(seconds);
            if (outcome === 'ok') okCount++;
            else if (outcome === 'fallback' && code === undefined) fallbackCount++;
            else requests.labels(name, version, outcome, code ?? '').inc();
          },
          batch(n, queueMs) {
            size.observe(n);
            for (const waited of queueMs) queue.observe(waited / 1000);
          },
        };
        versions.set(version, bound);
      }
      return bound;
    },
    featureFetch(service, seconds, ok) {
      let series = fetchSeries.get(service);
      if (series === undefined) {
        series = {
          ok: fetchDuration.series(service, 'ok'),
          error: fetchDuration.series(service, 'error'),
        };
        fetchSeries.set(service, series);
      }
      (ok ? series.ok : series.error).observe(seconds);
    },
    featureValue(service, feature, status) {
      const key = `${service}\u0000${feature}\u0000${status}`;
      let child = featureChildren.get(key);
      if (child === undefined) {
        child = featureValues.labels(service, feature, status);
        featureChildren.set(key, child);
      }
      child.inc();
    },
    featureCounter(service, features) {
      const width = FEATURE_STATUSES.length;
      const counts = new Float64Array(features.length * width);
      featureFlushes.push(() => {
        for (let i = 0; i < counts.length; i++) {
          const n = counts[i]!;
          if (n === 0) continue;
          counts[i] = 0;
          featureValues.inc(
            {
              service,
              feature: features[Math.floor(i / width)]!,
              status: FEATURE_STATUSES[i % width]!,
            },
            n,
          );
        }
      });
      return (index, status) => {
        if (index >= 0 && index < features.length) counts[index * width + STATUS_INDEX[status]]!++;
      };
    },
    modelLoad(name, version, seconds, coldStartSeconds) {
      loadSeconds.labels(name, version).observe(seconds);
      coldStarts.labels(name, version).observe(coldStartSeconds);
    },
    modelLoadFailure(name, reason) {
      loadFailures.labels(name, reason).inc();
    },
    inference(name, version, seconds, ok) {
      inferences.labels(name, version, ok ? 'ok' : 'error').observe(seconds);
    },
    fallback(model, reason, kind) {
      fallbacks.labels(model, reason, kind).inc();
    },
    circuit(name, state, transition = true) {
      circuitState.labels(name).set(CIRCUIT_VALUE[state]);
      if (transition) circuitTransitions.labels(name, state).inc();
    },
    shadow(model, version, outcome) {
      shadows.labels(model, version, outcome).inc();
    },
    canary(model, percent, rolledBack) {
      canaryPercent.labels(model).set(percent);
      if (rolledBack) canaryRollbacks.labels(model).inc();
    },
    predictionLog(outcome, n = 1) {
      predictionLogs.labels(outcome).inc(n);
    },
    trackDrift(service, read) {
      driftReaders.push({ service, read });
    },
    trackLoad(read) {
      loadReaders.push(read);
    },
  };
}
