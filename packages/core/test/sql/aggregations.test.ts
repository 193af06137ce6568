/**
 * Every aggregation computed in SQL (on PGlite and on a real Postgres) equals the TS fold, the
 * reference both engines must match: the intermediate under `intermediatesEqual` and the finalized
 * value. One SQL statement per generated event set evaluates every feature at many `(entity, q)`
 * lookups (a VALUES list joined to the events).
 */

import {
  type AggregationBuilder,
  type AggregationSpec,
  type AnyEntity,
  type AnyFeature,
  type AttributeSource,
  aggregationSql,
  attributeSource,
  canonicalText,
  compileFolder,
  decodeIntermediate,
  type EventSource,
  type Expr,
  entity,
  eventSource,
  type FeatureFolder,
  featureAggregateSql,
  featureValue,
  HLL_PRECISION,
  hllItem,
  type Intermediate,
  intermediatesEqual,
  isTandemError,
  type Moments,
  type ScalarValue,
  type SourceEvent,
  sourceRelationSql,
} from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { type SQL, sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AsOf,
  type EventRow,
  intArb,
  type Scenario,
  SLIDING_WINDOWS,
  scenarioArb,
  stringArb,
  TTLS,
} from '../arbitraries/events.js';

const NUM_RUNS = 1000;
const TABLE = 'agg_events';

// ---- Definitions over one table of (tenant, account) events ----

const account = entity({ name: 'account', keys: { tenant: 'string', account_id: 'int' } });
const tenant = entity({ name: 'tenant', keys: { tenant: 'string' } });
const fields = {
  n: 'int',
  amount: { type: 'float', column: 'x' },
  s: 'string',
  b: 'bool',
} as const;
const systemColumns = { eventId: 'event_id', ingestedAt: 'ingested_at', sequence: 'seq' } as const;

const accountEvents = eventSource({
  name: 'account_events',
  entity: account,
  table: TABLE,
  keyColumns: { account_id: 'account' },
  ...systemColumns,
  fields,
});
const tenantEvents = eventSource({
  name: 'tenant_events',
  entity: tenant,
  table: TABLE,
  ...systemColumns,
  fields,
});
/** No event id, ingestion time or sequence: no dedupe, no as-of on ingestion, ties by value. */
const tenantBare = eventSource({ name: 'tenant_bare', entity: tenant, table: TABLE, fields });
const accountAttributes = attributeSource({
  name: 'account_attrs',
  entity: account,
  table: TABLE,
  keyColumns: { account_id: 'account' },
  ...systemColumns,
  fields,
});
const tenantAttributes = attributeSource({
  name: 'tenant_attrs',
  entity: tenant,
  table: TABLE,
  fields,
});

type Fields = (typeof accountEvents)['fields'];
/** One type for the sources of either entity (their fields are the same). */
type EventsSource = EventSource<string, AnyEntity, typeof fields>;
type AttributesSource = AttributeSource<string, AnyEntity, typeof fields>;
// biome-ignore lint/suspicious/noExplicitAny: builders of every value type in one table
type Builder = AggregationBuilder<any, any>;

/** Every aggregation kind, on int, float, string and bool fields and an expression. */
const EVENT_KINDS: Record<string, (s: EventsSource) => Builder> = {
  count: (s) => s.count(),
  count_s: (s) => s.count('s'),
  count_b: (s) => s.count('b'),
  sum_n: (s) => s.sum('n'),
  sum_amount: (s) => s.sum('amount'),
  sum_expr: (s) => s.sum((f) => f.amount.mul(2).sub(f.n)),
  mean_amount: (s) => s.mean('amount'),
  mean_n_default: (s) => s.mean('n').default(-0.5),
  min_n: (s) => s.min('n'),
  min_amount: (s) => s.min('amount'),
  max_n: (s) => s.max('n'),
  max_amount: (s) => s.max('amount'),
  last_s: (s) => s.last('s'),
  last_amount: (s) => s.last('amount'),
  last_b: (s) => s.last('b'),
  last_n_default: (s) => s.last('n').default(-1),
  last_expr: (s) => s.last((f) => f.s.lt('b')),
  last_k_amount: (s) => s.lastK('amount', 3),
  last_k_s: (s) => s.lastK('s', 2),
  first_k_n: (s) => s.firstK('n', 3),
  first_k_b: (s) => s.firstK('b', 1),
  first_k_s: (s) => s.firstK('s', 4),
  variance_amount: (s) => s.variance('amount'),
  variance_n: (s) => s.variance('n'),
  stddev_amount: (s) => s.stddev('amount'),
  stddev_n: (s) => s.stddev('n'),
  count_distinct_s: (s) => s.countDistinct('s'),
  count_distinct_n: (s) => s.countDistinct('n'),
  count_distinct_b: (s) => s.countDistinct('b'),
};

/** `latest` of every field type, with and without a ttl (the ttl is chosen as the "window"). */
const ATTRIBUTE_KINDS: Record<string, (s: AttributesSource, ttl: number | undefined) => Builder> = {
  latest_s: (s, ttl) => s.latest('s', ttl === undefined ? {} : { ttl }),
  latest_amount: (s, ttl) => s.latest('amount', ttl === undefined ? {} : { ttl }),
  latest_n_default: (s, ttl) => s.latest('n', ttl === undefined ? {} : { ttl }).default(7),
  latest_b: (s, ttl) => s.latest('b', ttl === undefined ? {} : { ttl }),
};

/** `where` filters: none, and predicates that are null for some rows. */
const WHERES: readonly (((f: Fields) => Expr<'bool'>) | null)[] = [
  null,
  (f) => f.amount.gt(0),
  (f) => f.s.ne('a'),
  (f) => f.b,
  (f) => f.n.lt(5).or(f.s.isNull()),
];

/** Event windows: each sliding (W, h) pair, then lifetime. Attribute windows: each ttl, then none. */
const EVENT_WINDOWS = SLIDING_WINDOWS.length + 1;
const ATTRIBUTE_WINDOWS = TTLS.length + 1;

interface SourceCase {
  readonly name: string;
  readonly keyed: 'account' | 'tenant';
  readonly system: boolean;
  readonly feature: (kind: string, window: number, where: number) => CompiledFeature;
  readonly kinds: readonly string[];
  readonly windows: number;
}

interface CompiledFeature {
  readonly label: string;
  readonly feature: AnyFeature;
  readonly folder: FeatureFolder;
}

function memo(build: (kind: string, window: number, where: number) => AnyFeature) {
  const cache = new Map<string, CompiledFeature>();
  return (kind: string, window: number, where: number) => {
    const key = `${kind}/${window}/${where}`;
    let compiled = cache.get(key);
    if (compiled === undefined) {
      const feature = build(kind, window, where);
      compiled = { label: key, feature, folder: compileFolder(feature.ir) };
      cache.set(key, compiled);
    }
    return compiled;
  };
}

function eventCase(source: EventsSource, keyed: SourceCase['keyed'], system: boolean): SourceCase {
  return {
    name: source.name,
    keyed,
    system,
    kinds: Object.keys(EVENT_KINDS),
    windows: EVENT_WINDOWS,
    feature: memo((kind, window, where) => {
      let builder = EVENT_KINDS[kind]!(source);
      const sliding = SLIDING_WINDOWS[window];
      if (sliding !== undefined) builder = builder.window(sliding.length, { hop: sliding.hop });
      const predicate = WHERES[where];
      if (predicate) builder = builder.where(predicate);
      return builder.as(`f_${kind}`);
    }),
  };
}

function attributeCase(
  source: AttributesSource,
  keyed: SourceCase['keyed'],
  system: boolean,
): SourceCase {
  return {
    name: source.name,
    keyed,
    system,
    kinds: Object.keys(ATTRIBUTE_KINDS),
    windows: ATTRIBUTE_WINDOWS,
    feature: memo((kind, window, where) => {
      let builder = ATTRIBUTE_KINDS[kind]!(source, TTLS[window]);
      const predicate = WHERES[where];
      if (predicate) builder = builder.where(predicate);
      return builder.as(`f_${kind}`);
    }),
  };
}

const SOURCES: readonly SourceCase[] = [
  eventCase(accountEvents, 'account', true),
  eventCase(tenantEvents, 'tenant', true),
  eventCase(tenantBare, 'tenant', false),
  attributeCase(accountAttributes, 'account', true),
  attributeCase(tenantAttributes, 'tenant', false),
];

/**
 * Per source and kind: whether this run evaluates it (about 20% each: planning cost grows with
 * the number of aggregates in a statement), and with which window and which `where`. Over 1000
 * runs every kind comes up about 200 times per source.
 */
type Choice = readonly (readonly (readonly [number, number] | null)[])[];
const choiceArb: fc.Arbitrary<Choice> = fc.tuple(
  ...SOURCES.map((source) =>
    fc.array(
      fc.oneof(
        { weight: 8, arbitrary: fc.constant(null) },
        { weight: 2, arbitrary: fc.tuple(fc.nat(source.windows - 1), fc.nat(WHERES.length - 1)) },
      ),
      { minLength: source.kinds.length, maxLength: source.kinds.length },
    ),
  ),
);

// ---- SQL side ----

const CREATE_TABLE = sql.raw(`CREATE TABLE ${TABLE} (
  tenant text NOT NULL,
  account bigint NOT NULL,
  ts bigint NOT NULL,
  event_id text,
  seq bigint,
  ingested_at bigint,
  n bigint,
  x double precision,
  s text,
  b boolean
)`);

function replaceEventsSql(events: readonly EventRow[]): SQL {
  if (events.length === 0) return sql`DELETE FROM ${sql.identifier(TABLE)}`;
  const rows = events.map(
    (e) =>
      sql`(${e.tenant}, ${e.account}, ${e.ts}, ${e.eventId}, ${e.seq}, ${e.ingestedAt}, ${e.n}, ${e.x}, ${e.s}, ${e.b})`,
  );
  return sql`WITH cleared AS (DELETE FROM ${sql.identifier(TABLE)}) INSERT INTO ${sql.identifier(TABLE)} (tenant, account, ts, event_id, seq, ingested_at, n, x, s, b) VALUES ${sql.join(rows, sql`, `)}`;
}

/**
 * One query per source: the lookups as a VALUES list `(i, keys..., q)`, left-joined to the
 * source's canonical (deduplicated) relation and grouped by lookup, one aggregate per feature.
 */
function sourceQuerySql(
  source: SourceCase,
  features: readonly CompiledFeature[],
  lookups: readonly AsOf[],
): SQL {
  const rows = lookups.map((l, i) =>
    source.keyed === 'account'
      ? sql`(CAST(${i} AS integer), CAST(${l.tenant} AS text), CAST(${l.account} AS bigint), CAST(${l.q} AS bigint))`
      : sql`(CAST(${i} AS integer), CAST(${l.tenant} AS text), CAST(${l.q} AS bigint))`,
  );
  const columns =
    source.keyed === 'account' ? sql`(i, tenant, account_id, q)` : sql`(i, tenant, q)`;
  const join =
    source.keyed === 'account'
      ? sql`e.tenant = l.tenant AND e.account_id = l.account_id`
      : sql`e.tenant = l.tenant`;
  const ir = features[0]!.feature.ir;
  if (ir.kind !== 'aggregation') throw new Error('not an aggregation');
  const relation = sourceRelationSql(ir.source, { dedupe: true });
  const aggregates = features.map(
    (f, k) =>
      sql`${featureAggregateSql(f.feature.ir, 'e', sql`l.q`)} AS ${sql.identifier(`f${k}`)}`,
  );
  return sql`SELECT l.i AS i, ${sql.join(aggregates, sql`, `)} FROM (VALUES ${sql.join(rows, sql`, `)}) AS l${columns} LEFT JOIN ${relation} AS e ON ${join} GROUP BY l.i`;
}

function statementSql(plan: Plan, lookups: readonly AsOf[]): SQL {
  const parts = plan.map(
    ({ source, features }, s) =>
      sql`(SELECT json_agg(r ORDER BY r.i) FROM (${sourceQuerySql(source, features, lookups)}) r) AS ${sql.identifier(`s${s}`)}`,
  );
  return sql`SELECT ${sql.join(parts, sql`, `)}`;
}

type Plan = readonly { source: SourceCase; features: readonly CompiledFeature[] }[];

function planOf(choice: Choice): Plan {
  return SOURCES.map((source, s) => ({
    source,
    features: source.kinds.flatMap((kind, k) => {
      const picked = choice[s]![k];
      return picked === null || picked === undefined
        ? []
        : [source.feature(kind, picked[0], picked[1])];
    }),
  })).filter((p) => p.features.length > 0);
}

// ---- TS side ----

function eventsOf(source: SourceCase, events: readonly EventRow[], lookup: AsOf): SourceEvent[] {
  return events
    .filter(
      (e) =>
        e.tenant === lookup.tenant && (source.keyed === 'tenant' || e.account === lookup.account),
    )
    .map((e) => ({
      ts: e.ts,
      eventId: source.system ? e.eventId : null,
      seq: source.system ? e.seq : null,
      ingestedAt: source.system ? e.ingestedAt : null,
      values: { n: e.n, amount: e.x, s: e.s, b: e.b },
    }));
}

// ---- Comparison ----

const U = 2 ** -53;

/** How far apart two finalized values of float sums may be, given their intermediates. */
function valueTolerance(spec: AggregationSpec, a: Moments, b: Moments): number {
  const n = a.n;
  const slack = 2 * Math.max(n - 1, 0) * U;
  const sumBound = slack * Math.max(a.sumAbs, b.sumAbs);
  const mean = Math.abs(a.sum) / Math.max(n, 1);
  switch (spec.fn) {
    case 'sum':
      return sumBound;
    case 'mean':
      return sumBound / n + 2 * U * mean;
    case 'variance':
    case 'stddev': {
      const sumSq = Math.max(a.sumSq ?? 0, b.sumSq ?? 0);
      const variance =
        (slack * sumSq +
          (2 * Math.abs(a.sum) * sumBound + sumBound * sumBound) / n +
          8 * U * (sumSq + (a.sum * a.sum) / n)) /
        (n - 1);
      return spec.fn === 'variance' ? variance : Math.sqrt(variance) + 4 * U * Math.sqrt(sumSq);
    }
    default:
      return 0;
  }
}

function valuesAgree(
  spec: AggregationSpec,
  sqlState: Intermediate,
  tsState: Intermediate,
  sqlValue: ScalarValue | readonly ScalarValue[],
  tsValue: ScalarValue | readonly ScalarValue[],
): boolean {
  if (Array.isArray(sqlValue) || Array.isArray(tsValue)) {
    const x = sqlValue as readonly ScalarValue[];
    const y = tsValue as readonly ScalarValue[];
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (sqlValue === tsValue) return true;
  if (typeof sqlValue !== 'number' || typeof tsValue !== 'number') return false;
  const tolerance = valueTolerance(spec, sqlState as Moments, tsState as Moments);
  return Math.abs(sqlValue - tsValue) <= tolerance;
}

function checkRun(
  engine: TestDatabase,
  plan: Plan,
  scenario: Scenario,
  row: Record<string, unknown>,
): void {
  plan.forEach(({ source, features }, s) => {
    const results = row[`s${s}`] as Record<string, unknown>[];
    expect(results).toHaveLength(scenario.lookups.length);
    scenario.lookups.forEach((lookup, i) => {
      const result = results[i]!;
      expect(result.i).toBe(i);
      const events = eventsOf(source, scenario.events, lookup);
      features.forEach((f, k) => {
        if (f.feature.ir.kind !== 'aggregation') throw new Error('not an aggregation');
        const spec = f.feature.ir.aggregation;
        const sqlState = decodeIntermediate(spec, result[`f${k}`]) as Intermediate;
        const tsState = f.folder.fold(events, lookup.q);
        const sqlValue = featureValue(f.feature.ir, sqlState);
        const tsValue = featureValue(f.feature.ir, tsState);
        if (
          !intermediatesEqual(spec, sqlState as never, tsState as never) ||
          !valuesAgree(spec, sqlState, tsState, sqlValue, tsValue)
        ) {
          throw new Error(
            [
              `${engine.engine}: ${source.name}.${f.label} at ${JSON.stringify(lookup)}`,
              `  sql: ${JSON.stringify(sqlState)} -> ${JSON.stringify(sqlValue)}`,
              `  ts:  ${JSON.stringify(tsState)} -> ${JSON.stringify(tsValue)}`,
              `  events: ${JSON.stringify(events)}`,
            ].join('\n'),
          );
        }
      });
    });
  });
}

// ---- Tests ----

/** The messages of an error and its causes (drizzle wraps driver errors). */
function messages(error: unknown): string {
  const parts: string[] = [];
  for (let e = error; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(' <- ');
}

let engines: TestDatabase[] = [];

beforeAll(async () => {
  engines = await openSqlEngines('core_agg');
  await Promise.all(engines.map((e) => e.execute(CREATE_TABLE)));
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

async function evaluate(engine: TestDatabase, plan: Plan, scenario: Scenario) {
  await engine.execute(replaceEventsSql(scenario.events));
  const [row] = await engine.execute(statementSql(plan, scenario.lookups));
  return row!;
}

describe('aggregations: SQL equals the TS fold', () => {
  it('on both engines, for every kind, window and filter, at many as-of times', async () => {
    expect(engines.length).toBeGreaterThanOrEqual(1);
    await fc.assert(
      fc.asyncProperty(scenarioArb, choiceArb, async (scenario, choice) => {
        const plan = planOf(choice);
        if (plan.length === 0) return;
        const rows = await Promise.all(engines.map((e) => evaluate(e, plan, scenario)));
        for (const [e, engine] of engines.entries()) checkRun(engine, plan, scenario, rows[e]!);
      }),
      { numRuns: NUM_RUNS },
    );
    // About 40 s on an idle 2-core machine; generous for a loaded one.
  }, 300_000);

  it('keeps the non-null value when a null value ties on (ts, eventId, seq) for latest', async () => {
    const feature = tenantAttributes.latest('s').as('latest_s');
    const folder = compileFolder(feature.ir);
    const events: EventRow[] = [
      {
        tenant: 't',
        account: 1,
        ts: 5,
        eventId: null,
        seq: null,
        ingestedAt: null,
        n: null,
        x: null,
        s: 'kept',
        b: null,
      },
      {
        tenant: 't',
        account: 2,
        ts: 5,
        eventId: null,
        seq: null,
        ingestedAt: null,
        n: null,
        x: null,
        s: null,
        b: null,
      },
    ];
    const scenario: Scenario = { events, lookups: [{ tenant: 't', account: 1, q: 6 }] };
    const source = SOURCES[4]!;
    const ts = folder.fold(eventsOf(source, events, scenario.lookups[0]!), 6);
    expect(featureValue(feature.ir, ts)).toBe('kept');
    for (const engine of engines) {
      await engine.execute(replaceEventsSql(events));
      const [row] = await engine.execute(
        sourceQuerySql(source, [{ label: 'latest_s', feature, folder }], scenario.lookups),
      );
      const state = decodeIntermediate(
        { fn: 'latest' },
        (row as Record<string, unknown>).f0,
      ) as Intermediate;
      expect(featureValue(feature.ir, state), engine.engine).toBe('kept');
    }
  });

  it('raises value out of range in both engines where sums or squares overflow', async () => {
    const overflowing: [string, AnyFeature, number[]][] = [
      ['sum', tenantBare.sum('amount').as('s'), [1e308, 1e308]],
      ['variance', tenantBare.variance('amount').as('v'), [1e200, 1]],
      ['stddev underflow', tenantBare.stddev('amount').as('d'), [1e-200, 1]],
    ];
    for (const [name, feature, xs] of overflowing) {
      const events: EventRow[] = xs.map((x, i) => ({
        tenant: 't',
        account: 1,
        ts: i,
        eventId: null,
        seq: null,
        ingestedAt: null,
        n: null,
        x,
        s: null,
        b: null,
      }));
      const lookup: AsOf = { tenant: 't', account: 1, q: 100 };
      const folder = compileFolder(feature.ir);
      let tsError: unknown;
      try {
        folder.fold(eventsOf(SOURCES[2]!, events, lookup), lookup.q);
      } catch (error) {
        tsError = error;
      }
      expect(isTandemError(tsError, 'VALUE_OUT_OF_RANGE'), name).toBe(true);
      for (const engine of engines) {
        await engine.execute(replaceEventsSql(events));
        const error = await engine
          .execute(sourceQuerySql(SOURCES[2]!, [{ label: name, feature, folder }], [lookup]))
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(messages(error), `${engine.engine} ${name}`).toMatch(/value out of range/);
      }
    }
  });
});

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('countDistinct items: SQL md5 equals TS md5', () => {
  it('for 3000 generated strings, ints and bools, in one query per engine', async () => {
    const spec: AggregationSpec = { fn: 'count_distinct', precision: HLL_PRECISION };
    const seed = Date.now() | 0;
    const cases = fc
      .sample(
        fc.oneof(
          fc.record({ type: fc.constant('string' as const), value: stringArb }),
          fc.record({ type: fc.constant('string' as const), value: fc.string({ unit: 'binary' }) }),
          fc.record({ type: fc.constant('int' as const), value: intArb }),
          fc.record({ type: fc.constant('bool' as const), value: fc.boolean() }),
        ),
        // Postgres text cannot hold NUL or lone surrogates.
        { numRuns: 3000, seed },
      )
      .filter(
        (c) =>
          typeof c.value !== 'string' ||
          (!c.value.includes('\u0000') && !LONE_SURROGATE.test(c.value)),
      );
    const item = (type: 'string' | 'int' | 'bool', column: SQL) =>
      aggregationSql({
        spec,
        value: column,
        valueType: type,
        filter: sql`TRUE`,
        ts: sql`CAST(0 AS bigint)`,
        eventId: sql`CAST(NULL AS text)`,
        seq: sql`CAST(NULL AS bigint)`,
      });
    const rows = cases.map(
      (c, i) =>
        sql`(CAST(${i} AS integer), CAST(${c.type === 'string' ? c.value : null} AS text), CAST(${c.type === 'int' ? c.value : null} AS double precision), CAST(${c.type === 'bool' ? String(c.value) : null} AS boolean))`,
    );
    const query = sql`SELECT json_agg(g ORDER BY g.i) AS items FROM (SELECT v.i AS i, ${item('string', sql`v.s`)} AS s, ${item('int', sql`v.n`)} AS n, ${item('bool', sql`v.b`)} AS b FROM (VALUES ${sql.join(rows, sql`, `)}) AS v(i, s, n, b) GROUP BY v.i) g`;
    for (const engine of engines) {
      const [row] = await engine.execute(query);
      const results = (row as { items: Record<string, unknown>[] }).items;
      expect(results).toHaveLength(cases.length);
      cases.forEach((c, i) => {
        const column = { string: 's', int: 'n', bool: 'b' }[c.type];
        const actual = decodeIntermediate(spec, results[i]![column]);
        if (JSON.stringify(actual) !== JSON.stringify([hllItem(canonicalText(c.value))])) {
          throw new Error(
            `${engine.engine} (seed ${seed}): item of ${c.type} ${JSON.stringify(c.value)}: sql ${JSON.stringify(actual)}, ts ${hllItem(canonicalText(c.value))}`,
          );
        }
      });
    }
  });
});
