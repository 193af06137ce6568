import { type Source, TandemError } from '@tandem/core';
import type { SqlExecutor } from '../executor/executor.js';
import {
  backlogDdl,
  type OnlineIngestOutcome,
  type OnlineLag,
  onlineLag,
  type SyncOnlineResult,
  streamToOnline,
  syncOnline,
} from '../ingestion/backlog.js';
import { assertSchemaName } from '../internal/names.js';
import type { OnlineStore } from '../online/store.js';
import { withStatistics } from '../statistics/collector.js';
import { saveTrainingStatistics } from '../statistics/store.js';
import type { TrainingStatistics } from '../statistics/types.js';
import { type IngestEvent, type IngestResult, ingestEvents } from './ingest.js';
import { managedTableDdl } from './managed-tables.js';
import { type TrainingSetIntoResult, writeTrainingSetInto } from './training-set/into.js';
import { planTrainingSet } from './training-set/plan.js';
import { valuesInSql } from './training-set/query.js';
import {
  readTrainingSet,
  type TrainingRow,
  type TrainingSetOptions,
} from './training-set/training-set.js';
import { writeTrainingValuesInto } from './training-set/values-into.js';

/** Options of {@link OfflineStore.writeTrainingSet}. */
export interface WriteTrainingSetOptions extends TrainingSetOptions {
  /** Target table (`name` in the store's schema, or `schema.name`); `replace` swaps an existing one. */
  readonly into: { readonly table: string; readonly replace?: boolean };
  /**
   * Also compute the training-set statistics and store them under this name (for drift checks
   * in serving); the rows then stream through the process.
   */
  readonly statistics?: { readonly name: string; readonly replace?: boolean };
}

/** What {@link OfflineStore.writeTrainingSet} did. */
export interface WriteTrainingSetResult extends TrainingSetIntoResult {
  /** The statistics of the written rows, when `statistics` asked for them. */
  readonly statistics?: TrainingStatistics;
}

/** Options of {@link createOfflineStore}. */
export interface OfflineStoreOptions {
  /** Where queries run: `postgresExecutor(...)` or `pgliteExecutor(...)`. */
  readonly executor: SqlExecutor;
  /** Postgres schema of Tandem's own tables; default `tandem`. */
  readonly schema?: string;
  /** Clock for `ingestedAt` stamps, epoch ms; default `Date.now`. */
  readonly clock?: () => number;
  /**
   * The online store that ingestion streams to after Postgres commits (the source of truth). When
   * it fails, ingestion still succeeds, reports the events as pending, and keeps them in a backlog
   * that {@link OfflineStore.syncOnline} applies later.
   */
  readonly online?: OnlineStore;
  /**
   * How long ingestion waits for the online store before reporting the batch as pending (it is
   * then in the backlog; Postgres has it either way), ms; default 1000.
   */
  readonly onlineTimeoutMs?: number;
}

/** What an ingestion did, offline and (with an online store) online. */
export interface StoreIngestResult extends IngestResult {
  /** The online outcome; absent without an online store. */
  readonly online?: OnlineIngestOutcome;
}

/** The offline store: managed event tables in Postgres (or PGlite) and the ingestion API. */
export interface OfflineStore {
  /** The executor queries run on. */
  readonly executor: SqlExecutor;
  /** Schema of Tandem's tables. */
  readonly schema: string;
  /** Creates the managed tables (and their indexes) of the given sources; idempotent. */
  apply(sources: readonly Source[]): Promise<void>;
  /**
   * Validates and writes a batch of events into a managed source (see `ingestEvents`), then
   * streams the written events to the online store, if any.
   */
  ingest(source: Source, events: readonly IngestEvent[]): Promise<StoreIngestResult>;
  /** How far the online store lags behind Postgres (batches it failed to take). */
  onlineLag(): Promise<OnlineLag>;
  /** Applies the online backlog; see {@link syncOnline}. Needs the sources the backlog names. */
  syncOnline(sources: readonly Source[]): Promise<SyncOnlineResult>;
  /**
   * Point-in-time correct training rows in input order, streamed with flat memory: each entity
   * row's own columns plus every requested feature as of the row's time.
   */
  getTrainingSet(options: TrainingSetOptions): AsyncGenerator<TrainingRow>;
  /**
   * Computes a training set and writes it into a table in the database with flat memory. When
   * every feature is a `count`, `sum`, `mean`, `min`, `max`, `last` or `latest` aggregation and
   * no statistics are asked for, the rows never leave Postgres (one `INSERT ... SELECT`);
   * otherwise they stream through the process. With `statistics`, also computes the rows'
   * statistics and stores them by name.
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
        for (const statement of backlogDdl(schema)) await tx.query(statement);
        for (const source of sources) {
          if (source.ir.table !== null) continue;
          for (const statement of managedTableDdl(schema, source.ir)) await tx.query(statement);
        }
      });
    },
    async ingest(source, events) {
      const { online } = options;
      const now = clock();
      const result = await ingestEvents(
        executor,
        schema,
        source,
        events,
        now,
        online !== undefined,
      );
      if (online === undefined) return result;
      const { written: _written, ...counts } = result;
      return {
        ...counts,
        online: await streamToOnline(
          executor,
          schema,
          online,
          source,
          result,
          now,
          options.onlineTimeoutMs ?? 1000,
        ),
      };
    },
    onlineLag: () => onlineLag(executor, schema),
    syncOnline(sources) {
      if (options.online === undefined) {
        throw new TandemError('INVALID_ARGUMENT', 'this offline store has no online store', {
          path: 'online',
        });
      }
      return syncOnline(executor, schema, options.online, sources);
    },
    getTrainingSet: (training) => readTrainingSet(executor, schema, training),
    async writeTrainingSet(training) {
      if (training.statistics === undefined) {
        const plan = planTrainingSet(training.features);
        if (valuesInSql(plan)) return writeTrainingValuesInto(executor, schema, plan, training);
      }
      const { rows, statistics } = withStatistics(
        readTrainingSet(executor, schema, training),
        training.features,
      );
      const written = await writeTrainingSetInto(executor, schema, rows, {
        ...training.into,
        features: training.features,
      });
      if (training.statistics === undefined) return written;
      const stats = statistics();
      await saveTrainingStatistics(executor, schema, training.statistics.name, stats, {
        ...(training.statistics.replace === undefined
          ? {}
          : { replace: training.statistics.replace }),
        createdAt: clock(),
      });
      return { ...written, statistics: stats };
    },
  };
}
