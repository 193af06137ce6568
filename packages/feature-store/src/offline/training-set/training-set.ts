import {
  type AnyFeature,
  compileJs,
  decodeIntermediate,
  type FeatureService,
  featureValue,
  type ScalarValue,
  TandemError,
} from '@tandem/core';
import type { SqlExecutor } from '../../executor/executor.js';
import { type EntityRowsInput, type EntityTimeOptions, stageEntityRows } from './entity-rows.js';
import { planTrainingSet, type TrainingPlan } from './plan.js';
import { trainingPageSql } from './query.js';

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
  const staged = await stageEntityRows(executor, schema, plan, options.entityRows, options);
  try {
    const finish = rowFinisher(plan);
    const pages: Promise<Record<string, unknown>[]>[] = [];
    let next = 0;
    const request = () => {
      if (next >= staged.count) return;
      pages.push(
        executor.query(trainingPageSql(plan, schema, staged.table, next, next + pageSize)),
      );
      next += pageSize;
    };
    for (let i = 0; i < concurrency; i++) request();
    while (pages.length > 0) {
      const page = await pages.shift()!;
      request();
      for (const row of page) yield finish(row);
    }
  } finally {
    await executor.query(staged.drop);
  }
}

/** Turns a query row (intermediates) into an output row (values), with derived and request features. */
function rowFinisher(plan: TrainingPlan): (row: Record<string, unknown>) => TrainingRow {
  const aggregations = plan.bySource.flatMap((g) => g.features);
  const derived = plan.all.flatMap((f) =>
    f.ir.kind === 'derived' ? [{ feature: f, evaluate: compileJs(f.ir.expr) }] : [],
  );
  const requests = plan.all.filter((f) => f.ir.kind === 'request');
  const order = new Map(plan.all.map((f, i) => [f.name, i]));
  const computeOrder = [
    ...derived.map((d) => ({ kind: 'derived' as const, ...d })),
    ...requests.map((f) => ({ kind: 'request' as const, feature: f, evaluate: null })),
  ].sort((a, b) => order.get(a.feature.name)! - order.get(b.feature.name)!);
  return (row) => {
    const entityRow = (
      typeof row.__json === 'string' ? JSON.parse(row.__json) : row.__json
    ) as Record<string, unknown>;
    const index = Number(row.__row) - 1;
    const values = new Map<string, unknown>();
    aggregations.forEach((feature, i) => {
      values.set(
        feature.name,
        featureValue(feature.ir, decodeIntermediate(feature.ir.aggregation, row[`f${i}`])),
      );
    });
    for (const step of computeOrder) {
      if (step.kind === 'derived') {
        values.set(
          step.feature.name,
          step.evaluate({
            column: () => null,
            feature: (name) => (values.get(name) ?? null) as ScalarValue,
          }),
        );
      } else {
        const input = step.feature.inputSchema!.safeParse(entityRow);
        if (!input.success) {
          const issue = input.error.issues[0]!;
          throw new TandemError(
            'INVALID_ARGUMENT',
            `request feature ${step.feature.name}: ${issue.message}`,
            {
              path: `entityRows[${index}].${issue.path.map(String).join('.')}`,
            },
          );
        }
        values.set(
          step.feature.name,
          step.feature.compute!(input.data as never, Object.fromEntries(values) as never),
        );
      }
    }
    const out: TrainingRow = { ...entityRow };
    for (const feature of plan.outputs) {
      if (feature.name in entityRow) {
        throw new TandemError(
          'DUPLICATE_NAME',
          `entity rows already have a column named ${feature.name}`,
          {
            path: `entityRows[${index}].${feature.name}`,
          },
        );
      }
      out[feature.name] = values.get(feature.name) ?? null;
    }
    return out;
  };
}
