/**
 * `@tandem/testing`: shared test utilities of the tandem monorepo.
 *
 * The test environment (`./env`) is the one way integration tests get a PostgreSQL and a Redis:
 * {@link openPostgres}, {@link openPglite} and {@link openSqlEngines} give a fresh schema each,
 * {@link openRedis} a fresh key prefix; {@link redisAvailability} / {@link redisUnavailableReason}
 * let Redis-backed suites skip, with the reason, where no Redis can be had.
 * {@link openRedisCluster} starts a real three-master Redis Cluster on loopback ports (or uses
 * `REDIS_CLUSTER_NODES`); {@link redisClusterUnavailableReason} is its skip helper.
 *
 * Tiny ONNX models (`./onnx`), hand-encoded with no dependency: {@link logisticRegressionOnnx}
 * (trained by {@link trainLogisticRegression}), {@link denseNetworkOnnx}, and
 * {@link encodeOnnxModel} for any single-graph model.
 *
 * @packageDocumentation
 */

export { type TestService, TestServiceUnavailableError } from './env/errors/errors.js';
export {
  type DatabaseOrigin,
  openPglite,
  openPostgres,
  openSqlEngines,
  type PgliteTestDatabase,
  type PostgresTestDatabase,
  type SqlEngine,
  type TestDatabase,
  type TestDatabaseBase,
  type TestDrizzle,
} from './env/postgres/open.js';
export { openRedis, type TestRedis } from './env/redis/open.js';
export {
  type RedisAvailability,
  type RedisOrigin,
  redisAvailability,
  redisUnavailableReason,
} from './env/redis/resolve.js';
// A standalone redis-server of the test process, to stop and restart (outage tests).
export {
  type RedisServerOptions,
  type RedisServerStopOptions,
  redisServerUnavailableReason,
  startRedisServer,
  type TestRedisServer,
} from './env/redis/server.js';
// A real local three-master Redis Cluster (or REDIS_CLUSTER_NODES), and its skip helpers.
export {
  openRedisCluster,
  type RedisClusterOptions,
  type RedisClusterProcess,
  type TestRedisCluster,
} from './env/redis-cluster/open.js';
export {
  type RedisClusterAvailability,
  type RedisClusterNode,
  type RedisClusterOrigin,
  redisClusterAvailability,
  redisClusterUnavailableReason,
} from './env/redis-cluster/resolve.js';
// The online-store conformance suite every OnlineAdapter passes (vitest describe blocks).
export {
  describeOnlineAdapterConformance,
  type OnlineAdapterConformanceOptions,
} from './online/conformance.js';
// Tiny ONNX model builders (hand-encoded ModelProto, no dependency) and a TypeScript trainer.
export {
  type DenseNetworkOnnxOptions,
  type DenseNetworkWeights,
  denseNetworkOnnx,
  denseNetworkWeights,
  predictDenseNetwork,
} from './onnx/dense.js';
export {
  DEFAULT_IR_VERSION,
  DEFAULT_OPSET,
  encodeOnnxModel,
  ONNX_DATA_TYPE,
  type OnnxAttribute,
  type OnnxDataType,
  type OnnxDim,
  type OnnxModelSpec,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx/encode.js';
export {
  type LogisticOutput,
  type LogisticRegressionModel,
  type LogisticRegressionOnnxOptions,
  logisticRegressionOnnx,
  predictLogisticRegression,
  type TrainedLogisticRegression,
  type TrainLogisticRegressionOptions,
  trainLogisticRegression,
} from './onnx/logistic.js';
// Parity test kit: adversarial event-stream generators (fast-check), a loader, and expectParity.
export {
  type ParityCoverage,
  parityCoverage,
  sumCoverage,
} from './parity/coverage.js';
export {
  type ExpectParityOptions,
  expectParity,
  formatParityFailure,
  ParityAssertionError,
} from './parity/expect-parity.js';
export { type LoadedParityStream, loadParityStream, parityPoints } from './parity/load.js';
export {
  type BatchLateArrivalsOptions,
  batchLateArrivals,
  combineParityStreams,
  type EdgeKind,
  EVENT_ID_PREFIXES,
  INT_KEYS,
  keyId,
  maxTileGrain,
  type ParityEvent,
  type ParityKey,
  type ParityQuery,
  type ParityStream,
  type ParityStreamOptions,
  parityEntityKey,
  parityStreamArb,
  STRING_KEY_STEMS,
  windowEdges,
  windowsOf,
} from './parity/streams.js';
export {
  floatValueArb,
  HUGE_FLOAT,
  intValueArb,
  STRING_VALUES,
  stringValueArb,
  TINY_FLOAT,
  VALUE_BOUNDS,
  valueArb,
  valueWithinBounds,
} from './parity/values.js';
