import { setImmediate } from 'node:timers/promises';
import {
  type AnyFeature,
  decodeIntermediate,
  type FeatureService,
  featureService,
  fingerprint,
  type Intermediate,
  SYSTEM_COLUMNS,
  TandemError,
} from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import { assertSchemaName } from '../../internal/names.js';
import { rethrowQueryError } from '../../offline/training-set/sources.js';
import { inspectSourceTables } from '../../registry/source-tables.js';
import { readRegisteredFeatures } from '../../registry/tables.js';
import { writeWatermark } from '../../registry/watermarks.js';
import { type OnlineFeature, type OnlineSource, onlineFeature, onlineSources } from '../layout.js';
import type { MaterializedTiles, OnlineStore } from '../store.js';
import { alignDown, need } from './ranges.js';
import { type BaseTile, rollUp, type TileRange } from './rollup.js';
import {
  alignDownSql,
  col,
  type EntityKey,
  keyList,
  keyOfRow,
  keyRangeSql,
  keyRecord,
  keySelect,
  needSql,
  relationSql,
  tileAggregateSql,
  timeRangeSql,
  whereSql,
} from './sql.js';
import {
  type Checkpoint,
  ensureRunsTable,
  finishRun,
  type GroupPlan,
  type RunPlan,
  readSourceState,
  type SourceState,
  saveCheckpoint,
  startRun,
} from './state.js';

/**
 * How far before the previous run's start an ingestion may be stamped and still commit after that
 * run read Postgres (ingestion stamps `ingestedAt` before its transaction commits, possibly on
 * another machine's clock): events ingested after `previous start - LATE_SLACK_MS` are checked
 * for late arrivals.
 */
export const LATE_SLACK_MS = 5 * 60_000;

/** Entities per page when none is given. */
const DEFAULT_CHUNK = 500;
/**
 * Entities of a run's first page (when `chunkSize` allows): pages double from there up to
 * `chunkSize`, so that a run's first writes start after a short query.
 */
const FIRST_CHUNK = 4;

/** Options of {@link materialize}. */
export interface MaterializeOptions {
  /** The offline store's database (Postgres or PGlite). */
  readonly executor: SqlExecutor;
  /** Tandem's schema (registry and managed tables); default `tandem`. */
  readonly schema?: string;
  /** The online store to fill. */
  readonly online: OnlineStore;
  /**
   * Materialize the sources these features (or services) read; default every source of the
   * online store. The batch watermark is per source, so every online feature of a selected source
   * is materialized.
   */
  readonly features?: readonly (FeatureService | AnyFeature)[];
  /** Materialize these sources (names); combined with `features`, both must select a source. */
  readonly sources?: readonly string[];
  /**
   * The batch watermark to reach, epoch ms; default and upper bound: now minus the online store's
   * allowed lateness (later events may still arrive through the stream layer).
   */
  readonly end?: number;
  /** Rebuilds every reachable tile instead of continuing from the previous watermark. */
  readonly full?: boolean;
  /** Called after each chunk of entities is written (and once when a source starts and ends). */
  readonly onProgress?: (progress: MaterializeProgress) => void;
  /**
   * Entities per chunk at most (one query, one pipelined write and one checkpoint each); default
   * 500. A run's first chunks are smaller (4 entities, doubling), so that writing starts early.
   */
  readonly chunkSize?: number;
  /** Clock, epoch ms; default `Date.now`. Use the online store's clock. */
  readonly clock?: () => number;
}

/** Progress of one source's run. */
export interface MaterializeProgress {
  /** The source. */
  readonly source: string;
  /** `start` before the first chunk, `chunk` after each, `done` when the watermark moved. */
  readonly phase: 'start' | 'chunk' | 'done';
  /**
   * Entities done so far in this run. Features of different grains are computed by separate
   * passes, so an entity counts once per grain.
   */
  readonly entities: number;
  /** Entities the run will visit (counted like `entities` when it starts); null when not counted. */
  readonly totalEntities: number | null;
  /** Events aggregated so far. */
  readonly rows: number;
  /** Tiles written so far. */
  readonly tiles: number;
  /** Milliseconds since the run started. */
  readonly elapsedMs: number;
}

/** What materialization did for one source. */
export interface MaterializeSourceResult {
  /** The source. */
  readonly source: string;
  /**
   * `full`: every reachable tile rebuilt; `incremental`: tiles closed since the previous
   * watermark and tiles with late arrivals; `up_to_date`: the watermark already reached the end.
   */
  readonly mode: 'full' | 'incremental' | 'up_to_date';
  /** True when the run resumed a run that was interrupted. */
  readonly resumed: boolean;
  /** The batch watermark before the run (null for a full run). */
  readonly previous: number | null;
  /** The batch watermark after the run. */
  readonly watermark: number | null;
  /** Entities visited (once per grain of the source's features). */
  readonly entities: number;
  /** Events aggregated. */
  readonly rows: number;
  /** Tiles written. */
  readonly tiles: number;
  /** Entities whose tiles were recomputed because of events that arrived late. */
  readonly lateEntities: number;
  /** Wall time, ms. */
  readonly elapsedMs: number;
}

/** What {@link materialize} did, per source (a resumed run and its continuation are two entries). */
export interface MaterializeResult {
  readonly runs: readonly MaterializeSourceResult[];
}

/** The store-wide value that marks a run as started in the online store (see `materialize`). */
export function runMarker(source: string): string {
  return `${source}:run`;
}

/**
 * Batch materialization (DESIGN §4, §5): computes the batch layer's tiles from Postgres, the source
 * of truth, writes them into the online store and moves each source's batch watermark `E` (online
 * and in the registry) to `end`.
 *
 * - **Incremental** (the default once a source has a watermark): every tile (every level) whose
 *   end passed from the previous watermark to the new one, computed from all its events; plus the
 *   tiles holding events that arrived late (ingested after the previous run started, with a time
 *   below the previous watermark), which the stream layer refused.
 * - **Full** (`full`, the first run, or when the online store lost its watermark): every tile a
 *   read can still reach (all tiles of lifetime ladders).
 *
 * One query per source and grain groups events by entity and level-0 tile and computes every
 * feature's intermediate with the offline engine's SQL; levels above are merged in TS. Entities
 * go in key order, in chunks: while a chunk's writes are in flight the next chunk is queried and
 * rolled up. After each chunk a checkpoint goes to the registry, so a run killed midway resumes
 * from there on the next call (unless that call asks for a full run or an earlier end). Tiles are
 * overwritten whole, so running again with the same end changes nothing.
 * @throws {TandemError} `UNKNOWN_FEATURE` when a feature is not applied (or not kept online),
 * `FINGERPRINT_MISMATCH` when the registry holds another definition, `INVALID_ARGUMENT` for a bad
 * `end`, `chunkSize` or source name, the source table's issues, `VALUE_OUT_OF_RANGE` when an
 * aggregate overflows.
 */
export async function materialize(options: MaterializeOptions): Promise<MaterializeResult> {
  const schema = options.schema ?? 'tandem';
  assertSchemaName(schema);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new TandemError('INVALID_ARGUMENT', 'chunkSize must be a positive integer', {
      path: 'chunkSize',
    });
  }
  if (options.end !== undefined && !Number.isSafeInteger(options.end)) {
    throw new TandemError('INVALID_ARGUMENT', 'end must be integer epoch milliseconds', {
      path: 'end',
    });
  }
  const sources = selectSources(options.online, options.features, options.sources);
  await prepare(options.executor, schema, sources);
  const runs: MaterializeSourceResult[] = [];
  for (const source of sources) {
    runs.push(...(await materializeSource({ ...options, schema, chunkSize }, source)));
  }
  return { runs };
}

/** The online sources selected by `features` and `sources`, sorted by name. */
export function selectSources(
  online: OnlineStore,
  features: MaterializeOptions['features'],
  names: MaterializeOptions['sources'],
): OnlineSource[] {
  const all = onlineSources([...online.features.values()]);
  let chosen = [...all.keys()];
  if (features !== undefined) {
    const wanted = new Set<string>();
    for (const item of features) {
      const dependencies =
        'dependencies' in item ? item.dependencies : featureService('online', [item]).dependencies;
      for (const feature of dependencies) {
        if (feature.ir.kind !== 'aggregation') continue;
        const kept = online.features.get(feature.name);
        if (kept === undefined || kept.fp !== onlineFeature(feature).fp) {
          throw new TandemError(
            'UNKNOWN_FEATURE',
            `feature ${feature.name} is not kept by this online store`,
            { path: `feature ${feature.name}` },
          );
        }
        wanted.add(feature.ir.source.name);
      }
    }
    chosen = chosen.filter((name) => wanted.has(name));
  }
  if (names !== undefined) {
    names.forEach((name, i) => {
      if (!all.has(name)) {
        throw new TandemError(
          'INVALID_ARGUMENT',
          `no feature of the online store reads source ${name} (it has ${[...all.keys()].join(', ') || 'none'})`,
          { path: `sources[${i}]` },
        );
      }
    });
    chosen = chosen.filter((name) => names.includes(name));
  }
  return chosen.sort().map((name) => all.get(name)!);
}

/** Creates the runs table; checks that every feature is applied as defined and the tables fit. */
async function prepare(
  executor: SqlExecutor,
  schema: string,
  sources: readonly OnlineSource[],
): Promise<void> {
  const registered = new Map(
    (await readRegisteredFeatures(executor, schema)).map((row) => [row.name, row]),
  );
  for (const source of sources) {
    for (const f of source.features) {
      const row = registered.get(f.feature.name);
      const path = `feature ${f.feature.name}`;
      if (row === undefined || row.removedAt !== null) {
        throw new TandemError(
          'UNKNOWN_FEATURE',
          `feature ${f.feature.name} is not applied: run apply first`,
          { path },
        );
      }
      if (row.fingerprint !== fingerprint(f.ir)) {
        throw new TandemError(
          'FINGERPRINT_MISMATCH',
          `the registry holds fingerprint ${row.fingerprint} for ${f.feature.name}, not ${fingerprint(f.ir)}: apply the definitions first`,
          { path },
        );
      }
    }
  }
  const report = await inspectSourceTables(
    executor,
    schema,
    sources.map((s) => s.source),
  );
  const issue = report.issues[0];
  if (issue !== undefined) throw new TandemError(issue.code, issue.message, { path: issue.path });
  await ensureRunsTable(executor, schema);
}

type Context = MaterializeOptions & { readonly schema: string; readonly chunkSize: number };

async function materializeSource(
  context: Context,
  source: OnlineSource,
): Promise<MaterializeSourceResult[]> {
  const { executor, schema, online } = context;
  const name = source.source.name;
  const namespace = online.namespace;
  const now = (context.clock ?? Date.now)();
  const limit = now - online.allowedLateness;
  const target = Math.floor(Math.min(context.end ?? limit, limit));
  const fingerprints = Object.fromEntries(source.features.map((f) => [f.feature.name, f.fp]));
  const state = await readSourceState(executor, schema, namespace, name);
  let onlineMark = await online.watermark(name);
  const results: MaterializeSourceResult[] = [];
  let previousRun: Pick<SourceState, 'watermark' | 'lastRunStart' | 'fingerprints'> = state;

  const pending = state.pending;
  if (
    pending !== null &&
    context.full !== true &&
    target >= pending.target &&
    (await online.watermark(runMarker(name))) === pending.id &&
    sameFingerprints(pending.fingerprints, fingerprints)
  ) {
    results.push(await execute(context, source, pending, state.checkpoint, true));
    if (target === pending.target) return results;
    previousRun = { watermark: pending.target, lastRunStart: pending.start, fingerprints };
    onlineMark = pending.target;
  }

  const previous =
    context.full === true || onlineMark === null || previousRun.watermark === null
      ? null
      : Math.min(onlineMark, previousRun.watermark);
  if (previous !== null && target <= previous) {
    results.push({
      source: name,
      mode: 'up_to_date',
      resumed: false,
      previous,
      watermark: previous,
      entities: 0,
      rows: 0,
      tiles: 0,
      lateEntities: 0,
      elapsedMs: 0,
    });
    return results;
  }
  const lateSince =
    previous === null || previousRun.lastRunStart === null || source.source.ingestedAt === null
      ? null
      : previousRun.lastRunStart - LATE_SLACK_MS;
  const plan = await planRun(executor, schema, source, {
    id: Math.floor(Math.random() * 2 ** 52),
    target,
    now,
    previous,
    lateSince,
    fingerprints,
    materialized: previousRun.fingerprints,
  });
  await startRun(executor, schema, namespace, plan);
  await online.setWatermark(runMarker(name), plan.id);
  results.push(await execute(context, source, plan, null, false));
  return results;
}

function sameFingerprints(
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** JSON has no infinities: `null` is minus infinity in a plan. */
function toJson(x: number): number | null {
  return x === Number.NEGATIVE_INFINITY ? null : x;
}

function fromJson(x: number | null): number {
  return x === null ? Number.NEGATIVE_INFINITY : x;
}

/** Plans a run: per grain, per feature, the tile ranges to rebuild and the events to read. */
async function planRun(
  executor: SqlExecutor,
  schema: string,
  source: OnlineSource,
  args: {
    readonly id: number;
    readonly target: number;
    readonly now: number;
    readonly previous: number | null;
    readonly lateSince: number | null;
    readonly fingerprints: Readonly<Record<string, string>>;
    readonly materialized: Readonly<Record<string, string>>;
  },
): Promise<RunPlan> {
  const byGrain = new Map<number, OnlineFeature[]>();
  for (const f of source.features) {
    const list = byGrain.get(f.ladder.grain) ?? [];
    list.push(f);
    byGrain.set(f.ladder.grain, list);
  }
  const drafts = [...byGrain]
    .sort(([a], [b]) => a - b)
    .map(([grain, features]) => {
      const ranges = features.map((f) => {
        const floor = f.ladder.lifetime ? Number.NEGATIVE_INFINITY : args.now - f.ladder.reach;
        const hi = alignDown(args.target, grain);
        const incremental = args.previous !== null && args.materialized[f.feature.name] === f.fp;
        const lo = incremental ? Math.max(alignDown(args.previous!, grain), floor) : floor;
        return { f, floor, hi, lo, incremental };
      });
      const from = Math.min(
        ...ranges.map((r) => Math.max(r.floor, need(grain, r.f.ladder.levels, r.lo, r.hi))),
      );
      const to = Math.max(...ranges.map((r) => r.hi));
      const incremental = ranges.filter((r) => r.incremental);
      const late =
        args.lateSince === null || incremental.length === 0
          ? null
          : {
              floor: Math.min(...incremental.map((r) => r.floor)),
              floors: [...new Set(incremental.map((r) => r.floor))].sort((a, b) => a - b),
              before: Math.min(args.previous!, to),
              levels: Math.max(...incremental.map((r) => r.f.ladder.levels)),
            };
      return { grain, ranges, from, to, late };
    });

  // The earliest late event of each group decides how far back its entities are scanned.
  const withLate = drafts.filter((d) => d.late !== null && d.late.before > d.late.floor);
  const lateMins = new Map<number, number | null>();
  if (withLate.length > 0) {
    const r = 'r';
    const ts = col(r, SYSTEM_COLUMNS.ts);
    const columns = withLate.map(
      (d, i) =>
        sql`CAST(min(${ts}) FILTER (WHERE ${sql.join(
          [sql`${ts} < ${d.late!.before}`, ...timeRangeSql(ts, d.late!.floor, Infinity)],
          sql` AND `,
        )}) AS text) AS ${sql.identifier(`g${i}`)}`,
    );
    const [row] = await executor.query<Record<string, string | null>>(sql`
      SELECT ${sql.join(columns, sql`, `)} FROM ${relationSql(schema, source.source, r)}
      WHERE ${col(r, SYSTEM_COLUMNS.ingestedAt)} > ${args.lateSince!}`);
    withLate.forEach((d, i) => {
      const value = row?.[`g${i}`] ?? null;
      lateMins.set(d.grain, value === null ? null : Number(value));
    });
  }

  const groups: GroupPlan[] = [];
  for (const d of drafts) {
    const lateMin = lateMins.get(d.grain) ?? null;
    const lateFrom =
      lateMin === null || d.late === null
        ? Infinity
        : need(d.grain, d.late.levels, Math.max(lateMin, d.late.floor), d.to);
    const scanFrom = Math.min(d.from, lateFrom);
    if (scanFrom === Infinity) continue; // nothing closes, nothing arrived late
    groups.push({
      grain: d.grain,
      features: d.ranges.map((r) => ({
        name: r.f.feature.name,
        lo: toJson(r.lo),
        hi: r.hi,
        floor: toJson(r.floor),
        incremental: r.incremental,
      })),
      from: d.from === Infinity ? d.to : toJson(d.from),
      to: d.to,
      late:
        d.late === null || lateMin === null
          ? null
          : {
              floors: d.late.floors.map(toJson),
              before: d.late.before,
              levels: d.late.levels,
            },
      scanFrom: toJson(scanFrom),
    });
  }
  return {
    id: args.id,
    source: source.source.name,
    target: args.target,
    start: args.now,
    full: args.previous === null,
    previous: args.previous,
    lateSince: args.lateSince,
    fingerprints: args.fingerprints,
    groups,
  };
}

/** The entities of the next page: at most `limit` keys after `after` with events in the scan range. */
function pageKeysSql(
  schema: string,
  source: OnlineSource,
  from: number,
  to: number,
  after: EntityKey | null,
  limit: number,
): SQL {
  const r = 'r';
  const ts = col(r, SYSTEM_COLUMNS.ts);
  return sql`
    SELECT ${keySelect(source.source, r)} FROM ${relationSql(schema, source.source, r)}
    ${whereSql([...keyRangeSql(source.source, r, after, null), ...timeRangeSql(ts, from, to)])}
    GROUP BY ${keyList(source.source, r)} ORDER BY ${keyList(source.source, r)} LIMIT ${limit}`;
}

/** How many entities a group will visit from `after` on (for progress). */
function countKeysSql(
  schema: string,
  source: OnlineSource,
  from: number,
  to: number,
  after: EntityKey | null,
): SQL {
  const r = 'r';
  const ts = col(r, SYSTEM_COLUMNS.ts);
  return sql`
    SELECT CAST(count(*) AS text) AS n FROM (SELECT 1 AS one FROM ${relationSql(schema, source.source, r)}
    ${whereSql([...keyRangeSql(source.source, r, after, null), ...timeRangeSql(ts, from, to)])}
    GROUP BY ${keyList(source.source, r)}) AS k`;
}

/**
 * The level-0 tiles of the entities in `(after, upTo]`: one row per entity and tile with each
 * feature's intermediate (`f<i>`), the events counted (`__n`) and the entity's earliest late event
 * at or after each late floor (`__late<k>`, null when none), in key and tile order.
 */
function pageDataSql(
  schema: string,
  source: OnlineSource,
  group: GroupPlan,
  features: readonly OnlineFeature[],
  lateSince: number | null,
  after: EntityKey | null,
  upTo: EntityKey,
): SQL {
  const ir = source.source;
  const r = 'r';
  const ts = col(r, SYSTEM_COLUMNS.ts);
  const tile = alignDownSql(ts, group.grain);
  const from = fromJson(group.from);
  const late = group.late !== null && lateSince !== null ? group.late : null;
  let join = sql``;
  let lateColumns = sql``;
  let lateGroup = sql``;
  const inRange: SQL[] = timeRangeSql(ts, from, Infinity);
  if (late !== null) {
    const lr = 'lr';
    const lts = col(lr, SYSTEM_COLUMNS.ts);
    const lateConditions = [
      ...keyRangeSql(ir, lr, after, upTo),
      sql`${col(lr, SYSTEM_COLUMNS.ingestedAt)} > ${lateSince}`,
      sql`${lts} < ${late.before}`,
      ...timeRangeSql(lts, fromJson(late.floors[0] ?? null), Infinity),
    ];
    const on = sql.join(
      Object.keys(ir.entity.keys).map((k) => sql`${col(r, k)} = ${col('l', k)}`),
      sql` AND `,
    );
    const name = (k: number) => sql.identifier(`__late${k}`);
    const minima = late.floors.map((floor, k) => {
      const bound = timeRangeSql(lts, fromJson(floor), Infinity)[0];
      return sql`min(${lts})${bound === undefined ? sql`` : sql` FILTER (WHERE ${bound})`} AS ${name(k)}`;
    });
    join = sql`LEFT JOIN (SELECT ${keyList(ir, lr)}, ${sql.join(minima, sql`, `)} FROM ${relationSql(schema, ir, lr)} ${whereSql(lateConditions)} GROUP BY ${keyList(ir, lr)}) AS l ON ${on}`;
    lateColumns = sql.join(
      late.floors.map((_, k) => sql`CAST(l.${name(k)} AS text) AS ${name(k)}, `),
      sql``,
    );
    lateGroup = sql.join(
      late.floors.map((_, k) => sql`l.${name(k)}, `),
      sql``,
    );
    const lateFrom = sql`l.__late0 IS NOT NULL AND ${ts} >= ${needSql(sql`l.__late0`, group.grain, late.levels, group.to)}`;
    // Without a lower bound everything is read anyway.
    if (inRange.length > 0) inRange.splice(0, 1, sql`(${inRange[0]!} OR (${lateFrom}))`);
  }
  const aggregates = features.map(
    (f, i) => sql`${tileAggregateSql(f.ir, r)} AS ${sql.identifier(`f${i}`)}`,
  );
  return sql`
    SELECT ${keySelect(ir, r)}, ${lateColumns}CAST(${tile} AS text) AS __tile,
      CAST(count(*) AS text) AS __n, ${sql.join(aggregates, sql`, `)}
    FROM ${relationSql(schema, ir, r)} ${join}
    ${whereSql([...keyRangeSql(ir, r, after, upTo), sql`${ts} < ${group.to}`, ...inRange])}
    GROUP BY ${keyList(ir, r)}, ${lateGroup}${tile}
    ORDER BY ${keyList(ir, r)}, ${tile}`;
}

/** A page of entities: their keys' upper bound and their level-0 rows. */
interface Page {
  readonly bound: EntityKey;
  readonly visited: number;
  readonly rows: readonly Record<string, unknown>[];
}

/**
 * Tiles per `writeTiles` call: big enough to amortize a round trip, small enough to overlap. Writes
 * in flight hold their fields, which the garbage collector copies while they live: smaller batches,
 * two at a time, cost the client less CPU than batches twice as big, three at a time.
 */
const WRITE_BATCH_TILES = 2000;
/** Write calls in flight at once: one applied by Redis while the next is prepared. */
const WRITES_IN_FLIGHT = 2;

/**
 * Sends batch-layer writes in batches of about {@link WRITE_BATCH_TILES} tiles, a few in flight
 * at once, so that rolling the next entities up overlaps with Redis applying the previous ones.
 */
class WriteQueue {
  private batch: MaterializedTiles[] = [];
  private tiles = 0;
  private readonly inflight = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;

  constructor(
    private readonly online: OnlineStore,
    private readonly source: string,
  ) {}

  /** Queues one entity's tiles; waits when enough writes are in flight. */
  async add(entity: MaterializedTiles): Promise<void> {
    this.batch.push(entity);
    this.tiles += entity.tiles.length;
    if (this.tiles >= WRITE_BATCH_TILES) await this.flush();
  }

  /**
   * Sends what is queued; the promise settles when every write sent so far is done (rejecting
   * with the first failure), while later writes may be queued meanwhile.
   */
  async written(): Promise<void> {
    await this.flush();
    await Promise.all(this.inflight);
    if (this.failure !== null) throw this.failure.error;
  }

  /** Waits for the writes in flight (sends nothing more, throws nothing). */
  async settled(): Promise<void> {
    await Promise.all(this.inflight);
  }

  private async flush(): Promise<void> {
    if (this.failure !== null) throw this.failure.error;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.tiles = 0;
    const write: Promise<void> = this.online.writeTiles(this.source, batch).then(
      () => {
        this.inflight.delete(write);
      },
      (error: unknown) => {
        this.inflight.delete(write);
        this.failure ??= { error };
      },
    );
    this.inflight.add(write);
    // Rolling up is CPU-bound: let I/O in (the next page's query, replies) between batches.
    await setImmediate();
    while (this.inflight.size >= WRITES_IN_FLIGHT) await Promise.race(this.inflight);
  }
}

/** Runs (or resumes) a planned run to its end and moves the watermark. */
async function execute(
  context: Context,
  source: OnlineSource,
  plan: RunPlan,
  checkpoint: Checkpoint | null,
  resumed: boolean,
): Promise<MaterializeSourceResult> {
  const { executor, schema, online, chunkSize } = context;
  const name = source.source.name;
  const started = Date.now();
  const byName = new Map(source.features.map((f) => [f.feature.name, f]));
  const totals = { entities: 0, rows: 0, tiles: 0, late: 0 };
  const firstGroup = checkpoint?.group ?? 0;
  const resumeKey = (g: number) =>
    checkpoint !== null && checkpoint.group === g ? checkpoint.key : null;

  let totalEntities: number | null = null;
  if (context.onProgress !== undefined) {
    totalEntities = 0;
    for (let g = firstGroup; g < plan.groups.length; g++) {
      const group = plan.groups[g]!;
      const [row] = await executor.query<{ n: string }>(
        countKeysSql(schema, source, fromJson(group.scanFrom), group.to, resumeKey(g)),
      );
      totalEntities += Number(row?.n ?? 0);
    }
  }
  const report = (phase: MaterializeProgress['phase']) =>
    context.onProgress?.({
      source: name,
      phase,
      entities: totals.entities,
      totalEntities,
      rows: totals.rows,
      tiles: totals.tiles,
      elapsedMs: Date.now() - started,
    });
  report('start');

  const groups = plan.groups.map((group) => {
    const features = group.features.map((f) => byName.get(f.name)!);
    return {
      group,
      features,
      ranges: group.features.map((f, i) => ({
        feature: features[i]!,
        lo: fromJson(f.lo),
        hi: f.hi,
        floor: fromJson(f.floor),
        incremental: f.incremental,
      })),
      lateFloors: (group.late?.floors ?? []).map(fromJson),
    };
  });
  let pages = 0;
  /** The next page from group `g` on (after `after` in group `g`), or null at the run's end. */
  const fetchPage = async (
    g: number,
    after: EntityKey | null,
  ): Promise<{ g: number; page: Page } | null> => {
    const limit = Math.min(chunkSize, FIRST_CHUNK * 2 ** Math.min(pages++, 30));
    for (; g < groups.length; g++, after = null) {
      const { group, features } = groups[g]!;
      const keys = await executor.query<Record<string, unknown>>(
        pageKeysSql(schema, source, fromJson(group.scanFrom), group.to, after, limit),
      );
      if (keys.length === 0) continue;
      const bound = keyOfRow(source.source, keys[keys.length - 1]!);
      try {
        const rows = await executor.query<Record<string, unknown>>(
          pageDataSql(schema, source, group, features, plan.lateSince, after, bound),
        );
        return { g, page: { bound, visited: keys.length, rows } };
      } catch (error) {
        rethrowQueryError(error);
      }
    }
    return null;
  };

  // Pipelined: the next page (of this group or the next) is queried while this one is rolled up
  // and written, and a page's checkpoint is saved once its writes are done, while the pages
  // after it go on. Checkpoints are saved in page order.
  const writes = new WriteQueue(online, name);
  let checkpoints: Promise<void> = Promise.resolve();
  let next = fetchPage(firstGroup, resumeKey(firstGroup));
  try {
    for (;;) {
      const item = await next;
      if (item === null) break;
      const { g, page } = item;
      next = fetchPage(g, page.bound);
      next.catch(() => {});
      const { features, ranges, lateFloors } = groups[g]!;
      const done = await rollUpPage(source, features, ranges, lateFloors, page.rows, (entity) =>
        writes.add(entity),
      );
      const written = writes.written();
      checkpoints = Promise.all([checkpoints, written]).then(async () => {
        await saveCheckpoint(executor, schema, online.namespace, plan, {
          group: g,
          key: page.bound,
        });
        totals.entities += page.visited;
        totals.rows += done.rows;
        totals.tiles += done.tiles;
        totals.late += done.late;
        report('chunk');
      });
      checkpoints.catch(() => {});
    }
    await checkpoints;
  } finally {
    // A failure leaves queries, writes and checkpoints running: let them settle before giving up.
    await Promise.all([next.catch(() => null), writes.settled()]);
    await checkpoints.catch(() => null);
  }

  await online.setWatermark(name, plan.target);
  await finishRun(executor, schema, online.namespace, plan, async (tx) => {
    for (const f of source.features) {
      await writeWatermark(tx, schema, {
        feature: f.feature.name,
        fingerprint: fingerprint(f.ir),
        watermark: plan.target,
      });
    }
  });
  report('done');
  return {
    source: name,
    mode: plan.full ? 'full' : 'incremental',
    resumed,
    previous: plan.previous,
    watermark: plan.target,
    entities: totals.entities,
    rows: totals.rows,
    tiles: totals.tiles,
    lateEntities: totals.late,
    elapsedMs: Date.now() - started,
  };
}

/**
 * Groups a page's rows by entity, rolls each entity's tiles up and hands them to `write` (which
 * may wait, to bound the writes in flight).
 */
async function rollUpPage(
  source: OnlineSource,
  features: readonly OnlineFeature[],
  ranges: readonly (TileRange & { readonly incremental: boolean })[],
  lateFloors: readonly number[],
  rows: readonly Record<string, unknown>[],
  write: (entity: MaterializedTiles) => Promise<void>,
): Promise<{ rows: number; tiles: number; late: number }> {
  // The late column of each feature: the earliest late event at or after its floor.
  const lateColumn = ranges.map((range) =>
    range.incremental ? `__late${lateFloors.indexOf(range.floor)}` : null,
  );
  const keyColumns = Object.keys(source.source.entity.keys).map((k) => `k_${k}`);
  const stateColumns = features.map((_, j) => `f${j}`);
  const sameEntity = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    keyColumns.every((column) => a[column] === b[column]);
  let count = 0;
  let tiles = 0;
  let late = 0;
  let i = 0;
  while (i < rows.length) {
    const first = rows[i]!;
    const base: BaseTile[] = [];
    for (; i < rows.length && sameEntity(first, rows[i]!); i++) {
      const row = rows[i]!;
      count += Number(row.__n);
      base.push({
        start: Number(row.__tile),
        states: features.map(
          (f, j) => decodeIntermediate(f.ir.aggregation, row[stateColumns[j]!]) as Intermediate,
        ),
      });
    }
    // A late event rebuilds every tile of its time on (within the feature's reach).
    let lateEntity = false;
    const entityRanges = ranges.map((range, j) => {
      const column = lateColumn[j];
      const text = column === null || column === undefined ? null : first[column];
      if (text === null || text === undefined) return range;
      lateEntity = true;
      return { ...range, lo: Math.min(range.lo, Number(text)) };
    });
    if (lateEntity) late++;
    const built = rollUp(base, entityRanges);
    if (built.length > 0) {
      tiles += built.length;
      await write({ key: keyRecord(source.source, keyOfRow(source.source, first)), tiles: built });
    }
  }
  return { rows: count, tiles, late };
}
