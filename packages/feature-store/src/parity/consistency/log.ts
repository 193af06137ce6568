import {
  type AnyFeature,
  type FeatureService,
  featureService,
  type ScalarValue,
  TandemError,
} from '@tandem/core';
import type { SqlExecutor } from '../../executor/executor.js';
import type { OnlineFeatureRequest, OnlineFeatureRow, OnlineStore } from '../../online/store.js';
import { entitySampled } from './hash.js';
import {
  applyConsistencyLog,
  type ConsistencyRecord,
  insertConsistencyRecords,
  type LoggedDefinition,
  loggedDefinition,
} from './table.js';

/** Options of {@link withConsistencyLog}. */
export interface ConsistencyLogOptions {
  /** Where records are written (the offline store's executor). */
  readonly executor: SqlExecutor;
  /** Schema of the log tables; default `tandem`. */
  readonly schema?: string;
  /**
   * Share of entities whose reads are logged, 0 to 1. An entity is in or out by a stable hash of
   * its keys, so every read of a sampled entity is logged (its timeline can be backfilled whole).
   */
  readonly rate: number;
  /** Salt of the key hash: another salt samples other entities at the same rate; default none. */
  readonly salt?: string;
  /** Records written per statement; a full batch is flushed at once. Default 500. */
  readonly batchSize?: number;
  /** Pending records are flushed at least this often, ms; default 1000. */
  readonly flushIntervalMs?: number;
  /** Records kept waiting at most; beyond, new records are dropped (and counted). Default 10,000. */
  readonly maxPending?: number;
  /**
   * Clock of `loggedAt` stamps and of reads without `at` (they are read, and logged, as of it);
   * default `Date.now`. Give the online store's clock.
   */
  readonly clock?: () => number;
  /** Called when a batch could not be written (its records are dropped); reads never fail. */
  readonly onError?: (error: unknown) => void;
}

/** What the consistency log did so far. */
export interface ConsistencyLogStats {
  /** Rows read through the store. */
  readonly reads: number;
  /** Rows taken by the key-hash sample. */
  readonly sampled: number;
  /** Records written to Postgres. */
  readonly written: number;
  /** Records dropped because too many were pending. */
  readonly dropped: number;
  /** Records lost with a failed batch. */
  readonly failed: number;
  /** Records waiting to be written. */
  readonly pending: number;
}

/** The log behind a {@link ConsistencyLoggedStore}. */
export interface ConsistencyLog {
  /** Writes every pending record now (also what the timer and full batches do). */
  flush(): Promise<void>;
  /** Counters. */
  stats(): ConsistencyLogStats;
  /** Stops the timer and flushes. Idempotent. */
  stop(): Promise<void>;
}

/** An online store whose reads are logged: the same store, plus its {@link ConsistencyLog}. */
export interface ConsistencyLoggedStore extends OnlineStore {
  /** The log of sampled reads. */
  readonly consistencyLog: ConsistencyLog;
}

/**
 * Logs a sample of an online store's reads to Postgres for production consistency checks
 * (`tandem consistency` backfills them offline and compares). The returned store is the given
 * store with `getOnlineFeatures` wrapped: after a read, the rows of sampled entities (a stable hash
 * of the entity keys, so an entity is always in or always out) are queued with the definition
 * fingerprint of the features read, `q` (the read's `at`, else the clock) and the values and
 * statuses, and written in batches off the request path. Logging never delays or fails a read:
 * write errors go to `onError` and the counters, and a full queue drops records (counted).
 * `close()` stops the log and flushes it before closing the store.
 * @throws {TandemError} `INVALID_ARGUMENT` for a rate outside [0, 1].
 */
export function withConsistencyLog(
  online: OnlineStore,
  options: ConsistencyLogOptions,
): ConsistencyLoggedStore {
  const { executor } = options;
  const schema = options.schema ?? 'tandem';
  const rate = options.rate;
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
    throw new TandemError('INVALID_ARGUMENT', 'rate must be a number from 0 to 1', {
      path: 'rate',
    });
  }
  const salt = options.salt ?? '';
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const maxPending = Math.max(batchSize, options.maxPending ?? 10_000);
  const clock = options.clock ?? Date.now;

  let reads = 0;
  let sampled = 0;
  let written = 0;
  let dropped = 0;
  let failed = 0;
  let pending: ConsistencyRecord[] = [];
  const unwritten = new Map<string, LoggedDefinition>();
  const known = new Set<string>();
  const definitions = new WeakMap<object, LoggedDefinition>();
  let ready: Promise<void> | null = null;
  let writing: Promise<void> = Promise.resolve();
  let stopped = false;

  const definitionOf = (selection: OnlineFeatureRequest['service']): LoggedDefinition => {
    let definition = definitions.get(selection);
    if (definition === undefined) {
      const service = Array.isArray(selection)
        ? featureService('logged', selection as readonly AnyFeature[])
        : (selection as FeatureService);
      definition = loggedDefinition(
        service.features,
        Array.isArray(selection) ? null : service.name,
      );
      definitions.set(selection, definition);
    }
    if (!known.has(definition.fingerprint)) {
      known.add(definition.fingerprint);
      unwritten.set(definition.fingerprint, definition);
    }
    return definition;
  };

  const writeBatch = async (batch: ConsistencyRecord[], defs: LoggedDefinition[]) => {
    try {
      ready ??= applyConsistencyLog(executor, schema);
      await ready;
      await insertConsistencyRecords(executor, schema, batch, defs);
      written += batch.length;
    } catch (error) {
      ready = null;
      failed += batch.length;
      for (const d of defs) unwritten.set(d.fingerprint, d);
      try {
        options.onError?.(error);
      } catch {
        // A failing error handler must not fail anything either.
      }
    }
  };

  const flushNow = (): Promise<void> => {
    while (pending.length > 0 || unwritten.size > 0) {
      const batch = pending.slice(0, batchSize);
      pending = pending.slice(batch.length);
      const defs = [...unwritten.values()];
      unwritten.clear();
      // Batches are written one after another (one connection's worth of load at most).
      writing = writing.then(() => writeBatch(batch, defs));
    }
    return writing;
  };

  const interval = options.flushIntervalMs ?? 1000;
  const timer = setInterval(() => {
    void flushNow();
  }, interval);
  timer.unref?.();

  const record = (request: OnlineFeatureRequest, rows: readonly OnlineFeatureRow[]) => {
    reads += rows.length;
    if (stopped || rate === 0) return;
    let definition: LoggedDefinition | null = null;
    const q = request.at ?? clock();
    const loggedAt = clock();
    for (const row of rows) {
      if (!entitySampled(row.entity, rate, salt)) continue;
      sampled++;
      if (pending.length >= maxPending) {
        dropped++;
        continue;
      }
      definition ??= definitionOf(request.service);
      const values: Record<string, ScalarValue | readonly ScalarValue[]> = {};
      const statuses: Record<string, string> = {};
      for (const [name, value] of Object.entries(row.values)) {
        values[name] = value.value;
        statuses[name] = value.status;
      }
      pending.push({
        fingerprint: definition.fingerprint,
        entity: row.entity,
        q,
        values,
        statuses,
        loggedAt,
      });
    }
    if (pending.length >= batchSize) void flushNow();
  };

  const log: ConsistencyLog = {
    flush: flushNow,
    stats: () => ({ reads, sampled, written, dropped, failed, pending: pending.length }),
    async stop() {
      if (!stopped) {
        stopped = true;
        clearInterval(timer);
      }
      await flushNow();
    },
  };

  return {
    ...online,
    async getOnlineFeatures(request) {
      // The read and its record share one q (a read without `at` is as of the log's clock).
      const at = request.at ?? clock();
      const rows = await online.getOnlineFeatures({ ...request, at });
      try {
        record({ ...request, at }, rows);
      } catch (error) {
        // Logging must never fail a read (e.g. a selection the log cannot describe).
        try {
          options.onError?.(error);
        } catch {
          // ignored
        }
      }
      return rows;
    },
    async close() {
      await log.stop();
      await online.close();
    },
    consistencyLog: log,
  };
}
