import type { Source } from '@tandem/core';
import type { SqlExecutor } from '../executor/executor.js';
import { assertSchemaName } from '../internal/names.js';
import { withStatistics } from '../statistics/collector.js';
import { saveTrainingStatistics } from '../statistics/store.js';
import type { TrainingStatistics } from '../statistics/types.js';
import { type IngestEvent, type IngestResult, ingestEvents } from './ingest.js';
import { managedTableDdl } from './managed-tables.js';
import { type TrainingSetIntoResult, writeTrainingSetInto } from './training-set/into.js';
import {
  readTrainingSet,
  type TrainingRow,
  type TrainingSetOptions,
} from './training-set/training-set.js';

/** Options of {@link OfflineStore.writeTrainingSet}. */
export interface WriteTrainingSetOptions extends TrainingSetOptions {
  /** Target table (`name` in the store's schema, or `schema.name`); `replace` swaps an existing one. */
  readonly into: { readonly table: string; readonly replace?: boolean };
  /** Also store the training-set statistics under this name (for drift checks in serving). */
  readonly statistics?: { readonly name: string; readonly replace?: boolean };
}

/** What {@link OfflineStore.writeTrainingSet} did. */
export interface WriteTrainingSetResult extends TrainingSetIntoResult {
  /** The statistics of the written rows. */
  readonly statistics: TrainingStatistics;
}

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
  /**
   * Computes a training set and writes it into a table in the database, streaming (flat memory),
   * with its statistics; optionally stores the statistics by name.
   */
  writeTrainingSet(options: WriteTrainingSetOptions): Promise<WriteTrainingSetResult>;
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
    async writeTrainingSet(training) {
      const { rows, statistics } = withStatistics(
        readTrainingSet(executor, schema, training),
        training.features,
      );
      const written = await writeTrainingSetInto(executor, schema, rows, {
        ...training.into,
        features: training.features,
      });
      const stats = statistics();
      if (training.statistics !== undefined) {
        await saveTrainingStatistics(executor, schema, training.statistics.name, stats, {
          ...(training.statistics.replace === undefined
            ? {}
            : { replace: training.statistics.replace }),
          createdAt: clock(),
        });
      }
      return { ...written, statistics: stats };
    },
  };
}
