import type { Tracer } from '@opentelemetry/api';
import type { SqlExecutor, TrainingStatistics } from '@tandem/feature-store';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { AuthConfig } from '../auth/auth.js';
import { issuePaths, ServingError } from '../errors/errors.js';
import type { FeatureReader } from '../features/source.js';
import type { CircuitBreakerOptions } from '../resilience/breaker.js';
import type { CanaryOptions } from '../resilience/canary.js';
import type { FallbackOptions } from '../resilience/fallback.js';
import type { ConcurrencyLimitOptions } from '../resilience/limiter.js';
import type { ShadowOptions } from '../resilience/shadow.js';
import type { PredictionLog, PredictionLogOptions } from '../telemetry/prediction-log.js';
import type { ModelProvider } from './models.js';
import type { PostProcess } from './post-process.js';

/** Canary of a model: another version gets `percent` of the traffic until it misbehaves. */
export interface CanaryConfig extends Omit<CanaryOptions, 'random'> {
  /** The canary version (of the same model). */
  readonly version: string;
}

/** Shadow of a model: another version (or model) sees mirrored traffic, never answers. */
export interface ShadowConfig extends Omit<ShadowOptions, 'onOutcome' | 'random'> {
  /** Shadow model name; default the same model. */
  readonly model?: string;
  /** Shadow version; default the model's active one (so set it, or `model`). */
  readonly version?: string;
}

/** Serving options of one model (override the predictor-wide ones). */
export interface ModelServingOptions {
  /** Per-request deadline in ms (queue wait included); 0 for none. */
  readonly deadlineMs?: number;
  /** Fallback of this model (replaces the predictor-wide one). */
  readonly fallback?: FallbackOptions;
  /** Post-processing of this model's outputs (thresholds, labels). */
  readonly postProcess?: PostProcess;
  /** Canary split with automatic rollback. */
  readonly canary?: CanaryConfig;
  /** Shadow model on mirrored traffic. */
  readonly shadow?: ShadowConfig;
}

/**
 * Batching of online feature reads: the reads (as of now) of one feature service from requests
 * that arrive close together go to the store as one `getOnlineFeatures` of all their entities.
 * Each request gets its own row; when the read fails, every request in it gets the error.
 */
export interface FeatureBatchingOptions {
  /** Most entities in one read; default 64. */
  readonly maxBatchSize?: number;
  /**
   * Longest a request waits for others, in ms; default 0 (requests of the same event-loop turn,
   * plus those that arrive while `maxConcurrency` reads are in flight).
   */
  readonly maxDelayMs?: number;
  /** Reads of one service in flight at once; default 4. */
  readonly maxConcurrency?: number;
}

/** Where drift statistics of a feature service come from. */
export type DriftSource =
  | TrainingStatistics
  | {
      /** Executor of the database holding the statistics. */
      readonly executor: SqlExecutor;
      /** Schema of the `training_statistics` table. */
      readonly schema: string;
      /** Name the statistics were saved under. */
      readonly name: string;
    };

/** Options of `createPredictor`. */
export interface PredictorOptions {
  /** The online store (anything with `getOnlineFeatures`). */
  readonly store: FeatureReader;
  /** The models: a `ModelRegistry` (or any {@link ModelProvider}). */
  readonly models: ModelProvider;
  /** Default per-request deadline in ms; default 1000; 0 for none. */
  readonly deadlineMs?: number;
  /** Default fallback of every model. */
  readonly fallback?: FallbackOptions;
  /** Default post-processing of every model. */
  readonly postProcess?: PostProcess;
  /** Per-model options by model name. */
  readonly perModel?: Readonly<Record<string, ModelServingOptions>>;
  /** Concurrency limit and queue (429/503); `false` for none. */
  readonly limits?: ConcurrencyLimitOptions | false;
  /**
   * Batching of feature reads across concurrent requests (one store read for many); `false`
   * reads each request's entity alone. Reads with an explicit as-of time are never batched.
   */
  readonly featureBatching?: FeatureBatchingOptions | false;
  /** Circuit breaker around the online store; `false` for none. */
  readonly breaker?: CircuitBreakerOptions | false;
  /** Prometheus metrics: a registry of the host app (default a private one) and a prefix. */
  readonly metrics?: {
    readonly registry?: Registry;
    readonly prefix?: string;
    readonly latencyBuckets?: readonly number[];
  };
  /** Structured logs (pino) and the request fields to redact there and in prediction logs. */
  readonly logging?: {
    readonly logger?: Logger;
    readonly level?: string;
    readonly redact?: readonly string[];
    readonly destination?: NodeJS.WritableStream;
  };
  /** Sampled prediction logging (a log you made, or options to make one). */
  readonly predictionLog?: PredictionLog | Omit<PredictionLogOptions, 'onCount'>;
  /** Drift: training statistics per feature service name, and the sliding window. */
  readonly drift?: {
    readonly statistics: Readonly<Record<string, DriftSource>>;
    readonly windowSize?: number;
    readonly minSamples?: number;
  };
  /** OpenTelemetry tracer; default `trace.getTracer('@tandem/serving')`. */
  readonly tracer?: Tracer;
}

/** Options of `middleware`: the predictor's, plus the HTTP layer's. */
export interface MiddlewareOptions extends PredictorOptions {
  /** Per-model authentication and authorization. */
  readonly auth?: AuthConfig;
  /** Largest JSON body (`express.json` limit: bytes or `"64kb"`); default `"64kb"`. */
  readonly bodyLimit?: number | string;
  /** Serve `GET /metrics`; default true (set false when the host app exposes the registry). */
  readonly metricsEndpoint?: boolean;
  /** Mount the Open Inference Protocol v2 routes (`/v2/...`); default true. */
  readonly oip?: boolean;
}

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>(
    (v) => typeof v === 'function',
    `${what} must be a function`,
  );
const percent = z.number().min(0).max(100);
const positiveInt = z.number().int().min(1);
const ms = z.number().min(0);
const featureAction = z.enum(['fallback', 'predict', 'reject']);

const fallbackSchema = z
  .object({
    prediction: z.unknown().optional(),
    model: z
      .union([
        z.string().min(1),
        z.object({ name: z.string().min(1), version: z.string().min(1).optional() }).strict(),
      ])
      .optional(),
    features: z
      .object({
        unknownEntity: featureAction.optional(),
        missing: featureAction.optional(),
        stale: featureAction.optional(),
        definitionMismatch: featureAction.optional(),
      })
      .strict()
      .optional(),
    onModelError: z.boolean().optional(),
    onStoreError: z.boolean().optional(),
  })
  .strict();

const modelSchema = z
  .object({
    deadlineMs: ms.optional(),
    fallback: fallbackSchema.optional(),
    postProcess: fn('postProcess').optional(),
    canary: z
      .object({
        version: z.string().min(1),
        percent,
        windowSize: positiveInt.optional(),
        minSamples: positiveInt.optional(),
        maxErrorRateIncrease: z.number().min(0).max(1).optional(),
        maxP99Increase: z.number().min(0).optional(),
        minP99IncreaseMs: ms.optional(),
      })
      .strict()
      .refine((c) => (c.minSamples ?? 50) <= (c.windowSize ?? 200), {
        message: 'minSamples cannot exceed windowSize',
        path: ['minSamples'],
      })
      .optional(),
    shadow: z
      .object({
        model: z.string().min(1).optional(),
        version: z.string().min(1).optional(),
        percent: percent.optional(),
        maxInFlight: positiveInt.optional(),
      })
      .strict()
      .refine((s) => s.model !== undefined || s.version !== undefined, {
        message: 'a shadow needs a model or a version',
      })
      .optional(),
  })
  .strict();

const objectWith = (what: string, method: string) =>
  z.custom<object>(
    (v) =>
      v !== null &&
      typeof v === 'object' &&
      typeof (v as Record<string, unknown>)[method] === 'function',
    `${what} must have a method ${method}()`,
  );

const driftSource = z.union([
  z.object({ version: z.literal(1), features: z.array(z.unknown()) }).passthrough(),
  z
    .object({
      executor: objectWith('executor', 'query'),
      schema: z.string().min(1),
      name: z.string().min(1),
    })
    .strict(),
]);

const predictorShape = {
  store: objectWith('store', 'getOnlineFeatures'),
  models: objectWith('models', 'acquire'),
  deadlineMs: ms.optional(),
  fallback: fallbackSchema.optional(),
  postProcess: fn('postProcess').optional(),
  perModel: z.record(z.string(), modelSchema).optional(),
  limits: z
    .union([
      z.literal(false),
      z
        .object({
          maxConcurrent: positiveInt.optional(),
          maxQueue: z.number().int().min(0).optional(),
          queueTimeoutMs: ms.optional(),
          retryAfterSeconds: ms.optional(),
        })
        .strict(),
    ])
    .optional(),
  featureBatching: z
    .union([
      z.literal(false),
      z
        .object({
          maxBatchSize: positiveInt.optional(),
          maxDelayMs: ms.optional(),
          maxConcurrency: positiveInt.optional(),
        })
        .strict(),
    ])
    .optional(),
  breaker: z
    .union([
      z.literal(false),
      z
        .object({
          name: z.string().min(1).optional(),
          failureThreshold: positiveInt.optional(),
          openMs: ms.optional(),
          halfOpenMaxCalls: positiveInt.optional(),
          successThreshold: positiveInt.optional(),
          callTimeoutMs: z.number().positive().optional(),
          isFailure: fn('isFailure').optional(),
          now: fn('now').optional(),
        })
        .strict(),
    ])
    .optional(),
  metrics: z
    .object({
      registry: objectWith('metrics.registry', 'metrics').optional(),
      prefix: z
        .string()
        .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/)
        .optional(),
      latencyBuckets: z.array(z.number().positive()).min(1).optional(),
    })
    .strict()
    .optional(),
  logging: z
    .object({
      logger: objectWith('logging.logger', 'child').optional(),
      level: z.string().optional(),
      redact: z.array(z.string().min(1)).optional(),
      destination: objectWith('logging.destination', 'write').optional(),
    })
    .strict()
    .optional(),
  predictionLog: z
    .union([
      objectWith('predictionLog', 'record'),
      z
        .object({
          executor: objectWith('predictionLog.executor', 'query'),
          schema: z.string().min(1),
          table: z.string().min(1).optional(),
          sampleRate: z.number().min(0).max(1).optional(),
          salt: z.string().optional(),
          redact: z.array(z.string()).optional(),
          maxBatch: positiveInt.optional(),
          flushIntervalMs: ms.optional(),
          maxBuffer: positiveInt.optional(),
          onError: fn('onError').optional(),
        })
        .strict(),
    ])
    .optional(),
  drift: z
    .object({
      statistics: z.record(z.string(), driftSource),
      windowSize: positiveInt.optional(),
      minSamples: positiveInt.optional(),
    })
    .strict()
    .optional(),
  tracer: objectWith('tracer', 'startActiveSpan').optional(),
};

const predictorSchema = z.object(predictorShape).strict();
const middlewareSchema = z
  .object({
    ...predictorShape,
    auth: z
      .union([
        fn('auth'),
        z
          .object({
            default: fn('auth.default').optional(),
            models: z.record(z.string(), z.union([fn('auth hook'), z.null()])).optional(),
          })
          .strict(),
      ])
      .optional(),
    bodyLimit: z
      .union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?\s*(b|kb|mb)?$/i)])
      .optional(),
    metricsEndpoint: z.boolean().optional(),
    oip: z.boolean().optional(),
  })
  .strict();

function check(schema: z.ZodType, options: unknown, what: string): void {
  const result = schema.safeParse(options);
  if (!result.success) {
    const issues = issuePaths(result.error.issues);
    const detail = result.error.issues
      .map((i) => `${i.path.length === 0 ? '(root)' : i.path.join('.')}: ${i.message}`)
      .join('; ');
    throw new ServingError('INVALID_OPTIONS', `invalid ${what} options: ${detail}`, { issues });
  }
}

/**
 * Checks predictor options when it is created.
 * @throws {ServingError} `INVALID_OPTIONS` with the offending option paths.
 */
export function checkPredictorOptions(options: unknown): asserts options is PredictorOptions {
  check(predictorSchema, options, 'predictor');
}

/**
 * Checks middleware options when it is created.
 * @throws {ServingError} `INVALID_OPTIONS` with the offending option paths.
 */
export function checkMiddlewareOptions(options: unknown): asserts options is MiddlewareOptions {
  check(middlewareSchema, options, 'middleware');
}

/** Splits middleware options into the predictor's and the HTTP layer's. */
export function predictorPart(options: MiddlewareOptions): PredictorOptions {
  const { auth: _auth, bodyLimit: _body, metricsEndpoint: _metrics, oip: _oip, ...rest } = options;
  return rest;
}
