import type { ScalarValue, WindowSpec } from '@tandem/core';
import { type EdgeKind, keyId, type ParityStream, windowEdges } from './streams.js';
import { HUGE_FLOAT, TINY_FLOAT } from './values.js';

/**
 * What a {@link ParityStream} holds, computed from its data alone (not from how it was generated),
 * so tests of the generators check the cases are really there.
 */
export interface ParityCoverage {
  /** Reads. */
  readonly queries: number;
  /** Events. */
  readonly events: number;
  /** (read, event of the read's entity) pairs with the event on an edge, by edge kind. */
  readonly edges: Readonly<Record<EdgeKind, number>>;
  /** Reads with events on all four edges of at least one of their windows (q-1 and q for lifetime). */
  readonly readsWithAllEdges: number;
  /** Events whose `(entity, eventId)` another, earlier-arriving event has (copies beyond the first). */
  readonly duplicates: number;
  /** Duplicate copies whose values differ from the first copy's. */
  readonly conflictingDuplicates: number;
  /** Events sharing their entity and `ts` with an event of another (or no) id. */
  readonly equalTimestamps: number;
  /** Events without an event id. */
  readonly nullEventIds: number;
  /** Events arriving after an event of the same entity with a larger `ts`. */
  readonly outOfOrder: number;
  /** Events arriving later than the allowed lateness (`arrival - ts > allowedLateness`). */
  readonly late: number;
  /** Events arriving exactly the allowed lateness after their time (still on time). */
  readonly latenessEdge: number;
  /** Events arriving before their own time (clock skew). */
  readonly early: number;
  /** (read, event) pairs of one entity with `ts < q` and `arrival = q` (visible: inclusive edge). */
  readonly arrivalAtQuery: number;
  /** (read, event) pairs of one entity with `ts < q` and `arrival = q + 1` (not yet visible). */
  readonly arrivalJustAfterQuery: number;
  /** Null field values. */
  readonly nulls: number;
  /** Entities that are read and have no events. */
  readonly silentEntities: number;
  /** Float values with magnitude at least 1e100. */
  readonly huge: number;
  /** Nonzero float values with magnitude at most 1e-100. */
  readonly tiny: number;
  /** Negative numeric values. */
  readonly negative: number;
  /** `-0` values. */
  readonly negativeZero: number;
}

/** Tells what a stream holds: edges of the given windows, arrival cases, duplicates, values. */
export function parityCoverage(
  stream: ParityStream,
  windows: readonly WindowSpec[],
): ParityCoverage {
  const edges: Record<EdgeKind, number> = {
    window_start: 0,
    before_window_start: 0,
    before_query: 0,
    at_query: 0,
  };
  const byEntity = new Map<string, ParityStream['events'][number][]>();
  for (const e of stream.events) {
    const id = keyId(e.key);
    const list = byEntity.get(id) ?? [];
    list.push(e);
    byEntity.set(id, list);
  }
  let readsWithAllEdges = 0;
  let arrivalAtQuery = 0;
  let arrivalJustAfterQuery = 0;
  for (const read of stream.queries) {
    const mine = byEntity.get(keyId(read.key)) ?? [];
    const times = new Set(mine.map((e) => e.ts));
    for (const e of mine) {
      if (e.ts === read.q - 1) edges.before_query++;
      if (e.ts === read.q) edges.at_query++;
      if (e.ts < read.q && e.arrival === read.q) arrivalAtQuery++;
      if (e.ts < read.q && e.arrival === read.q + 1) arrivalJustAfterQuery++;
    }
    let all = false;
    for (const w of windows) {
      const windowTimes = windowEdges(w, read.q);
      for (const edge of windowTimes) {
        for (const e of mine) if (e.ts === edge.ts) edges[edge.kind]++;
      }
      if (
        times.has(read.q - 1) &&
        times.has(read.q) &&
        windowTimes.every((edge) => times.has(edge.ts))
      ) {
        all = true;
      }
    }
    if (all) readsWithAllEdges++;
  }

  let duplicates = 0;
  let conflictingDuplicates = 0;
  const firstCopy = new Map<string, ParityStream['events'][number]>();
  for (const e of stream.events) {
    if (e.eventId === null) continue;
    const id = `${keyId(e.key)}\u0000${e.eventId}`;
    const first = firstCopy.get(id);
    if (first === undefined) {
      firstCopy.set(id, e);
      continue;
    }
    duplicates++;
    if (!sameValues(first.values, e.values)) conflictingDuplicates++;
  }

  let equalTimestamps = 0;
  let outOfOrder = 0;
  for (const list of byEntity.values()) {
    const ids = new Map<number, Set<string>>();
    for (const e of list) {
      const set = ids.get(e.ts) ?? new Set<string>();
      set.add(e.eventId ?? '\u0000null');
      ids.set(e.ts, set);
    }
    for (const e of list) if ((ids.get(e.ts)?.size ?? 0) > 1) equalTimestamps++;
    let maxTs = Number.NEGATIVE_INFINITY;
    for (const e of list) {
      if (e.ts < maxTs) outOfOrder++;
      maxTs = Math.max(maxTs, e.ts);
    }
  }

  let nulls = 0;
  let huge = 0;
  let tiny = 0;
  let negative = 0;
  let negativeZero = 0;
  let late = 0;
  let latenessEdge = 0;
  let early = 0;
  let nullEventIds = 0;
  for (const e of stream.events) {
    const delay = e.arrival - e.ts;
    if (delay > stream.allowedLateness) late++;
    if (delay === stream.allowedLateness) latenessEdge++;
    if (delay < 0) early++;
    if (e.eventId === null) nullEventIds++;
    for (const v of Object.values(e.values)) {
      if (v === null) nulls++;
      if (typeof v !== 'number') continue;
      if (Object.is(v, -0)) negativeZero++;
      if (v < 0) negative++;
      if (Math.abs(v) >= HUGE_FLOAT) huge++;
      if (v !== 0 && Math.abs(v) <= TINY_FLOAT) tiny++;
    }
  }
  const withEvents = new Set(stream.events.map((e) => keyId(e.key)));
  const read = new Set(stream.queries.map((q) => keyId(q.key)));
  const silentEntities = [...read].filter((id) => !withEvents.has(id)).length;

  return {
    queries: stream.queries.length,
    events: stream.events.length,
    edges,
    readsWithAllEdges,
    duplicates,
    conflictingDuplicates,
    equalTimestamps,
    nullEventIds,
    outOfOrder,
    late,
    latenessEdge,
    early,
    arrivalAtQuery,
    arrivalJustAfterQuery,
    nulls,
    silentEntities,
    huge,
    tiny,
    negative,
    negativeZero,
  };
}

function sameValues(
  a: Readonly<Record<string, ScalarValue>>,
  b: Readonly<Record<string, ScalarValue>>,
): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (!Object.is(a[k] ?? null, b[k] ?? null)) return false;
  return true;
}

/** Adds coverages up (for a summary over many generated streams). */
export function sumCoverage(items: readonly ParityCoverage[]): ParityCoverage {
  const zero = parityCoverage(
    { source: '', entities: [], silent: [], events: [], queries: [], allowedLateness: 0 },
    [],
  );
  return items.reduce((acc, c) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(acc)) {
      const other = (c as unknown as Record<string, unknown>)[k];
      if (typeof v === 'number') out[k] = v + (other as number);
      else {
        const sub: Record<string, number> = {};
        for (const [sk, sv] of Object.entries(v as Record<string, number>)) {
          sub[sk] = sv + (other as Record<string, number>)[sk]!;
        }
        out[k] = sub;
      }
    }
    return out as unknown as ParityCoverage;
  }, zero);
}
