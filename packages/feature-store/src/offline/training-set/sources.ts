import { TandemError } from '@tandem/core';
import type { SqlExecutor } from '../../executor/executor.js';
import { inspectSourceTables } from '../../registry/source-tables.js';
import type { TrainingPlan } from './plan.js';

/**
 * Checks, before any work, that every source of a plan can be read: its managed table was
 * created by `apply`, or the user's own table exists with every mapped column, of a compatible
 * type. The same inspection as `tandem plan`.
 * @throws {TandemError} `UNKNOWN_FEATURE` (path `feature <name>`) when a managed source was never
 * applied; `UNKNOWN_TABLE` (same path) when a user-owned table is missing; `UNKNOWN_COLUMN` or
 * `TYPE_MISMATCH` (path like `source <name>.fields.<field>`) for a missing or incompatible column.
 */
export async function assertSourceTables(
  executor: SqlExecutor,
  schema: string,
  plan: TrainingPlan,
): Promise<void> {
  const report = await inspectSourceTables(
    executor,
    schema,
    plan.bySource.map((group) => group.source),
  );
  for (const { source, features } of plan.bySource) {
    const table = report.tables.find((t) => t.source === source.name);
    if (table?.exists !== false) continue;
    const path = `feature ${features[0]!.name}`;
    throw table.managed
      ? new TandemError(
          'UNKNOWN_FEATURE',
          `source ${source.name} was never applied: its table ${table.table} does not exist (run apply first)`,
          { path },
        )
      : new TandemError(
          'UNKNOWN_TABLE',
          `table ${table.table} of source ${source.name} does not exist`,
          {
            path,
          },
        );
  }
  const issue = report.issues[0];
  if (issue !== undefined) throw new TandemError(issue.code, issue.message, { path: issue.path });
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
