import type { SourceIR, TandemErrorCode } from '@tandem/core';
import { sql } from 'drizzle-orm';
import type { SqlExecutor } from '../executor/executor.js';
import { managedTableName } from '../offline/managed-tables.js';

/** A problem `plan` found in a source's table; `apply` refuses to register until it is fixed. */
export interface PlanIssue {
  /** `UNKNOWN_TABLE`, `UNKNOWN_COLUMN` or `TYPE_MISMATCH`. */
  readonly code: TandemErrorCode;
  /** The source mapping at fault: `source app_events.fields.amount`, `source app_events.timestamp`. */
  readonly path: string;
  /** What is wrong. */
  readonly message: string;
}

/** The table of a source as `plan` sees it. */
export interface PlannedTable {
  /** Source name. */
  readonly source: string;
  /** True for a managed event table (created by `apply`), false for the user's own table. */
  readonly managed: boolean;
  /** Qualified table name (`schema.name`, resolved through the search path). */
  readonly table: string;
  /** Whether the table exists now. */
  readonly exists: boolean;
}

/** An index Tandem's point-in-time reads need on a user-owned table, missing today. */
export interface IndexRecommendation {
  /** Source name. */
  readonly source: string;
  /** Qualified table name. */
  readonly table: string;
  /** Indexed columns: the entity key columns, then the event time column. */
  readonly columns: readonly string[];
  /** The statement that creates it (`CREATE INDEX CONCURRENTLY ...`: no write lock). */
  readonly statement: string;
}

/** What `plan` learns about the tables of the sources. */
export interface SourceTablesReport {
  /** Every source's table. */
  readonly tables: readonly PlannedTable[];
  /** Missing `(keys, ts)` indexes on user-owned tables. */
  readonly indexes: readonly IndexRecommendation[];
  /** Missing tables and columns, and columns of incompatible types. */
  readonly issues: readonly PlanIssue[];
}

const INTEGER = ['smallint', 'integer', 'bigint'];
const TEXT = ['text', 'character varying', 'character'];
/** Column types (information_schema `data_type`) each mapping can read. */
const COMPATIBLE: Readonly<Record<string, readonly string[]>> = {
  int: INTEGER,
  float: ['double precision', 'real', 'numeric'],
  string: [...TEXT, 'uuid'],
  bool: ['boolean'],
  key_int: INTEGER,
  key_string: TEXT,
  epoch_ms: INTEGER,
  timestamp: ['timestamp without time zone', 'timestamp with time zone'],
};

interface Expectation {
  readonly column: string;
  readonly path: string;
  readonly what: string;
  /** Compatible `data_type`s; null: any type (the event id is read as text). */
  readonly types: readonly string[] | null;
}

/**
 * Inspects the table of every source: existence, the mapped columns and their types
 * (information_schema), and for user-owned tables whether an index on `(keys, ts)` exists. A
 * managed table that does not exist yet is fine (`apply` creates it); an existing one is checked
 * like a user's table, which catches a source whose fields changed after its table was created.
 */
export async function inspectSourceTables(
  executor: SqlExecutor,
  schema: string,
  sources: readonly SourceIR[],
): Promise<SourceTablesReport> {
  const tables: PlannedTable[] = [];
  const indexes: IndexRecommendation[] = [];
  const issues: PlanIssue[] = [];
  for (const source of sources) {
    const managed = source.table === null;
    const reference = managed
      ? { schema, name: managedTableName(source) }
      : { schema: source.table!.schema, name: source.table!.name };
    const resolved = await resolveTable(executor, reference);
    const table =
      resolved === null
        ? [reference.schema, reference.name].filter((p) => p !== null).join('.')
        : `${resolved.schema}.${resolved.name}`;
    tables.push({ source: source.name, managed, table, exists: resolved !== null });
    const path = `source ${source.name}`;
    if (resolved === null) {
      if (!managed) {
        issues.push({
          code: 'UNKNOWN_TABLE',
          path: `${path}.table`,
          message: `table ${table} does not exist${reference.schema === null ? ' on the search path' : ''}`,
        });
      }
      continue;
    }
    const columns = new Map(
      (
        await executor.query<{ column_name: string; data_type: string }>(
          sql`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ${resolved.schema} AND table_name = ${resolved.name}`,
        )
      ).map((c) => [c.column_name, c.data_type]),
    );
    for (const expected of expectations(source, path)) {
      const type = columns.get(expected.column);
      if (type === undefined) {
        issues.push({
          code: 'UNKNOWN_COLUMN',
          path: expected.path,
          message: `table ${table} has no column ${expected.column} (${expected.what})`,
        });
      } else if (expected.types !== null && !expected.types.includes(type)) {
        issues.push({
          code: 'TYPE_MISMATCH',
          path: expected.path,
          message: `column ${table}.${expected.column} is ${type}; ${expected.what} needs ${expected.types.join(', ')}`,
        });
      }
    }
    if (!managed && resolved.kind !== 'v') {
      const recommendation = await missingIndex(executor, source, resolved, table);
      if (recommendation !== null) indexes.push(recommendation);
    }
  }
  return { tables, indexes, issues };
}

/** The columns a source maps, with the types each may have. */
function expectations(source: SourceIR, path: string): Expectation[] {
  const time = source.timestamp.unit;
  const list: Expectation[] = Object.entries(source.keyColumns).map(([key, column]) => {
    const type = source.entity.keys[key] === 'int' ? 'int' : 'string';
    return {
      column,
      path: `${path}.keyColumns.${key}`,
      what: `entity key ${key} (${type})`,
      types: COMPATIBLE[`key_${type}`]!,
    };
  });
  list.push({
    column: source.timestamp.column,
    path: `${path}.timestamp`,
    what: `event time (${time})`,
    types: COMPATIBLE[time]!,
  });
  if (source.eventId !== null) {
    list.push({ column: source.eventId, path: `${path}.eventId`, what: 'event id', types: null });
  }
  if (source.ingestedAt !== null) {
    list.push({
      column: source.ingestedAt,
      path: `${path}.ingestedAt`,
      what: `ingestion time (${time}, like the event time)`,
      types: COMPATIBLE[time]!,
    });
  }
  if (source.sequence !== null) {
    list.push({
      column: source.sequence,
      path: `${path}.sequence`,
      what: 'ingestion sequence (integer)',
      types: INTEGER,
    });
  }
  for (const [name, field] of Object.entries(source.fields)) {
    list.push({
      column: field.column,
      path: `${path}.fields.${name}`,
      what: `field ${name} (${field.type})`,
      types: COMPATIBLE[field.type]!,
    });
  }
  return list;
}

/** A table found in the catalog. */
export interface ResolvedTable {
  /** Schema the table is in. */
  readonly schema: string;
  /** Table name. */
  readonly name: string;
  /** pg_class relkind: `r` table, `p` partitioned table, `v` view, `m` materialized view, ... */
  readonly kind: string;
}

/**
 * Finds a table the way queries do (qualified, or through the connection's search path), or
 * null when there is none.
 */
export async function resolveTable(
  executor: SqlExecutor,
  table: { readonly schema: string | null; readonly name: string },
): Promise<ResolvedTable | null> {
  const name =
    table.schema === null
      ? sql`format('%I', CAST(${table.name} AS text))`
      : sql`format('%I.%I', CAST(${table.schema} AS text), CAST(${table.name} AS text))`;
  const [row] = await executor.query<{ schema: string; name: string; kind: string }>(
    sql`SELECT n.nspname AS schema, c.relname AS name, CAST(c.relkind AS text) AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(${name})`,
  );
  return row ?? null;
}

/**
 * The `(keys..., ts)` b-tree index of a user-owned table, or null when one exists: any valid,
 * non-partial b-tree index whose leading columns are the key columns (in any order) followed by
 * the event time column.
 */
async function missingIndex(
  executor: SqlExecutor,
  source: SourceIR,
  table: ResolvedTable,
  qualified: string,
): Promise<IndexRecommendation | null> {
  const keys = Object.values(source.keyColumns);
  const columns = [...keys, source.timestamp.column];
  const existing = await executor.query<{ columns: (string | null)[] }>(sql`
    SELECT (
      SELECT json_agg(a.attname ORDER BY k.ord)
      FROM unnest(CAST(i.indkey AS int2[])) WITH ORDINALITY AS k(attnum, ord)
      LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE k.ord <= i.indnkeyatts
    ) AS columns
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid = to_regclass(format('%I.%I', CAST(${table.schema} AS text), CAST(${table.name} AS text)))
      AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL`);
  const covers = existing.some(({ columns: indexed }) => {
    const leading = indexed.slice(0, keys.length);
    return (
      keys.every((k) => leading.includes(k)) && indexed[keys.length] === source.timestamp.column
    );
  });
  if (covers) return null;
  // Source tables and columns are validated identifiers (letters, digits, _ and $): no escaping.
  const quote = (name: string) => `"${name}"`;
  const indexName = `${table.name}_tandem_pit`.slice(0, 63);
  return {
    source: source.name,
    table: qualified,
    columns,
    statement: `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quote(indexName)} ON ${quote(table.schema)}.${quote(table.name)} (${columns.map(quote).join(', ')});`,
  };
}
