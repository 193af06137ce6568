import { type AnyFeature, type FeatureService, type LayoutEntry, TandemError } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import { checkFeatureValue, trainingLayout } from '../../export/layout.js';
import { arrayLiteral } from '../../internal/array-literal.js';
import { assertSchemaName } from '../../internal/names.js';
import type { TrainingRow } from './training-set.js';

/** Options of {@link writeTrainingSetInto}. */
export interface TrainingSetIntoOptions {
  /** Target table: `name` (in the store's schema) or `schema.name`. */
  readonly table: string;
  /** The features of the rows (the `features` of the training set): they type the columns. */
  readonly features: FeatureService | readonly AnyFeature[];
  /** Replace an existing table; default false (refused). */
  readonly replace?: boolean;
  /** Rows per INSERT; default 5,000. */
  readonly batchSize?: number;
}

/** What {@link writeTrainingSetInto} wrote. */
export interface TrainingSetIntoResult {
  /** The table, `schema.name`. */
  readonly table: string;
  /** Rows written. */
  readonly rows: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const RESERVED = ['row_number', 'entity_row'];
const BIGINT_LIMIT = 2 ** 63;

/**
 * Writes training rows into a new table `(row_number bigint primary key, entity_row json,
 * <feature> ...)`: `row_number` is the row's position from 1, `entity_row` its non-feature
 * columns, then one column per feature (`bigint`, `double precision`, `text` or `boolean` by
 * value type, `jsonb` for lists). Rows stream in batches (memory stays flat) into a scratch
 * table that is renamed to the target at the end, so the target appears complete or not at all,
 * and a replaced table is swapped in one transaction.
 * @throws {TandemError} `DUPLICATE_NAME` when the table exists and `replace` is not set or a
 * feature is named `row_number`/`entity_row`; `INVALID_IDENTIFIER` for a bad table name;
 * `UNKNOWN_COLUMN`/`TYPE_MISMATCH`/`INVALID_ARGUMENT` naming `rows[i].feature` for a bad row.
 */
export async function writeTrainingSetInto(
  executor: SqlExecutor,
  schema: string,
  rows: AsyncIterable<TrainingRow> | Iterable<TrainingRow>,
  options: TrainingSetIntoOptions,
): Promise<TrainingSetIntoResult> {
  const batchSize = options.batchSize ?? 5_000;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new TandemError('INVALID_ARGUMENT', 'batchSize must be a positive integer', {
      path: 'batchSize',
    });
  }
  return intoNewTable(executor, schema, options, async (scratch, features) => {
    const insert = batchInserter(executor, scratch, features);
    const names = new Set(features.map((f) => f.name));
    let count = 0;
    for await (const row of rows) {
      const entityRow: Record<string, unknown> = {};
      for (const key of Object.keys(row)) if (!names.has(key)) entityRow[key] = row[key];
      insert.add(
        ++count,
        JSON.stringify(entityRow),
        features.map((feature) => columnValue(feature, row, `rows[${count - 1}].${feature.name}`)),
      );
      if (insert.size >= batchSize) await insert.flush();
    }
    await insert.flush();
    return count;
  });
}

/**
 * Creates a training-set table `(row_number bigint primary key, entity_row json, <feature> ...)`
 * (see {@link writeTrainingSetInto}) that `fill` writes: it gets a scratch table of that shape
 * (no primary key yet) and its feature columns, and returns the number of rows it wrote. The
 * scratch table is renamed to the target at the end, so the target appears complete or not at
 * all, and a replaced table is swapped in one transaction; it is dropped when `fill` throws.
 * @throws {TandemError} `DUPLICATE_NAME` when the table exists and `replace` is not set or a
 * feature is named `row_number`/`entity_row`; `INVALID_IDENTIFIER` for a bad table name; what
 * `fill` throws.
 */
export async function intoNewTable(
  executor: SqlExecutor,
  schema: string,
  options: Omit<TrainingSetIntoOptions, 'batchSize'>,
  fill: (scratch: SQL, features: readonly LayoutEntry[]) => Promise<number>,
): Promise<TrainingSetIntoResult> {
  assertSchemaName(schema);
  const target = targetTable(schema, options.table);
  const { features } = trainingLayout(options.features);
  for (const feature of features) {
    if (RESERVED.includes(feature.name)) {
      throw new TandemError(
        'DUPLICATE_NAME',
        `a feature named ${feature.name} clashes with the column of that name`,
        { path: feature.name },
      );
    }
  }
  const targetSql = sql`${sql.identifier(target.schema)}.${sql.identifier(target.name)}`;
  if (!options.replace && (await tableExists(executor, target))) throw exists(target);

  const scratchName = `__into_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`;
  const scratch = sql`${sql.identifier(target.schema)}.${sql.identifier(scratchName)}`;
  const columns = [
    sql`row_number bigint NOT NULL`,
    sql`entity_row json NOT NULL`,
    ...features.map((f) => sql`${sql.identifier(f.name)} ${sql.raw(columnType(f))}`),
  ];
  await executor.query(sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(target.schema)}`);
  await executor.query(sql`CREATE TABLE ${scratch} (${sql.join(columns, sql`, `)})`);
  try {
    const count = await fill(scratch, features);
    await executor.transaction(async (tx) => {
      if (options.replace) await tx.query(sql`DROP TABLE IF EXISTS ${targetSql}`);
      else if (await tableExists(tx, target)) throw exists(target);
      await tx.query(sql`ALTER TABLE ${scratch} RENAME TO ${sql.identifier(target.name)}`);
      await tx.query(sql`ALTER TABLE ${targetSql} ADD PRIMARY KEY (row_number)`);
    });
    return { table: `${target.schema}.${target.name}`, rows: count };
  } catch (error) {
    await executor.query(sql`DROP TABLE IF EXISTS ${scratch}`);
    throw error;
  }
}

/** Accumulates one batch of rows column by column and inserts it with one unnest. */
function batchInserter(executor: SqlExecutor, table: SQL, features: readonly LayoutEntry[]) {
  let rowNumbers: number[] = [];
  let entityRows: string[] = [];
  let values: unknown[][] = features.map(() => []);
  const into = [sql`row_number`, sql`entity_row`, ...features.map((f) => sql.identifier(f.name))];
  return {
    get size() {
      return rowNumbers.length;
    },
    add(rowNumber: number, entityRow: string, row: readonly unknown[]) {
      rowNumbers.push(rowNumber);
      entityRows.push(entityRow);
      row.forEach((value, i) => {
        values[i]!.push(value);
      });
    },
    async flush() {
      if (rowNumbers.length === 0) return;
      const arrays = [
        sql`CAST(${arrayLiteral(rowNumbers)} AS bigint[])`,
        sql`CAST(${arrayLiteral(entityRows)} AS json[])`,
        ...features.map(
          (f, i) => sql`CAST(${arrayLiteral(values[i]!)} AS ${sql.raw(`${columnType(f)}[]`)})`,
        ),
      ];
      rowNumbers = [];
      entityRows = [];
      values = features.map(() => []);
      await executor.query(
        sql`INSERT INTO ${table} (${sql.join(into, sql`, `)}) SELECT * FROM unnest(${sql.join(arrays, sql`, `)})`,
      );
    },
  };
}

/** A feature's value of a row as bound in the insert (lists as JSON text), checked. */
function columnValue(feature: LayoutEntry, row: TrainingRow, path: string): unknown {
  const value = row[feature.name];
  if (value === undefined && !(feature.name in row)) {
    throw new TandemError('UNKNOWN_COLUMN', `the row has no feature ${feature.name}`, { path });
  }
  if (value === null || value === undefined) return null;
  checkFeatureValue(feature, value, path);
  if (feature.valueType === 'int' && Math.abs(value as number) >= BIGINT_LIMIT) {
    throw new TandemError('VALUE_OUT_OF_RANGE', `${value} does not fit a bigint`, { path });
  }
  if (feature.valueType === 'string') {
    const strings = (feature.list ? value : [value]) as readonly (string | null)[];
    if (strings.some((s) => s?.includes('\u0000'))) {
      throw new TandemError('INVALID_ARGUMENT', 'Postgres text cannot hold a NUL character', {
        path,
      });
    }
  }
  return feature.list ? JSON.stringify(value) : value;
}

/** The Postgres type of a feature's column: by value type, `jsonb` for a list. */
export function columnType(feature: LayoutEntry): string {
  if (feature.list) return 'jsonb';
  switch (feature.valueType) {
    case 'int':
      return 'bigint';
    case 'float':
      return 'double precision';
    case 'string':
      return 'text';
    case 'bool':
      return 'boolean';
  }
}

function targetTable(schema: string, table: string): { schema: string; name: string } {
  const parts = typeof table === 'string' ? table.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => NAME.test(p))) {
    throw new TandemError('INVALID_IDENTIFIER', `bad table name ${JSON.stringify(table)}`, {
      path: 'table',
    });
  }
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema, name: parts[0]! };
}

async function tableExists(
  executor: SqlExecutor,
  target: { schema: string; name: string },
): Promise<boolean> {
  // Both parts match NAME, so double-quoting them needs no escaping.
  const [row] = await executor.query<{ found: boolean }>(
    sql`SELECT to_regclass(${`"${target.schema}"."${target.name}"`}) IS NOT NULL AS found`,
  );
  return row?.found === true;
}

function exists(target: { schema: string; name: string }): TandemError {
  return new TandemError(
    'DUPLICATE_NAME',
    `table ${target.schema}.${target.name} exists; pass { replace: true } to replace it`,
    { path: 'table' },
  );
}
