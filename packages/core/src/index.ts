export {
  accumulate,
  canonicalText,
  compareEventOrder,
  emptyIntermediate,
  finalize,
  intermediatesEqual,
  merge,
} from './aggregations/fold.js';
export { hllEstimate, hllItem, hllMerge } from './aggregations/hll.js';
export {
  type AggregationFn,
  type AggregationSpec,
  HLL_PRECISION,
  type HllSketch,
  type Intermediate,
  type IntermediateOf,
  type Moments,
  type TimedValue,
} from './aggregations/spec.js';
export {
  type AggregationSqlInput,
  aggregationSql,
  decodeIntermediate,
} from './aggregations/sql.js';
export {
  type AttributeSource,
  attributeSource,
  type EventSource,
  eventSource,
} from './definitions/define-source.js';
export {
  type AnyEntity,
  type Entity,
  entity,
  type InferEntityKey,
  type KeyType,
  type KeyValue,
} from './definitions/entity.js';
export {
  AggregationBuilder,
  type AnyFeature,
  type AttributeFeatures,
  derived,
  type EventAggregations,
  type Feature,
  type FeatureIR,
  type RequestFeatureDefinition,
  ref,
  requestFeature,
  type ValueArg,
  type ValueTypeOf,
} from './definitions/feature.js';
export {
  type FeatureService,
  featureService,
  type InferFeatureRow,
  type InferServiceRequest,
  type LayoutEntry,
} from './definitions/service.js';
export {
  type DrizzleValueType,
  type FieldIR,
  type FieldSpec,
  type FieldType,
  MANAGED_COLUMNS,
  type Source,
  type SourceDefinition,
  type SourceIR,
  type TimestampSpec,
  type TimeUnit,
} from './definitions/source.js';
export {
  compileFolder,
  dedupeEvents,
  type FeatureFolder,
  featureValue,
  type SourceEvent,
} from './engine/fold.js';
export {
  featureAggregateSql,
  SYSTEM_COLUMNS,
  sourceRelationSql,
  tableSql,
  windowPredicateSql,
  windowStartSql,
} from './engine/sql.js';
export {
  isTandemError,
  TandemError,
  type TandemErrorCode,
  type TandemErrorOptions,
} from './errors/errors.js';
export {
  type ArithmeticResult,
  CaseBuilder,
  type CastTarget,
  type CommonType,
  type ComparableWith,
  coalesce,
  describeExpr,
  Expr,
  type ExprLike,
  lit,
  nullOf,
  toExpr,
  when,
} from './expr/builder.js';
export {
  type CompiledExpr,
  compareCodePoints,
  compareScalars,
  compileJs,
  type EvalScope,
  evaluate,
} from './expr/evaluate.js';
export { type ExprNode, type ExprOp, walkExpr } from './expr/ir.js';
export { compileSql, SQL_TYPE, type SqlScope } from './expr/sql.js';
export {
  isNumericType,
  type NumericType,
  type ScalarValue,
  type TsValue,
  VALUE_TYPES,
  type ValueType,
} from './expr/types.js';
export { canonicalJson, FINGERPRINT_VERSION, fingerprint } from './fingerprint/fingerprint.js';
export { OVERFLOW, type TileCodec, type TileOp, tileCodec } from './online/codec.js';
export {
  bodyStart,
  coveringTiles,
  headStart,
  LIFETIME_GRAIN,
  SLIDING_GRAIN,
  TILE_BRANCHING,
  type Tile,
  type TileLadder,
  tileLadder,
  tileOf,
  tileSize,
} from './online/ladder.js';
export { eventOrderKey } from './online/order-key.js';
export {
  type DurationInput,
  type DurationUnit,
  formatDuration,
  MS_PER_UNIT,
  toMillis,
} from './time/duration.js';
export {
  defaultHop,
  floorMod,
  inWindow,
  LIFETIME,
  slidingWindow,
  type WindowSpec,
  windowStart,
} from './time/window.js';
