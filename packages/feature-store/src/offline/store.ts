import type { Source } from '@tandem/core';
import type { SqlExecutor } from '../executor/executor.js';
import { assertSchemaName } from '../internal/names.js';
import { type IngestEvent, type IngestResult, ingestEvents } from './ingest.js';
import { managedTableDdl } from './managed-tables.js';
import {
  readTrainingSet,
  type TrainingRow,
  type TrainingSetOptions,
} from './training-set/training-set.js';

/** Options of {@link createOfflineStore}. */
export interface OfflineStoreOptions {
  /** Where queries run: `postgresExecutor(...)` or `pgliteExecutor(...)`. */
  readonly executor: SqlExecutor;
  /** Postgres schema of Tandem's own tables; default `tandem`. */
  readonly schema?: string;
  /** Clock for `ingestedAt` stamps, epoch ms; default `Date.now`. */
  readonly clock?: () => number;
}

/** The offline store: managed event tables in Postgres (or PGlite) and the ingestion API. */
export interface OfflineStore {
  /** The executor queries run on. */
  readonly executor: SqlExecutor;
  /** Schema of Tandem's tables. */
  readonly schema: string;
  /** Creates the managed tables (and their indexes) of the given sources; idempotent. */
  apply(sources: readonly Source[]): Promise<void>;
  /** Validates and writes a batch of events into a managed source; see `ingestEvents`. */
  ingest(source: Source, events: readonly IngestEvent[]): Promise<IngestResult>;
  /**
   * Point-in-time correct training rows in input order, streamed with flat memory: each entity
   * row's own columns plus every requested feature as of the row's time.
   */
  getTrainingSet(options: TrainingSetOptions): AsyncGenerator<TrainingRow>;
}

/** Creates an offline store over a Postgres or PGlite executor. */
export function createOfflineStore(options: OfflineStoreOptions): OfflineStore {
  const schema = options.schema ?? 'tandem';
  assertSchemaName(schema);
  const clock = options.clock ?? Date.now;
  const { executor } = options;
  return {
    executor,
    schema,
    async apply(sources) {
      await executor.transaction(async (tx) => {
        for (const source of sources) {
          if (source.ir.table !== null) continue;
          for (const statement of managedTableDdl(schema, source.ir)) await tx.query(statement);
        }
      });
    },
    ingest: (source, events) => ingestEvents(executor, schema, source, events, clock()),
    getTrainingSet: (training) => readTrainingSet(executor, schema, training),
  };
}
