export { type DatabaseConfig, defineConfig, type TandemConfig } from './config/config.js';
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
  KeyedOp,
  OnlineAdapter,
  ReadOp,
  ReadReply,
  StreamedEvent,
  WriteGroup,
  WriteOutcome,
} from './online/adapter.js';
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
