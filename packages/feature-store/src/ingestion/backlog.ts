import type { Source, SourceIR } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../executor/executor.js';
import type { IngestResult, WrittenEvent } from '../offline/ingest.js';
import { writtenColumnsSql, writtenEvent } from '../offline/ingest.js';
import { sourceTableSql } from '../offline/managed-tables.js';
import type { OnlineStore, OnlineWriteResult } from '../online/store.js';

/** What streaming a batch to the online store did, after Postgres committed it. */
export type OnlineIngestOutcome =
  | ({ readonly status: 'applied' } & OnlineWriteResult)
  | {
      /** The online store failed: the events are safe in Postgres and queued for {@link syncOnline}. */
      readonly status: 'pending';
      readonly pending: number;
      readonly error: string;
    };

/** How far the online store lags behind Postgres: events written offline but not online yet. */
export interface OnlineLag {
  /** Events waiting, per source. */
  readonly pendingEvents: Readonly<Record<string, number>>;
  /** When the oldest waiting batch failed, epoch ms; null when nothing waits. */
  readonly oldestFailureAt: number | null;
}

/** The backlog table: batches Postgres committed that the online store did not take. */
export function backlogTableSql(schema: string): SQL {
  return sql`${sql.identifier(schema)}.${sql.identifier('online_backlog')}`;
}

/** Idempotent DDL of the backlog table. */
export function backlogDdl(schema: string): SQL[] {
  return [
    sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`,
    sql`CREATE TABLE IF NOT EXISTS ${backlogTableSql(schema)} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      source text NOT NULL,
      seq_from bigint NOT NULL,
      seq_to bigint NOT NULL,
      events integer NOT NULL,
      failed_at bigint NOT NULL,
      error text NOT NULL
    )`,
  ];
}

/**
 * Streams freshly written events to the online store. Postgres already holds them; when the online
 * store fails, the batch's sequence range goes to the backlog table and the outcome says
 * `pending`: nothing is lost, and {@link syncOnline} applies it later.
 */
export async function streamToOnline(
  executor: SqlExecutor,
  schema: string,
  online: OnlineStore,
  source: Source,
  result: IngestResult,
  now: number,
  timeoutMs: number,
): Promise<OnlineIngestOutcome> {
  const written = result.written ?? [];
  if (written.length === 0) return { status: 'applied', applied: 0, duplicates: 0, late: 0 };
  let timer: NodeJS.Timeout | undefined;
  try {
    // A write that times out may still land later: the backlog replay is deduped by event id.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the online store did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    const outcome = await Promise.race([online.writeEvents(source.ir.name, written), timeout]);
    return { status: 'applied', ...outcome };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const seqs = written.map((e) => e.seq);
    await executor.query(sql`
      INSERT INTO ${backlogTableSql(schema)} (source, seq_from, seq_to, events, failed_at, error)
      VALUES (${source.ir.name}, ${Math.min(...seqs)}, ${Math.max(...seqs)}, ${written.length}, ${now}, ${message})`);
    return { status: 'pending', pending: written.length, error: message };
  } finally {
    clearTimeout(timer);
  }
}

/** The online lag: what the backlog holds. */
export async function onlineLag(executor: SqlExecutor, schema: string): Promise<OnlineLag> {
  const rows = await executor.query<{
    source: string;
    events: string | number;
    oldest: string | number;
  }>(sql`
    SELECT source, CAST(sum(events) AS text) AS events, CAST(min(failed_at) AS text) AS oldest
    FROM ${backlogTableSql(schema)} GROUP BY source`);
  const oldest = rows.map((r) => Number(r.oldest));
  return {
    pendingEvents: Object.fromEntries(rows.map((r) => [r.source, Number(r.events)])),
    oldestFailureAt: oldest.length === 0 ? null : Math.min(...oldest),
  };
}

/** What {@link syncOnline} did. */
export interface SyncOnlineResult extends OnlineWriteResult {
  /** Backlog batches cleared. */
  readonly batches: number;
}

/**
 * Applies the backlog to the online store, oldest first: each batch's events are read back from
 * Postgres and streamed (the store dedupes by event id, so a retry is safe); a batch leaves the
 * backlog only once applied. Events older than the allowed lateness by now are counted late and
 * left to materialization.
 * @throws the online store's error when it is still failing (the backlog keeps what is left).
 */
export async function syncOnline(
  executor: SqlExecutor,
  schema: string,
  online: OnlineStore,
  sources: readonly Source[],
): Promise<SyncOnlineResult> {
  const byName = new Map(sources.map((s) => [s.ir.name, s.ir]));
  const batches = await executor.query<{
    id: string | number;
    source: string;
    seq_from: string | number;
    seq_to: string | number;
  }>(sql`
    SELECT CAST(id AS text) AS id, source, CAST(seq_from AS text) AS seq_from, CAST(seq_to AS text) AS seq_to
    FROM ${backlogTableSql(schema)} ORDER BY id`);
  let applied = 0;
  let duplicates = 0;
  let late = 0;
  let cleared = 0;
  for (const batch of batches) {
    const ir = byName.get(batch.source);
    if (ir === undefined) continue;
    const events = await readEventsBySeq(
      executor,
      schema,
      ir,
      Number(batch.seq_from),
      Number(batch.seq_to),
    );
    const outcome = await online.writeEvents(ir.name, events);
    applied += outcome.applied;
    duplicates += outcome.duplicates;
    late += outcome.late;
    await executor.query(
      sql`DELETE FROM ${backlogTableSql(schema)} WHERE id = ${Number(batch.id)}`,
    );
    cleared++;
  }
  return { applied, duplicates, late, batches: cleared };
}

/** Events of a managed table with a sequence number in `[from, to]`, in sequence order. */
async function readEventsBySeq(
  executor: SqlExecutor,
  schema: string,
  ir: SourceIR,
  from: number,
  to: number,
): Promise<WrittenEvent[]> {
  const rows = await executor.query<Record<string, unknown>>(sql`
    SELECT ${writtenColumnsSql(ir)} FROM ${sourceTableSql(schema, ir)}
    WHERE seq BETWEEN ${from} AND ${to} ORDER BY seq`);
  return rows.map((row) => writtenEvent(ir, row));
}
