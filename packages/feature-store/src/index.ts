export {
  type DatabaseConfig,
  defineConfig,
  type OnlineConfig,
  type TandemConfig,
} from './config/config.js';
export { pgliteExecutor, postgresExecutor, type SqlExecutor } from './executor/executor.js';
export {
  type WriteOptions,
  type WriteResult,
  writeCsv,
  writeJsonl,
} from './export/write.js';
export type {
  OnlineIngestOutcome,
  OnlineLag,
  SyncOnlineResult,
} from './ingestion/backlog.js';
export {
  eventSchema,
  type IngestEvent,
  type IngestResult,
  type WrittenEvent,
} from './offline/ingest.js';
export { managedTableName, sourceTableSql } from './offline/managed-tables.js';
export {
  createOfflineStore,
  type OfflineStore,
  type OfflineStoreOptions,
  type StoreIngestResult,
} from './offline/store.js';
export type { EntityRowsInput, EntityTimeOptions } from './offline/training-set/entity-rows.js';
export {
  type TrainingSetIntoOptions,
  type TrainingSetIntoResult,
  writeTrainingSetInto,
} from './offline/training-set/into.js';
export type { TrainingRow, TrainingSetOptions } from './offline/training-set/training-set.js';
// The online store (issue 4): adapters, reference op semantics, the store.
export type {
  FieldRef,
  KeyedOp,
  OnlineAdapter,
  ReadOp,
  ReadReply,
  StreamedEvent,
  WriteGroup,
  WriteOutcome,
} from './online/adapter.js';
export { RANGED_PART_SEPARATOR } from './online/adapter.js';
export {
  LATE_SLACK_MS,
  type MaterializeOptions,
  type MaterializeProgress,
  type MaterializeResult,
  type MaterializeSourceResult,
  materialize,
} from './online/materialize/materialize.js';
export {
  type RepairOptions,
  type RepairResult,
  type ReplayResult,
  repair,
} from './online/materialize/repair.js';
export { type MemoryAdapterOptions, memoryAdapter } from './online/memory/adapter.js';
export { applyTileOp } from './online/memory/apply-op.js';
export { type RedisAdapterOptions, redisAdapter } from './online/redis/adapter.js';
export {
  createOnlineStore,
  type FeatureStatus,
  type MaterializedTiles,
  type OnlineEvent,
  type OnlineFeatureRequest,
  type OnlineFeatureRow,
  type OnlineFeatureValue,
  type OnlineStore,
  type OnlineStoreOptions,
  type OnlineWriteResult,
  type RowOf,
} from './online/store.js';
// Parity (issue 5): offline vs online, point by point; reports as JSON, a table and HTML.
export { checkParity } from './parity/check.js';
// Production consistency (issue 5): logged online reads, backfilled offline; mismatch rates.
export {
  type CheckConsistencyOptions,
  type ConsistencyGroup,
  type ConsistencyRate,
  type ConsistencyReport,
  checkConsistency,
  consistencyRates,
} from './parity/consistency/backfill.js';
export { entityHash, entitySampled } from './parity/consistency/hash.js';
export {
  type ConsistencyLog,
  type ConsistencyLoggedStore,
  type ConsistencyLogOptions,
  type ConsistencyLogStats,
  withConsistencyLog,
} from './parity/consistency/log.js';
export {
  CONSISTENCY_DEFINITIONS_TABLE,
  CONSISTENCY_LOG_TABLE,
  type ConsistencyLogRange,
  type ConsistencyRecord,
  consistencyLogDdl,
  type LoggedDefinition,
  type LoggedFeature,
  readConsistencyLog,
  type StoredConsistencyRecord,
} from './parity/consistency/table.js';
export { renderParityHtml } from './parity/render/html.js';
export { formatParityTable, type ParityTableOptions } from './parity/render/table.js';
export type {
  CheckParityOptions,
  DisagreementKind,
  EventPosition,
  ExampleEvent,
  ExampleWindow,
  FeatureParity,
  OnlineStoreFactory,
  ParityComparison,
  ParityExample,
  ParityMaterializeOptions,
  ParityPoint,
  ParityProgress,
  ParityReplay,
  ParityReport,
  ParitySample,
  SampledPoints,
  ScratchStoreOptions,
} from './parity/types.js';
export type { Definitions } from './registry/definitions.js';
export {
  type ApplyOptions,
  applyDefinitions,
  type ChangedFeature,
  createRegistry,
  type PlannedFeature,
  planDefinitions,
  type Registry,
  type RegistryPlan,
} from './registry/registry.js';
export type { IndexRecommendation, PlanIssue, PlannedTable } from './registry/source-tables.js';
export { type RegisteredFeature, readRegisteredFeatures } from './registry/tables.js';
export {
  readWatermark,
  type Watermark,
  type WatermarkWrite,
  writeWatermark,
} from './registry/watermarks.js';
export {
  createStatisticsCollector,
  type StatisticsCollector,
  withStatistics,
} from './statistics/collector.js';
export {
  type FeatureBins,
  featureBins,
  PSI_EPSILON,
  populationStabilityIndex,
  psiFromCounts,
} from './statistics/psi.js';
export {
  listTrainingStatistics,
  loadTrainingStatistics,
  type SaveStatisticsOptions,
  type StoredTrainingStatistics,
  saveTrainingStatistics,
  type TrainingStatisticsEntry,
  trainingStatisticsDdl,
} from './statistics/store.js';
export {
  type BoolFeatureStatistics,
  type FeatureStatistics,
  type FeatureStatisticsBase,
  HISTOGRAM_SAMPLE,
  type Histogram,
  type ListFeatureStatistics,
  type NumericFeatureStatistics,
  type NumericSummary,
  type Quantiles,
  type StringFeatureStatistics,
  TOP_VALUE_CAPACITY,
  TOP_VALUES,
  type TrainingStatistics,
} from './statistics/types.js';
