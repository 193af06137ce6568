import { TandemError } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../executor/executor.js';
import { assertSchemaName } from '../internal/names.js';
import type { TrainingStatistics } from './types.js';

/** Training statistics as stored: under a name, with the time they were saved. */
export interface StoredTrainingStatistics {
  /** Name they were saved under. */
  readonly name: string;
  /** Fingerprint of the feature list (`statistics.fingerprint`). */
  readonly fingerprint: string;
  /** When they were saved, epoch ms. */
  readonly createdAt: number;
  /** The statistics. */
  readonly statistics: TrainingStatistics;
}

/** One line of {@link listTrainingStatistics}: everything but the statistics themselves. */
export type TrainingStatisticsEntry = Omit<StoredTrainingStatistics, 'statistics'> & {
  /** Rows of the training set. */
  readonly rows: number;
};

/** Options of {@link saveTrainingStatistics}. */
export interface SaveStatisticsOptions {
  /** Replace statistics already saved under the name; default false (refused). */
  readonly replace?: boolean;
  /** Save time, epoch ms; default now. */
  readonly createdAt?: number;
}

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * DDL of `<schema>.training_statistics` (name primary key, fingerprint, created_at epoch ms,
 * statistics jsonb); idempotent.
 */
export function trainingStatisticsDdl(schema: string): SQL[] {
  assertSchemaName(schema);
  return [
    sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`,
    sql`CREATE TABLE IF NOT EXISTS ${table(schema)} (
      name text PRIMARY KEY,
      fingerprint text NOT NULL,
      created_at bigint NOT NULL,
      statistics jsonb NOT NULL
    )`,
  ];
}

/**
 * Saves training statistics under a name (letters, digits, `_ . : -`, at most 128), creating the
 * table if needed.
 * @throws {TandemError} `DUPLICATE_NAME` when the name is taken and `replace` is not set,
 * `INVALID_IDENTIFIER` for a bad name.
 */
export async function saveTrainingStatistics(
  executor: SqlExecutor,
  schema: string,
  name: string,
  statistics: TrainingStatistics,
  options: SaveStatisticsOptions = {},
): Promise<StoredTrainingStatistics> {
  checkName(name);
  const createdAt = options.createdAt ?? Date.now();
  if (!Number.isSafeInteger(createdAt)) {
    throw new TandemError('INVALID_ARGUMENT', 'createdAt must be integer epoch milliseconds', {
      path: 'createdAt',
    });
  }
  for (const statement of trainingStatisticsDdl(schema)) await executor.query(statement);
  const conflict = options.replace
    ? sql`DO UPDATE SET fingerprint = excluded.fingerprint, created_at = excluded.created_at, statistics = excluded.statistics`
    : sql`DO NOTHING`;
  const saved = await executor.query(
    sql`INSERT INTO ${table(schema)} (name, fingerprint, created_at, statistics)
      VALUES (${name}, ${statistics.fingerprint}, ${createdAt}, CAST(${JSON.stringify(statistics)} AS jsonb))
      ON CONFLICT (name) ${conflict} RETURNING name`,
  );
  if (saved.length === 0) {
    throw new TandemError(
      'DUPLICATE_NAME',
      `training statistics named ${name} exist; pass { replace: true } to replace them`,
      { path: 'name' },
    );
  }
  return { name, fingerprint: statistics.fingerprint, createdAt, statistics };
}

/** The statistics saved under `name`, or null when there are none. */
export async function loadTrainingStatistics(
  executor: SqlExecutor,
  schema: string,
  name: string,
): Promise<StoredTrainingStatistics | null> {
  checkName(name);
  if (!(await tableExists(executor, schema))) return null;
  const [row] = await executor.query<{
    fingerprint: string;
    created_at: string | number;
    statistics: TrainingStatistics | string;
  }>(sql`SELECT fingerprint, created_at, statistics FROM ${table(schema)} WHERE name = ${name}`);
  if (row === undefined) return null;
  return {
    name,
    fingerprint: row.fingerprint,
    createdAt: Number(row.created_at),
    statistics: typeof row.statistics === 'string' ? JSON.parse(row.statistics) : row.statistics,
  };
}

/** Every saved statistics entry (without the statistics), newest first. */
export async function listTrainingStatistics(
  executor: SqlExecutor,
  schema: string,
): Promise<TrainingStatisticsEntry[]> {
  if (!(await tableExists(executor, schema))) return [];
  const rows = await executor.query<{
    name: string;
    fingerprint: string;
    created_at: string | number;
    rows: string | number;
  }>(
    sql`SELECT name, fingerprint, created_at, CAST(statistics->>'rows' AS bigint) AS rows
      FROM ${table(schema)} ORDER BY created_at DESC, name`,
  );
  return rows.map((row) => ({
    name: row.name,
    fingerprint: row.fingerprint,
    createdAt: Number(row.created_at),
    rows: Number(row.rows),
  }));
}

function table(schema: string): SQL {
  return sql`${sql.identifier(schema)}.training_statistics`;
}

async function tableExists(executor: SqlExecutor, schema: string): Promise<boolean> {
  assertSchemaName(schema);
  const [row] = await executor.query<{ found: boolean }>(
    sql`SELECT to_regclass(${`${schema}.training_statistics`}) IS NOT NULL AS found`,
  );
  return row?.found === true;
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new TandemError(
      'INVALID_IDENTIFIER',
      `${JSON.stringify(name)} is not a valid statistics name (letters, digits, _ . : -, at most 128)`,
      { path: 'name' },
    );
  }
}
