import { TandemError } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import { arrayLiteral } from '../../internal/array-literal.js';
import type { TrainingPlan } from './plan.js';

/**
 * Where the labelled rows `(entity keys, ts)` of a training set come from: an array of objects,
 * a table name (`name` or `schema.name`), or a SQL query (drizzle `sql`). Every other column is
 * passed through to the output (labels, ids).
 */
export type EntityRowsInput =
  | readonly object[]
  | { readonly table: string }
  | { readonly query: SQL };

/** Options about the time column of entity rows. */
export interface EntityTimeOptions {
  /** Column holding each row's as-of time `q`; default `ts`. */
  readonly timeColumn?: string;
  /** `epoch_ms` (default) or `timestamp` (a Postgres timestamp, read as UTC). */
  readonly timeUnit?: 'epoch_ms' | 'timestamp';
}

const INSERT_CHUNK = 10_000;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * The entity rows' time column (default `ts`).
 * @throws {TandemError} `INVALID_IDENTIFIER` (path `timeColumn`) for a name that is not an
 * identifier.
 */
export function entityTimeColumn(options: EntityTimeOptions): string {
  const timeColumn = options.timeColumn ?? 'ts';
  if (!NAME.test(timeColumn)) {
    throw new TandemError('INVALID_IDENTIFIER', `bad time column ${JSON.stringify(timeColumn)}`, {
      path: 'timeColumn',
    });
  }
  return timeColumn;
}

/**
 * Copies the entity rows into a scratch table `(__row, keys..., __q, __json)` in input order
 * (`__row` from 1) and returns its name and the number of rows. The caller drops it.
 */
export async function stageEntityRows(
  executor: SqlExecutor,
  schema: string,
  plan: TrainingPlan,
  input: EntityRowsInput,
  options: EntityTimeOptions,
): Promise<{ table: SQL; drop: SQL; count: number }> {
  const timeColumn = entityTimeColumn(options);
  const name = `__rows_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`;
  const table = sql`${sql.identifier(schema)}.${sql.identifier(name)}`;
  const keyColumns = plan.keys.map(
    (k) => sql`${sql.identifier(k.name)} ${sql.raw(k.type === 'int' ? 'bigint' : 'text')}`,
  );
  await executor.query(sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`);
  await executor.query(
    sql`CREATE UNLOGGED TABLE ${table} (__row bigint PRIMARY KEY, ${sql.join(keyColumns, sql`, `)}, __q bigint, __json json)`,
  );
  const drop = sql`DROP TABLE IF EXISTS ${table}`;
  try {
    const count = Array.isArray(input)
      ? await insertArray(
          executor,
          table,
          plan,
          input as readonly Record<string, unknown>[],
          timeColumn,
        )
      : await insertQuery(
          executor,
          table,
          plan,
          input as Exclude<EntityRowsInput, readonly unknown[]>,
          timeColumn,
          options.timeUnit ?? 'epoch_ms',
        );
    await executor.query(sql`ANALYZE ${table}`);
    return { table, drop, count };
  } catch (error) {
    await executor.query(drop);
    throw error;
  }
}

async function insertArray(
  executor: SqlExecutor,
  table: SQL,
  plan: TrainingPlan,
  rows: readonly Record<string, unknown>[],
  timeColumn: string,
): Promise<number> {
  for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
    const chunk = rows.slice(start, start + INSERT_CHUNK);
    const index: number[] = [];
    const keys = plan.keys.map(() => [] as unknown[]);
    const times: number[] = [];
    const json: string[] = [];
    chunk.forEach((row, offset) => {
      const at = start + offset;
      if (typeof row !== 'object' || row === null) {
        throw new TandemError('INVALID_ARGUMENT', 'an entity row must be an object', {
          path: `entityRows[${at}]`,
        });
      }
      plan.keys.forEach((key, i) => {
        keys[i]!.push(checkKey(row[key.name], key, `entityRows[${at}].${key.name}`));
      });
      times.push(checkTime(row[timeColumn], `entityRows[${at}].${timeColumn}`));
      index.push(at + 1);
      json.push(rowJson(row, `entityRows[${at}]`));
    });
    const columns = [
      sql`CAST(${arrayLiteral(index)} AS bigint[])`,
      ...plan.keys.map(
        (k, i) =>
          sql`CAST(${arrayLiteral(keys[i]!)} AS ${sql.raw(k.type === 'int' ? 'bigint[]' : 'text[]')})`,
      ),
      sql`CAST(${arrayLiteral(times)} AS bigint[])`,
      sql`CAST(${arrayLiteral(json)} AS json[])`,
    ];
    await executor.query(
      sql`INSERT INTO ${table} SELECT * FROM unnest(${sql.join(columns, sql`, `)})`,
    );
  }
  return rows.length;
}

async function insertQuery(
  executor: SqlExecutor,
  table: SQL,
  plan: TrainingPlan,
  input: { readonly table: string } | { readonly query: SQL },
  timeColumn: string,
  timeUnit: 'epoch_ms' | 'timestamp',
): Promise<number> {
  const rows = entityRowsRelation(plan, input, { timeColumn, timeUnit });
  await executor
    .query(sql`INSERT INTO ${table} ${rows.relation}`)
    .catch((error: unknown) => rows.rethrow(executor, error));
  return checkEntityRows(executor, plan, table, timeColumn);
}

/** Entity rows of a table or query as a relation, and how to report its missing columns. */
export interface EntityRowsRelation {
  /**
   * `SELECT __row, <keys>, __q, __json FROM (source)`: `__row` numbers the rows from 1 in the
   * order the source yields them, keys are cast to `bigint` or `text`, `__q` is the time in epoch
   * ms (null when fractional or null), `__json` the whole row.
   */
  readonly relation: SQL;
  /**
   * Rethrows an error of a query over {@link relation}: an undefined column (SQLSTATE 42703) that
   * is a key or the time column becomes `UNKNOWN_COLUMN` naming it.
   */
  rethrow(executor: SqlExecutor, error: unknown): Promise<never>;
}

/**
 * The entity rows of a table (`name` or `schema.name`) or query, read as one relation (see
 * {@link EntityRowsRelation}).
 * @throws {TandemError} `INVALID_IDENTIFIER` (path `entityRows.table`) for a bad table name.
 */
export function entityRowsRelation(
  plan: TrainingPlan,
  input: { readonly table: string } | { readonly query: SQL },
  options: { readonly timeColumn: string; readonly timeUnit: 'epoch_ms' | 'timestamp' },
): EntityRowsRelation {
  const { timeColumn, timeUnit } = options;
  let source: SQL;
  if ('table' in input) {
    const parts = input.table.split('.');
    if (parts.length > 2 || !parts.every((p) => NAME.test(p))) {
      throw new TandemError('INVALID_IDENTIFIER', `bad table name ${JSON.stringify(input.table)}`, {
        path: 'entityRows.table',
      });
    }
    source = sql`SELECT * FROM ${sql.join(
      parts.map((p) => sql.identifier(p)),
      sql`.`,
    )}`;
  } else {
    source = input.query;
  }
  const q = sql`s.${sql.identifier(timeColumn)}`;
  // A fractional epoch-ms time is staged as NULL (and reported by checkEntityRows), not rounded.
  const time =
    timeUnit === 'epoch_ms'
      ? sql`CASE WHEN ${q} = CAST(${q} AS bigint) THEN CAST(${q} AS bigint) END`
      : sql`CAST(floor(extract(epoch from ${q}) * 1000) AS bigint)`;
  const keys = plan.keys.map(
    (k) =>
      sql`CAST(s.${sql.identifier(k.name)} AS ${sql.raw(k.type === 'int' ? 'bigint' : 'text')}) AS ${sql.identifier(k.name)}`,
  );
  return {
    relation: sql`SELECT row_number() OVER () AS __row, ${sql.join(keys, sql`, `)}, ${time} AS __q, to_json(s) AS __json FROM (${source}) s`,
    async rethrow(executor, error) {
      throw await missingColumnError(
        executor,
        source,
        [...plan.keys.map((k) => k.name), timeColumn],
        error,
      );
    },
  };
}

/**
 * Checks entity rows already in the `(__row, <keys>, __q, __json)` shape (a staged table, or a
 * parenthesized {@link EntityRowsRelation}) and returns how many there are.
 * @throws {TandemError} `INVALID_ARGUMENT` naming the first row with a null key, or a null or
 * non-integer time.
 */
export async function checkEntityRows(
  executor: SqlExecutor,
  plan: TrainingPlan,
  rows: SQL,
  timeColumn: string,
): Promise<number> {
  const bad = sql.join(
    [sql`__q IS NULL`, ...plan.keys.map((k) => sql`${sql.identifier(k.name)} IS NULL`)],
    sql` OR `,
  );
  const column = sql`CASE ${sql.join(
    plan.keys.map((k) => sql`WHEN ${sql.identifier(k.name)} IS NULL THEN ${k.name}`),
    sql` `,
  )} ELSE ${timeColumn} END`;
  const [checked] = await executor.query<{ n: number; first: [number, string] | null }>(sql`
    SELECT CAST(count(*) AS integer) AS n,
      (array_agg(json_build_array(__row, ${column}) ORDER BY __row) FILTER (WHERE ${bad}))[1] AS first
    FROM ${rows} x`);
  const first = checked?.first;
  if (first !== null && first !== undefined) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      'entity row has a null key, or a null or non-integer time',
      { path: `entityRows[${Number(first[0]) - 1}].${first[1]}` },
    );
  }
  return Number(checked?.n ?? 0);
}

/**
 * When staging failed on an undefined column (SQLSTATE 42703), finds which key or time column the
 * rows lack and returns an `UNKNOWN_COLUMN` error naming it; otherwise returns `error` as it is.
 */
async function missingColumnError(
  executor: SqlExecutor,
  source: SQL,
  columns: readonly string[],
  error: unknown,
): Promise<unknown> {
  if ((error as { code?: unknown } | null)?.code !== '42703') return error;
  for (const column of columns) {
    const probe: unknown = await executor
      .query(sql`SELECT s.${sql.identifier(column)} FROM (${source}) s LIMIT 0`)
      .then(
        () => null,
        (e: unknown) => e,
      );
    if ((probe as { code?: unknown } | null)?.code === '42703') {
      return new TandemError('UNKNOWN_COLUMN', `entity rows have no column ${column}`, {
        path: `entityRows.${column}`,
        cause: error,
      });
    }
  }
  return error;
}

/** The row as JSON text; a column JSON cannot represent (a bigint, a cycle) is named. */
function rowJson(row: Record<string, unknown>, path: string): string {
  try {
    return JSON.stringify(row);
  } catch (cause) {
    const field = Object.keys(row).find((key) => {
      try {
        JSON.stringify(row[key]);
        return false;
      } catch {
        return true;
      }
    });
    throw new TandemError(
      'INVALID_ARGUMENT',
      `entity row columns must be JSON values: ${(cause as Error).message}`,
      { path: field === undefined ? path : `${path}.${field}`, cause },
    );
  }
}

function checkKey(
  value: unknown,
  key: { name: string; type: 'string' | 'int' },
  path: string,
): unknown {
  const ok =
    key.type === 'int'
      ? Number.isSafeInteger(value)
      : typeof value === 'string' && value.length > 0 && !value.includes('\u0000');
  if (!ok) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `entity key must be ${key.type === 'int' ? 'a safe integer' : 'a non-empty string'}, got ${JSON.stringify(value) ?? String(value)}`,
      { path },
    );
  }
  return value;
}

function checkTime(value: unknown, path: string): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (!Number.isSafeInteger(ms)) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `time must be integer epoch milliseconds or a Date, got ${JSON.stringify(value) ?? String(value)}`,
      { path },
    );
  }
  return ms as number;
}
