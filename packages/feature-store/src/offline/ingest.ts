import { type Source, type SourceIR, TandemError, type ValueType } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { SqlExecutor } from '../executor/executor.js';
import { arrayLiteral } from '../internal/array-literal.js';
import { MAX_EVENT_ID_LENGTH, sourceTableSql } from './managed-tables.js';

/** An event as given to {@link ingestEvents}: entity keys and fields by name, `ts`, optional `eventId`. */
export type IngestEvent = Record<string, unknown>;

/** What an ingestion did. */
export interface IngestResult {
  /** Events written. */
  readonly inserted: number;
  /** Events skipped because their `(entity, eventId)` was already stored (or repeated in the batch). */
  readonly duplicates: number;
  /** The ingestion time stamped on the written events, epoch ms. */
  readonly ingestedAt: number;
  /** The events written, as stored (with their sequence numbers), when asked for with `returnWritten`. */
  readonly written?: readonly WrittenEvent[];
}

/** An event as stored in a managed table: keys, time, id, sequence, ingestion time, field values. */
export interface WrittenEvent {
  /** Entity key values by key name. */
  readonly key: Readonly<Record<string, string | number>>;
  readonly ts: number;
  readonly eventId: string | null;
  readonly seq: number;
  readonly ingestedAt: number;
  /** Field values by field name. */
  readonly values: Readonly<Record<string, string | number | boolean | null>>;
}

const schemas = new WeakMap<SourceIR, z.ZodType>();

/** The zod schema of one event of a source (keys, `ts`, `eventId`, fields); unknown keys are rejected. */
export function eventSchema(source: SourceIR): z.ZodType {
  const cached = schemas.get(source);
  if (cached !== undefined) return cached;
  const shape: Record<string, z.ZodType> = {
    ts: z.union([z.number().int(), z.date().transform((d) => d.getTime())]),
    // Capped: event ids are b-tree index entries (see MAX_EVENT_ID_LENGTH).
    eventId: text()
      .min(1)
      .max(MAX_EVENT_ID_LENGTH, `must be at most ${MAX_EVENT_ID_LENGTH} characters`)
      .nullish(),
  };
  for (const [key, type] of Object.entries(source.entity.keys)) {
    shape[key] = type === 'int' ? z.number().int() : text().min(1);
  }
  for (const [name, field] of Object.entries(source.fields)) {
    const base = fieldSchema(field.type);
    shape[name] = field.nullable ? base.nullish() : base;
  }
  const schema = z.strictObject(shape);
  schemas.set(source, schema);
  return schema;
}

/** Strings Postgres can store: no NUL characters. */
function text() {
  return z.string().refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
}

function fieldSchema(type: ValueType): z.ZodType {
  switch (type) {
    case 'int':
      return z.number().int();
    case 'float':
      // -0 is stored as 0: JSON (the online store's tiles, exports) cannot carry the sign of zero.
      return z.number().transform((x) => (x === 0 ? 0 : x));
    case 'string':
      return text();
    case 'bool':
      return z.boolean();
  }
}

/**
 * Validates a whole batch, then writes it to the source's managed table in one statement
 * (multi-row `unnest`), skipping `(entity, eventId)` pairs already stored. A bad batch is rejected
 * whole, naming the row index and field; nothing is half-written.
 * @throws {TandemError} `INVALID_EVENT` with `path` like `events[3].amount`.
 */
export async function ingestEvents(
  executor: SqlExecutor,
  schema: string,
  source: Source,
  events: readonly IngestEvent[],
  ingestedAt: number,
  returnWritten = false,
): Promise<IngestResult> {
  const ir = source.ir;
  if (ir.table !== null) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      'only managed sources are ingested; user-owned tables are written by the app',
      {
        path: `source ${ir.name}`,
      },
    );
  }
  if (!Array.isArray(events)) {
    throw new TandemError('INVALID_EVENT', 'events must be an array', { path: 'events' });
  }
  const validator = eventSchema(ir);
  const rows = events.map((event, index) => {
    const parsed = validator.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.map(String).join('.');
      throw new TandemError('INVALID_EVENT', `${issue.message} (source ${ir.name})`, {
        path: `events[${index}]${field === '' ? '' : `.${field}`}`,
      });
    }
    return parsed.data as Record<string, unknown>;
  });
  if (rows.length === 0) {
    return returnWritten
      ? { inserted: 0, duplicates: 0, ingestedAt, written: [] }
      : { inserted: 0, duplicates: 0, ingestedAt };
  }

  const columns: { column: string; type: string; values: unknown[] }[] = [
    ...Object.entries(ir.entity.keys).map(([key, type]) => ({
      column: ir.keyColumns[key]!,
      type: type === 'int' ? 'bigint[]' : 'text[]',
      values: rows.map((r) => r[key]),
    })),
    { column: 'ts', type: 'bigint[]', values: rows.map((r) => r.ts) },
    { column: 'event_id', type: 'text[]', values: rows.map((r) => r.eventId ?? null) },
    { column: 'ingested_at', type: 'bigint[]', values: rows.map(() => ingestedAt) },
    ...Object.entries(ir.fields).map(([name, field]) => ({
      column: field.column,
      type: `${ARRAY_TYPE[field.type]}[]`,
      values: rows.map((r) => r[name] ?? null),
    })),
  ];
  const keyList = sql.join(
    Object.values(ir.keyColumns).map((c) => sql.identifier(c)),
    sql`, `,
  );
  const unnest: SQL = sql.join(
    columns.map((c) => sql`CAST(${arrayLiteral(c.values)} AS ${sql.raw(c.type)})`),
    sql`, `,
  );
  const insert = sql`
      INSERT INTO ${sourceTableSql(schema, ir)} (${sql.join(
        columns.map((c) => sql.identifier(c.column)),
        sql`, `,
      )})
      SELECT * FROM unnest(${unnest})
      ON CONFLICT (${keyList}, event_id) DO NOTHING`;
  if (returnWritten) {
    const written = await executor.query<Record<string, unknown>>(
      sql`${insert} RETURNING ${writtenColumnsSql(ir)}`,
    );
    return {
      inserted: written.length,
      duplicates: rows.length - written.length,
      ingestedAt,
      written: written.map((row) => writtenEvent(ir, row)),
    };
  }
  const inserted = await executor.query<{ n: number }>(sql`
    WITH written AS (${insert} RETURNING 1)
    SELECT CAST(count(*) AS integer) AS n FROM written`);
  const n = Number(inserted[0]?.n ?? 0);
  return { inserted: n, duplicates: rows.length - n, ingestedAt };
}

/**
 * The columns of a managed table read back as a {@link WrittenEvent}: keys, `__ts`, `__event_id`,
 * `__seq`, `__ingested_at` and `f_<field>`, with 64-bit integers as text (exact on both engines).
 */
export function writtenColumnsSql(ir: SourceIR): SQL {
  const text = (column: string, alias: string) =>
    sql`CAST(${sql.identifier(column)} AS text) AS ${sql.identifier(alias)}`;
  return sql.join(
    [
      ...Object.entries(ir.entity.keys).map(([key, type]) =>
        type === 'int'
          ? text(ir.keyColumns[key]!, `k_${key}`)
          : sql`${sql.identifier(ir.keyColumns[key]!)} AS ${sql.identifier(`k_${key}`)}`,
      ),
      text('ts', '__ts'),
      sql`event_id AS __event_id`,
      text('seq', '__seq'),
      text('ingested_at', '__ingested_at'),
      ...Object.entries(ir.fields).map(([name, field]) =>
        field.type === 'int'
          ? text(field.column, `f_${name}`)
          : sql`${sql.identifier(field.column)} AS ${sql.identifier(`f_${name}`)}`,
      ),
    ],
    sql`, `,
  );
}

/** A row selected with {@link writtenColumnsSql} as a {@link WrittenEvent}. */
export function writtenEvent(ir: SourceIR, row: Record<string, unknown>): WrittenEvent {
  const key: Record<string, string | number> = {};
  for (const [name, type] of Object.entries(ir.entity.keys)) {
    const value = row[`k_${name}`];
    key[name] = type === 'int' ? Number(value) : String(value);
  }
  const values: Record<string, string | number | boolean | null> = {};
  for (const [name, field] of Object.entries(ir.fields)) {
    const value = row[`f_${name}`] as string | number | boolean | null;
    values[name] = value === null ? null : field.type === 'int' ? Number(value) : value;
  }
  return {
    key,
    ts: Number(row.__ts),
    eventId: (row.__event_id as string | null) ?? null,
    seq: Number(row.__seq),
    ingestedAt: Number(row.__ingested_at),
    values,
  };
}

const ARRAY_TYPE: Readonly<Record<ValueType, string>> = {
  int: 'bigint',
  float: 'double precision',
  string: 'text',
  bool: 'boolean',
};
