/**
 * The parity suite (issue 5): every aggregation kind over several (W, h) pairs, lifetime windows,
 * attribute values with and without ttl, `where` filters and derived features, through both online
 * engines (in-process and real Redis) against the offline SQL (real Postgres, or PGlite where no
 * Postgres can be had), on adversarial generated timelines (`@tandem/testing` generators): events
 * on every window edge, out-of-order and delayed arrival up to and exactly at the allowed
 * lateness, arrival exactly at a read, duplicates, ties, nulls, entities without events, huge,
 * tiny and negative values. Every replay also runs the batch layer (checkParity materializes at
 * the median q by default), so reads combine batch tiles with stream tiles; one group has events
 * later than the allowed lateness, gathered into backfills each followed by a materialization
 * (`batchLateArrivals`), so the batch layer's repair of late data is checked too. Features are
 * checked a few at a time (cells of 5, each with timelines of its own: the online read cost grows
 * with the features read), about 70% of the timelines through the in-process engine and 30%
 * through Redis. Zero disagreements are required, and at least 100,000 checked (entity, q)
 * points per run in total (counted and asserted at the end).
 *
 * `PARITY_SCALE` (default 1) scales the number of generated timelines, for quick local runs.
 */
import {
  type AggregationBuilder,
  type AnyFeature,
  attributeSource,
  coalesce,
  derived,
  entity,
  eventSource,
  featureService,
  lit,
  type Source,
  when,
} from '@tandem/core';
import {
  batchLateArrivals,
  combineParityStreams,
  expectParity,
  loadParityStream,
  openPostgres,
  openRedis,
  type ParityStream,
  type ParityStreamOptions,
  parityPoints,
  parityStreamArb,
  redisUnavailableReason,
  type TestDatabase,
  type TestRedis,
} from '@tandem/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import type { SqlExecutor } from '../executor/executor.js';
import { createOfflineStore, type OfflineStore } from '../offline/store.js';
import { redisAdapter } from '../online/redis/adapter.js';
import type { ParityReport } from './types.js';

const SCALE = Number(process.env.PARITY_SCALE ?? 1);
/** Points the whole suite must check (scaled down with `PARITY_SCALE` < 1 for local runs). */
const REQUIRED_POINTS = Math.ceil(100_000 * Math.min(1, SCALE));
/** Share of each group's timelines replayed into Redis (the rest: the in-process engine). */
const REDIS_SHARE = 0.3;

const customer = entity({ name: 'customer', keys: { customer_id: 'string' } });
const orders = eventSource({
  name: 'orders',
  entity: customer,
  fields: {
    amount: 'float',
    items: 'int',
    channel: { type: 'string', nullable: true },
    tip: { type: 'float', nullable: true },
  },
});
const account = entity({ name: 'account', keys: { region: 'string', account_no: 'int' } });
const profiles = attributeSource({
  name: 'profiles',
  entity: account,
  fields: {
    tier: { type: 'string', nullable: true },
    score: { type: 'float', nullable: true },
    seats: 'int',
  },
});

/** Applies a window (or none) to an aggregation of `orders`. */
type Windowed = <S extends Source, T>(b: AggregationBuilder<S, T>) => AggregationBuilder<S, T>;

/**
 * Every aggregation kind over one window (`w` applies it), with `where` filters, defaults and
 * derived features of floats, of exact values, and of both.
 */
function everyKind(p: string, w: Windowed): AnyFeature[] {
  const o = orders;
  const n = w(o.count()).as(`${p}_n`);
  const sum = w(o.sum('amount')).as(`${p}_sum`);
  const sumItems = w(o.sum('items')).as(`${p}_sum_items`);
  const min = w(o.min('amount')).as(`${p}_min`);
  const maxItems = w(o.max('items')).as(`${p}_max_items`);
  const mean = w(o.mean('amount')).as(`${p}_mean`);
  const nPos = w(o.count().where((t) => t.amount.gt(0))).as(`${p}_n_pos`);
  return [
    n,
    w(o.count('tip')).as(`${p}_n_tip`),
    sum,
    sumItems,
    w(o.sum('tip')).as(`${p}_sum_tip`),
    mean,
    w(o.mean('items').default(-1)).as(`${p}_mean_items`),
    min,
    w(o.max('amount')).as(`${p}_max`),
    maxItems,
    w(o.min('tip').default(0)).as(`${p}_min_tip`),
    w(o.variance('amount')).as(`${p}_var`),
    w(o.stddev('items')).as(`${p}_std_items`),
    w(o.stddev('tip')).as(`${p}_std_tip`),
    w(o.last('channel')).as(`${p}_last_channel`),
    w(o.last('amount').default(0)).as(`${p}_last_amount`),
    w(o.lastK('items', 3)).as(`${p}_last3_items`),
    w(o.firstK('channel', 2)).as(`${p}_first2_channel`),
    w(o.lastK((t) => t.amount.mul(2), 2)).as(`${p}_last2_double`),
    w(o.countDistinct('channel')).as(`${p}_distinct_channel`),
    w(o.countDistinct('items')).as(`${p}_distinct_items`),
    nPos,
    w(o.sum('amount').where((t) => t.channel.eq('shop').or(t.items.gt(500)))).as(`${p}_sum_where`),
    w(o.last('channel').where((t) => t.tip.isNotNull().and(t.items.lt(0)))).as(`${p}_last_where`),
    // Derived: a ratio of a float sum (tolerance), and features of exact inputs (exact).
    derived(`${p}_avg_ticket`, { s: sum, c: n }, (f) => f.s.div(f.c)),
    derived(`${p}_share_pos`, { a: nPos, b: n }, (f) => coalesce(f.a.div(f.b), lit(0))),
    derived(`${p}_band`, { c: n, m: maxItems }, (f) =>
      when(f.c.gte(5), 'busy').when(f.m.gt(100), 'big').otherwise('quiet'),
    ),
    derived(`${p}_spread`, { m: maxItems, lo: min, s: sumItems }, (f) =>
      f.m.sub(f.lo).add(f.s.mul(0.5)),
    ),
    derived(`${p}_mean_or_zero`, { m: mean }, (f) => f.m.ifNull(0).clip(-1e6, 1e6)),
  ];
}

interface Group {
  readonly name: string;
  readonly features: readonly AnyFeature[];
  readonly stream: Omit<ParityStreamOptions, 'source' | 'windows'>;
  readonly source: typeof orders | typeof profiles;
  /** Points checked over the group's cells (before `PARITY_SCALE`). */
  readonly points: number;
  /** Allowed lateness of the replayed online store, ms. */
  readonly lateness: number;
  /**
   * Late arrivals (beyond the allowed lateness) in backfills every `every` ms, each followed by a
   * materialization (`batchLateArrivals`); without it, no event is late and the replay
   * materializes once, at the median q.
   */
  readonly late?: { readonly rate: number; readonly every: number };
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const dense = { queries: { min: 2, max: 6 }, extraReads: 40, background: 30 } as const;

const groups: readonly Group[] = [
  {
    name: 'minutes (1h/5m, 2h/10m, 10m/2m)',
    source: orders,
    features: [
      ...everyKind('h1', (b) => b.window('1h')),
      ...everyKind('h2', (b) => b.window('2h', { hop: '10m' })),
      ...everyKind('m10', (b) => b.window('10m', { hop: '2m' })),
    ],
    stream: { allowedLateness: 20 * MIN, ...dense },
    points: 31_000,
    lateness: 20 * MIN,
  },
  {
    name: 'days (7d/1h default, 24h/1h)',
    source: orders,
    features: [
      ...everyKind('d7', (b) => b.window('7d')),
      ...everyKind('d1', (b) => b.window('24h')),
    ],
    stream: { allowedLateness: 3 * HOUR, ...dense },
    points: 22_000,
    lateness: 3 * HOUR,
  },
  {
    name: 'month (30d/1d default, 30d/1ms for last)',
    source: orders,
    features: [
      ...everyKind('d30', (b) => b.window('30d')),
      orders
        .last('amount')
        .window(30 * DAY, { hop: 1 })
        .as('d30ms_last_amount'),
      orders
        .lastK('channel', 2)
        .window(30 * DAY, { hop: 1 })
        .as('d30ms_last2_channel'),
    ],
    stream: { allowedLateness: 2 * DAY, ...dense },
    points: 15_000,
    lateness: 2 * DAY,
  },
  {
    name: 'lifetime, negative times',
    source: orders,
    features: everyKind('life', (b) => b),
    stream: { allowedLateness: HOUR, origin: -2 * DAY, span: 3 * DAY, ...dense },
    points: 14_000,
    lateness: HOUR,
  },
  {
    name: 'attributes (latest with ttl 3d and 1h, and without)',
    source: profiles,
    features: (() => {
      const tier = profiles.latest('tier', { ttl: '3d' }).as('tier_3d');
      const score = profiles.latest('score', { ttl: '1h' }).as('score_1h');
      const seats = profiles.latest('seats').default(0).as('seats');
      return [
        tier,
        score,
        seats,
        profiles.latest('tier').default('none').as('tier_any'),
        profiles.latest('score').as('score_any'),
        derived('tier_or_seats', { t: tier, s: seats }, (f) => coalesce(f.t, f.s.cast('string'))),
        derived('score_per_seat', { a: score, s: seats }, (f) => f.a.div(f.s)),
      ];
    })(),
    stream: { allowedLateness: 30 * MIN, ...dense },
    points: 18_000,
    lateness: 30 * MIN,
  },
  {
    name: 'late data in backfills, repaired by the batch layer (2h/10m, lifetime)',
    source: orders,
    features: [
      ...everyKind('late2h', (b) => b.window('2h', { hop: '10m' })).slice(0, 15),
      ...everyKind('latelife', (b) => b).slice(0, 15),
    ],
    stream: { allowedLateness: 20 * MIN, span: DAY, ...dense },
    points: 10_000,
    lateness: 20 * MIN,
    late: { rate: 0.15, every: 6 * HOUR },
  },
];

/** Features per checked service: the online read cost grows with them, so cells stay small. */
const CELL_FEATURES = 5;

/** A cell: a few features of a group with timelines of their own, one per engine. */
interface Cell {
  readonly group: Group;
  readonly features: readonly AnyFeature[];
  memory: ParityStream | null;
  redis: ParityStream | null;
  /** Materialization times of the late-data timelines, by engine. */
  materializeAt: { memory: readonly number[]; redis: readonly number[] } | null;
}

const cells: Cell[] = groups.flatMap((group) => {
  const out: Cell[] = [];
  for (let i = 0; i < group.features.length; i += CELL_FEATURES) {
    out.push({
      group,
      features: group.features.slice(i, i + CELL_FEATURES),
      memory: null,
      redis: null,
      materializeAt: null,
    });
  }
  return out;
});

let database: TestDatabase;
let executor: SqlExecutor;
let offline: OfflineStore;
const redisReason = await redisUnavailableReason();
let redis: TestRedis | undefined;
const reports: { group: string; engine: string; report: ParityReport }[] = [];

/**
 * Generates each cell's timelines (seeded: the same data every run) until they hold the cell's
 * share of its group's points, splits them between the engines, and writes them all to Postgres.
 */
beforeAll(async () => {
  database = await openPostgres('parity_suite');
  executor = pgliteOrPostgresExecutor(database);
  offline = createOfflineStore({ executor, schema: database.schema });
  if (!redisReason) redis = await openRedis('parity_suite');
  let firstEntity = 0;
  const bySource = new Map<string, ParityStream[]>();
  cells.forEach((cell, c) => {
    const { group } = cell;
    const share = cells.filter((other) => other.group === group).length;
    const target = Math.max(20, Math.round((group.points * SCALE) / share));
    const arb = parityStreamArb({
      ...group.stream,
      source: group.source,
      windows: cell.features,
      lateRate: group.late?.rate ?? 0,
    });
    const streams: ParityStream[] = [];
    let points = 0;
    for (let batch = 0; points < target; batch++) {
      for (const stream of fc.sample(arb, { numRuns: 25, seed: 7919 * c + batch })) {
        if (points >= target) break;
        streams.push(stream);
        points += stream.queries.length;
      }
    }
    const combine = (part: readonly ParityStream[]) => {
      const joined = combineParityStreams(group.source.entity, part, { firstEntity });
      firstEntity += joined.entities.length;
      return joined;
    };
    const cut = Math.max(1, Math.round(streams.length * (1 - REDIS_SHARE)));
    let memory = combine(streams.slice(0, cut));
    let onRedis = streams.length > cut ? combine(streams.slice(cut)) : null;
    if (group.late !== undefined) {
      const late = { every: group.late.every, features: cell.features };
      const a = batchLateArrivals(memory, late);
      const b = onRedis === null ? null : batchLateArrivals(onRedis, late);
      memory = a.stream;
      onRedis = b?.stream ?? null;
      cell.materializeAt = { memory: a.materializeAt, redis: b?.materializeAt ?? [] };
    }
    cell.memory = memory;
    cell.redis = onRedis;
    const list = bySource.get(group.source.name) ?? [];
    list.push(memory, ...(onRedis === null ? [] : [onRedis]));
    bySource.set(group.source.name, list);
  });
  for (const source of [orders, profiles]) {
    // Entities are distinct across timelines, so they are simply written one after another.
    for (const part of bySource.get(source.name) ?? []) {
      await loadParityStream(offline, source, part);
    }
  }
}, 600_000);

afterAll(async () => {
  await redis?.close();
  await executor?.close();
  await database?.close();
});

let cpuMicros = 0;

async function checkCells(group: Group, engine: 'in-process' | 'redis'): Promise<void> {
  const cpu = process.cpuUsage();
  try {
    await checkCellsOf(group, engine);
  } finally {
    const used = process.cpuUsage(cpu);
    cpuMicros += used.user + used.system;
  }
}

async function checkCellsOf(group: Group, engine: 'in-process' | 'redis'): Promise<void> {
  for (const cell of cells.filter((c) => c.group === group)) {
    const timeline = engine === 'redis' ? cell.redis : cell.memory;
    if (timeline === null) continue;
    const report = await expectParity({
      offline,
      ...(engine === 'redis'
        ? { online: redisAdapter({ client: redis!.client }), namespace: redis!.prefix }
        : {}),
      service: featureService(`suite_${reports.length}`, [...cell.features]),
      sample: parityPoints(timeline),
      allowedLateness: group.lateness,
      ...(cell.materializeAt === null
        ? {}
        : { materialize: { at: cell.materializeAt[engine === 'redis' ? 'redis' : 'memory'] } }),
      minPoints: timeline.queries.length,
    });
    reports.push({ group: group.name, engine, report });
  }
}

describe('parity suite', () => {
  for (const group of groups) {
    it(`${group.name}: in-process engine`, () => checkCells(group, 'in-process'), 600_000);
    it.skipIf(redisReason)(`${group.name}: Redis`, () => checkCells(group, 'redis'), 600_000);
  }

  it(`checked at least ${REQUIRED_POINTS} (entity, q) points, through both engines`, () => {
    const sum = (pick: (r: ParityReport) => number, engine?: string) =>
      reports
        .filter((r) => engine === undefined || r.engine === engine)
        .reduce((n, r) => n + pick(r.report), 0);
    const points = sum((r) => r.sample.points);
    const lines = groups.map((g) => {
      const mine = reports.filter((r) => r.group === g.name);
      const ms = mine.reduce((n, r) => n + r.report.durationMs, 0);
      const pts = mine.reduce((n, r) => n + r.report.sample.points, 0);
      return `  ${g.name}: ${pts} points, ${g.features.length} features, ${ms} ms`;
    });
    console.info(
      [
        `parity suite: ${points} points (in-process ${sum((r) => r.sample.points, 'in-process')}, redis ${sum((r) => r.sample.points, 'redis')}), ${sum((r) => r.totals.values)} values, ${sum((r) => r.replay.events)} events replayed, ${reports.length} runs, ${Math.round(cpuMicros / 1000)} ms CPU in this process`,
        ...lines,
      ].join('\n'),
    );
    expect(reports.every((r) => r.report.ok)).toBe(true);
    expect(points).toBeGreaterThanOrEqual(REQUIRED_POINTS);
    if (!redisReason) expect(sum((r) => r.sample.points, 'redis')).toBeGreaterThan(0.2 * points);
  });
});
