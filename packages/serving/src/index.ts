/**
 * `@tandem/serving`: serve ONNX models on Tandem features from Express.
 *
 * Models: a {@link ModelRegistry} loads ONNX artifacts (sha256-checked, inputs checked against a
 * feature service, warmed up) into a {@link ModelRuntime} (in-thread onnxruntime-node, or a
 * `worker_threads` pool), micro-batches row predictions with a {@link MicroBatcher}, and hot-swaps
 * versions without failing in-flight requests. {@link oipRouter} speaks the Open Inference
 * Protocol v2.
 *
 * @packageDocumentation
 */

// Authentication and authorization.
export {
  type ApiKey,
  type ApiKeyAuthOptions,
  type AuthConfig,
  type AuthHook,
  type AuthRequest,
  type AuthTarget,
  apiKeyAuth,
  authenticate,
  authHookFor,
  type Principal,
  type VerifierAuthOptions,
  verifierAuth,
} from './auth/auth.js';
// Micro-batching.
export { type BatchInfo, MicroBatcher, type MicroBatcherOptions } from './batching/batcher.js';
export {
  type EncodedRow,
  encodeRow,
  type FeatureVector,
  type MatrixType,
  type RowBatchRunnerOptions,
  rowBatchRunner,
  splitRows,
  stackRows,
} from './batching/rows.js';
// Errors: one code union, one HTTP status table at the boundary.
export {
  type ErrorBody,
  errorBody,
  HTTP_STATUS,
  httpErrorOf,
  isServingError,
  issuePaths,
  ServingError,
  type ServingErrorCode,
  type ServingErrorOptions,
  toServingError,
} from './errors/errors.js';
// What the middleware needs from an online store.
export type {
  EntityKeyValue,
  FeatureReader,
  FeatureStatus,
  OnlineFeatureRequest,
  OnlineFeatureRow,
  OnlineFeatureValue,
} from './features/source.js';
// The middleware and the programmatic predictor.
export type { ModelProvider, PredictLease } from './middleware/models.js';
export type {
  CanaryConfig,
  DriftSource,
  FeatureBatchingOptions,
  MiddlewareOptions,
  ModelServingOptions,
  PredictorOptions,
  ShadowConfig,
} from './middleware/options.js';
export {
  type ArgmaxLabelOptions,
  argmaxLabel,
  type OutputValue,
  outputValue,
  outputValues,
  type PostProcess,
  type PostProcessContext,
  type ThresholdLabelOptions,
  thresholdLabel,
} from './middleware/post-process.js';
export {
  createPredictor,
  type FallbackInfo,
  type PredictionResult,
  type PredictOptions,
  type Predictor,
} from './middleware/predictor.js';
export { authGuard, errorHandler, middleware, type TandemRouter } from './middleware/router.js';
// Models: runtimes, registry, tensors.
export {
  bindFeatureInput,
  type FeatureInputBinding,
} from './models/binding.js';
export { isModelLoadError, ModelLoadError, type ModelLoadFailure } from './models/errors.js';
export { type OnnxRuntimeOptions, onnxRuntime } from './models/onnx-runtime.js';
export {
  type BatchingOptions,
  type ModelEvent,
  type ModelEventListener,
  type ModelInfo,
  type ModelLease,
  ModelRegistry,
  type ModelRegistryOptions,
  type ModelResult,
  type ModelSpec,
  type RuntimeChoice,
  type WarmupOptions,
} from './models/registry.js';
export {
  checkFeeds,
  DEFAULT_SESSION_OPTIONS,
  type ModelRuntime,
  type ModelRuntimeFactory,
  type SessionOptions,
} from './models/runtime.js';
export {
  elementCount,
  type ModelSignature,
  TENSOR_TYPES,
  type Tensor,
  type TensorData,
  type TensorDataMap,
  type TensorSpec,
  type TensorType,
  zeroTensor,
} from './models/tensor.js';
export { type WorkerPoolRuntimeOptions, workerPoolRuntime } from './models/worker-pool.js';
// Open Inference Protocol v2.
export {
  type DecodedInference,
  decodeInferenceRequest,
  encodeOutputTensor,
  type OipInferenceRequest,
  type OipInferenceResponse,
  type OipTensor,
} from './oip/codec.js';
export {
  fromOipDatatype,
  OIP_DATATYPES,
  type OipDatatype,
  toOipDatatype,
} from './oip/datatypes.js';
export {
  modelMetadata,
  OIP_PLATFORM,
  type OipRouterOptions,
  type OipTarget,
  oipRouter,
} from './oip/router.js';
// Resilience.
export {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitTransition,
  createCircuitBreaker,
} from './resilience/breaker.js';
export {
  type Canary,
  type CanaryArm,
  type CanaryOptions,
  type CanaryRollback,
  createCanary,
} from './resilience/canary.js';
export { type Deadline, startDeadline } from './resilience/deadline.js';
export {
  type FallbackContext,
  type FallbackOptions,
  type FallbackReason,
  type FeatureAction,
  type FeaturePolicy,
  type FeatureVerdict,
  judgeFeatures,
  type ResolvedFeaturePolicy,
  resolveFeaturePolicy,
} from './resilience/fallback.js';
export {
  type ConcurrencyLimiter,
  type ConcurrencyLimitOptions,
  createConcurrencyLimiter,
  type Release,
} from './resilience/limiter.js';
export {
  createShadow,
  type Shadow,
  type ShadowOptions,
  type ShadowOutcome,
} from './resilience/shadow.js';
// Telemetry.
export {
  createDriftMonitor,
  type DriftMonitor,
  type DriftMonitorOptions,
} from './telemetry/drift.js';
export {
  createServingLogger,
  REDACTED,
  redactionPaths,
  redactRecord,
  type ServingLoggerOptions,
} from './telemetry/logger.js';
export {
  createServingMetrics,
  type ModelVersionMetrics,
  type RequestOutcome,
  type ServingMetrics,
  type ServingMetricsOptions,
} from './telemetry/metrics.js';
export {
  createPredictionLog,
  type PredictionLog,
  type PredictionLogOptions,
  type PredictionRecord,
  type StoredPrediction,
} from './telemetry/prediction-log.js';
export {
  inSpan,
  type PredictionStage,
  recordError,
  servingTracer,
  TRACER_NAME,
} from './telemetry/tracing.js';
