import { TandemError } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import {
  checkEntityRows,
  type EntityRowsInput,
  entityRowsRelation,
  entityTimeColumn,
  stageEntityRows,
} from './entity-rows.js';
import { columnType, intoNewTable, type TrainingSetIntoResult } from './into.js';
import type { TrainingPlan } from './plan.js';
import { trainingValuesSql } from './query.js';
import { assertSourceTables, rethrowQueryError } from './sources.js';
import { runPointInTime, type TrainingSetOptions } from './training-set.js';

/**
 * Writes a training set into a new table without the rows leaving Postgres: one
 * `INSERT ... SELECT` computes every feature's value in SQL ({@link trainingValuesSql}) into the
 * typed columns of {@link intoNewTable}, the same table and values as
 * `writeTrainingSetInto(readTrainingSet(...))`. A table or query of entity rows is read in place
 * (checked first); an array is staged. The plan must pass `valuesInSql`.
 * @throws {TandemError} what `writeTrainingSetInto` and `readTrainingSet` throw for the same
 * input.
 */
export async function writeTrainingValuesInto(
  executor: SqlExecutor,
  schema: string,
  plan: TrainingPlan,
  options: TrainingSetOptions & {
    readonly into: { readonly table: string; readonly replace?: boolean };
  },
): Promise<TrainingSetIntoResult> {
  const timeColumn = entityTimeColumn(options);
  return intoNewTable(
    executor,
    schema,
    { ...options.into, features: options.features },
    async (scratch, features) => {
      await assertSourceTables(executor, schema, plan);
      const columns = features.map((f) => ({ name: f.name, type: columnType(f) }));
      const names = features.map((f) => f.name);
      const write = (rows: SQL, count: number) =>
        runPointInTime(
          executor,
          sql`INSERT INTO ${scratch} (row_number, entity_row, ${sql.join(
            names.map((n) => sql.identifier(n)),
            sql`, `,
          )}) ${trainingValuesSql(plan, schema, rows, columns)}`,
          sortMemory(count),
        ).catch(rethrowQueryError);
      const input = options.entityRows;
      if (Array.isArray(input)) {
        const staged = await stageEntityRows(executor, schema, plan, input, options);
        try {
          await assertNoFeatureColumns(executor, staged.table, names, 'every row');
          await write(staged.table, staged.count);
          return staged.count;
        } finally {
          await executor.query(staged.drop);
        }
      }
      const source = entityRowsRelation(
        plan,
        input as Exclude<EntityRowsInput, readonly object[]>,
        { timeColumn, timeUnit: options.timeUnit ?? 'epoch_ms' },
      );
      const rows = sql`(${source.relation})`;
      const count = await checkEntityRows(executor, plan, rows, timeColumn).catch(
        (error: unknown) => source.rethrow(executor, error),
      );
      // Every row of a table or query has the same columns: the first row tells.
      await assertNoFeatureColumns(executor, rows, names, 'first row');
      await write(rows, count);
      return count;
    },
  );
}

/**
 * Sort memory for `rows` entity rows sorted with their JSON (about 200 bytes each in memory):
 * enough to sort them in memory, between 64 MB and 1 GB.
 */
function sortMemory(rows: number): string {
  return `${Math.min(1024, Math.max(64, Math.ceil((rows * 256) / 2 ** 20)))}MB`;
}

/**
 * Refuses entity rows with a column named like an output feature, as `readTrainingSet` does:
 * checks every row, or only the first (when all rows have the same columns).
 * @throws {TandemError} `DUPLICATE_NAME` naming the first such row and column.
 */
async function assertNoFeatureColumns(
  executor: SqlExecutor,
  rows: SQL,
  names: readonly string[],
  which: 'every row' | 'first row',
): Promise<void> {
  const checked =
    which === 'first row'
      ? sql`(SELECT __row, __json FROM ${rows} x LIMIT 1)`
      : sql`(SELECT __row, __json FROM ${rows} x)`;
  const list = sql`ARRAY[${sql.join(
    names.map((n) => sql`${n}`),
    sql`, `,
  )}]::text[]`;
  const [clash] = await executor.query<{ row: string | number; name: string }>(sql`
    SELECT r.__row AS row, k.name FROM ${checked} r, json_object_keys(r.__json) AS k(name)
    WHERE k.name = ANY(${list})
    ORDER BY r.__row, array_position(${list}, k.name) LIMIT 1`);
  if (clash !== undefined) {
    throw new TandemError(
      'DUPLICATE_NAME',
      `entity rows already have a column named ${clash.name}`,
      { path: `entityRows[${Number(clash.row) - 1}].${clash.name}` },
    );
  }
}
