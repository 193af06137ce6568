/**
 * The quickstart demo: the features of `features.ts`, computed as of a few points in time by the
 * SQL compiler (in embedded PGlite, no database service needed) and by the TypeScript fold, side by
 * side. Any disagreement is a bug, and the demo exits non-zero.
 */
import { PGlite } from '@electric-sql/pglite';
import {
  type AnyFeature,
  describeExpr,
  intermediatesEqual,
  type SourceEvent,
  tableSql,
} from '@tandem/core';
import { sql } from 'drizzle-orm';
import { type DemoData, generateData } from './data.js';
import {
  type Computed,
  computeWithFold,
  computeWithSql,
  type Question,
  serviceQuery,
  toQuery,
  type Value,
} from './engines.js';
import { fraudService } from './features.js';

/** Options of {@link main}. */
export interface DemoOptions {
  /** Where output lines go; default `console.log`. */
  readonly log?: (line: string) => void;
  /** Also print the generated SQL. */
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
  /** The printed text. */
  readonly output: string;
}

/** Runs the demo: generate data, load it into PGlite, compute both ways, print, compare. */
export async function main(options: DemoOptions = {}): Promise<DemoResult> {
  const lines: string[] = [];
  const print = (line = '') => {
    lines.push(line);
    (options.log ?? console.log)(line);
  };
  const service = fraudService;
  const data = generateData(options.seed ?? 42);

  const db = await PGlite.create();
  try {
    const version = (await db.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? '';
    await load(db, data);

    const questions: Question[] = data.pairs.map((p) => ({
      keys: { user_id: p.user_id },
      q: p.q,
      request: { amount: p.amount },
    }));
    // The managed source lives in the table the demo created; the user's own table is named in
    // its definition.
    const tables = { transactions: tableSql({ schema: null, name: 'events_transactions' }) };
    const fromSql = await computeWithSql(db, service, questions, tables);
    const fromFold = computeWithFold(service, questions, eventsOf(data));

    const { stats } = data;
    print(
      `Tandem quickstart: one definition, two engines (${version.split(' on ')[0]}, in memory)`,
    );
    print(
      `${stats.events} transaction rows (${stats.duplicates} redelivered duplicates, ${stats.late} late arrivals, ${stats.ties} same-millisecond ties), ${data.profiles.length} profile rows`,
    );
    print();
    print(`Feature service ${service.name}:`);
    for (const feature of service.features) {
      print(`  ${feature.name.padEnd(24)}${describeFeature(feature)}`);
    }
    if (options.showSql === true) {
      print();
      print(toQuery(serviceQuery(service, questions, tables)).sql);
    }

    const values: ComparedValue[] = [];
    questions.forEach((question, pair) => {
      const request = JSON.stringify(question.request).replaceAll('"', '').replaceAll(':', ': ');
      print();
      print(
        `${question.keys.user_id} as of ${new Date(question.q).toISOString()}, request ${request}`,
      );
      print(
        `  ${'feature'.padEnd(24)}${'SQL (PGlite)'.padEnd(COL)}${'TypeScript'.padEnd(COL)}match`,
      );
      for (const feature of service.features) {
        const a = fromSql[pair]!.get(feature.name)!.value;
        const b = fromFold[pair]!.get(feature.name)!.value;
        const p = parity(feature, fromSql[pair]!, fromFold[pair]!);
        values.push({ pair, feature: feature.name, sql: a, ts: b, parity: p });
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
        `~ = float sums differ only by summation order, within 2(n-1)*2^-53*sum|x|; derived values inherit it.`,
      );
    }
    print(
      mismatches === 0
        ? `All ${values.length} values agree (${values.length - close} exactly, ${close} within the float-sum tolerance): one SQL query for ${questions.length} (user, q) pairs vs the TypeScript fold.`
        : `${mismatches} of ${values.length} values differ between SQL and TypeScript.`,
    );
    return { values, mismatches, output: lines.join('\n') };
  } finally {
    await db.close();
  }
}

/** Creates the two tables and inserts the data set. */
async function load(db: PGlite, data: DemoData): Promise<void> {
  // The managed event table, with the name and columns Tandem's offline store gives it, but
  // without its unique (user_id, event_id) index: ingestion would drop the redelivered copies at
  // the door, and here they reach the query so that its dedupe rule shows.
  await db.exec(`
    CREATE TABLE events_transactions (
      user_id text NOT NULL, amount double precision, merchant text, is_refund boolean,
      ts bigint NOT NULL, event_id text, ingested_at bigint, seq bigint
    );
    CREATE TABLE user_profiles (
      id text NOT NULL, country text, plan text, updated_at timestamptz NOT NULL
    );
  `);
  const tx = data.transactions.map(
    (t) =>
      sql`(${t.user_id}, ${t.amount}, ${t.merchant}, ${t.is_refund}, ${t.ts}, ${t.event_id}, ${t.ingested_at}, ${t.seq})`,
  );
  const insertTx = toQuery(
    sql`INSERT INTO events_transactions (user_id, amount, merchant, is_refund, ts, event_id, ingested_at, seq) VALUES ${sql.join(tx, sql`, `)}`,
  );
  await db.query(insertTx.sql, insertTx.params);
  const profiles = data.profiles.map(
    (p) => sql`(${p.id}, ${p.country}, ${p.plan}, ${new Date(p.updated_at).toISOString()})`,
  );
  const insertProfiles = toQuery(
    sql`INSERT INTO user_profiles (id, country, plan, updated_at) VALUES ${sql.join(profiles, sql`, `)}`,
  );
  await db.query(insertProfiles.sql, insertProfiles.params);
}

/** The same rows as the TypeScript engine sees them: events of one entity of one source. */
function eventsOf(data: DemoData) {
  const transactions = new Map<string, SourceEvent[]>();
  for (const t of data.transactions) {
    const events = transactions.get(t.user_id) ?? [];
    events.push({
      ts: t.ts,
      eventId: t.event_id,
      seq: t.seq,
      ingestedAt: t.ingested_at,
      values: { amount: t.amount, merchant: t.merchant, is_refund: t.is_refund },
    });
    transactions.set(t.user_id, events);
  }
  const profiles = new Map<string, SourceEvent[]>();
  for (const p of data.profiles) {
    const events = profiles.get(p.id) ?? [];
    events.push({ ts: p.updated_at, values: { country: p.country, plan: p.plan } });
    profiles.set(p.id, events);
  }
  return (source: string, keys: Question['keys']): readonly SourceEvent[] => {
    const bySource = source === 'transactions' ? transactions : profiles;
    return bySource.get(String(keys.user_id)) ?? [];
  };
}

/** How two values of one feature compare. */
export type Parity = 'exact' | 'tolerance' | 'differs';

/**
 * Parity of one value. Aggregations compare intermediates: exactly, except float sums, which may
 * differ by summation order within `2 (n - 1) 2^-53 * sum|x|` (`intermediatesEqual`). Derived and
 * request features run the same TypeScript code on both paths, so they must be exactly equal
 * unless an input differs within that tolerance, in which case they inherit it.
 */
function parity(
  feature: AnyFeature,
  a: ReadonlyMap<string, Computed>,
  b: ReadonlyMap<string, Computed>,
): Parity {
  const x = a.get(feature.name)!;
  const y = b.get(feature.name)!;
  const ir = feature.ir;
  if (ir.kind === 'aggregation') {
    if (JSON.stringify(x.intermediate) === JSON.stringify(y.intermediate)) return 'exact';
    return intermediatesEqual(ir.aggregation, x.intermediate as never, y.intermediate as never)
      ? 'tolerance'
      : 'differs';
  }
  const inputs = feature.inputs.map((input) => parity(input, a, b));
  if (inputs.includes('differs')) return 'differs';
  if (JSON.stringify(x.value) === JSON.stringify(y.value)) return 'exact';
  return inputs.includes('tolerance') ? 'tolerance' : 'differs';
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
