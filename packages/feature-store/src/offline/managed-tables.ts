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
 * Idempotent DDL of a managed table: keys, `ts` and `ingested_at` (epoch ms), `event_id`, an
 * identity `seq` (ingestion order), typed field columns; unique `(keys, event_id)` for dedupe and an
 * index on `(keys, ts)` for point-in-time reads.
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
  return [
    sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`,
    sql`CREATE TABLE IF NOT EXISTS ${table} (${sql.join(columns, sql`, `)})`,
    sql`CREATE UNIQUE INDEX IF NOT EXISTS ${sql.identifier(`${name}_event_id`)} ON ${table} (${keyList}, ${sql.identifier(MANAGED_COLUMNS.eventId)})`,
    sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(`${name}_pit`)} ON ${table} (${keyList}, ${sql.identifier(MANAGED_COLUMNS.timestamp)})`,
  ];
}
