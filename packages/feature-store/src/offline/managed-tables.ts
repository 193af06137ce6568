import { MANAGED_COLUMNS, type SourceIR, TandemError, type ValueType } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';

const COLUMN_TYPE: Readonly<Record<ValueType | 'key_int' | 'key_string', string>> = {
  int: 'bigint',
  float: 'double precision',
  string: 'text',
  bool: 'boolean',
  key_int: 'bigint',
  key_string: 'text',
};

/** The managed table of a source: `"<schema>"."events_<source>"` or `"<schema>"."attributes_<source>"`. */
export function managedTableName(source: SourceIR): string {
  return `${source.kind}_${source.name}`;
}

/** SQL reference to the table a source reads: its managed table, or the user's own table. */
export function sourceTableSql(schema: string, source: SourceIR): SQL {
  if (source.table !== null) {
    return source.table.schema === null
      ? sql`${sql.identifier(source.table.name)}`
      : sql`${sql.identifier(source.table.schema)}.${sql.identifier(source.table.name)}`;
  }
  return sql`${sql.identifier(schema)}.${sql.identifier(managedTableName(source))}`;
}

/**
 * Longest `eventId` ingestion accepts, in characters. Event ids are stored in two b-tree indexes
 * (the dedupe index and the covering point-in-time index), whose entries must fit in a third of
 * a page (about 2,700 bytes): 256 characters are at most 1,024 bytes of UTF-8.
 */
export const MAX_EVENT_ID_LENGTH = 256;

/**
 * Idempotent DDL of a managed table: keys, `ts` and `ingested_at` (epoch ms), `event_id`, an
 * identity `seq` (ingestion order), typed field columns; a unique `(keys, event_id)` index for
 * dedupe, and the point-in-time index `(keys, ts) INCLUDE (event_id, seq, ingested_at, fields)`.
 *
 * The point-in-time index covers every column a training-set query reads except `string` fields
 * (left out so that a long string cannot overflow a b-tree entry): once the table is vacuumed
 * (autovacuum does it for insert-only tables), reads of numeric and boolean features are
 * index-only scans, with no heap fetch per event. It replaces the plain `(keys, ts)` index
 * (`<table>_pit`) of earlier versions, which is dropped once the new one exists.
 */
export function managedTableDdl(schema: string, source: SourceIR): SQL[] {
  if (source.table !== null) {
    throw new TandemError('INVALID_ARGUMENT', 'user-owned tables are read in place, not created', {
      path: `source ${source.name}`,
    });
  }
  const table = sourceTableSql(schema, source);
  const name = managedTableName(source);
  const keys = Object.entries(source.entity.keys).map(([key, type]) => ({
    column: source.keyColumns[key]!,
    type,
  }));
  const columns = [
    ...keys.map(
      (k) =>
        sql`${sql.identifier(k.column)} ${sql.raw(COLUMN_TYPE[`key_${k.type as 'int' | 'string'}`])} NOT NULL`,
    ),
    sql`${sql.identifier(MANAGED_COLUMNS.timestamp)} bigint NOT NULL`,
    sql`${sql.identifier(MANAGED_COLUMNS.eventId)} text`,
    sql`${sql.identifier(MANAGED_COLUMNS.sequence)} bigint GENERATED ALWAYS AS IDENTITY`,
    sql`${sql.identifier(MANAGED_COLUMNS.ingestedAt)} bigint NOT NULL`,
    ...Object.values(source.fields).map(
      (f) =>
        sql`${sql.identifier(f.column)} ${sql.raw(COLUMN_TYPE[f.type])}${f.nullable ? sql`` : sql` NOT NULL`}`,
    ),
  ];
  const keyList = sql.join(
    keys.map((k) => sql.identifier(k.column)),
    sql`, `,
  );
  const included = [
    MANAGED_COLUMNS.eventId,
    MANAGED_COLUMNS.sequence,
    MANAGED_COLUMNS.ingestedAt,
    ...Object.values(source.fields)
      .filter((f) => f.type !== 'string')
      .map((f) => f.column),
  ].map((column) => sql.identifier(column));
  return [
    sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`,
    sql`CREATE TABLE IF NOT EXISTS ${table} (${sql.join(columns, sql`, `)})`,
    sql`CREATE UNIQUE INDEX IF NOT EXISTS ${sql.identifier(`${name}_event_id`)} ON ${table} (${keyList}, ${sql.identifier(MANAGED_COLUMNS.eventId)})`,
    sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(pitIndexName(name))} ON ${table} (${keyList}, ${sql.identifier(MANAGED_COLUMNS.timestamp)}) INCLUDE (${sql.join(included, sql`, `)})`,
    // The earlier index's name, when Postgres did not cut it (a cut one could equal another name).
    ...(byteLength(`${name}_pit`) <= 63
      ? [sql`DROP INDEX IF EXISTS ${sql.identifier(schema)}.${sql.identifier(`${name}_pit`)}`]
      : []),
  ];
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/**
 * Name of the covering point-in-time index of a managed table. Postgres cuts identifiers at 63
 * bytes; a cut name keeps a hash of the full one, so that it never equals the earlier `_pit` name.
 */
function pitIndexName(table: string): string {
  const full = `${table}_pit_covering`;
  if (byteLength(full) <= 63) return full;
  let hash = 0;
  for (const char of full) hash = (Math.imul(hash, 31) + char.codePointAt(0)!) >>> 0;
  return `${table.slice(0, 40)}_pit_${hash.toString(36)}`;
}
