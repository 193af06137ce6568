import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { FeatureService } from '@tandem/core';
import { loadTrainingStatistics, type TrainingStatistics } from '@tandem/feature-store';
import type { Logger } from 'pino';
import type { Principal } from '../auth/auth.js';
import { MicroBatcher } from '../batching/batcher.js';
import type { FeatureVector } from '../batching/rows.js';
import { isServingError, issuePaths, ServingError, toServingError } from '../errors/errors.js';
import type {
  EntityKeyValue,
  FeatureReader,
  FeatureStatus,
  OnlineFeatureRow,
  OnlineFeatureValue,
} from '../features/source.js';
import type { Tensor } from '../models/tensor.js';
import { type CircuitBreaker, createCircuitBreaker } from '../resilience/breaker.js';
import { type Canary, type CanaryArm, createCanary } from '../resilience/canary.js';
import { type Deadline, startDeadline } from '../resilience/deadline.js';
import {
  type FallbackOptions,
  type FallbackReason,
  type FeatureVerdict,
  hasFallback,
  judgeFeatures,
  type ResolvedFeaturePolicy,
  rejection,
  resolveFeaturePolicy,
} from '../resilience/fallback.js';
import { type ConcurrencyLimiter, createConcurrencyLimiter } from '../resilience/limiter.js';
import { createShadow, type Shadow } from '../resilience/shadow.js';
import { createDriftMonitor, type DriftMonitor } from '../telemetry/drift.js';
import { createServingLogger } from '../telemetry/logger.js';
import {
  createServingMetrics,
  type RequestOutcome,
  type ServingMetrics,
} from '../telemetry/metrics.js';
import { createPredictionLog, type PredictionLog } from '../telemetry/prediction-log.js';
import { inSpan, recordError, servingTracer } from '../telemetry/tracing.js';
import type { ModelProvider, PredictLease } from './models.js';
import {
  checkPredictorOptions,
  type FeatureBatchingOptions,
  type ModelServingOptions,
  type PredictorOptions,
  type ShadowConfig,
} from './options.js';
import { outputValues, type PostProcess } from './post-process.js';

/** Options of one prediction. */
export interface PredictOptions {
  /** Pin a version (skips the canary split). */
  readonly version?: string;
  /** Return the feature vector with status and freshness. */
  readonly features?: boolean;
  /** Aborts the request (the client went away). */
  readonly signal?: AbortSignal;
  /** Who asked (from the auth hook), for logs. */
  readonly principal?: Principal;
  /** As-of time of the features, epoch ms; default now. */
  readonly at?: number;
}

/** How a fallback answered. */
export interface FallbackInfo {
  /** Why. */
  readonly reason: FallbackReason;
  /** A default prediction or a fallback model. */
  readonly kind: 'default' | 'model';
  /** The fallback model, when one answered. */
  readonly model?: { readonly name: string; readonly version: string };
  /** What went wrong, for humans. */
  readonly message: string;
}

/** The answer of `predict`, sent as JSON by `POST /models/:name/predict`. */
export interface PredictionResult {
  /** Prediction id: attach labels later with it (`predictionLog.attachLabel`). */
  readonly id: string;
  /** The post-processed prediction (or the fallback's). */
  readonly prediction: unknown;
  /** The model and version asked (the canary version when the canary served). */
  readonly model: { readonly name: string; readonly version: string };
  /** Present when a fallback answered. */
  readonly fallback?: FallbackInfo;
  /** The features the prediction used, when asked for. */
  readonly features?: Readonly<Record<string, OnlineFeatureValue>>;
}

/** The programmatic predictor (what the middleware serves over HTTP). */
export interface Predictor {
  /**
   * Predicts for one request (entity keys and request data, as `service.requestSchema`).
   * @throws {ServingError} with the code the HTTP layer maps to a status.
   */
  predict(model: string, request: unknown, options?: PredictOptions): Promise<PredictionResult>;
  /** The metrics (and their registry). */
  readonly metrics: ServingMetrics;
  /** The structured logger. */
  readonly logger: Logger;
  /** The online store's circuit breaker, if any. */
  readonly breaker: CircuitBreaker | undefined;
  /** The concurrency limiter, if any. */
  readonly limiter: ConcurrencyLimiter | undefined;
  /** The prediction log, if any (attach labels with it). */
  readonly predictionLog: PredictionLog | undefined;
  /** The canary of a model, if it has one. */
  canary(model: string): Canary | undefined;
  /** The shadow of a model, if it has one. */
  shadow(model: string): Shadow | undefined;
  /** Drift monitors by feature service name (after `ready`). */
  readonly drift: ReadonlyMap<string, DriftMonitor>;
  /** Resolves when background setup (loading drift statistics) is done. */
  readonly ready: Promise<void>;
  /**
   * Waits for shadows and batched feature reads, flushes the prediction log (when the predictor
   * made it).
   */
  close(): Promise<void>;
}

interface ModelState {
  readonly name: string;
  readonly deadlineMs: number;
  readonly fallback: FallbackOptions | undefined;
  readonly fallbackEnabled: boolean;
  readonly policy: ResolvedFeaturePolicy;
  readonly postProcess: PostProcess | undefined;
  readonly canary: Canary | undefined;
  readonly canaryVersion: string | undefined;
  readonly shadow: Shadow | undefined;
  readonly shadowTarget: ShadowConfig | undefined;
}

interface HeldModel {
  readonly lease: PredictLease;
  readonly name: string;
  readonly version: string;
  readonly service: FeatureService;
}

/** One request's part of a batched feature read. */
interface FetchItem {
  readonly entity: Record<string, EntityKeyValue>;
  readonly requestData: Record<string, unknown>;
}

interface ServiceInfo {
  readonly countFeature: (index: number, status: FeatureStatus) => void;
  readonly keys: readonly string[];
  readonly stored: readonly string[];
  readonly names: readonly string[];
}

/**
 * Creates the programmatic predictor: validation, one-round-trip feature reads, tensor assembly,
 * the model (micro-batched), post-processing, and around them deadlines, the concurrency limit,
 * the store's circuit breaker, fallbacks, canary and shadow, metrics, spans, logs, prediction
 * logging and drift. Options are checked here, not on the first request.
 * @throws {ServingError} `INVALID_OPTIONS` naming the offending options.
 */
export function createPredictor(options: PredictorOptions): Predictor {
  checkPredictorOptions(options);
  const store: FeatureReader = options.store;
  const models: ModelProvider = options.models;
  const unsubscribe = models.on?.((event) => {
    switch (event.type) {
      case 'batch':
        metrics.model(event.name, event.version).batch(event.size, event.queueMs);
        break;
      case 'loaded':
        metrics.modelLoad(
          event.name,
          event.version,
          event.info.loadMs / 1000,
          event.info.coldStartMs / 1000,
        );
        logger.info(
          {
            model: event.name,
            version: event.version,
            loadMs: event.info.loadMs,
            replaced: event.replaced,
          },
          'model loaded',
        );
        break;
      case 'load_failed':
        metrics.modelLoadFailure(event.name, event.reason);
        logger.error(
          { model: event.name, version: event.version, reason: event.reason, err: event.error },
          'model load refused',
        );
        break;
      case 'inference':
        metrics.inference(event.name, event.version, event.ms / 1000, event.ok);
        break;
      default:
        break;
    }
  });
  const tracer: Tracer = options.tracer ?? servingTracer();
  const metrics = createServingMetrics({
    ...(options.metrics?.registry === undefined ? {} : { registry: options.metrics.registry }),
    ...(options.metrics?.prefix === undefined ? {} : { prefix: options.metrics.prefix }),
    ...(options.metrics?.latencyBuckets === undefined
      ? {}
      : { latencyBuckets: options.metrics.latencyBuckets }),
  });
  const redact = options.logging?.redact ?? [];
  const logger = createServingLogger({
    ...(options.logging?.logger === undefined ? {} : { logger: options.logging.logger }),
    ...(options.logging?.level === undefined ? {} : { level: options.logging.level }),
    ...(options.logging?.destination === undefined
      ? {}
      : { destination: options.logging.destination }),
    redact,
  });
  const limiter =
    options.limits === false ? undefined : createConcurrencyLimiter(options.limits ?? {});
  if (limiter !== undefined) metrics.trackLoad(() => limiter);
  // A hanging store must trip the breaker (and get the fallback) before the request deadline
  // answers 504: by default the breaker gives up at half the deadline.
  const breakerOptions = options.breaker === false ? undefined : (options.breaker ?? {});
  const breaker =
    breakerOptions === undefined
      ? undefined
      : createCircuitBreaker({
          ...breakerOptions,
          callTimeoutMs: breakerOptions.callTimeoutMs ?? (options.deadlineMs ?? 1000) / 2,
        });
  if (breaker !== undefined) {
    metrics.circuit(breaker.name, 'closed', false);
    breaker.onStateChange((t) => {
      metrics.circuit(t.name, t.to);
      const fields = { breaker: t.name, from: t.from, to: t.to };
      if (t.to === 'open') {
        logger.warn({ ...fields, err: t.cause }, 'circuit opened: the online store is failing');
      } else logger.info(fields, `circuit ${t.to}`);
    });
  }
  let ownedLog = false;
  let predictionLog: PredictionLog | undefined;
  if (options.predictionLog !== undefined) {
    if ('record' in options.predictionLog) predictionLog = options.predictionLog;
    else {
      ownedLog = true;
      const logOptions = options.predictionLog;
      predictionLog = createPredictionLog({
        ...logOptions,
        redact: logOptions.redact ?? redact,
        onCount: (outcome, n) => metrics.predictionLog(outcome, n),
        onError:
          logOptions.onError ??
          ((error) => logger.warn({ err: error }, 'prediction log write failed')),
      });
    }
  }

  // Per-model state, built eagerly for configured models (options fail at creation).
  const defaults: ModelServingOptions = {
    deadlineMs: options.deadlineMs ?? 1000,
    ...(options.fallback === undefined ? {} : { fallback: options.fallback }),
    ...(options.postProcess === undefined ? {} : { postProcess: options.postProcess }),
  };
  const states = new Map<string, ModelState>();
  const buildState = (name: string, own: ModelServingOptions | undefined): ModelState => {
    const merged: ModelServingOptions = { ...defaults, ...own };
    const path = own === undefined ? 'options' : `perModel.${name}`;
    const fallback = merged.fallback;
    const policy = resolveFeaturePolicy(fallback, path);
    let canary: Canary | undefined;
    if (merged.canary !== undefined) {
      const { version: _version, ...canaryOptions } = merged.canary;
      canary = createCanary(canaryOptions);
      metrics.canary(name, canary.percent, false);
      canary.onRollback((rollback) => {
        metrics.canary(name, 0, true);
        logger.error(
          { model: name, canaryVersion: merged.canary?.version, ...rollback },
          `canary rolled back: ${rollback.message}`,
        );
      });
    }
    let shadow: Shadow | undefined;
    if (merged.shadow !== undefined) {
      const target = merged.shadow;
      const shadowName = target.model ?? name;
      shadow = createShadow({
        ...(target.percent === undefined ? {} : { percent: target.percent }),
        ...(target.maxInFlight === undefined ? {} : { maxInFlight: target.maxInFlight }),
        onOutcome: (outcome, error) => {
          metrics.shadow(shadowName, target.version ?? 'active', outcome);
          if (outcome === 'error') {
            logger.debug({ model: name, shadow: shadowName, err: error }, 'shadow model failed');
          }
        },
      });
    }
    return {
      name,
      deadlineMs: merged.deadlineMs ?? 0,
      fallback,
      fallbackEnabled: hasFallback(fallback),
      policy,
      postProcess: merged.postProcess,
      canary,
      canaryVersion: merged.canary?.version,
      shadow,
      shadowTarget: merged.shadow,
    };
  };
  const defaultState = buildState('', undefined);
  for (const [name, own] of Object.entries(options.perModel ?? {})) {
    states.set(name, buildState(name, own));
  }
  const stateOf = (name: string): ModelState => {
    let state = states.get(name);
    if (state === undefined) {
      state = { ...defaultState, name };
      states.set(name, state);
    }
    return state;
  };

  // Drift monitors, by service name; statistics stored in a database load in the background.
  const drift = new Map<string, DriftMonitor>();
  const pendingDrift = new Map<string, TrainingStatistics>();
  const ready = (async () => {
    const sources = options.drift?.statistics ?? {};
    for (const [service, source] of Object.entries(sources)) {
      try {
        const statistics =
          'executor' in source
            ? (await loadTrainingStatistics(source.executor, source.schema, source.name))
                ?.statistics
            : source;
        if (statistics === undefined) {
          logger.warn(
            { service, name: 'name' in source ? source.name : undefined },
            'no training statistics found for drift',
          );
          continue;
        }
        pendingDrift.set(service, statistics as TrainingStatistics);
      } catch (error) {
        logger.warn({ service, err: error }, 'could not load training statistics for drift');
      }
    }
  })();
  const driftFor = (service: FeatureService): DriftMonitor | undefined => {
    const existing = drift.get(service.name);
    if (existing !== undefined) return existing;
    const statistics = pendingDrift.get(service.name);
    if (statistics === undefined) return undefined;
    pendingDrift.delete(service.name);
    const monitor = createDriftMonitor({
      service,
      statistics,
      ...(options.drift?.windowSize === undefined ? {} : { windowSize: options.drift.windowSize }),
      ...(options.drift?.minSamples === undefined ? {} : { minSamples: options.drift.minSamples }),
    });
    if (monitor.skipped.length > 0) {
      logger.warn(
        { service: service.name, skipped: monitor.skipped },
        'drift: features not compared',
      );
    }
    drift.set(service.name, monitor);
    metrics.trackDrift(service.name, () => monitor.psi());
    return monitor;
  };

  const services = new WeakMap<FeatureService, ServiceInfo>();
  const infoOf = (service: FeatureService): ServiceInfo => {
    let info = services.get(service);
    if (info === undefined) {
      const names = service.layout.map((entry) => entry.name);
      const requestFeatures = new Set(
        service.features.filter((f) => f.ir.kind === 'request').map((f) => f.name),
      );
      info = {
        countFeature: metrics.featureCounter(service.name, names),
        keys: service.entities.flatMap((e) => Object.keys(e.keys)),
        stored: names.filter((n) => !requestFeatures.has(n)),
        names,
      };
      services.set(service, info);
    }
    return info;
  };

  /** A held model version with its feature service (refuses models without one). */
  const acquire = (name: string, version?: string): HeldModel => {
    const lease = models.acquire(name, version);
    const service = lease.info.service;
    if (service === undefined) {
      lease.release();
      throw new ServingError(
        'INVALID_REQUEST',
        `model ${name} has no feature service: use tensor-level inference (/v2/models/${name}/infer)`,
      );
    }
    return { lease, name: lease.info.name, version: lease.info.version, service };
  };

  const resolveArm = (
    name: string,
    state: ModelState,
    pinned: string | undefined,
  ): { model: HeldModel; arm: CanaryArm | undefined } => {
    if (pinned !== undefined) return { model: acquire(name, pinned), arm: undefined };
    if (state.canary !== undefined && state.canaryVersion !== undefined) {
      const arm = state.canary.choose();
      if (arm === 'canary') {
        try {
          return { model: acquire(name, state.canaryVersion), arm };
        } catch (error) {
          // A canary that is not loaded (yet) does not fail requests: the primary serves.
          logger.debug({ model: name, err: error }, 'canary version unavailable; primary serves');
        }
      }
      return { model: acquire(name), arm: 'primary' };
    }
    return { model: acquire(name), arm: undefined };
  };

  const validate = (service: FeatureService, info: ServiceInfo, input: unknown) => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw new ServingError(
        'INVALID_REQUEST',
        'the request must be a JSON object of entity keys and request data',
        {
          issues: ['(root)'],
        },
      );
    }
    const parsed = service.requestSchema.safeParse(input);
    if (!parsed.success) {
      const issues = issuePaths(parsed.error.issues);
      throw new ServingError(
        'INVALID_REQUEST',
        `invalid request for feature service ${service.name}: ${parsed.error.issues
          .map((i) => `${i.path.length === 0 ? '(root)' : i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
        { issues },
      );
    }
    const request = parsed.data as Record<string, unknown>;
    const entity: Record<string, EntityKeyValue> = {};
    const requestData: Record<string, unknown> = {};
    for (const key in request) {
      if (!Object.hasOwn(request, key)) continue;
      if (info.keys.includes(key)) entity[key] = request[key] as EntityKeyValue;
      else requestData[key] = request[key];
    }
    return { request, entity, requestData };
  };

  /**
   * One store read of a service's rows (one round trip, inside the breaker), observed as one
   * fetch. Refuses an answer without one row per entity.
   */
  const readRows = async (
    service: FeatureService,
    entities: readonly Record<string, EntityKeyValue>[],
    requestData: readonly Record<string, unknown>[],
    at: number | undefined,
  ): Promise<OnlineFeatureRow[]> => {
    const request: Parameters<FeatureReader['getOnlineFeatures']>[0] =
      at === undefined
        ? { service, entities, requestData }
        : { service, entities, requestData, at };
    const read = () => store.getOnlineFeatures(request);
    const started = performance.now();
    let rows: OnlineFeatureRow[];
    try {
      rows = await (breaker === undefined ? read() : breaker.execute(read));
    } catch (error) {
      metrics.featureFetch(service.name, (performance.now() - started) / 1000, false);
      throw error;
    }
    metrics.featureFetch(service.name, (performance.now() - started) / 1000, true);
    if (rows.length !== entities.length) {
      throw new ServingError(
        'STORE_UNAVAILABLE',
        rows.length === 0
          ? 'the online store returned no row'
          : `the online store returned ${rows.length} rows for ${entities.length} entities`,
      );
    }
    return rows;
  };

  // Reads as of now of one service, from requests close together, go to the store as one read.
  const fetchBatching = options.featureBatching ?? {};
  const fetchBatchers = new Map<FeatureService, MicroBatcher<FetchItem, OnlineFeatureRow>>();
  const fetchBatcherOf = (
    service: FeatureService,
    batching: FeatureBatchingOptions,
  ): MicroBatcher<FetchItem, OnlineFeatureRow> => {
    let batcher = fetchBatchers.get(service);
    if (batcher === undefined) {
      batcher = new MicroBatcher<FetchItem, OnlineFeatureRow>({
        maxBatchSize: batching.maxBatchSize ?? 64,
        maxDelayMs: batching.maxDelayMs ?? 0,
        maxConcurrency: batching.maxConcurrency ?? 4,
        run: (items) =>
          readRows(
            service,
            items.map((item) => item.entity),
            items.map((item) => item.requestData),
            undefined,
          ),
      });
      fetchBatchers.set(service, batcher);
    }
    return batcher;
  };

  // Not `async` (it only hands a promise on: an async function would add two microtask turns).
  const fetchRow = (
    service: FeatureService,
    entity: Record<string, EntityKeyValue>,
    requestData: Record<string, unknown>,
    at: number | undefined,
    deadline: Deadline,
  ): Promise<OnlineFeatureRow> => {
    const pending =
      at === undefined && fetchBatching !== false
        ? fetchBatcherOf(service, fetchBatching).submit({ entity, requestData })
        : readRows(service, [entity], [requestData], at).then((rows) => rows[0]!);
    return deadline.race(pending, 'fetch');
  };

  const vectorOf = (service: FeatureService, row: OnlineFeatureRow | undefined): FeatureVector => {
    const layout = service.layout;
    const vector = new Array<number | boolean | null>(layout.length);
    for (let j = 0; j < layout.length; j++) {
      const value = row?.values[layout[j]!.name]?.value;
      vector[j] = value === undefined ? null : (value as number | boolean | null);
    }
    return vector;
  };

  const featureMap = (row: OnlineFeatureRow | undefined) => {
    if (row === undefined) return null;
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(row.values)) out[name] = value.value;
    return out;
  };

  const runModel = async (
    model: HeldModel,
    row: OnlineFeatureRow | undefined,
    deadline: Deadline,
  ) => {
    try {
      return await deadline.race(model.lease.predict(vectorOf(model.service, row)), 'infer');
    } catch (error) {
      // The tensor is built here, not by the client: a bad tensor is a server-side failure too.
      if (
        isServingError(error, 'DEADLINE_EXCEEDED') ||
        isServingError(error, 'MODEL_NOT_READY') ||
        isServingError(error, 'UNAVAILABLE')
      ) {
        throw error;
      }
      throw new ServingError(
        'MODEL_FAILED',
        `model ${model.name} version ${model.version} failed`,
        { cause: error },
      );
    }
  };

  const postProcessOf = (
    state: ModelState,
    model: HeldModel,
    outputs: Record<string, Tensor>,
    request: Record<string, unknown>,
    row: OnlineFeatureRow,
  ): unknown => {
    const values = outputValues(outputs);
    if (state.postProcess === undefined) return values;
    try {
      return state.postProcess(values, {
        model: { name: model.name, version: model.version },
        request,
        features: row,
      });
    } catch (error) {
      throw new ServingError('INTERNAL', `the post-processing hook of ${model.name} failed`, {
        cause: error,
      });
    }
  };

  const answerWithFallback = async (
    state: ModelState,
    reason: FallbackReason,
    error: unknown,
    request: Record<string, unknown>,
    row: OnlineFeatureRow | undefined,
    deadline: Deadline,
  ): Promise<{ prediction: unknown; info: FallbackInfo }> => {
    const fallback = state.fallback!;
    const message = messageOf(reason, error);
    if (fallback.model !== undefined) {
      const target = typeof fallback.model === 'string' ? { name: fallback.model } : fallback.model;
      let model: HeldModel | undefined;
      try {
        model = acquire(target.name, target.version);
        const outputs = await runModel(model, row, deadline);
        const prediction = postProcessOf(
          state,
          model,
          outputs,
          request,
          row ?? { entity: {}, values: {} },
        );
        metrics.fallback(state.name, reason, 'model');
        return {
          prediction,
          info: {
            reason,
            kind: 'model',
            model: { name: model.name, version: model.version },
            message,
          },
        };
      } catch (fallbackError) {
        if (
          fallback.prediction === undefined ||
          isServingError(fallbackError, 'DEADLINE_EXCEEDED')
        ) {
          throw fallbackError;
        }
        logger.warn(
          { model: state.name, err: fallbackError },
          'fallback model failed; default prediction answers',
        );
      } finally {
        model?.lease.release();
      }
    }
    const prediction =
      typeof fallback.prediction === 'function'
        ? await (fallback.prediction as (context: unknown) => unknown)({
            model: state.name,
            reason,
            request,
            features: row,
            error,
          })
        : fallback.prediction;
    metrics.fallback(state.name, reason, 'default');
    return { prediction, info: { reason, kind: 'default', message } };
  };

  /** One prediction; may throw before its work starts (see `predict`). */
  const startPrediction = (
    name: string,
    input: unknown,
    predictOptions: PredictOptions,
  ): Promise<PredictionResult> => {
    const started = performance.now();
    const id = randomUUID();
    // Unknown models and versions throw here, before any per-model state or metric exists (a
    // client cannot grow them with made-up names).
    if (!states.has(name)) models.acquire(name, predictOptions.version).release();
    const state = stateOf(name);
    const { model, arm } = resolveArm(name, state, predictOptions.version);
    const modelMetrics = metrics.model(model.name, model.version);
    const deadline = startDeadline(state.deadlineMs, predictOptions.signal);
    let release: (() => void) | undefined;
    let outcome: RequestOutcome = 'error';
    let errorCode: ServingError['code'] | undefined;
    let modelRan: boolean | undefined;
    const span = tracer.startSpan('tandem.predict', {
      attributes: {
        'tandem.model': model.name,
        'tandem.model_version': model.version,
        'tandem.prediction_id': id,
      },
    });
    const answer = async (): Promise<PredictionResult> => {
      // Stage spans only under a recording span: without a registered tracer (or for an
      // unsampled trace) the request path allocates no spans and no span closures.
      const traced = span.isRecording();
      try {
        const service = model.service;
        const info = infoOf(service);
        const { request, entity, requestData } = traced
          ? await inSpan(tracer, 'validate', {}, () => validate(service, info, input))
          : validate(service, info, input);
        if (limiter !== undefined) {
          release = limiter.tryAcquire();
          if (release === undefined) {
            try {
              release = await limiter.acquire(deadline.signal);
            } catch (error) {
              deadline.check('the queue wait');
              throw error;
            }
          }
        }
        let row: OnlineFeatureRow | undefined;
        let fallbackReason: FallbackReason | undefined;
        let fallbackError: unknown;
        let verdict: FeatureVerdict | undefined;
        try {
          row = traced
            ? await inSpan(tracer, 'fetch', { 'tandem.service': service.name }, () =>
                fetchRow(service, entity, requestData, predictOptions.at, deadline),
              )
            : await fetchRow(service, entity, requestData, predictOptions.at, deadline);
        } catch (error) {
          if (isServingError(error, 'DEADLINE_EXCEEDED')) throw error;
          const serving = isServingError(error, 'CIRCUIT_OPEN')
            ? error
            : isServingError(error, 'STORE_UNAVAILABLE')
              ? error
              : new ServingError('STORE_UNAVAILABLE', 'the online store failed', {
                  cause: error,
                  retryAfterSeconds: 1,
                });
          if (!state.fallbackEnabled || state.fallback?.onStoreError === false) throw serving;
          fallbackReason = serving.code === 'CIRCUIT_OPEN' ? 'circuit_open' : 'store_unavailable';
          fallbackError = error;
          logger.warn(
            { model: name, err: error },
            `online store failed; fallback answers (${fallbackReason})`,
          );
        }
        if (row !== undefined) {
          const values = row.values;
          const names = info.names;
          for (let j = 0; j < names.length; j++) {
            info.countFeature(j, values[names[j]!]?.status ?? 'missing');
          }
          driftFor(service)?.observe(featureMap(row)!);
          verdict = judgeFeatures(service, info.stored, row, state.policy);
          if (verdict.reason !== undefined) {
            if (verdict.action === 'reject') throw rejection(verdict);
            if (verdict.action === 'fallback') {
              fallbackReason = verdict.reason;
              fallbackError = undefined;
            }
          }
        }

        let prediction: unknown;
        let fallback: FallbackInfo | undefined;
        if (fallbackReason === undefined) {
          let outputs: Record<string, Tensor> | undefined;
          try {
            outputs = traced
              ? await inSpan(tracer, 'infer', { 'tandem.model_version': model.version }, () =>
                  runModel(model, row, deadline),
                )
              : await runModel(model, row, deadline);
            modelRan = true;
          } catch (error) {
            if (isServingError(error, 'DEADLINE_EXCEEDED')) {
              modelRan = false;
              throw error;
            }
            modelRan = false;
            if (!state.fallbackEnabled || state.fallback?.onModelError === false) throw error;
            fallbackReason = 'model_error';
            fallbackError = error;
            logger.warn(
              { model: name, version: model.version, err: error },
              'model failed; fallback answers',
            );
          }
          if (outputs !== undefined) {
            const fetched = row!;
            prediction = traced
              ? await inSpan(tracer, 'post-process', {}, () =>
                  postProcessOf(state, model, outputs, request, fetched),
                )
              : postProcessOf(state, model, outputs, request, fetched);
            mirror(state, name, row);
          }
        }
        if (fallbackReason !== undefined) {
          const answer = await answerWithFallback(
            state,
            fallbackReason,
            fallbackError,
            request,
            row,
            deadline,
          );
          prediction = answer.prediction;
          fallback = answer.info;
          span.setAttribute('tandem.fallback', fallbackReason);
        }
        outcome = fallback === undefined ? 'ok' : 'fallback';
        // Optional keys are added, not spread (a spread allocates an object per request).
        const result: {
          -readonly [K in keyof PredictionResult]: PredictionResult[K];
        } = { id, prediction, model: { name: model.name, version: model.version } };
        if (fallback !== undefined) result.fallback = fallback;
        if (predictOptions.features === true && row !== undefined) result.features = row.values;
        const latencyMs = performance.now() - started;
        if (predictionLog?.sampled(entity))
          predictionLog.record({
            id,
            ts: Date.now(),
            model: model.name,
            version: model.version,
            entity,
            request,
            features: featureMap(row),
            prediction: prediction ?? null,
            fallback: fallback?.reason ?? null,
            latencyMs,
          });
        if (fallback !== undefined || logger.isLevelEnabled('debug')) {
          logger[fallback === undefined ? 'debug' : 'info'](
            {
              id,
              model: model.name,
              version: model.version,
              entity,
              latencyMs,
              principal: predictOptions.principal?.id,
              ...(fallback === undefined ? {} : { fallback: fallback.reason }),
            },
            fallback === undefined ? 'prediction' : 'fallback prediction',
          );
        }
        return result;
      } catch (error) {
        const serving = toServingError(error);
        errorCode = serving.code;
        recordError(span, serving);
        if (serving.status >= 500) {
          logger.error(
            {
              id,
              model: model.name,
              version: model.version,
              code: serving.code,
              err: serving.cause ?? serving,
            },
            serving.message,
          );
        }
        throw serving;
      } finally {
        release?.();
        model.lease.release();
        deadline.dispose();
        const latency = performance.now() - started;
        modelMetrics.request(outcome, latency / 1000, outcome === 'error' ? errorCode : undefined);
        if (arm !== undefined && modelRan !== undefined) {
          state.canary!.record(arm, modelRan, latency);
        }
        span.end();
      }
    };
    // A no-op span (no OpenTelemetry SDK registered: not recording, no trace) is not made the
    // active one: the spans below it would see the same parent either way, and making it active
    // copies the context on every request. (The no-op span's context is the shared invalid one:
    // compared first, it spares the validity check's regular expressions.)
    const spanContext = span.spanContext();
    return span.isRecording() ||
      (spanContext !== INVALID_SPAN_CONTEXT && isSpanContextValid(spanContext))
      ? context.with(trace.setSpan(context.active(), span), answer)
      : answer();
  };

  // Not `async`: an async function returning `answer()`'s promise would add two microtask turns
  // to every prediction. What throws before the work starts (an unknown model) still rejects.
  const predict = (
    name: string,
    input: unknown,
    predictOptions: PredictOptions = {},
  ): Promise<PredictionResult> => {
    try {
      return startPrediction(name, input, predictOptions);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  const mirror = (state: ModelState, name: string, row: OnlineFeatureRow | undefined) => {
    const shadow = state.shadow;
    const target = state.shadowTarget;
    if (shadow === undefined || target === undefined) return;
    shadow.mirror(async () => {
      const model = acquire(target.model ?? name, target.version);
      try {
        await model.lease.predict(vectorOf(model.service, row));
      } finally {
        model.lease.release();
      }
    });
  };

  return {
    predict,
    metrics,
    logger,
    breaker,
    limiter,
    predictionLog,
    canary: (name) => states.get(name)?.canary,
    shadow: (name) => states.get(name)?.shadow,
    drift,
    ready,
    async close() {
      await Promise.all([
        ...[...states.values()].map((s) => s.shadow?.idle()),
        ...[...fetchBatchers.values()].map((batcher) => batcher.drain()),
      ]);
      unsubscribe?.();
      if (ownedLog) await predictionLog?.close();
    },
  };
}

function messageOf(reason: FallbackReason, error: unknown): string {
  switch (reason) {
    case 'unknown_entity':
      return 'the online store has no features for this entity';
    case 'features_missing':
      return 'some features are missing';
    case 'features_stale':
      return 'some features are older than their TTL';
    case 'definition_mismatch':
      return 'stored features were written by another definition';
    case 'circuit_open':
      return 'the online store circuit is open';
    case 'store_unavailable':
      return error instanceof Error
        ? `the online store failed: ${error.message}`
        : 'the online store failed';
    case 'model_error':
      return error instanceof Error ? error.message : 'the model failed';
  }
}
