import {
  type AnyFeature,
  compileFolder,
  emptyIntermediate,
  type FeatureFolder,
  type FeatureIR,
  featureService,
  featureValue,
  floorMod,
  formatDuration,
  type Intermediate,
  type Moments,
  type ScalarValue,
  TandemError,
  tileOf,
  tileSize,
  toMillis,
  windowStart,
} from '@tandem/core';
import { compileRowCompletion, type RowCompletion } from '../internal/derive.js';
import type { AggregationFeature } from '../offline/training-set/plan.js';
import { planTrainingSet } from '../offline/training-set/plan.js';
import { assertSourceTables } from '../offline/training-set/sources.js';
import { memoryAdapter } from '../online/memory/adapter.js';
import { createOnlineStore, type MaterializedTiles, type OnlineStore } from '../online/store.js';
import { isLate, replayClock, replayTimeline } from './internal/replay.js';
import {
  entityTag,
  loadEvents,
  type SampleWindow,
  samplePoints,
  type TimelineEvent,
} from './internal/timeline.js';
import { derivedTolerance, MOMENT_AGGREGATIONS, momentTolerance } from './internal/tolerance.js';
import type {
  CheckParityOptions,
  DisagreementKind,
  EntityKey,
  ExampleEvent,
  ExampleWindow,
  FeatureParity,
  ParityComparison,
  ParityExample,
  ParityPoint,
  ParityReport,
} from './types.js';

/** Name of the as-of column of the entity rows a parity run gives the offline store. */
const Q_COLUMN = '__parity_q';

type Value = ScalarValue | readonly ScalarValue[];

interface Candidate {
  readonly score: number;
  readonly point: number;
  readonly kind: DisagreementKind;
  readonly offline: Value;
  readonly online: Value;
  readonly status: string;
  readonly difference: number | null;
  readonly tolerance: number;
  readonly unrepairedLate: boolean;
}

interface FeatureState {
  readonly feature: AnyFeature;
  readonly comparison: ParityComparison;
  /** Aggregation features the value rests on (itself for an aggregation). */
  readonly leaves: readonly AggregationFeature[];
  /** Computes the reference value of a derived feature from its inputs' values. */
  readonly complete: RowCompletion | null;
  total: number;
  agree: number;
  bothNull: number;
  offlineNull: number;
  onlineNull: number;
  mismatch: number;
  withinTolerance: number;
  unrepairedLate: number;
  numericPairs: number;
  smapeSum: number;
  maxDifference: number;
  examples: Candidate[];
}

/**
 * Checks that the offline store (SQL as of q) and the online store (as of q) give the same feature
 * values, point by point, and reports per feature how many values agree, are null on both sides,
 * null on one side only, or differ, with the worst examples and the events behind them.
 *
 * The online values come from a **replay**: the events of the sampled entities are read from
 * Postgres and streamed into a scratch namespace of the online store in arrival order (ingestion
 * time, then sequence; event time when the source has no ingestion time) on a simulated clock,
 * interleaved with the reads in increasing q, so that every read sees exactly what had arrived
 * by then. The scratch namespace is cleared afterwards. Values are compared exactly, except float
 * sums (and means, variances, deviations made of them), held to the DESIGN §3 bound, and derived
 * features of them (see docs/parity.md). Request-time features are skipped (same code on both
 * paths).
 * @throws {TandemError} `INVALID_ARGUMENT` for a bad selection or sample; the offline store's
 * errors for missing tables.
 */
export async function checkParity(options: CheckParityOptions): Promise<ParityReport> {
  const startedAt = Date.now();
  const { selection, skipped, serviceName } = resolveSelection(options);
  const plan = planTrainingSet(selection);
  const { executor, schema } = options.offline;
  await assertSourceTables(executor, schema, plan);
  const exampleCount = options.examples ?? 5;
  const allowedLateness = toMillis(options.allowedLateness ?? '1h', 'allowedLateness');
  const sources = new Map(plan.bySource.map((g) => [g.source.name, g.source]));
  const keyNamesOf = new Map(
    plan.bySource.map((g) => [g.source.name, Object.keys(g.source.entity.keys)]),
  );
  const aggregations = plan.bySource.flatMap((g) => g.features);

  // Events of the entities of the points, per source and entity.
  const events = new Map<string, Map<string, TimelineEvent[]>>();
  for (const name of sources.keys()) events.set(name, new Map());
  const eventsOf = (source: string, entity: EntityKey): TimelineEvent[] =>
    events.get(source)!.get(entityTag(keyNamesOf.get(source)!, entity)) ?? [];
  const load = async (entities: readonly EntityKey[]) => {
    for (const [name, source] of sources) {
      const loaded = await loadEvents(executor, schema, source, entities);
      const target = events.get(name)!;
      for (const [tag, list] of loaded) target.set(tag, list);
    }
  };

  let points: readonly ParityPoint[];
  const sampled = !Array.isArray(options.sample);
  if (Array.isArray(options.sample)) {
    points = checkPoints(options.sample as readonly ParityPoint[], plan.keys);
    await load(points.map((p) => p.entity));
  } else {
    const service = featureService('parity', selection);
    const groups = service.entities.map((entity) => ({
      keyNames: Object.keys(entity.keys),
      sources: plan.bySource
        .filter((g) => g.source.entity.name === entity.name)
        .map((g) => g.source),
    }));
    const windows: SampleWindow[] = aggregations.map((f) => ({
      source: f.ir.source.name,
      window: f.ir.window,
    }));
    points = await samplePoints(
      executor,
      schema,
      groups,
      windows,
      options.sample as Exclude<typeof options.sample, readonly ParityPoint[]>,
      async (entities) => {
        await load(entities);
        return (entity) => [...sources.keys()].flatMap((s) => eventsOf(s, entity));
      },
    );
  }
  options.onProgress?.({ phase: 'sample', done: points.length, total: points.length });

  // Offline values, in point order.
  const offline: Value[][] = [];
  const rows = options.offline.getTrainingSet({
    features: selection,
    entityRows: points.map((p) => ({ ...p.entity, [Q_COLUMN]: p.q })),
    timeColumn: Q_COLUMN,
  });
  for await (const row of rows) {
    offline.push(selection.map((f) => (row[f.name] ?? null) as Value));
    if (offline.length % 1000 === 0 && offline.length < points.length) {
      options.onProgress?.({ phase: 'offline', done: offline.length, total: points.length });
    }
  }
  options.onProgress?.({ phase: 'offline', done: offline.length, total: points.length });

  // Reference folds, on demand.
  const folders = new Map<string, FeatureFolder>(
    aggregations.map((f) => [f.name, compileFolder(f.ir)]),
  );
  const referenceState = (point: ParityPoint, f: AggregationFeature): Intermediate =>
    folders.get(f.name)!.fold(eventsOf(f.ir.source.name, point.entity), point.q);
  const states: FeatureState[] = selection.map((feature) => stateOf(feature, aggregations));

  const leafBound = (point: ParityPoint, leaf: AggregationFeature) => {
    const state = referenceState(point, leaf);
    const value = featureValue(leaf.ir, state);
    if (!MOMENT_AGGREGATIONS.has(leaf.ir.aggregation.fn) || typeof value !== 'number') {
      return { value: typeof value === 'number' ? value : null, bound: 0 };
    }
    return {
      value,
      bound: momentTolerance(
        leaf.ir.aggregation.fn,
        state as Moments,
        isIntegerInput(leaf.ir),
        value,
        value,
      ),
    };
  };
  const toleranceOf = (point: ParityPoint, state: FeatureState, a: number, b: number): number => {
    const { feature } = state;
    if (feature.ir.kind === 'aggregation') {
      const fn = feature.ir.aggregation.fn;
      if (!MOMENT_AGGREGATIONS.has(fn)) return 0;
      const moments = referenceState(point, feature as AggregationFeature) as Moments;
      return momentTolerance(fn, moments, isIntegerInput(feature.ir), a, b);
    }
    return derivedTolerance(
      state.leaves.map((leaf) => leafBound(point, leaf)),
      a,
      b,
    );
  };

  // The replay.
  const clock = replayClock(Number.MIN_SAFE_INTEGER);
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const namespace = `${(options.namespace ?? 'tandem').replace(/:+$/, '')}:parity:${runId}`;
  let store: OnlineStore;
  let engine: ParityReport['replay']['engine'];
  if (options.online === undefined) {
    engine = 'memory';
    store = createOnlineStore({
      adapter: memoryAdapter({ now: clock.now }),
      features: selection,
      namespace,
      allowedLateness,
      clock: clock.now,
      watermarkCacheMs: 0,
    });
  } else if (typeof options.online === 'function') {
    engine = 'factory';
    store = options.online({ namespace, clock: clock.now, features: selection, allowedLateness });
  } else {
    engine = 'adapter';
    store = createOnlineStore({
      adapter: options.online,
      features: selection,
      namespace,
      allowedLateness,
      clock: clock.now,
      watermarkCacheMs: 0,
    });
  }
  const lateness = store.allowedLateness;
  const timeline = [...events.values()].flatMap((byTag) => [...byTag.values()].flat());
  const grainOf = (feature: string) => store.features.get(feature)?.ladder.grain ?? 1;
  /** True when a materialization before q covered the (late) event. */
  const isRepaired = (e: TimelineEvent, q: number, grain: number) =>
    materializations.some(
      (m) => m.at <= q && e.arrival <= m.at && e.ts < m.end - floorMod(m.end, grain),
    );
  const hasUnrepairedLate = (point: ParityPoint, state: FeatureState) =>
    state.leaves.some((leaf) => {
      const folder = folders.get(leaf.name)!;
      const grain = grainOf(leaf.name);
      return eventsOf(leaf.ir.source.name, point.entity).some(
        (e) => isLate(e, lateness) && folder.counts(e, point.q) && !isRepaired(e, point.q, grain),
      );
    });
  const compare = (pointIndex: number, fi: number, online: Value, status: string) => {
    const state = states[fi]!;
    const point = points[pointIndex]!;
    const off = offline[pointIndex]![fi] ?? null;
    state.total++;
    const offNull = off === null;
    const onNull = online === null;
    if (offNull && onNull) {
      state.bothNull++;
      return;
    }
    if (offNull || onNull) {
      if (offNull) state.offlineNull++;
      else state.onlineNull++;
      const late = hasUnrepairedLate(point, state);
      if (late) state.unrepairedLate++;
      keep(state, exampleCount, {
        unrepairedLate: late,
        score: 3,
        point: pointIndex,
        kind: offNull ? 'offline_null' : 'online_null',
        offline: off,
        online,
        status,
        difference: null,
        tolerance: 0,
      });
      return;
    }
    const numeric = typeof off === 'number' && typeof online === 'number';
    let difference: number | null = null;
    if (numeric) {
      difference = Math.abs(off - online);
      const scale = Math.abs(off) + Math.abs(online);
      state.numericPairs++;
      state.smapeSum += difference === 0 || scale === 0 ? 0 : (2 * difference) / scale;
      state.maxDifference = Math.max(state.maxDifference, difference);
    }
    if (sameValue(off, online)) {
      state.agree++;
      return;
    }
    // Exact comparisons get 0 here, except moment aggregations of integers beyond 2^53.
    const tolerance = numeric ? toleranceOf(point, state, off, online) : 0;
    if (numeric && difference! <= tolerance) {
      state.agree++;
      state.withinTolerance++;
      return;
    }
    state.mismatch++;
    const late = hasUnrepairedLate(point, state);
    if (late) state.unrepairedLate++;
    const scale = numeric ? Math.abs(off as number) + Math.abs(online as number) : 0;
    keep(state, exampleCount, {
      score: numeric ? (scale === 0 ? 0 : (2 * difference!) / scale) : 2,
      point: pointIndex,
      kind: 'mismatch',
      unrepairedLate: late,
      offline: off,
      online,
      status,
      difference,
      tolerance,
    });
  };

  // The batch layer: at each materialization time, the tiles below `end = at - lateness` of the
  // sampled entities, from the events that had arrived by then, and the batch watermark.
  const materializations: { at: number; end: number }[] = [];
  const materializeAt =
    options.materialize === false
      ? []
      : (options.materialize?.at ?? 'middle') === 'middle'
        ? points.length === 0
          ? []
          : [median(points.map((p) => p.q))]
        : [...(options.materialize!.at as readonly number[])];
  for (const [i, at] of materializeAt.entries()) {
    if (!Number.isSafeInteger(at)) {
      throw new TandemError('INVALID_ARGUMENT', 'materialization times must be epoch ms', {
        path: `materialize.at[${i}]`,
      });
    }
  }
  // Events folded into each batch tile at its last write: a tile whose event set did not grow is
  // not written again (its events only grow from one materialization to the next).
  const written = new Map<string, number>();
  const batch = async (at: number) => {
    const end = at - lateness;
    for (const [sourceName, byTag] of events) {
      const kept = [...store.features.values()].filter((f) => f.ir.source.name === sourceName);
      if (kept.length === 0) continue;
      const entities: MaterializedTiles[] = [];
      for (const [tag, list] of byTag) {
        const arrived = dedupeByArrival(list.filter((e) => e.arrival <= at && e.ts < end));
        const tiles: MaterializedTiles['tiles'][number][] = [];
        for (const f of kept) {
          let folder = folders.get(f.feature.name);
          if (folder === undefined) {
            folder = compileFolder(f.ir);
            folders.set(f.feature.name, folder);
          }
          const cut = end - floorMod(end, f.ladder.grain);
          const states = new Map<
            string,
            { level: number; start: number; state: Intermediate; events: number }
          >();
          for (const event of arrived) {
            if (!folder.matches(event)) continue;
            for (let level = 0; level < f.ladder.levels; level++) {
              const tile = tileOf(f.ladder, level, event.ts);
              if (tile.start + tileSize(f.ladder, level) > cut) continue;
              const id = `${level}:${tile.start}`;
              const previous = states.get(id);
              states.set(id, {
                level,
                start: tile.start,
                state: folder.add(
                  previous?.state ?? (emptyIntermediate(f.ir.aggregation) as Intermediate),
                  event,
                ),
                events: (previous?.events ?? 0) + 1,
              });
            }
          }
          for (const [id, { level, start, state, events: count }] of states) {
            const key = `${sourceName}|${tag}|${f.feature.name}|${id}`;
            if (written.get(key) === count) continue;
            written.set(key, count);
            tiles.push({ feature: f.feature.name, level, start, state });
          }
        }
        if (tiles.length > 0) entities.push({ key: list[0]!.key, tiles });
      }
      if (entities.length > 0) await store.writeTiles(sourceName, entities);
      await store.setWatermark(sourceName, end);
    }
    materializations.push({ at, end });
  };

  let counts: Awaited<ReturnType<typeof replayTimeline>>;
  try {
    counts = await replayTimeline({
      store,
      clock,
      selection,
      points,
      events: timeline,
      allowedLateness: lateness,
      batchAt: materializeAt,
      batch,
      onRead(indices, readRows) {
        indices.forEach((pointIndex, r) => {
          const row = readRows[r]!;
          selection.forEach((feature, fi) => {
            const read = row.values[feature.name];
            compare(pointIndex, fi, (read?.value ?? null) as Value, read?.status ?? 'absent');
          });
        });
      },
      onProgress: (done, total) => options.onProgress?.({ phase: 'replay', done, total }),
    });
  } finally {
    await store.clear();
  }

  // Reports.
  const context = options.context ?? 3;
  const windowEvents = options.windowEvents ?? 40;
  const referenceValue = (point: ParityPoint, state: FeatureState): Value => {
    const { feature } = state;
    if (feature.ir.kind === 'aggregation') {
      return featureValue(feature.ir, referenceState(point, feature as AggregationFeature));
    }
    const values = new Map<string, unknown>();
    for (const leaf of state.leaves) {
      values.set(leaf.name, featureValue(leaf.ir, referenceState(point, leaf)));
    }
    state.complete!(values, {}, 'reference');
    return (values.get(feature.name) ?? null) as Value;
  };
  const windowOf = (point: ParityPoint, leaf: AggregationFeature): ExampleWindow => {
    const folder = folders.get(leaf.name)!;
    const start = windowStart(leaf.ir.window, point.q);
    const all = eventsOf(leaf.ir.source.name, point.entity);
    const before = all.filter((e) => e.ts < start);
    const inside = all.filter((e) => e.ts >= start && e.ts < point.q);
    const after = all.filter((e) => e.ts >= point.q);
    let shown = inside;
    let omitted = 0;
    if (inside.length > windowEvents) {
      const half = Math.ceil(windowEvents / 2);
      shown = [...inside.slice(0, half), ...inside.slice(inside.length - (windowEvents - half))];
      omitted = inside.length - shown.length;
    }
    const describe = (e: TimelineEvent, position: ExampleEvent['position']): ExampleEvent => ({
      ts: e.ts,
      eventId: e.eventId,
      seq: e.storedSeq,
      ingestedAt: e.ingestedAt,
      values: e.values,
      position,
      counts: folder.counts(e, point.q),
      late: isLate(e, lateness),
      repaired: isLate(e, lateness) && isRepaired(e, point.q, grainOf(leaf.name)),
      edge:
        e.ts === point.q
          ? 'q'
          : e.ts === point.q - 1
            ? 'q-1'
            : e.ts === start
              ? 'T(q)'
              : e.ts === start - 1
                ? 'T(q)-1'
                : null,
    });
    return {
      feature: leaf.name,
      source: leaf.ir.source.name,
      start: Number.isFinite(start) ? start : null,
      end: point.q,
      events: [
        ...before.slice(Math.max(0, before.length - context)).map((e) => describe(e, 'before')),
        ...shown.map((e) => describe(e, 'window')),
        ...after.slice(0, context).map((e) => describe(e, 'after')),
      ],
      omitted,
    };
  };

  const features: FeatureParity[] = states.map((state) => ({
    name: state.feature.name,
    kind: state.feature.ir.kind === 'aggregation' ? 'aggregation' : 'derived',
    aggregation: state.feature.ir.kind === 'aggregation' ? state.feature.ir.aggregation.fn : null,
    valueType: state.feature.valueType,
    list: state.feature.list,
    comparison: state.comparison,
    total: state.total,
    agree: state.agree,
    bothNull: state.bothNull,
    offlineNull: state.offlineNull,
    onlineNull: state.onlineNull,
    mismatch: state.mismatch,
    withinTolerance: state.withinTolerance,
    unrepairedLate: state.unrepairedLate,
    numericPairs: state.numericPairs,
    smape: state.numericPairs === 0 ? null : (100 * state.smapeSum) / state.numericPairs,
    maxDifference: state.maxDifference,
    examples: state.examples.map((c): ParityExample => {
      const point = points[c.point]!;
      return {
        kind: c.kind,
        entity: point.entity,
        q: point.q,
        offline: c.offline,
        online: c.online,
        reference: referenceValue(point, state),
        onlineStatus: c.status,
        difference: c.difference,
        tolerance: c.tolerance,
        unrepairedLate: c.unrepairedLate,
        windows: state.leaves.map((leaf) => windowOf(point, leaf)),
      };
    }),
  }));
  const sum = (pick: (f: FeatureParity) => number) => features.reduce((s, f) => s + pick(f), 0);
  const totals = {
    values: sum((f) => f.total),
    agree: sum((f) => f.agree),
    bothNull: sum((f) => f.bothNull),
    offlineNull: sum((f) => f.offlineNull),
    onlineNull: sum((f) => f.onlineNull),
    mismatch: sum((f) => f.mismatch),
    disagreements: sum((f) => f.mismatch + f.offlineNull + f.onlineNull),
    unrepairedLate: sum((f) => f.unrepairedLate),
  };
  const qs = points.map((p) => p.q);
  const notes: string[] = [
    `Replayed ${counts.events} events of ${new Set(points.map((p) => JSON.stringify(p.entity))).size} entities in arrival order into ${namespace} (cleared afterwards), reading ${points.length} points at ${new Set(qs).size} distinct times.`,
  ];
  notes.push(
    materializations.length === 0
      ? 'No batch materialization ran: every value came from the stream layer.'
      : `Batch layer: materialized the sampled entities ${materializations.length > 3 ? `${materializations.length} times from ${iso(materializations[0]!.at)} to ${iso(materializations.at(-1)!.at)}` : materializations.map((m) => `at ${iso(m.at)} up to ${iso(m.end)}`).join(', ')} (events arrived by then, computed by the reference fold, written with writeTiles; the registry is not touched); reads at later q combine batch tiles below the watermark with stream tiles above it.`,
  );
  if (counts.late > 0) {
    notes.push(
      `${counts.late} events arrived later than the allowed lateness (${formatDuration(lateness)}): the stream layer skipped them, as it does in production; a later materialization repairs them.${totals.unrepairedLate > 0 ? ` ${totals.unrepairedLate} disagreeing values rest on late events not yet repaired at their q (expected online staleness).` : ''}`,
    );
  }
  if (counts.duplicates > 0) {
    notes.push(`${counts.duplicates} events repeated an event id already applied (deduplicated).`);
  }
  const synthetic = [...sources.values()]
    .filter((s) => s.eventId === null && s.sequence === null)
    .map((s) => s.name);
  if (synthetic.length > 0) {
    notes.push(
      `Sources ${synthetic.join(', ')} have neither an event id nor a sequence: the replay numbered their events (by time, then values) so that the online store keeps them apart.`,
    );
  }
  return {
    version: 1,
    ok: totals.disagreements === 0,
    startedAt,
    durationMs: Date.now() - startedAt,
    service: serviceName,
    sample: {
      mode: sampled ? 'sampled' : 'explicit',
      points: points.length,
      entities: new Set(points.map((p) => JSON.stringify(p.entity))).size,
      seed: sampled ? ((options.sample as { seed?: number }).seed ?? 1) : null,
      from: qs.length === 0 ? null : Math.min(...qs),
      to: qs.length === 0 ? null : Math.max(...qs),
    },
    replay: {
      engine,
      namespace,
      allowedLateness: lateness,
      events: counts.events,
      applied: counts.applied,
      duplicates: counts.duplicates,
      late: counts.late,
      writes: counts.writes,
      reads: counts.reads,
      materializations,
      syntheticSequence: synthetic,
      notes,
    },
    totals,
    features,
    skipped,
  };
}

/** The features to check: the service's outputs or the list, without request-time features. */
function resolveSelection(options: CheckParityOptions): {
  selection: AnyFeature[];
  skipped: { feature: string; reason: string }[];
  serviceName: string | null;
} {
  if ((options.service === undefined) === (options.features === undefined)) {
    throw new TandemError('INVALID_ARGUMENT', 'give exactly one of service or features', {
      path: options.service === undefined ? 'features' : 'service',
    });
  }
  const outputs = options.service?.features ?? options.features!;
  if (!Array.isArray(outputs) || outputs.length === 0) {
    throw new TandemError('INVALID_ARGUMENT', 'no features to check', { path: 'features' });
  }
  const usesRequest = (feature: AnyFeature): boolean =>
    feature.ir.kind === 'request' || feature.inputs.some(usesRequest);
  const selection: AnyFeature[] = [];
  const skipped: { feature: string; reason: string }[] = [];
  for (const feature of outputs as readonly AnyFeature[]) {
    if (usesRequest(feature)) {
      skipped.push({
        feature: feature.name,
        reason:
          feature.ir.kind === 'request'
            ? 'request-time feature: the same TypeScript function runs on both paths'
            : 'depends on a request-time feature',
      });
    } else {
      selection.push(feature);
    }
  }
  if (selection.length === 0) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      'every feature is request-time: nothing to compare (they run the same code on both paths)',
      { path: 'features' },
    );
  }
  return { selection, skipped, serviceName: options.service?.name ?? null };
}

function checkPoints(
  points: readonly ParityPoint[],
  keys: readonly { readonly name: string; readonly type: 'string' | 'int' }[],
): readonly ParityPoint[] {
  points.forEach((point, i) => {
    if (typeof point !== 'object' || point === null || typeof point.entity !== 'object') {
      throw new TandemError('INVALID_ARGUMENT', 'a point is { entity, q }', {
        path: `sample[${i}]`,
      });
    }
    if (!Number.isSafeInteger(point.q)) {
      throw new TandemError('INVALID_ARGUMENT', 'q must be integer epoch milliseconds', {
        path: `sample[${i}].q`,
      });
    }
    for (const key of keys) {
      const value = point.entity[key.name];
      const ok =
        key.type === 'int'
          ? Number.isSafeInteger(value)
          : typeof value === 'string' && value !== '';
      if (!ok) {
        throw new TandemError(
          'INVALID_ARGUMENT',
          `entity key ${key.name} must be ${key.type === 'int' ? 'an integer' : 'a non-empty string'}`,
          { path: `sample[${i}].entity.${key.name}` },
        );
      }
    }
  });
  return points;
}

function stateOf(feature: AnyFeature, aggregations: readonly AggregationFeature[]): FeatureState {
  const byName = new Map(aggregations.map((f) => [f.name, f]));
  const leaves: AggregationFeature[] = [];
  const visit = (f: AnyFeature) => {
    if (f.ir.kind === 'aggregation') {
      if (!leaves.some((l) => l.name === f.name))
        leaves.push(byName.get(f.name) ?? (f as AggregationFeature));
      return;
    }
    for (const input of f.inputs) visit(input);
  };
  visit(feature);
  const floatMoment = (f: AggregationFeature) =>
    MOMENT_AGGREGATIONS.has(f.ir.aggregation.fn) && !isIntegerInput(f.ir);
  const comparison: ParityComparison =
    feature.ir.kind === 'aggregation'
      ? floatMoment(feature as AggregationFeature)
        ? 'float-sum-bound'
        : 'exact'
      : leaves.some(floatMoment)
        ? 'derived-tolerance'
        : 'exact';
  return {
    feature,
    comparison,
    leaves,
    complete:
      feature.ir.kind === 'aggregation'
        ? null
        : compileRowCompletion(featureService('parity', [feature]).dependencies),
    total: 0,
    agree: 0,
    bothNull: 0,
    offlineNull: 0,
    onlineNull: 0,
    mismatch: 0,
    withinTolerance: 0,
    unrepairedLate: 0,
    numericPairs: 0,
    smapeSum: 0,
    maxDifference: 0,
    examples: [],
  };
}

/** True when an aggregation's input values are integers (its float sums are then exact below 2^53). */
function isIntegerInput(ir: FeatureIR): boolean {
  return ir.kind === 'aggregation' && ir.value !== null && ir.value.type === 'int';
}

function sameValue(a: Value, b: Value): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => x === b[i]);
  }
  return a === b;
}

/** An epoch-ms time as ISO text (the number itself when out of range). */
function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** The median of a non-empty list (the lower one of an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The events in arrival order, each event id once (its first arrival), as the stores dedupe. */
function dedupeByArrival(events: readonly TimelineEvent[]): TimelineEvent[] {
  const sorted = [...events].sort(
    (a, b) => a.arrival - b.arrival || (a.storedSeq ?? Infinity) - (b.storedSeq ?? Infinity),
  );
  const seen = new Set<string>();
  return sorted.filter((e) => {
    if (e.eventId === null) return true;
    if (seen.has(e.eventId)) return false;
    seen.add(e.eventId);
    return true;
  });
}

/** Keeps the `limit` worst candidates, worst first (ties: the earlier one). */
function keep(state: FeatureState, limit: number, candidate: Candidate): void {
  if (limit <= 0) return;
  const list = state.examples;
  if (list.length >= limit && candidate.score <= list[list.length - 1]!.score) return;
  let at = list.length;
  while (at > 0 && list[at - 1]!.score < candidate.score) at--;
  list.splice(at, 0, candidate);
  if (list.length > limit) list.pop();
}
