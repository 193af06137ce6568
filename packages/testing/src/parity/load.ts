import { type Source, TandemError, type ValueType } from '@tandem/core';
import { eventSchema, type OfflineStore, sourceTableSql } from '@tandem/feature-store';
import { sql } from 'drizzle-orm';
import type { ParityKey, ParityStream } from './streams.js';

const ARRAY_TYPE: Readonly<Record<ValueType, string>> = {
  int: 'bigint[]',
  float: 'double precision[]',
  string: 'text[]',
  bool: 'boolean[]',
};

/** What {@link loadParityStream} wrote. */
export interface LoadedParityStream {
  /** Events stored. */
  readonly inserted: number;
  /** Later copies of an `(entity, eventId)` already stored, skipped (as ingestion skips them). */
  readonly duplicates: number;
}

/**
 * Writes a generated stream into a managed source of an offline store, exactly as ingestion would
 * have written it event by event at each event's arrival: `ingested_at` is the arrival time, the
 * sequence follows arrival order, and a later copy of a stored `(entity, eventId)` is skipped (the
 * first arrival stays). Events are validated with the store's own event schema first. One
 * statement per `chunk` events (default 5,000), so a large stream loads fast; `-0` is kept.
 * Creates the source's managed table when needed.
 * @throws {TandemError} `INVALID_ARGUMENT` for a user-owned source, `INVALID_EVENT` for a bad event.
 */
export async function loadParityStream(
  offline: OfflineStore,
  source: Source,
  stream: ParityStream,
  options: { readonly chunk?: number } = {},
): Promise<LoadedParityStream> {
  const ir = source.ir;
  if (ir.table !== null) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `source ${ir.name} is user-owned: write its rows into the table yourself`,
      { path: `source ${ir.name}` },
    );
  }
  await offline.apply([source]);
  const validator = eventSchema(ir);
  stream.events.forEach((e, i) => {
    const parsed = validator.safeParse({ ...e.key, ts: e.ts, eventId: e.eventId, ...e.values });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TandemError('INVALID_EVENT', `${issue.message} (source ${ir.name})`, {
        path: `events[${i}].${issue.path.map(String).join('.')}`,
      });
    }
  });
  const keyNames = Object.keys(ir.entity.keys);
  const fields = Object.entries(ir.fields);
  const columns = [
    ...keyNames.map((k) => ({
      column: ir.keyColumns[k]!,
      type: ir.entity.keys[k] === 'int' ? 'bigint[]' : 'text[]',
      of: (e: ParityStream['events'][number]) => e.key[k],
    })),
    { column: 'ts', type: 'bigint[]', of: (e: ParityStream['events'][number]) => e.ts },
    { column: 'event_id', type: 'text[]', of: (e: ParityStream['events'][number]) => e.eventId },
    {
      column: 'ingested_at',
      type: 'bigint[]',
      of: (e: ParityStream['events'][number]) => e.arrival,
    },
    ...fields.map(([name, field]) => ({
      column: field.column,
      type: ARRAY_TYPE[field.type],
      of: (e: ParityStream['events'][number]) => e.values[name] ?? null,
    })),
  ];
  const table = sourceTableSql(offline.schema, ir);
  const names = sql.join(
    columns.map((c) => sql.identifier(c.column)),
    sql`, `,
  );
  const aliases = columns.map((_, i) => sql.identifier(`c${i}`));
  const keyList = sql.join(
    keyNames.map((k) => sql.identifier(ir.keyColumns[k]!)),
    sql`, `,
  );
  const chunk = Math.max(1, options.chunk ?? 5000);
  let inserted = 0;
  for (let start = 0; start < stream.events.length; start += chunk) {
    const events = stream.events.slice(start, start + chunk);
    const arrays = columns.map(
      (c) => sql`CAST(${arrayLiteral(events.map(c.of))} AS ${sql.raw(c.type)})`,
    );
    // Rows go in in arrival order (the identity sequence follows it), first copies first.
    const rows = await offline.executor.query<{ n: number }>(sql`
      WITH written AS (
        INSERT INTO ${table} (${names})
        SELECT ${sql.join(aliases, sql`, `)}
        FROM unnest(${sql.join(arrays, sql`, `)}) WITH ORDINALITY AS u(${sql.join(aliases, sql`, `)}, ord)
        ORDER BY ord
        ON CONFLICT (${keyList}, event_id) DO NOTHING
        RETURNING 1)
      SELECT CAST(count(*) AS integer) AS n FROM written`);
    inserted += Number(rows[0]?.n ?? 0);
  }
  return { inserted, duplicates: stream.events.length - inserted };
}

/** The reads of a stream as parity points (`checkParity({ sample })`). */
export function parityPoints(stream: ParityStream): { entity: ParityKey; q: number }[] {
  return stream.queries.map((q) => ({ entity: q.key, q: q.q }));
}

/** A Postgres array literal (one text parameter); numbers in shortest round-trip form, `-0` kept. */
function arrayLiteral(values: readonly unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'string') return `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
    if (typeof v === 'number' && Object.is(v, -0)) return '-0';
    return String(v);
  });
  return `{${items.join(',')}}`;
}
