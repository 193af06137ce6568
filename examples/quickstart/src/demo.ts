/**
 * The quickstart demo: the features of `features.ts`, computed as of a few points in time by the
 * offline store of `@tandem/feature-store` (in embedded PGlite, no database service needed) and by
 * the TypeScript reference, side by side. Any disagreement is a bug, and the demo exits non-zero.
 */
import { PGlite } from '@electric-sql/pglite';
import {
  type AnyFeature,
  describeExpr,
  type FeatureIR,
  featureValue,
  type Moments,
} from '@tandem/core';
import {
  createOfflineStore,
  pgliteExecutor,
  type SqlExecutor,
  type TrainingRow,
} from '@tandem/feature-store';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { generateData, type ProfileRow } from './data.js';
import { fraudService, profiles, transactions } from './features.js';
import { type Computed, referenceEngine, type Value } from './reference.js';

/** Options of {@link main}. */
export interface DemoOptions {
  /** Where output lines go; default `console.log`. */
  readonly log?: (line: string) => void;
  /** Also print the SQL the offline store runs for the compared training set. */
  readonly showSql?: boolean;
  /** Seed of the synthetic data. */
  readonly seed?: number;
}

/** One compared feature value. */
export interface ComparedValue {
  readonly pair: number;
  readonly feature: string;
  readonly sql: Value;
  readonly ts: Value;
  readonly parity: Parity;
}

/** What the demo computed. */
export interface DemoResult {
  /** Every compared value. */
  readonly values: readonly ComparedValue[];
  /** How many values differ between the two paths (0 means parity). */
  readonly mismatches: number;
  /** What ingestion reported, summed over the batches. */
  readonly ingested: { readonly events: number; readonly duplicates: number };
  /** Rows of the larger, streamed training set. */
  readonly trainingRows: number;
  /** The printed text. */
  readonly output: string;
}

/** Entity rows per page of the streamed training set. */
const PAGE_SIZE = 250;

/** Runs the demo: generate data, ingest it into the offline store, compute both ways, compare. */
export async function main(options: DemoOptions = {}): Promise<DemoResult> {
  const lines: string[] = [];
  const print = (line = '') => {
    lines.push(line);
    (options.log ?? console.log)(line);
  };
  const service = fraudService;
  const data = generateData(options.seed ?? 42);

  const pglite = await PGlite.create();
  try {
    const executor = pgliteExecutor(pglite);
    const [{ version } = { version: '' }] = await executor.query<{ version: string }>(
      sql`SELECT version() AS version`,
    );
    // Ingestion stamps each batch with the store's clock: here, the batch's arrival time, so late
    // arrivals stay invisible as of the times before they arrived.
    let now = 0;
    const store = createOfflineStore({ executor, schema: 'tandem', clock: () => now });
    await store.apply([transactions, profiles]);
    const ingested = { events: 0, duplicates: 0 };
    for (const batch of data.batches) {
      now = batch.arrivedAt;
      const result = await store.ingest(transactions, batch.events);
      ingested.events += result.inserted;
      ingested.duplicates += result.duplicates;
    }
    await createUserProfiles(executor, data.profiles);

    const { stats } = data;
    print(
      `Tandem quickstart: one definition, two engines (${version.split(' on ')[0]}, in memory)`,
    );
    print(
      `${stats.deliveries} transaction deliveries in ${data.batches.length} batches (${stats.redelivered} redelivered duplicates, ${stats.late} late arrivals, ${stats.ties} same-millisecond ties), ${data.profiles.length} rows in the user's own user_profiles table`,
    );
    print();
    print(`Feature service ${service.name}:`);
    for (const feature of service.features) {
      print(`  ${feature.name.padEnd(24)}${describeFeature(feature)}`);
    }
    if (options.showSql === true) {
      print();
      print('SQL the offline store runs for the training set:');
    }
    const sqlStore =
      options.showSql === true
        ? createOfflineStore({ executor: printing(executor, print), schema: store.schema })
        : store;
    const fromSql: TrainingRow[] = [];
    for await (const row of sqlStore.getTrainingSet({
      features: service,
      entityRows: data.pairs,
      timeColumn: 'q',
    })) {
      fromSql.push(row);
    }
    const reference = referenceEngine(service, data);

    const values: ComparedValue[] = [];
    data.pairs.forEach((pair, index) => {
      const fromFold = reference(pair);
      print();
      print(
        `${pair.user_id} as of ${new Date(pair.q).toISOString()}, request {amount: ${pair.amount}}`,
      );
      print(
        `  ${'feature'.padEnd(24)}${'SQL (PGlite)'.padEnd(COL)}${'TypeScript'.padEnd(COL)}match`,
      );
      for (const feature of service.features) {
        const a = fromSql[index]![feature.name] as Value;
        const b = fromFold.get(feature.name)!.value;
        const p = parity(feature, fromSql[index]!, fromFold);
        values.push({ pair: index, feature: feature.name, sql: a, ts: b, parity: p });
        const [x, y] =
          p === 'exact'
            ? [format(a, feature.valueType), format(b, feature.valueType)]
            : [JSON.stringify(a), JSON.stringify(b)];
        print(`  ${feature.name.padEnd(24)}${x.padEnd(COL)}${y.padEnd(COL)}${PARITY[p]}`);
      }
    });
    const mismatches = values.filter((v) => v.parity === 'differs').length;
    const close = values.filter((v) => v.parity === 'tolerance').length;
    print();
    if (close > 0) {
      print(
        '~ = float sums differ only by summation order, within 2(n-1)*2^-53*sum|x| of the TypeScript intermediate;',
      );
      print(
        '    derived and request values inherit it as last-digit rounding (relative difference <= 1e-12).',
      );
    }
    print(
      mismatches === 0
        ? `All ${values.length} values agree (${values.length - close} exactly, ${close} within the float-sum tolerance): the offline store's training set for ${data.pairs.length} (user, q) pairs vs the TypeScript fold.`
        : `${mismatches} of ${values.length} values differ between SQL and TypeScript.`,
    );

    const started = performance.now();
    let trainingRows = 0;
    for await (const _row of store.getTrainingSet({
      features: service,
      entityRows: data.trainingRows,
      timeColumn: 'q',
      pageSize: PAGE_SIZE,
    })) {
      trainingRows++;
    }
    const elapsed = Math.round(performance.now() - started);
    print();
    print(
      `offline store: ${ingested.events} events ingested (${ingested.duplicates} duplicates dropped), training set of ${trainingRows.toLocaleString('en-US')} rows in ${elapsed} ms (streamed in pages of ${PAGE_SIZE})`,
    );
    return { values, mismatches, ingested, trainingRows, output: lines.join('\n') };
  } finally {
    await pglite.close();
  }
}

/** The user's own table, which the `profiles` source reads in place. */
async function createUserProfiles(
  executor: SqlExecutor,
  rows: readonly ProfileRow[],
): Promise<void> {
  await executor.query(
    sql`CREATE TABLE user_profiles (id text NOT NULL, country text, plan text, updated_at timestamptz NOT NULL)`,
  );
  const values = rows.map(
    (p) => sql`(${p.id}, ${p.country}, ${p.plan}, ${new Date(p.updated_at).toISOString()})`,
  );
  await executor.query(sql`INSERT INTO user_profiles VALUES ${sql.join(values, sql`, `)}`);
}

const dialect = new PgDialect();

/** `executor`, printing every statement before it runs (for `--sql`). */
function printing(executor: SqlExecutor, print: (line: string) => void): SqlExecutor {
  return {
    ...executor,
    query<T extends Record<string, unknown>>(query: SQL) {
      print(`${dialect.sqlToQuery(query).sql};`);
      return executor.query<T>(query);
    },
    transaction: (work) => executor.transaction((tx) => work(printing(tx, print))),
  };
}

/** How two values of one feature compare. */
export type Parity = 'exact' | 'tolerance' | 'differs';

const FLOAT_SUMS = new Set(['sum', 'mean', 'variance', 'stddev']);

/**
 * Parity of the SQL value of one feature with the reference: exactly equal, except float-sum
 * features, which may differ by summation order (DESIGN §3). Derived and request features run the
 * same code on both paths: they may differ only when an input does, within that tolerance, and
 * then only by last-digit rounding.
 */
function parity(
  feature: AnyFeature,
  row: TrainingRow,
  reference: ReadonlyMap<string, Computed>,
): Parity {
  const a = row[feature.name] as Value;
  const { value: b, intermediate } = reference.get(feature.name)!;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => x === b[i]) ? 'exact' : 'differs';
  }
  if (a === b) return 'exact';
  if (typeof a !== 'number' || typeof b !== 'number') return 'differs';
  const ir = feature.ir;
  if (ir.kind === 'aggregation') {
    if (!FLOAT_SUMS.has(ir.aggregation.fn)) return 'differs';
    const [low, high] = toleranceRange(ir, intermediate as Moments);
    return low <= a && a <= high ? 'tolerance' : 'differs';
  }
  const inherits = feature.inputs.some((input) => parity(input, row, reference) === 'tolerance');
  return inherits && Math.abs(a - b) <= 1e-12 * Math.abs(b) ? 'tolerance' : 'differs';
}

/**
 * The values a float-sum feature may take: those of the reference intermediate with its sums moved
 * by the most `intermediatesEqual` allows, `2 (n - 1) 2^-53 * sum|x|` (the same relative slack on
 * the sum of squares). Finalizing is monotone in each sum, so the corners bound the range.
 */
function toleranceRange(ir: FeatureIR, m: Moments): [number, number] {
  const slack = 2 * Math.max(m.n - 1, 0) * 2 ** -53;
  const corners = [-1, 1].flatMap((s) =>
    [-1, 1].map(
      (t) =>
        featureValue(ir, {
          ...m,
          sum: m.sum + s * slack * m.sumAbs,
          ...(m.sumSq === undefined ? {} : { sumSq: m.sumSq * (1 + t * slack) }),
        }) as number,
    ),
  );
  return [Math.min(...corners), Math.max(...corners)];
}

/** A short description of a feature definition. */
function describeFeature(feature: AnyFeature): string {
  const ir = feature.ir;
  if (ir.kind === 'derived') return `derived: ${describeExpr(ir.expr)}`;
  if (ir.kind === 'request')
    return `request-time: (request, ${ir.inputs.map((i) => i.name).join(', ')})`;
  const value = ir.value === null ? '' : describeExpr(ir.value);
  const where = ir.where === null ? '' : ` where ${describeExpr(ir.where)}`;
  const window =
    ir.window.kind === 'lifetime'
      ? 'lifetime'
      : ir.window.kind === 'ttl'
        ? `ttl ${duration(ir.window.length)}`
        : `window ${duration(ir.window.length)}, hop ${duration(ir.window.hop)}`;
  const fallback = ir.default === null ? '' : `, default ${JSON.stringify(ir.default)}`;
  return `${ir.aggregation.fn}(${value})${where}, ${window}${fallback}`;
}

/** `7d`, `24h`, `5m`. */
function duration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Display form: floats to 2 decimals. */
function format(value: Value, type: string): string {
  if (Array.isArray(value)) return `[${value.map((v) => format(v, type)).join(', ')}]`;
  if (typeof value === 'number') return type === 'float' ? value.toFixed(2) : String(value);
  return value === null ? 'null' : String(value);
}

const COL = 21;
const PARITY: Readonly<Record<Parity, string>> = {
  exact: 'yes',
  tolerance: 'yes ~',
  differs: 'NO',
};
