import {
  type AnyFeature,
  type DurationInput,
  type ScalarValue,
  type Source,
  tileLadder,
  toMillis,
  type WindowSpec,
  windowStart,
} from '@tandem/core';
import fc from 'fast-check';
import { valueArb } from './values.js';

/** Entity key values by key name. */
export type ParityKey = Readonly<Record<string, string | number>>;

/** One generated event of a {@link ParityStream}. */
export interface ParityEvent {
  /** Entity key values by key name. */
  readonly key: ParityKey;
  /** Event time, epoch ms. */
  readonly ts: number;
  /** Event id; null for some events (never deduped). Copies of a duplicate share it. */
  readonly eventId: string | null;
  /** When the event arrives (its ingestion time `ingestedAt`), epoch ms. */
  readonly arrival: number;
  /** Field values by field name (null only in nullable fields). */
  readonly values: Readonly<Record<string, ScalarValue>>;
}

/** One generated read: the entity and the as-of time `q`. */
export interface ParityQuery {
  /** Entity key values by key name. */
  readonly key: ParityKey;
  /** As-of time, epoch ms. */
  readonly q: number;
}

/** A generated timeline of one source: events in arrival order, reads in time order. */
export interface ParityStream {
  /** The source's name. */
  readonly source: string;
  /** Every entity of the stream: those with events, then those without (silent). */
  readonly entities: readonly ParityKey[];
  /** Entities that are queried but have no events. */
  readonly silent: readonly ParityKey[];
  /** Events sorted by arrival (ties keep generation order). */
  readonly events: readonly ParityEvent[];
  /** Reads sorted by `q` (ties keep generation order). */
  readonly queries: readonly ParityQuery[];
  /** The allowed lateness the stream was generated against, ms. */
  readonly allowedLateness: number;
}

/** Options of {@link parityStreamArb}. */
export interface ParityStreamOptions {
  /** The source whose events are generated (an event or attribute source). */
  readonly source: Source;
  /**
   * Windows whose edges events are placed on: window specs, or features (the windows of the
   * aggregations over {@link source} they rest on). At least one window is used: lifetime when
   * none is given.
   */
  readonly windows: readonly (WindowSpec | AnyFeature)[];
  /** The online store's allowed lateness; some events arrive later than this. */
  readonly allowedLateness: DurationInput;
  /** Time of the first read, epoch ms; default 2026-01-01T00:00Z. Negative times work too. */
  readonly origin?: number;
  /** Reads fall in `[origin, origin + span]`; default the longest window reach x 1.5, at least 2h. */
  readonly span?: DurationInput;
  /** Entities with events; default 1 to 4. */
  readonly entities?: { readonly min?: number; readonly max?: number };
  /** At most this many extra entities without events (each read at least once); default 2. */
  readonly silentEntities?: number;
  /** Reads; default 1 to 12 (plus one per silent entity). */
  readonly queries?: { readonly min?: number; readonly max?: number };
  /**
   * At most this many extra reads of the stream's entities with no events placed for them
   * (anywhere in the span, on boundaries, or sharing a time); default 0. They make many checked
   * points out of few events.
   */
  readonly extraReads?: number;
  /** At most this many background events (anywhere, or shortly before a read); default 30. */
  readonly background?: number;
  /** Share of events arriving later than the allowed lateness; default 0.1. */
  readonly lateRate?: number;
  /** Share of null values in nullable fields; default 0.15. */
  readonly nullRate?: number;
  /** Share of events without an event id (when the source has ids); default 0.1. */
  readonly nullIdRate?: number;
  /** Value arbitraries by field name, replacing the adversarial defaults of `valueArb(type)`. */
  readonly values?: Readonly<Record<string, fc.Arbitrary<ScalarValue>>>;
  /** Index of the first entity key (see {@link parityEntityKey}); default 0. */
  readonly firstEntity?: number;
}

/** What an edge event is placed on, relative to a read at `q` and a window start `T(q)`. */
export type EdgeKind = 'window_start' | 'before_window_start' | 'before_query' | 'at_query';

/** String entity keys: case, accents, astral, spaces and the `:{}%` characters of Redis keys. */
export const STRING_KEY_STEMS = ['u', 'U', 'é', '😀', 'a b', 'a:b', '{t}', '%2F'] as const;
/** The first integer entity keys: zero, negatives and the safe-integer extremes. */
export const INT_KEYS = [0, -1, 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER] as const;
/** Event id prefixes whose bytewise order differs from locale and UTF-16 order. */
export const EVENT_ID_PREFIXES = ['e', 'E', 'é', '～', '😀', 'B', 'a', ''] as const;

/**
 * The key of the `index`-th generated entity (distinct for distinct indexes): string keys are an
 * adversarial stem plus the index, integer keys start with {@link INT_KEYS}, then `±(1000 + i)`.
 */
export function parityEntityKey(
  entity: { readonly keys: Readonly<Record<string, string>> },
  index: number,
): ParityKey {
  const key: Record<string, string | number> = {};
  for (const [name, type] of Object.entries(entity.keys)) {
    key[name] =
      type === 'int'
        ? (INT_KEYS[index] ?? (index % 2 === 0 ? 1 : -1) * (1000 + index))
        : `${STRING_KEY_STEMS[index % STRING_KEY_STEMS.length]}${index}`;
  }
  return key;
}

/** The windows of a list of window specs and features, for one source. */
export function windowsOf(
  source: string,
  items: readonly (WindowSpec | AnyFeature)[],
): WindowSpec[] {
  const out: WindowSpec[] = [];
  const seen = new Set<string>();
  const add = (w: WindowSpec) => {
    const id = JSON.stringify(w);
    if (!seen.has(id)) {
      seen.add(id);
      out.push(w);
    }
  };
  const visit = (feature: AnyFeature) => {
    if (feature.ir.kind === 'aggregation') {
      if (feature.ir.source.name === source) add(feature.ir.window);
      return;
    }
    for (const input of feature.inputs) visit(input);
  };
  for (const item of items) {
    if ('kind' in item) add(item);
    else visit(item);
  }
  if (out.length === 0) add({ kind: 'lifetime' });
  return out;
}

/** The edge times of a window for a read at `q`: `T(q)` and `T(q) - 1` (none for lifetime). */
export function windowEdges(window: WindowSpec, q: number): { kind: EdgeKind; ts: number }[] {
  if (window.kind === 'lifetime') return [];
  const start = windowStart(window, q);
  return [
    { kind: 'window_start', ts: start },
    { kind: 'before_window_start', ts: start - 1 },
  ];
}

/** How long a window reaches back from `q` at most, ms (0 for lifetime). */
function reachOf(window: WindowSpec): number {
  if (window.kind === 'sliding') return window.length + window.hop;
  if (window.kind === 'ttl') return window.length;
  return 0;
}

type ArrivalDraw =
  | { readonly kind: 'prompt' }
  | { readonly kind: 'delayed'; readonly fraction: number }
  | { readonly kind: 'lateness_edge' }
  | { readonly kind: 'late'; readonly extra: number }
  | { readonly kind: 'early'; readonly by: number }
  | { readonly kind: 'at_query'; readonly offset: 0 | 1; readonly lateOk: boolean };

interface EventDraw {
  readonly values: Readonly<Record<string, ScalarValue>>;
  readonly idPrefix: number | null;
  readonly arrival: ArrivalDraw;
}

interface Resolved {
  readonly source: Source;
  readonly windows: readonly WindowSpec[];
  readonly lateness: number;
  readonly origin: number;
  readonly span: number;
  readonly reach: number;
  readonly entities: { readonly min: number; readonly max: number };
  readonly silentMax: number;
  readonly queries: { readonly min: number; readonly max: number };
  readonly background: number;
  readonly extraReads: number;
  readonly lateRate: number;
  readonly nullRate: number;
  readonly nullIdRate: number;
  readonly hasIds: boolean;
  readonly firstEntity: number;
  readonly valueArbs: Readonly<Record<string, fc.Arbitrary<ScalarValue>>>;
}

function resolve(options: ParityStreamOptions): Resolved {
  const windows = windowsOf(options.source.name, options.windows);
  const reach = Math.max(0, ...windows.map(reachOf));
  const span =
    options.span === undefined
      ? Math.max(2 * 3_600_000, Math.ceil(1.5 * reach))
      : toMillis(options.span, 'span');
  const fields = options.source.ir.fields;
  const valueArbs: Record<string, fc.Arbitrary<ScalarValue>> = {};
  for (const [name, field] of Object.entries(fields)) {
    valueArbs[name] = options.values?.[name] ?? valueArb(field.type);
  }
  const entities = {
    min: options.entities?.min ?? 1,
    max: Math.max(options.entities?.max ?? 4, options.entities?.min ?? 1),
  };
  const queries = {
    min: Math.max(1, options.queries?.min ?? 1),
    max: Math.max(options.queries?.max ?? 12, options.queries?.min ?? 1),
  };
  return {
    source: options.source,
    windows,
    lateness: toMillis(options.allowedLateness, 'allowedLateness'),
    origin: options.origin ?? Date.UTC(2026, 0, 1),
    span,
    reach,
    entities,
    silentMax: options.silentEntities ?? 2,
    queries,
    background: options.background ?? 30,
    extraReads: options.extraReads ?? 0,
    lateRate: options.lateRate ?? 0.1,
    nullRate: options.nullRate ?? 0.15,
    nullIdRate: options.nullIdRate ?? 0.1,
    hasIds: options.source.ir.eventId !== null,
    firstEntity: options.firstEntity ?? 0,
    valueArbs,
  };
}

/** Uniform in [0, 1) (fc.double is uniform over representable doubles, so mostly tiny). */
const unit = fc.integer({ min: 0, max: 999_999 }).map((x) => x / 1_000_000);

function arrivalArb(r: Resolved): fc.Arbitrary<ArrivalDraw> {
  return fc
    .record({
      roll: unit,
      fraction: unit,
      extra: fc.integer({ min: 0, max: Math.max(1, r.span) }),
      by: fc.integer({ min: 1, max: 120_000 }),
      offset: fc.constantFrom(0 as const, 1 as const),
      lateRoll: unit,
    })
    .map(({ roll, fraction, extra, by, offset, lateRoll }): ArrivalDraw => {
      if (roll < r.lateRate) return { kind: 'late', extra };
      const rest = (roll - r.lateRate) / (1 - r.lateRate);
      if (rest < 0.35) return { kind: 'prompt' };
      if (rest < 0.65) return { kind: 'delayed', fraction };
      if (rest < 0.75) return { kind: 'lateness_edge' };
      if (rest < 0.8) return { kind: 'early', by };
      return { kind: 'at_query', offset, lateOk: lateRoll < r.lateRate };
    });
}

function eventDrawArb(r: Resolved): fc.Arbitrary<EventDraw> {
  const fieldArbs: Record<string, fc.Arbitrary<ScalarValue>> = {};
  for (const [name, field] of Object.entries(r.source.ir.fields)) {
    const base = r.valueArbs[name]!;
    fieldArbs[name] = field.nullable
      ? fc.tuple(unit, base).map(([roll, v]) => (roll < r.nullRate ? null : v))
      : base;
  }
  return fc.record({
    values: fc.record(fieldArbs),
    idPrefix: fc
      .tuple(unit, fc.nat(EVENT_ID_PREFIXES.length - 1))
      .map(([roll, p]) => (!r.hasIds || roll < r.nullIdRate ? null : p)),
    arrival: arrivalArb(r),
  });
}

/** Query times: anywhere, on a hop or tile boundary (give or take 1 ms), or shared with another read. */
function queryTimeArb(r: Resolved): fc.Arbitrary<{ time: number; share: number | null }> {
  const hops = [
    ...new Set([
      ...r.windows.flatMap((w) => (w.kind === 'sliding' ? [w.hop] : [])),
      60_000,
      2 ** 16,
    ]),
  ];
  const aligned = fc
    .tuple(fc.constantFrom(...hops), unit, fc.constantFrom(-1, 0, 1))
    .map(([hop, at, d]) => {
      const first = Math.ceil(r.origin / hop) * hop;
      const steps = Math.max(0, Math.floor((r.origin + r.span - first) / hop));
      return first + Math.floor(at * (steps + 1)) * hop + d;
    });
  return fc.record({
    time: fc.oneof(
      { arbitrary: fc.integer({ min: r.origin, max: r.origin + r.span }), weight: 3 },
      { arbitrary: aligned, weight: 2 },
    ),
    share: fc.option(fc.nat(), { freq: 3 }),
  });
}

/** Background event times: anywhere in the stream's reach, or shortly before some read. */
const NEAR_SCALES = [1_000, 60_000, 3_600_000, 86_400_000] as const;

/**
 * Adversarial event streams of one source for parity tests (fast-check). Each stream has a few
 * entities with events and a few without, reads `(entity, q)`, and events
 *
 * - on the edges of every read's windows: `T(q)`, `T(q) - 1`, `q - 1` and `q` (all four for one
 *   window per read, chosen at random, some of the others' too);
 * - arriving promptly, with a delay up to the allowed lateness, exactly at it (still on time),
 *   beyond it (late: not applied by the stream layer), before their own time (clock skew), or
 *   exactly at a read's `q` or 1 ms after it (the inclusive `ingestedAt <= q` edge);
 * - out of order (arrival order differs from time order), with duplicates (retries: same entity,
 *   id and time, the same or other values, arriving again later), equal timestamps (several ids,
 *   and no id, at one time), nulls in nullable fields, and huge, tiny, negative and `-0` values
 *   (within {@link VALUE_BOUNDS}, see there for what is excluded and why).
 *
 * Reads sometimes share their time with another read (so a replay can batch them), and fall on
 * hop and tile boundaries give or take 1 ms. `parityCoverage` tells what a stream holds.
 */
export function parityStreamArb(options: ParityStreamOptions): fc.Arbitrary<ParityStream> {
  const r = resolve(options);
  const draw = eventDrawArb(r);
  return fc
    .record({
      active: fc.integer(r.entities),
      silent: fc.integer({ min: 0, max: r.silentMax }),
      queries: fc.array(fc.tuple(fc.nat(), queryTimeArb(r)), {
        minLength: r.queries.min,
        maxLength: r.queries.max,
      }),
      extra: fc.array(fc.tuple(fc.nat(), queryTimeArb(r)), {
        maxLength: r.extraReads,
        size: 'max',
      }),
    })
    .chain(({ active, silent, queries: rawQueries, extra }) => {
      // Reads: entity index and time (a shared time copies an earlier read's time).
      const reads: { entity: number; q: number }[] = [];
      for (const [entity, { time, share }] of rawQueries) {
        const q = share !== null && reads.length > 0 ? reads[share % reads.length]!.q : time;
        reads.push({ entity: entity % (active + silent), q });
      }
      for (let s = 0; s < silent; s++) {
        reads.push({ entity: active + s, q: reads[s % reads.length]!.q });
      }
      // Edge events are placed for these reads of entities with events.
      const activeReads = reads.filter((read) => read.entity < active);
      for (const [entity, { time, share }] of extra) {
        const q = share !== null ? reads[share % reads.length]!.q : time;
        reads.push({ entity: entity % (active + silent), q });
      }
      const windows = r.windows;
      const edgeArb = (read: { entity: number; q: number }) =>
        fc
          .record({
            focus: fc.nat(windows.length - 1),
            extra: fc.array(fc.boolean(), {
              minLength: 2 * windows.length,
              maxLength: 2 * windows.length,
            }),
            draws: fc.array(draw, {
              minLength: 2 * windows.length + 2,
              maxLength: 2 * windows.length + 2,
            }),
          })
          .map(({ focus, extra, draws }) => {
            const placed: { entity: number; ts: number; q: number; draw: EventDraw }[] = [];
            let d = 0;
            windows.forEach((w, i) => {
              windowEdges(w, read.q).forEach((edge, j) => {
                if (i === focus || extra[2 * i + j]) {
                  placed.push({ entity: read.entity, ts: edge.ts, q: read.q, draw: draws[d++]! });
                }
              });
            });
            placed.push({ entity: read.entity, ts: read.q - 1, q: read.q, draw: draws[d++]! });
            placed.push({ entity: read.entity, ts: read.q, q: read.q, draw: draws[d++]! });
            return placed;
          });
      const backgroundArb = fc.record({
        entity: fc.nat(Math.max(0, active - 1)),
        anywhere: fc.integer({ min: r.origin - r.reach, max: r.origin + r.span }),
        near: fc.option(fc.tuple(fc.nat(), fc.constantFrom(...NEAR_SCALES), unit), { freq: 2 }),
        draw,
      });
      return fc.record({
        edges: fc.tuple(...activeReads.map(edgeArb)),
        background: fc.array(backgroundArb, { maxLength: r.background }),
        ties: fc.array(fc.tuple(fc.nat(), draw), { maxLength: 6 }),
        duplicates: fc.array(
          fc.record({
            pick: fc.nat(),
            extraDelay: fc.integer({ min: 0, max: Math.max(1, 2 * r.lateness) }),
            sameValues: fc.boolean(),
            lateOk: unit.map((x) => x < r.lateRate),
            draw,
          }),
          { maxLength: 6 },
        ),
        reads: fc.constant(reads),
        active: fc.constant(active),
        silent: fc.constant(silent),
      });
    })
    .map(({ edges, background, ties, duplicates, reads, active, silent }) =>
      build(r, { edges, background, ties, duplicates, reads, active, silent }),
    );
}

interface Placed {
  readonly entity: number;
  readonly ts: number;
  /** The read this event was placed for, if any (arrival `at_query` uses it). */
  readonly q: number | null;
  readonly draw: EventDraw;
}

function build(
  r: Resolved,
  parts: {
    edges: readonly (readonly { entity: number; ts: number; q: number; draw: EventDraw }[])[];
    background: readonly {
      entity: number;
      anywhere: number;
      near: readonly [number, number, number] | null;
      draw: EventDraw;
    }[];
    ties: readonly (readonly [number, EventDraw])[];
    duplicates: readonly {
      pick: number;
      extraDelay: number;
      sameValues: boolean;
      lateOk: boolean;
      draw: EventDraw;
    }[];
    reads: readonly { entity: number; q: number }[];
    active: number;
    silent: number;
  },
): ParityStream {
  const entity = r.source.ir.entity;
  const keys = Array.from({ length: parts.active + parts.silent }, (_, i) =>
    parityEntityKey(entity, r.firstEntity + i),
  );
  const placed: Placed[] = parts.edges.flat();
  for (const b of parts.background) {
    if (b.near !== null && parts.reads.length > 0) {
      const [pick, scale, at] = b.near;
      const readsOf = parts.reads.filter((read) => read.entity === b.entity);
      const read = readsOf.length > 0 ? readsOf[pick % readsOf.length]! : null;
      if (read !== null) {
        placed.push({
          entity: b.entity,
          ts: read.q - 1 - Math.floor(at * scale),
          q: read.q,
          draw: b.draw,
        });
        continue;
      }
    }
    placed.push({ entity: b.entity, ts: b.anywhere, q: null, draw: b.draw });
  }
  if (placed.length > 0) {
    for (const [pick, draw] of parts.ties) {
      const twin = placed[pick % placed.length]!;
      placed.push({ entity: twin.entity, ts: twin.ts, q: twin.q, draw });
    }
  }

  let counter = 0;
  const events: (ParityEvent & { order: number })[] = placed.map((p) => ({
    key: keys[p.entity]!,
    ts: p.ts,
    eventId: p.draw.idPrefix === null ? null : `${EVENT_ID_PREFIXES[p.draw.idPrefix]}${counter++}`,
    arrival: arrivalOf(r, p.ts, p.q, p.draw.arrival),
    values: p.draw.values,
    order: 0,
  }));
  const withIds = events.filter((e) => e.eventId !== null);
  if (withIds.length > 0) {
    for (const dup of parts.duplicates) {
      const original = withIds[dup.pick % withIds.length]!;
      // A retry arrives later; later than the allowed lateness only when late arrivals are asked for.
      const onTime = Math.max(0, original.ts + r.lateness - original.arrival);
      const delay = dup.lateOk ? dup.extraDelay : Math.min(dup.extraDelay, onTime);
      events.push({
        key: original.key,
        ts: original.ts,
        eventId: original.eventId,
        arrival: original.arrival + delay,
        values: dup.sameValues ? original.values : dup.draw.values,
        order: 0,
      });
    }
  }
  const ordered = events
    .map((e, order) => ({ ...e, order }))
    .sort((a, b) => a.arrival - b.arrival || a.order - b.order)
    .map(({ order: _order, ...e }) => e as ParityEvent);
  const queries = parts.reads
    .map((read, order) => ({ key: keys[read.entity]!, q: read.q, order }))
    .sort((a, b) => a.q - b.q || a.order - b.order)
    .map(({ key, q }) => ({ key, q }));
  const withEvents = new Set(parts.edges.flat().map((p) => p.entity));
  for (const p of placed) withEvents.add(p.entity);
  const used = new Set([...withEvents, ...parts.reads.map((read) => read.entity)]);
  return {
    source: r.source.name,
    entities: keys.filter((_, i) => used.has(i)),
    silent: keys.filter((_, i) => used.has(i) && !withEvents.has(i)),
    events: ordered,
    queries,
    allowedLateness: r.lateness,
  };
}

function arrivalOf(r: Resolved, ts: number, q: number | null, draw: ArrivalDraw): number {
  switch (draw.kind) {
    case 'prompt':
      return ts;
    case 'delayed':
      return ts + Math.floor(draw.fraction * r.lateness);
    case 'lateness_edge':
      return ts + r.lateness;
    case 'late':
      return ts + r.lateness + 1 + draw.extra;
    case 'early':
      return ts - draw.by;
    case 'at_query': {
      // Exactly at the read (visible as of q) or 1 ms after it; later than the allowed lateness
      // only as often as late arrivals are asked for.
      if (q === null || q <= ts) return ts + draw.offset;
      const at = q + draw.offset;
      return at - ts <= r.lateness || draw.lateOk ? at : ts;
    }
  }
}

/**
 * Joins streams of one source into one timeline with distinct entities: stream `i`'s entities are
 * renamed to consecutive {@link parityEntityKey} indexes (from `firstEntity`, default 0) after
 * those of the streams before it. To join several combined timelines, start each at the previous
 * one's `firstEntity + entities.length`.
 */
export function combineParityStreams(
  entity: { readonly keys: Readonly<Record<string, string>> },
  streams: readonly ParityStream[],
  options: { readonly firstEntity?: number } = {},
): ParityStream {
  if (streams.length === 0) throw new Error('combineParityStreams needs at least one stream');
  let next = options.firstEntity ?? 0;
  const entities: ParityKey[] = [];
  const silent: ParityKey[] = [];
  const events: (ParityEvent & { order: number })[] = [];
  const queries: (ParityQuery & { order: number })[] = [];
  for (const stream of streams) {
    const rename = new Map<string, ParityKey>();
    for (const key of stream.entities) {
      const renamed = parityEntityKey(entity, next++);
      rename.set(keyId(key), renamed);
      entities.push(renamed);
    }
    for (const key of stream.silent) silent.push(rename.get(keyId(key))!);
    for (const e of stream.events) {
      events.push({ ...e, key: rename.get(keyId(e.key))!, order: events.length });
    }
    for (const q of stream.queries) {
      queries.push({ ...q, key: rename.get(keyId(q.key))!, order: queries.length });
    }
  }
  return {
    source: streams[0]!.source,
    entities,
    silent,
    events: events
      .sort((a, b) => a.arrival - b.arrival || a.order - b.order)
      .map(({ order: _o, ...e }) => e),
    queries: queries.sort((a, b) => a.q - b.q || a.order - b.order).map(({ order: _o, ...q }) => q),
    allowedLateness: Math.min(...streams.map((s) => s.allowedLateness)),
  };
}

/** A stable text id of an entity key (its values in key order). */
export function keyId(key: ParityKey): string {
  return JSON.stringify(Object.entries(key).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Options of {@link batchLateArrivals}. */
export interface BatchLateArrivalsOptions {
  /** Late events arrive together at the next multiple of this (plus `offset`), ms. */
  readonly every: number;
  /** Offset of the backfill times, ms; default 0. */
  readonly offset?: number;
  /**
   * How long after a backfill its materialization runs, ms. It must exceed the largest online
   * tile grain of the checked features, so that every backfilled event lies below the batch
   * layer's grain-aligned watermark. Give this or `features`.
   */
  readonly delay?: number;
  /** The checked features: `delay` is their largest tile grain (core `tileLadder`) + 1 ms. */
  readonly features?: readonly AnyFeature[];
}

/**
 * Late data as it often comes: in backfills, each followed by a batch materialization. Moves the
 * arrival of every late event (`arrival - ts > allowedLateness`) to the next backfill time `B`,
 * drops the reads with `B <= q < B + delay` (the stream layer skipped those events and the batch
 * layer has not run yet: a disagreement by design, not a parity bug), and returns the
 * materialization times `B + delay` for `checkParity({ materialize: { at } })`. With them, the
 * online value of every remaining read agrees with the offline one, late events included.
 */
export function batchLateArrivals(
  stream: ParityStream,
  options: BatchLateArrivalsOptions,
): { readonly stream: ParityStream; readonly materializeAt: readonly number[] } {
  const { every } = options;
  const offset = options.offset ?? 0;
  const delay = options.delay ?? maxTileGrain(options.features ?? []) + 1;
  if (options.delay === undefined && options.features === undefined) {
    throw new Error('batchLateArrivals needs delay or features');
  }
  const backfills = new Set<number>();
  const events = stream.events
    .map((e, order) => {
      if (e.arrival - e.ts <= stream.allowedLateness) return { e, order };
      const at = offset + Math.ceil((e.arrival - offset) / every) * every;
      backfills.add(at);
      return { e: { ...e, arrival: at }, order };
    })
    .sort((a, b) => a.e.arrival - b.e.arrival || a.order - b.order)
    .map(({ e }) => e);
  const times = [...backfills].sort((a, b) => a - b);
  const queries = stream.queries.filter((q) => !times.some((b) => q.q >= b && q.q < b + delay));
  return {
    stream: { ...stream, events, queries },
    materializeAt: times.map((b) => b + delay),
  };
}

/** The largest online tile grain of the aggregations the features rest on, ms (0 for none). */
export function maxTileGrain(features: readonly AnyFeature[]): number {
  let grain = 0;
  const visit = (feature: AnyFeature) => {
    if (feature.ir.kind === 'aggregation') {
      grain = Math.max(grain, tileLadder(feature.ir.window, feature.ir.aggregation).grain);
      return;
    }
    for (const input of feature.inputs) visit(input);
  };
  for (const feature of features) visit(feature);
  return grain;
}
