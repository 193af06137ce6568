import { type SourceIR, SYSTEM_COLUMNS } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import type { OnlineSource } from '../layout.js';
import type { OnlineEvent, OnlineWriteResult } from '../store.js';
import {
  type MaterializeOptions,
  type MaterializeResult,
  materialize,
  selectSources,
} from './materialize.js';
import {
  col,
  type EntityKey,
  keyList,
  keyOfRow,
  keyRangeSql,
  keyRecord,
  keySelect,
  relationSql,
  timeRangeSql,
  whereSql,
} from './sql.js';
import { ensureRunsTable, forgetSources } from './state.js';

/** Options of {@link repair}: those of `materialize`, without `full` and `end`. */
export type RepairOptions = Omit<MaterializeOptions, 'full' | 'end'>;

/** Events replayed into the stream layer for one source. */
export interface ReplayResult extends OnlineWriteResult {
  /** Events read back from Postgres. */
  readonly events: number;
  /**
   * Why nothing was replayed: a source with neither event ids nor a sequence cannot be deduped
   * online, so its recent events wait for the next materialization.
   */
  readonly skipped?: string;
}

/** What {@link repair} did. */
export interface RepairResult {
  /** The full materialization. */
  readonly materialized: MaterializeResult;
  /** The replay of recent events, per source. */
  readonly replayed: Readonly<Record<string, ReplayResult>>;
}

/**
 * Rebuilds the online store from Postgres after data loss (a flushed or failed-over Redis): clears
 * the keys of the selected sources (every key of the namespace when nothing is selected), runs a
 * full materialization, then replays the events from the new batch watermark minus the largest
 * grain through the stream layer (deduped by event id, so replaying is safe while ingestion
 * continues), which rebuilds the stream tiles and the raw head the reads use above the watermark.
 * Reads during a repair see missing or partial values.
 * @throws {TandemError} as `materialize` does.
 */
export async function repair(options: RepairOptions): Promise<RepairResult> {
  const schema = options.schema ?? 'tandem';
  const { executor, online } = options;
  const sources = selectSources(online, options.features, options.sources);
  const names = sources.map((s) => s.source.name);
  const selected = options.features !== undefined || options.sources !== undefined;
  await ensureRunsTable(executor, schema);
  await online.clear(selected ? names : undefined);
  await forgetSources(executor, schema, online.namespace, names);
  const materialized = await materialize({ ...options, schema, full: true });
  const replayed: Record<string, ReplayResult> = {};
  for (const source of sources) {
    const run = materialized.runs.find((r) => r.source === source.source.name);
    if (run?.watermark == null) continue;
    replayed[source.source.name] = await replay(
      executor,
      schema,
      options,
      source,
      run.watermark - source.maxGrain,
    );
  }
  return { materialized, replayed };
}

/** Streams the events with `ts >= from` of a source, entity by entity, into the stream layer. */
async function replay(
  executor: SqlExecutor,
  schema: string,
  options: RepairOptions,
  source: OnlineSource,
  from: number,
): Promise<ReplayResult> {
  const ir = source.source;
  if (ir.eventId === null && ir.sequence === null) {
    return {
      events: 0,
      applied: 0,
      duplicates: 0,
      late: 0,
      skipped: 'the source has neither event ids nor a sequence',
    };
  }
  const chunk = options.chunkSize ?? 500;
  const totals = { events: 0, applied: 0, duplicates: 0, late: 0 };
  let after: EntityKey | null = null;
  for (;;) {
    const keys: Record<string, unknown>[] = await executor.query(
      entitiesSql(schema, ir, from, after, chunk),
    );
    if (keys.length === 0) break;
    const upTo = keyOfRow(ir, keys[keys.length - 1]!);
    const rows = await executor.query(eventsSql(schema, ir, from, after, upTo));
    const events = rows.map((row) => eventOfRow(ir, row));
    const outcome = await options.online.writeEvents(ir.name, events, { lateBefore: from });
    totals.events += events.length;
    totals.applied += outcome.applied;
    totals.duplicates += outcome.duplicates;
    totals.late += outcome.late;
    after = upTo;
  }
  return totals;
}

function entitiesSql(
  schema: string,
  ir: SourceIR,
  from: number,
  after: EntityKey | null,
  limit: number,
): SQL {
  const r = 'r';
  return sql`
    SELECT ${keySelect(ir, r)} FROM ${relationSql(schema, ir, r)}
    ${whereSql([...keyRangeSql(ir, r, after, null), ...timeRangeSql(col(r, SYSTEM_COLUMNS.ts), from, Infinity)])}
    GROUP BY ${keyList(ir, r)} ORDER BY ${keyList(ir, r)} LIMIT ${limit}`;
}

function eventsSql(
  schema: string,
  ir: SourceIR,
  from: number,
  after: EntityKey | null,
  upTo: EntityKey,
): SQL {
  const r = 'r';
  const fields = Object.entries(ir.fields).map(([name, field]) => {
    const column = col(r, name);
    const value =
      field.type === 'int'
        ? sql`CAST(${column} AS text)`
        : field.type === 'float'
          ? sql`CAST(${column} AS double precision)`
          : column;
    return sql`${value} AS ${sql.identifier(`f_${name}`)}`;
  });
  const text = (name: string) => sql`CAST(${col(r, name)} AS text) AS ${sql.identifier(name)}`;
  return sql`
    SELECT ${keySelect(ir, r)}, ${text(SYSTEM_COLUMNS.ts)}, ${col(r, SYSTEM_COLUMNS.eventId)} AS ${sql.identifier(SYSTEM_COLUMNS.eventId)},
      ${text(SYSTEM_COLUMNS.seq)}, ${text(SYSTEM_COLUMNS.ingestedAt)}${fields.length === 0 ? sql`` : sql`, ${sql.join(fields, sql`, `)}`}
    FROM ${relationSql(schema, ir, r)}
    ${whereSql([...keyRangeSql(ir, r, after, upTo), ...timeRangeSql(col(r, SYSTEM_COLUMNS.ts), from, Infinity)])}
    ORDER BY ${keyList(ir, r)}, ${col(r, SYSTEM_COLUMNS.ts)}`;
}

function eventOfRow(ir: SourceIR, row: Record<string, unknown>): OnlineEvent {
  const optionalNumber = (value: unknown) => (value === null ? null : Number(value));
  const values: Record<string, string | number | boolean | null> = {};
  for (const [name, field] of Object.entries(ir.fields)) {
    const value = row[`f_${name}`] as string | number | boolean | null;
    values[name] = value === null ? null : field.type === 'int' ? Number(value) : value;
  }
  return {
    key: keyRecord(ir, keyOfRow(ir, row)),
    ts: Number(row[SYSTEM_COLUMNS.ts]),
    eventId: (row[SYSTEM_COLUMNS.eventId] as string | null) ?? null,
    seq: optionalNumber(row[SYSTEM_COLUMNS.seq]),
    ingestedAt: optionalNumber(row[SYSTEM_COLUMNS.ingestedAt]),
    values,
  };
}
