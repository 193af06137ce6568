import { type SourceIR, TandemError } from '@tandem/core';
import { sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import { managedTableName } from '../managed-tables.js';
import type { TrainingPlan } from './plan.js';

/**
 * Checks, before any work, that every source of a plan can be read: its managed table was
 * created by `apply`, or the user's own table exists with every column the source maps.
 * @throws {TandemError} `UNKNOWN_FEATURE` (path `feature <name>`) when a managed source was never
 * applied; `UNKNOWN_TABLE` (same path) when a user-owned table is missing; `UNKNOWN_COLUMN` (path
 * `source <name>.<column>`) when a mapped column is.
 */
export async function assertSourceTables(
  executor: SqlExecutor,
  schema: string,
  plan: TrainingPlan,
): Promise<void> {
  for (const { source, features } of plan.bySource) {
    const [tableSchema, tableName] =
      source.table === null
        ? [schema, managedTableName(source)]
        : [source.table.schema, source.table.name];
    const text = (value: string) => sql`CAST(${value} AS text)`;
    const name =
      tableSchema === null
        ? sql`format('%I', ${text(tableName)})`
        : sql`format('%I.%I', ${text(tableSchema)}, ${text(tableName)})`;
    const columns = await executor.query<{ name: string }>(
      sql`SELECT CAST(attname AS text) AS name FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass(${name}) AND attnum > 0 AND NOT attisdropped`,
    );
    const feature = features[0]!.name;
    const table = tableSchema === null ? tableName : `${tableSchema}.${tableName}`;
    if (columns.length === 0) {
      throw source.table === null
        ? new TandemError(
            'UNKNOWN_FEATURE',
            `source ${source.name} was never applied: its table ${table} does not exist (run apply first)`,
            { path: `feature ${feature}` },
          )
        : new TandemError(
            'UNKNOWN_TABLE',
            `table ${table} of source ${source.name} does not exist`,
            { path: `feature ${feature}` },
          );
    }
    const present = new Set(columns.map((c) => c.name));
    const missing = mappedColumns(source).find((column) => !present.has(column));
    if (missing !== undefined) {
      throw new TandemError(
        'UNKNOWN_COLUMN',
        `the table of source ${source.name} has no column ${missing} (needed by feature ${feature})`,
        { path: `source ${source.name}.${missing}` },
      );
    }
  }
}

function mappedColumns(source: SourceIR): string[] {
  return [
    ...Object.values(source.keyColumns),
    source.timestamp.column,
    ...[source.eventId, source.sequence, source.ingestedAt].filter((c): c is string => c !== null),
    ...Object.values(source.fields).map((f) => f.column),
  ];
}

/**
 * Rethrows Postgres' "value out of range" (SQLSTATE 22003: a float aggregate overflowed or a square
 * underflowed to 0) as the `VALUE_OUT_OF_RANGE` error the TS engine raises; other errors as they are.
 */
export function rethrowQueryError(error: unknown): never {
  if ((error as { code?: unknown } | null)?.code === '22003') {
    throw new TandemError(
      'VALUE_OUT_OF_RANGE',
      `value out of range in a feature aggregation: ${(error as Error).message}`,
      { cause: error },
    );
  }
  throw error;
}
