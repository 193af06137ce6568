export { pgliteExecutor, postgresExecutor, type SqlExecutor } from './executor/executor.js';
export { eventSchema, type IngestEvent, type IngestResult } from './offline/ingest.js';
export { managedTableName, sourceTableSql } from './offline/managed-tables.js';
export {
  createOfflineStore,
  type OfflineStore,
  type OfflineStoreOptions,
} from './offline/store.js';
export type { EntityRowsInput, EntityTimeOptions } from './offline/training-set/entity-rows.js';
export type { TrainingRow, TrainingSetOptions } from './offline/training-set/training-set.js';
