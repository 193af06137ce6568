import { type AnyFeature, type FeatureService, featureValue, TandemError } from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import { compileRowCompletion } from '../../internal/derive.js';
import { type EntityRowsInput, type EntityTimeOptions, stageEntityRows } from './entity-rows.js';
import { planTrainingSet, type TrainingPlan } from './plan.js';
import { intermediateReader, trainingPageSql } from './query.js';
import { assertSourceTables, rethrowQueryError } from './sources.js';

/** Options of a training-set read. */
export interface TrainingSetOptions extends EntityTimeOptions {
  /** A feature service, or a list of features. */
  readonly features: FeatureService | readonly AnyFeature[];
  /** The labelled rows: an array, `{ table }` or `{ query }`. */
  readonly entityRows: EntityRowsInput;
  /** Entity rows per query page; default 10,000. */
  readonly pageSize?: number;
  /** Pages computed at once (Postgres pools only; PGlite runs one); default 2. */
  readonly concurrency?: number;
}

/** One output row: the entity row's own columns, then every requested feature. */
export type TrainingRow = Record<string, unknown>;

/**
 * Point-in-time correct training rows, streamed in input order: one output row per entity row,
 * every feature as of that row's time (DESIGN §3). Memory stays flat: entity rows are staged in a
 * scratch table and read back one page at a time. The scratch table is dropped at the end, also
 * when the consumer stops early or an error is thrown.
 */
export async function* readTrainingSet(
  executor: SqlExecutor,
  schema: string,
  options: TrainingSetOptions,
): AsyncGenerator<TrainingRow> {
  const plan = planTrainingSet(options.features);
  const pageSize = options.pageSize ?? 10_000;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new TandemError('INVALID_ARGUMENT', 'pageSize must be a positive integer', {
      path: 'pageSize',
    });
  }
  const concurrency = executor.engine === 'pglite' ? 1 : Math.max(1, options.concurrency ?? 2);
  await assertSourceTables(executor, schema, plan);
  const staged = await stageEntityRows(executor, schema, plan, options.entityRows, options);
  const pages: Promise<{ from: number; rows: Record<string, unknown>[] }>[] = [];
  try {
    const finish = rowFinisher(plan);
    let next = 0;
    const request = () => {
      if (next >= staged.count) return;
      const from = next;
      const page = runPointInTime(
        executor,
        trainingPageSql(plan, schema, staged.table, from, from + pageSize),
        '64MB',
      ).then((rows) => ({ from, rows }), rethrowQueryError);
      // A page may fail while an earlier one is still being consumed: mark it handled now (it
      // is awaited, and rethrows, in turn), or Node reports an unhandled rejection and exits.
      page.catch(() => {});
      pages.push(page);
      next += pageSize;
    };
    for (let i = 0; i < concurrency; i++) request();
    while (pages.length > 0) {
      const page = await pages.shift()!;
      request();
      let index = page.from;
      for (const row of page.rows) yield finish(row, index++);
    }
  } finally {
    // Pages still in flight (the consumer stopped early, or a page failed) settle first, so
    // that they do not race the drop.
    await Promise.allSettled(pages);
    await executor.query(staged.drop);
  }
}

/**
 * Runs one point-in-time query in a transaction of its own, with settings for it: no JIT and no
 * parallel workers (starting either costs more than the query saves; pages already run side by
 * side), and `workMem` of sort memory (the rows are sorted by key and time).
 */
export function runPointInTime<T extends Record<string, unknown> = Record<string, unknown>>(
  executor: SqlExecutor,
  query: SQL,
  workMem: string,
): Promise<T[]> {
  return executor.transaction(async (tx) => {
    await tx.query(
      sql`SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true), set_config('work_mem', ${workMem}, true)`,
    );
    return tx.query<T>(query);
  });
}

/**
 * Turns a page row (`__doc`: the entity row, then intermediates) into an output row (values), with
 * derived and request features; `index` is the row's position in the input.
 */
function rowFinisher(
  plan: TrainingPlan,
): (row: Record<string, unknown>, index: number) => TrainingRow {
  const aggregations = plan.bySource
    .flatMap((g) => g.features)
    .map((feature, i) => ({ feature, at: i + 1, read: intermediateReader(feature) }));
  const complete = compileRowCompletion(plan.all);
  const computes = plan.all.some((f) => f.ir.kind !== 'aggregation');
  const outputs = plan.outputs.map((f) => f.name);
  const checkNames = (entityRow: Record<string, unknown>, index: number) => {
    for (const name of outputs) {
      if (name in entityRow) {
        throw new TandemError('DUPLICATE_NAME', `entity rows already have a column named ${name}`, {
          path: `entityRows[${index}].${name}`,
        });
      }
    }
  };
  // The entity row is this row's own, freshly parsed: it is extended in place (copying it first,
  // e.g. by spreading, makes V8 give every row a slow dictionary-like shape).
  const direct = outputs.map((name) => aggregations.find((a) => a.feature.name === name));
  if (!computes && direct.every((a) => a !== undefined)) {
    // Only aggregations: their values go straight into the row, in output order.
    return (row, index) => {
      const doc = (typeof row.__doc === 'string' ? JSON.parse(row.__doc) : row.__doc) as unknown[];
      const out = doc[0] as TrainingRow;
      checkNames(out, index);
      for (const { feature, at, read } of direct as (typeof aggregations)[number][]) {
        out[feature.name] = featureValue(feature.ir, read(doc[at])) ?? null;
      }
      return out;
    };
  }
  return (row, index) => {
    const doc = (typeof row.__doc === 'string' ? JSON.parse(row.__doc) : row.__doc) as unknown[];
    const entityRow = doc[0] as Record<string, unknown>;
    const values = new Map<string, unknown>();
    for (const { feature, at, read } of aggregations) {
      values.set(feature.name, featureValue(feature.ir, read(doc[at])));
    }
    complete(values, entityRow, `entityRows[${index}]`);
    checkNames(entityRow, index);
    const out: TrainingRow = entityRow;
    for (const name of outputs) out[name] = values.get(name) ?? null;
    return out;
  };
}
