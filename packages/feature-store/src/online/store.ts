import { randomUUID } from 'node:crypto';
import {
  type AnyFeature,
  bodyStart,
  compileFolder,
  coveringTiles,
  type DurationInput,
  emptyIntermediate,
  type FeatureFolder,
  type FeatureService,
  featureService,
  featureValue,
  floorMod,
  headStart,
  type Intermediate,
  merge,
  type ScalarValue,
  type SourceEvent,
  type SourceIR,
  TandemError,
  type Tile,
  tileOf,
  toMillis,
  windowStart,
} from '@tandem/core';
import { compileRowCompletion, type RowCompletion } from '../internal/derive.js';
import {
  type FieldRef,
  type KeyedOp,
  type OnlineAdapter,
  RANGED_PART_SEPARATOR,
  type ReadOp,
  type ReadReply,
  type WriteGroup,
  type WriteOutcome,
} from './adapter.js';
import {
  bucketOf,
  bucketTtl,
  type EntityKeys,
  entityKeys,
  type Layer,
  type OnlineFeature,
  type OnlineSource,
  onlineFeature,
  onlineSources,
  tileFieldPrefix,
} from './layout.js';
import { membersAt, type RangeSlot, type ReadSlot, readBatch, textAt } from './read-batch.js';

/**
 * The `hi` of every window-cache field (base 36): a cached window takes every later event, the
 * head's included (the field's mark then says from when a read may use it).
 */
const CACHE_RANGE_END = Number.MAX_SAFE_INTEGER.toString(36);

/**
 * Parsed `f` fields of meta hashes, by their digest `d` (the same for every entity one store
 * wrote): a read asks for the `f` of a digest only the first time it meets it.
 */
const fingerprintsByDigest = new Map<string, Readonly<Record<string, string>>>();

/**
 * The `{ name: fp }` map of a meta hash's `f` field (null when absent), remembered under its
 * digest (null: data written before digests, parsed each time).
 */
function fingerprintsOf(
  digest: string | null,
  text: string | null,
): Readonly<Record<string, string>> | null {
  if (text === null) return null;
  const parsed = JSON.parse(text) as Record<string, string>;
  if (digest !== null) {
    if (fingerprintsByDigest.size >= 64) fingerprintsByDigest.clear();
    fingerprintsByDigest.set(digest, parsed);
  }
  return parsed;
}

/** A cached window's codec parts (null: absent), from its field text after the prefix. */
function cachedParts(text: string, from: number): (string | null)[] {
  if (text.length === from) return [null];
  const parts: (string | null)[] = text.slice(from).split(RANGED_PART_SEPARATOR);
  for (let p = 0; p < parts.length; p++) if (parts[p] === '') parts[p] = null;
  return parts;
}

/** The field text (after the prefix) of a window's codec parts: empty when all are absent. */
function cachedText(parts: readonly (string | null)[]): string {
  return parts.every((part) => part === null)
    ? ''
    : parts.map((part) => part ?? '').join(RANGED_PART_SEPARATOR);
}

/** Index of the meta hash in a write group's keys. */
const META = 2;
/** The meta hash's write counter: bumped by every write, guarded by window-cache fills. */
const WRITE_COUNTER: FieldRef = { key: META, field: 'v' };

/** An event of one entity as the online store takes it: entity keys plus a {@link SourceEvent}. */
export interface OnlineEvent extends SourceEvent {
  /** Entity key values by key name. */
  readonly key: Readonly<Record<string, string | number>>;
}

/** What streaming events into the online store did. */
export interface OnlineWriteResult {
  /** Events applied to every affected feature. */
  readonly applied: number;
  /** Events whose id was already applied (replays). */
  readonly duplicates: number;
  /** Events older than the allowed lateness: not applied, counted; materialization repairs them. */
  readonly late: number;
}

/** Status of one feature value read online. */
export type FeatureStatus = 'present' | 'missing' | 'outside_ttl' | 'definition_mismatch';

/** One feature value read online. */
export interface OnlineFeatureValue<TValue = ScalarValue | readonly ScalarValue[]> {
  /** The value (the feature's default when missing). */
  readonly value: TValue;
  /** Whether the value is backed by data written under this definition. */
  readonly status: FeatureStatus;
  /** Time since the entity's source was last written, ms; null when never written. */
  readonly freshnessMs: number | null;
}

/**
 * One entity's features. `TRow` is the service's row type (`service.$inferRow`), so
 * `row.values.amount_sum_7d.value` is typed.
 */
export interface OnlineFeatureRow<TRow = Record<string, ScalarValue | readonly ScalarValue[]>> {
  /** The entity keys as requested. */
  readonly entity: Readonly<Record<string, string | number>>;
  /** Every output feature of the service, in layout order. */
  readonly values: { readonly [K in keyof TRow]: OnlineFeatureValue<TRow[K]> };
}

/** The row type of what a read selects: a service's `$inferRow`, or untyped for feature lists. */
export type RowOf<TSelection> = TSelection extends FeatureService
  ? TSelection['$inferRow']
  : Record<string, ScalarValue | readonly ScalarValue[]>;

/** A read of a service's features for N entities. */
export interface OnlineFeatureRequest<
  TSelection extends FeatureService | readonly AnyFeature[] =
    | FeatureService
    | readonly AnyFeature[],
> {
  /** The feature service (or the feature list) to read. */
  readonly service: TSelection;
  /** Entity keys per row (keys of every entity the service uses). */
  readonly entities: readonly Readonly<Record<string, string | number>>[];
  /** Request data per row, for request-time features. */
  readonly requestData?: readonly Readonly<Record<string, unknown>>[];
  /** Read as of this time, epoch ms; default now. */
  readonly at?: number;
}

/** Tiles computed by batch materialization for one entity: overwrite the batch layer. */
export interface MaterializedTiles {
  readonly key: Readonly<Record<string, string | number>>;
  readonly tiles: readonly {
    readonly feature: string;
    readonly level: number;
    readonly start: number;
    readonly state: Intermediate;
  }[];
}

/** Options of {@link createOnlineStore}. */
export interface OnlineStoreOptions {
  /** The storage engine: `redisAdapter(...)` or `memoryAdapter()`. */
  readonly adapter: OnlineAdapter;
  /** The features kept online: services or features (their dependencies included). */
  readonly features: readonly (FeatureService | AnyFeature)[];
  /** Key namespace (project name); default `tandem`. */
  readonly namespace?: string;
  /** How late (ingestion time minus event time) a streamed event may be and still apply; default 1h. */
  readonly allowedLateness?: DurationInput;
  /** Clock, epoch ms; default `Date.now`. Tests and parity replays pass their own. */
  readonly clock?: () => number;
  /** How long a read reuses a source's batch watermark before fetching it again, ms; default 1000. */
  readonly watermarkCacheMs?: number;
}

/**
 * The online store (DESIGN §5): windowed aggregations as multi-level tiles plus raw head events,
 * exact under DESIGN §3, in Redis or in process. Streaming writes go to the stream layer;
 * batch materialization writes closed tiles to the batch layer up to the source's watermark.
 */
export interface OnlineStore {
  /** The namespace of every key. */
  readonly namespace: string;
  /** Allowed lateness, ms. */
  readonly allowedLateness: number;
  /** The online form of every feature kept, by name. */
  readonly features: ReadonlyMap<string, OnlineFeature>;
  /**
   * Streams events of a source into the stream layer: deduped by event id, atomic per entity.
   * `options.lateBefore` overrides the late bound (default now - allowedLateness): repair replays
   * events from the batch watermark on.
   */
  writeEvents(
    source: string,
    events: readonly OnlineEvent[],
    options?: { readonly lateBefore?: number },
  ): Promise<OnlineWriteResult>;
  /** Overwrites batch-layer tiles (materialization). */
  writeTiles(source: string, entities: readonly MaterializedTiles[]): Promise<void>;
  /** Reads features for N entities in one round trip; rows are typed by the service. */
  getOnlineFeatures<TSelection extends FeatureService | readonly AnyFeature[]>(
    request: OnlineFeatureRequest<TSelection>,
  ): Promise<OnlineFeatureRow<RowOf<TSelection>>[]>;
  /** The batch watermark of a source (events with `ts` below it are in the batch layer), or null. */
  watermark(source: string): Promise<number | null>;
  /** Sets the batch watermark of a source (after a complete materialization run). */
  setWatermark(source: string, end: number): Promise<void>;
  /** Late events counted per source since the store's namespace was created. */
  lateEvents(): Promise<Record<string, number>>;
  /**
   * Deletes every key of the namespace, or, given `sources`, every entity key of those sources
   * (their store-wide watermarks and late counts stay).
   */
  clear(sources?: readonly string[]): Promise<void>;
  /** Closes the adapter. */
  close(): Promise<void>;
}

/** A source a service reads: the meta fields asked per entity. */
interface PlannedSource {
  readonly name: string;
  readonly entity: SourceIR['entity'];
  /** This store's fingerprints digest of the source (a meta hash's `d` when it wrote last). */
  readonly digest: string;
  /** `u`, `d`, then per aggregation of the source: its window-cache fields. */
  readonly metaFields: readonly string[];
}

interface PlannedAggregation {
  readonly online: OnlineFeature;
  readonly folder: FeatureFolder;
  /** Index of its source in `ServicePlan.sources`. */
  readonly source: number;
  /** Position of its window-cache field in the source's meta fields. */
  readonly metaAt: number;
}

interface ServicePlan {
  readonly aggregations: readonly PlannedAggregation[];
  readonly sources: readonly PlannedSource[];
  readonly complete: RowCompletion;
  readonly hasComputed: boolean;
  /**
   * Per output: its aggregation index (-1 for a computed feature) and the aggregations it rests
   * on (status and freshness come from them).
   */
  readonly outputPlans: readonly {
    readonly name: string;
    readonly aggregation: number;
    readonly leaves: readonly number[];
  }[];
  /** Per source, the indices of its aggregations. */
  readonly aggregationsOf: readonly (readonly number[])[];
}

/** Creates an online store over an adapter. */
export function createOnlineStore(options: OnlineStoreOptions): OnlineStore {
  const namespace = options.namespace ?? 'tandem';
  const lateness = toMillis(options.allowedLateness ?? '1h', 'allowedLateness');
  const clock = options.clock ?? Date.now;
  const cacheMs = options.watermarkCacheMs ?? 1000;
  const adapter = options.adapter;
  const globalsKey = `${namespace}:globals`;

  const byName = new Map<string, OnlineFeature>();
  for (const item of options.features) {
    const dependencies =
      'dependencies' in item ? item.dependencies : featureService('online', [item]).dependencies;
    for (const feature of dependencies) {
      if (feature.ir.kind !== 'aggregation') continue;
      const online = onlineFeature(feature);
      const previous = byName.get(feature.name);
      if (previous !== undefined && previous.fp !== online.fp) {
        throw new TandemError(
          'DUPLICATE_NAME',
          `two different features are named ${feature.name}`,
          {
            path: `feature ${feature.name}`,
          },
        );
      }
      byName.set(feature.name, online);
    }
  }
  const sources = onlineSources([...byName.values()]);
  const sourceOf = (name: string): OnlineSource => {
    const source = sources.get(name);
    if (source === undefined) {
      throw new TandemError('UNKNOWN_TABLE', `no online feature reads source ${name}`, {
        path: `source ${name}`,
      });
    }
    return source;
  };

  const watermarks = new Map<string, { value: number | null; fetched: number }>();
  const readWatermarks = async (names: readonly string[]): Promise<Map<string, number | null>> => {
    const now = Date.now();
    const stale = names.filter((n) => {
      const cached = watermarks.get(n);
      return cached === undefined || now - cached.fetched >= cacheMs;
    });
    if (stale.length > 0) {
      const values = await adapter.globals(globalsKey, { get: stale.map((n) => `wm:${n}`) });
      stale.forEach((n, i) => {
        const text = values[i] ?? null;
        watermarks.set(n, { value: text === null ? null : Number(text), fetched: now });
      });
    }
    return new Map(names.map((n) => [n, watermarks.get(n)!.value]));
  };

  const plans = new WeakMap<object, ServicePlan>();
  const planOf = (selection: FeatureService | readonly AnyFeature[]): ServicePlan => {
    const cached = plans.get(selection);
    if (cached !== undefined) return cached;
    const service = Array.isArray(selection)
      ? featureService('online', selection as readonly AnyFeature[])
      : (selection as FeatureService);
    const sources: (PlannedSource & { metaFields: string[] })[] = [];
    const aggregations = service.dependencies
      .filter((f) => f.ir.kind === 'aggregation')
      .map((f): PlannedAggregation => {
        const online = byName.get(f.name);
        if (online === undefined || online.fp !== onlineFeature(f).fp) {
          throw new TandemError(
            'UNKNOWN_FEATURE',
            `feature ${f.name} is not kept by this online store (add it to createOnlineStore({ features }))`,
            { path: `feature ${f.name}` },
          );
        }
        const name = online.ir.source.name;
        let source = sources.findIndex((s) => s.name === name);
        if (source === -1) {
          source = sources.length;
          sources.push({
            name,
            entity: online.ir.source.entity,
            digest: sourceOf(name).fingerprintsDigest,
            metaFields: ['u', 'd'],
          });
        }
        const fields = sources[source]!.metaFields;
        const metaAt = fields.length;
        fields.push(online.cacheField);
        return { online, folder: compileFolder(online.ir), source, metaAt };
      });
    const inputsOf = new Map(
      service.dependencies.map((f) => [f.name, f.inputs.map((i) => i.name)]),
    );
    const aggregationIndex = new Map(aggregations.map((a, i) => [a.online.feature.name, i]));
    const leavesOf = (name: string): string[] => {
      const inputs = inputsOf.get(name) ?? [];
      if (inputs.length === 0) return aggregationIndex.has(name) ? [name] : [];
      return [...new Set(inputs.flatMap(leavesOf))];
    };
    const plan: ServicePlan = {
      aggregations,
      sources,
      complete: compileRowCompletion(service.dependencies),
      hasComputed: service.dependencies.some((f) => f.ir.kind !== 'aggregation'),
      outputPlans: service.features.map((f) => ({
        name: f.name,
        aggregation: aggregationIndex.get(f.name) ?? -1,
        leaves: leavesOf(f.name).map((leaf) => aggregationIndex.get(leaf)!),
      })),
      aggregationsOf: sources.map((_, s) =>
        aggregations.flatMap((a, i) => (a.source === s ? [i] : [])),
      ),
    };
    plans.set(selection, plan);
    return plan;
  };

  const keysOf = (
    entity: OnlineSource['source']['entity'],
    key: Readonly<Record<string, string | number>>,
    path: string,
  ) => {
    for (const [name, type] of Object.entries(entity.keys)) {
      const value = key[name];
      if (
        type === 'int' ? !Number.isSafeInteger(value) : typeof value !== 'string' || value === ''
      ) {
        throw new TandemError(
          'INVALID_ARGUMENT',
          `entity key ${name} must be ${type === 'int' ? 'an integer' : 'a non-empty string'}`,
          { path: `${path}.${name}` },
        );
      }
    }
    return entityKeys(namespace, entity, key);
  };

  const writeEvents = async (
    sourceName: string,
    events: readonly OnlineEvent[],
    options: { readonly lateBefore?: number } = {},
  ) => {
    const source = sourceOf(sourceName);
    const now = clock();
    const byEntity = new Map<string, { keys: EntityKeys; events: OnlineEvent[] }>();
    events.forEach((event, i) => {
      const keys = keysOf(source.source.entity, event.key, `events[${i}]`);
      checkEvent(source.source, event, `events[${i}]`);
      const group = byEntity.get(keys.tag) ?? { keys, events: [] };
      group.events.push(event);
      byEntity.set(keys.tag, group);
    });
    const groups: WriteGroup[] = [];
    for (const { keys, events: entityEvents } of byEntity.values()) {
      const keyList = [keys.seen(sourceName), keys.raw(sourceName), keys.meta(sourceName)];
      const ttls = [
        lateness + 2 * source.maxGrain,
        lateness + 2 * source.maxGrain,
        metaTtl(source, lateness),
      ];
      const indexOf = new Map<string, number>();
      const keyIndex = (layer: Layer, f: OnlineFeature, start: number) => {
        const bucket = bucketOf(start);
        const name = keys.tiles(layer, sourceName, f.tileClass, bucket);
        let index = indexOf.get(name);
        if (index === undefined) {
          index = keyList.length;
          keyList.push(name);
          ttls.push(bucketTtl(source, f.tileClass, bucket, now, lateness));
          indexOf.set(name, index);
        }
        return index;
      };
      const streamed = entityEvents.map((event) => {
        const ops: KeyedOp[] = [];
        for (const f of source.features) {
          const featureOps = f.codec.ops(event);
          if (featureOps.length === 0) continue;
          for (let level = 0; level < f.ladder.levels; level++) {
            const tile = tileOf(f.ladder, level, event.ts);
            const key = keyIndex('s', f, tile.start);
            const prefix = tileFieldPrefix(f, level, tile.start);
            for (const op of featureOps) ops.push({ key, field: prefix + op.part, op });
          }
          // The cached window, if any, takes the event when it falls in its range.
          for (const op of featureOps) {
            const slot = f.codec.parts.indexOf(op.part);
            ops.push({ key: META, field: f.cacheField, op, ranged: true, slot });
          }
        }
        return {
          // Without an id or a sequence an event cannot be told from a replay: never deduped,
          // as offline (rows without an event id all count).
          id: event.eventId ?? (event.seq == null ? '' : `#${event.seq}`),
          ts: event.ts,
          visibleAt: visibleAt(source.source, event),
          // Sorted-set members are unique: two identical events without id or sequence need a
          // nonce to both stay in the raw head.
          raw: JSON.stringify([
            event.ts,
            event.eventId ?? null,
            event.seq ?? null,
            event.ingestedAt ?? null,
            event.values,
            ...(event.eventId == null && event.seq == null ? [randomUUID()] : []),
          ]),
          ops,
        };
      });
      groups.push({
        keys: keyList,
        events: streamed,
        lateBefore: options.lateBefore ?? now - lateness,
        trimBefore: now - lateness - source.maxGrain,
        puts: [],
        deletes: [],
        meta: metaFields(source, now),
        ttls,
        counter: WRITE_COUNTER,
      });
    }
    const outcomes = await adapter.write(groups);
    const total = sumOutcomes(outcomes);
    if (total.late > 0)
      await adapter.globals(globalsKey, { incr: { [`late:${sourceName}`]: total.late } });
    return total;
  };

  const writeTiles = async (sourceName: string, entities: readonly MaterializedTiles[]) => {
    const source = sourceOf(sourceName);
    const now = clock();
    const groups = entities.map((entity, i): WriteGroup => {
      const keys = keysOf(source.source.entity, entity.key, `entities[${i}]`);
      const keyList = [keys.seen(sourceName), keys.raw(sourceName), keys.meta(sourceName)];
      const ttls = [Infinity, Infinity, metaTtl(source, lateness)];
      // Tile hashes by class and bucket: `2 * bucket` for window tiles, `2 * bucket + 1` lifetime.
      const indexOf = new Map<number, number>();
      const puts: { key: number; field: string; value: string }[] = [];
      // New batch tiles may change what cached window bodies hold: drop every cached body.
      const deletes: { key: number; field: string }[] = source.features.map((f) => ({
        key: META,
        field: f.cacheField,
      }));
      // Tiles come feature by feature, in start order: the feature and the tile hash of the
      // previous tile are looked up again only when they change.
      let f: OnlineFeature | undefined;
      let slot = Number.NaN;
      let key = -1;
      for (const tile of entity.tiles) {
        if (f?.feature.name !== tile.feature) {
          f = byName.get(tile.feature);
          if (f === undefined || f.ir.source.name !== sourceName) {
            throw new TandemError(
              'UNKNOWN_FEATURE',
              `feature ${tile.feature} is not kept online for source ${sourceName}`,
              { path: `entities[${i}].tiles` },
            );
          }
        }
        const bucket = bucketOf(tile.start);
        const tileSlot = 2 * bucket + (f.tileClass === 'l' ? 1 : 0);
        if (tileSlot !== slot) {
          slot = tileSlot;
          let index = indexOf.get(slot);
          if (index === undefined) {
            index = keyList.length;
            keyList.push(keys.tiles('b', sourceName, f.tileClass, bucket));
            ttls.push(bucketTtl(source, f.tileClass, bucket, now, lateness));
            indexOf.set(slot, index);
          }
          key = index;
        }
        const texts = f.codec.encode(tile.state);
        const prefix = tileFieldPrefix(f, tile.level, tile.start);
        const parts = f.codec.parts;
        for (let p = 0; p < parts.length; p++) {
          const field = prefix + parts[p]!;
          const text = texts[p] ?? null;
          if (text === null) deletes.push({ key, field });
          else puts.push({ key, field, value: text });
        }
      }
      return {
        keys: keyList,
        events: [],
        lateBefore: -Infinity,
        trimBefore: -Infinity,
        puts,
        deletes,
        meta: metaFields(source, now),
        ttls,
        counter: WRITE_COUNTER,
      };
    });
    await adapter.write(groups);
  };

  /**
   * How a read of `f` at `q` takes its window body (batch tiles below the watermark, stream tiles
   * above, up to the head), and how its window-cache field starts; cached per window boundary.
   */
  type BodyPlan = {
    readonly tiles: readonly { layer: Layer; bucket: number; fields: readonly string[] }[];
    /**
     * `"<lo> <hi> "` (base 36): every stream event with ts in `[lo, hi)` changes the cached
     * window (`hi` is {@link CACHE_RANGE_END}: the head's events too).
     */
    readonly cacheRange: string;
    /** `" <body start> <head start>|"` (base 36): what follows the mark of this plan's field. */
    readonly cachePlan: string;
  };
  const bodyPlans = new Map<string, BodyPlan>();
  /** Each feature's last plan: reads at "now" ask for the same one until a boundary passes. */
  const lastBodyPlans = new Map<
    OnlineFeature,
    { start: number; head: number; batchEnd: number; plan: BodyPlan }
  >();
  const bodyPlan = (f: OnlineFeature, q: number, head: number, mark: number | null) => {
    const start = bodyStart(f.ladder, f.ir.window, q);
    const batchEnd =
      mark === null ? -Infinity : Math.min(head, mark - floorMod(mark, f.ladder.grain));
    const last = lastBodyPlans.get(f);
    if (last?.start === start && last.head === head && last.batchEnd === batchEnd) {
      return last.plan;
    }
    const planned = bodyPlanOf(f, start, head, batchEnd);
    lastBodyPlans.set(f, { start, head, batchEnd, plan: planned });
    return planned;
  };
  const bodyPlanOf = (f: OnlineFeature, start: number, head: number, batchEnd: number) => {
    const cacheKey = `${f.fp}|${start}|${head}|${batchEnd}`;
    let planned = bodyPlans.get(cacheKey);
    if (planned !== undefined) return planned;
    const tiles: { layer: Layer; tile: Tile }[] = [];
    if (batchEnd > start) {
      for (const tile of coveringTiles(f.ladder, start, batchEnd)) tiles.push({ layer: 'b', tile });
    }
    const streamFrom = Math.max(start, batchEnd);
    if (streamFrom < head) {
      for (const tile of coveringTiles(f.ladder, streamFrom, head))
        tiles.push({ layer: 's', tile });
    }
    planned = {
      tiles: tiles.map(({ layer, tile }) => {
        const prefix = tileFieldPrefix(f, tile.level, tile.start);
        return {
          layer,
          bucket: bucketOf(tile.start),
          fields: f.codec.parts.map((part) => prefix + part),
        };
      }),
      cacheRange: `${streamFrom.toString(36)} ${CACHE_RANGE_END} `,
      cachePlan: ` ${start.toString(36)} ${head.toString(36)}|`,
    };
    // Reads at "now" reuse a handful of plans; parity replays read at many times.
    if (bodyPlans.size >= 4096) bodyPlans.clear();
    bodyPlans.set(cacheKey, planned);
    return planned;
  };

  /**
   * The window a cache field holds for a read at `q` with `plan`: its state when the field was
   * filled for this plan and its mark is at most `q` (every event it took counts at `q`), else
   * undefined.
   */
  const cachedWindow = (f: OnlineFeature, plan: BodyPlan, text: string, q: number) => {
    const { cacheRange, cachePlan } = plan;
    if (!text.startsWith(cacheRange)) return undefined;
    const space = text.indexOf(' ', cacheRange.length + 1);
    if (space < 0 || !text.startsWith(cachePlan, space)) return undefined;
    const mark = Number.parseInt(text.slice(cacheRange.length, space), 36);
    if (!(mark <= q)) return undefined;
    return f.codec.decode(cachedParts(text, space + cachePlan.length)) as Intermediate;
  };

  /** Cache fills in flight (never awaited by reads; `close` waits for them). */
  const fills = new Set<Promise<unknown>>();

  const getOnlineFeatures = async (request: OnlineFeatureRequest): Promise<OnlineFeatureRow[]> => {
    const plan = planOf(request.service);
    const q = request.at ?? clock();
    const now = clock();
    const marks = await readWatermarks(plan.sources.map((s) => s.name));
    const bodies = plan.aggregations.map(({ online: f }) => {
      const head = headStart(f.ladder, q);
      return { head, plan: bodyPlan(f, q, head, marks.get(f.ir.source.name) ?? null) };
    });
    // One raw-head range per source, from its features' earliest head.
    const rawFrom = plan.aggregationsOf.map((indices) => {
      let from = Infinity;
      for (const i of indices) from = Math.min(from, bodies[i]!.head);
      return from;
    });

    // First round trip: per entity and source, the meta hash (statuses, window caches): one HMGET.
    const groups: ReadOp[][] = [];
    const rows = request.entities.map((key, row) => {
      const byEntity = new Map<string, { keys: EntityKeys; group: number }>();
      return plan.sources.map((source) => {
        let entity = byEntity.get(source.entity.name);
        if (entity === undefined) {
          entity = { keys: keysOf(source.entity, key, `entities[${row}]`), group: groups.length };
          groups.push([]);
          byEntity.set(source.entity.name, entity);
        }
        const ops = groups[entity.group]!;
        ops.push({ kind: 'fields', key: entity.keys.meta(source.name), fields: source.metaFields });
        return { keys: entity.keys, group: entity.group, op: ops.length - 1 };
      });
    });
    const replies = await adapter.read(groups);
    const metaOf = (row: number, source: number) => {
      const at = rows[row]![source]!;
      return replies[at.group]![at.op]!;
    };

    // Windows: from the cache when its field holds this read's plan and a mark at most q, else
    // from the tiles and the raw head (a second round trip, for the misses only), which then
    // refill the cache.
    const states: (Intermediate | undefined)[][] = rows.map((_, r) =>
      plan.aggregations.map(({ online: f, source, metaAt }, i) => {
        const text = metaOf(r, source)[metaAt];
        return text == null ? undefined : cachedWindow(f, bodies[i]!.plan, text, q);
      }),
    );
    const second = readBatch();
    // Entities whose last writer kept other definitions (another digest): their fingerprint maps,
    // known by digest or read in the second round trip (written by this store's definitions: none).
    const otherWriters = rows.map((row, r) =>
      row.map(({ keys }, s) => {
        const meta = metaOf(r, s);
        const source = plan.sources[s]!;
        const digest = meta[1] ?? null;
        if (meta[0] == null || digest === source.digest) return undefined;
        const known = digest === null ? undefined : fingerprintsByDigest.get(digest);
        return known !== undefined
          ? { digest, known }
          : { digest, slot: second.field(keys.tag, keys.meta(source.name), 'f') };
      }),
    );
    // Per missed window: its tiles and the meta hash's write counter; per entity and source with
    // a miss, the raw head from the earliest head on (all in one read group per entity: atomic).
    const missed: { row: number; i: number; tiles: ReadSlot[][]; version: ReadSlot }[] = [];
    // By row, then source; only rows with a miss get an entry (a warm read allocates none).
    const rawSlots: (RangeSlot | undefined)[][] = [];
    rows.forEach((row, r) => {
      plan.aggregations.forEach(({ online: f, source }, i) => {
        if (states[r]![i] !== undefined) return;
        const { keys } = row[source]!;
        const sourceName = f.ir.source.name;
        const tiles = bodies[i]!.plan.tiles.map((tile) => {
          const name = keys.tiles(tile.layer, sourceName, f.tileClass, tile.bucket);
          return tile.fields.map((field) => second.field(keys.tag, name, field));
        });
        const version = second.field(keys.tag, keys.meta(sourceName), 'v');
        rawSlots[r] ??= [];
        rawSlots[r][source] ??= second.range(
          keys.tag,
          keys.raw(sourceName),
          rawFrom[source]!,
          Infinity,
        );
        missed.push({ row: r, i, tiles, version });
      });
    });
    const secondReplies = second.groups.length > 0 ? await adapter.read(second.groups) : [];
    if (missed.length > 0) {
      // Raw-head events, parsed once per entity and source (of the rows and sources with a miss).
      const heads = rawSlots.map((row) =>
        row.map((slot) => (slot === undefined ? [] : headEvents(membersAt(secondReplies, slot)))),
      );
      const refills = new Map<string, { group: WriteGroup; version: string }>();
      for (const { row, i, tiles, version } of missed) {
        const { online: f, folder, source } = plan.aggregations[i]!;
        let body = emptyIntermediate(f.ir.aggregation) as Intermediate;
        for (const tile of tiles) {
          const texts = tile.map((slot) => textAt(secondReplies, slot));
          body = merge(f.ir.aggregation, body as never, f.codec.decode(texts) as never);
        }
        // This read's window takes the head's events that count at q; the cached one takes every
        // event of the head (as writers' ranged ops will), marked with the latest visibleAt.
        const { head, plan: bodyPlanned } = bodies[i]!;
        const sourceIR = f.ir.source;
        let state = body;
        let cached = body;
        let mark = head;
        for (const event of heads[row]![source]!) {
          if (event.ts < head || !folder.matches(event)) continue;
          cached = folder.add(cached, event);
          mark = Math.max(mark, visibleAt(sourceIR, event));
          if (folder.counts(event, q)) state = folder.add(state, event);
        }
        states[row]![i] = state;
        // Fill only windows of entities written before (the version says when a write raced this
        // read: the fill is then refused), read at most at now, whose head is still whole (not
        // trimmed), and that a read at q could use.
        const v = textAt(secondReplies, version);
        if (v === null || metaOf(row, source)[0] == null) continue;
        if (q > now || head < now - lateness || mark > q) continue;
        const { keys } = rows[row]![source]!;
        const sourceName = f.ir.source.name;
        const meta = keys.meta(sourceName);
        let refill = refills.get(meta);
        if (refill === undefined) {
          const keyList = [keys.seen(sourceName), keys.raw(sourceName), meta];
          refill = {
            version: v,
            group: {
              keys: keyList,
              events: [],
              lateBefore: -Infinity,
              trimBefore: -Infinity,
              puts: [],
              deletes: [],
              meta: {},
              ttls: keyList.map(() => Infinity),
              guard: { ...WRITE_COUNTER, equals: v },
            },
          };
          refills.set(meta, refill);
        }
        if (refill.version !== v) continue;
        const puts = refill.group.puts as { key: number; field: string; value: string }[];
        puts.push({
          key: META,
          field: f.cacheField,
          value:
            bodyPlanned.cacheRange +
            mark.toString(36) +
            bodyPlanned.cachePlan +
            cachedText(f.codec.encode(cached)),
        });
      }
      if (refills.size > 0) {
        const fill = adapter
          .write([...refills.values()].map((r) => r.group))
          // A fill is an optimisation: one that fails leaves the cached window as it was, and a
          // stale one is never served (its prefix does not match; the next read takes the tiles).
          .catch(() => undefined)
          .finally(() => fills.delete(fill));
        fills.add(fill);
      }
    }

    return rows.map((_row, r) => {
      // The last writer's definition fingerprints, per source (undefined: this store's).
      const writtenFps = otherWriters[r]!.map((writer) =>
        writer === undefined
          ? undefined
          : 'known' in writer
            ? writer.known
            : fingerprintsOf(writer.digest, textAt(secondReplies, writer.slot)),
      );
      const n = plan.aggregations.length;
      const values: unknown[] = new Array(n);
      const status: FeatureStatus[] = new Array(n);
      const freshness: (number | null)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const { online: f, source } = plan.aggregations[i]!;
        const written = metaOf(r, source)[0] ?? null;
        const otherFps = writtenFps[source];
        const state = states[r]![i] as Intermediate;
        const cut = f.ladder.cutoff ? f.codec.cut(state, windowStart(f.ir.window, q)) : state;
        let featureStatus: FeatureStatus = 'present';
        if (written === null) featureStatus = 'missing';
        else if (otherFps !== undefined && otherFps?.[f.feature.name] !== f.fp)
          featureStatus = 'definition_mismatch';
        else if (f.ir.window.kind === 'ttl' && cut === null && state !== null)
          featureStatus = 'outside_ttl';
        values[i] =
          featureStatus === 'missing' || featureStatus === 'definition_mismatch'
            ? featureValue(f.ir, emptyIntermediate(f.ir.aggregation) as Intermediate)
            : featureValue(f.ir, cut);
        status[i] = featureStatus;
        freshness[i] = written === null ? null : Math.max(0, now - Number(written));
      }
      let computed: Map<string, unknown> | undefined;
      if (plan.hasComputed) {
        computed = new Map(plan.aggregations.map((a, i) => [a.online.feature.name, values[i]]));
        plan.complete(computed, request.requestData?.[r] ?? {}, `requestData[${r}]`);
      }
      const out: Record<string, OnlineFeatureValue> = {};
      for (const output of plan.outputPlans) {
        let worst: FeatureStatus = 'present';
        let freshest: number | null = output.leaves.length === 0 ? 0 : -Infinity;
        for (const leaf of output.leaves) {
          if (worst === 'present') worst = status[leaf]!;
          const fresh = freshness[leaf]!;
          freshest = fresh === null || freshest === null ? null : Math.max(freshest, fresh);
        }
        const value =
          output.aggregation >= 0 ? values[output.aggregation] : computed?.get(output.name);
        out[output.name] = {
          value: (value ?? null) as ScalarValue | readonly ScalarValue[],
          status: worst,
          freshnessMs: freshest,
        };
      }
      return { entity: request.entities[r]!, values: out as OnlineFeatureRow['values'] };
    });
  };

  return {
    namespace,
    allowedLateness: lateness,
    features: byName,
    writeEvents,
    writeTiles,
    getOnlineFeatures: getOnlineFeatures as OnlineStore['getOnlineFeatures'],
    async watermark(source) {
      const [text] = await adapter.globals(globalsKey, { get: [`wm:${source}`] });
      return text == null ? null : Number(text);
    },
    async setWatermark(source, end) {
      await adapter.globals(globalsKey, { set: { [`wm:${source}`]: String(end) } });
      watermarks.delete(source);
    },
    async lateEvents() {
      const names = [...sources.keys()];
      const counts = await adapter.globals(globalsKey, { get: names.map((n) => `late:${n}`) });
      return Object.fromEntries(names.map((n, i) => [n, Number(counts[i] ?? 0)]));
    },
    clear: (only) =>
      only === undefined
        ? adapter.clear(`${namespace}:`)
        : adapter.clear(`${namespace}:`, (key) => sourceOfKey(key, namespace.length + 1, only)),
    async close() {
      await Promise.all(fills);
      await adapter.close();
    },
  };
}

/** True when `key` (`<ns>:{<tag>}:<kind>:...`) is an entity key of one of `sources`. */
function sourceOfKey(key: string, from: number, sources: readonly string[]): boolean {
  // Tags hold URI-encoded parts, so the first `}` after the namespace closes the tag.
  const close = key.indexOf('}:', from);
  if (close < 0) return false;
  const [kind, a, b] = key.slice(close + 2).split(':');
  const source = kind === 't' ? b : a;
  return source !== undefined && sources.includes(source);
}

/**
 * Rejects what the offline ingestion rejects, before anything is written: `ts` not an integer,
 * an empty `eventId`, unknown fields, values not of their field's type, nulls in non-nullable
 * fields. (Keys are checked by `keysOf`.)
 */
function checkEvent(source: SourceIR, event: OnlineEvent, path: string): void {
  const fail = (where: string, message: string): never => {
    throw new TandemError('INVALID_EVENT', `${message} (source ${source.name})`, {
      path: `${path}${where}`,
    });
  };
  if (!Number.isSafeInteger(event.ts)) fail('.ts', 'ts must be an integer (epoch ms)');
  if (event.ingestedAt != null && !Number.isSafeInteger(event.ingestedAt)) {
    fail('.ingestedAt', 'ingestedAt must be an integer (epoch ms)');
  }
  if (event.eventId != null && (typeof event.eventId !== 'string' || event.eventId === '')) {
    fail('.eventId', 'eventId must be a non-empty string');
  }
  const values = (event.values ?? {}) as Readonly<Record<string, unknown>>;
  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(source.fields, name)) fail(`.${name}`, `unknown field ${name}`);
  }
  for (const [name, field] of Object.entries(source.fields)) {
    const value = values[name];
    if (value === null || value === undefined) {
      if (!field.nullable) fail(`.${name}`, `${name} must not be null`);
      continue;
    }
    const ok =
      field.type === 'int'
        ? Number.isInteger(value)
        : field.type === 'float'
          ? typeof value === 'number' && Number.isFinite(value)
          : field.type === 'string'
            ? typeof value === 'string'
            : typeof value === 'boolean';
    if (!ok)
      fail(
        `.${name}`,
        `${name} must be ${field.type === 'bool' ? 'a boolean' : `a ${field.type}`}`,
      );
  }
}

/**
 * The earliest read time that counts an event (see `StreamedEvent.visibleAt`): `ts + 1`, or its
 * ingestion time when later and the source records one (reads then apply `ingestedAt <= q`).
 */
function visibleAt(source: SourceIR, event: SourceEvent): number {
  const ingestedAt = source.ingestedAt === null ? null : (event.ingestedAt ?? null);
  return ingestedAt === null ? event.ts + 1 : Math.max(event.ts + 1, ingestedAt);
}

/** The events of raw-head members (`[ts, eventId, seq, ingestedAt, values, nonce?]`). */
function headEvents(members: ReadReply): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (const member of members) {
    if (member === null) continue;
    const [ts, eventId, seq, ingestedAt, values] = JSON.parse(member) as [
      number,
      string | null,
      number | null,
      number | null,
      Record<string, ScalarValue>,
    ];
    events.push({ ts, eventId, seq, ingestedAt, values });
  }
  return events;
}

function metaFields(source: OnlineSource, now: number): Record<string, string> {
  return { u: String(now), d: source.fingerprintsDigest, f: source.fingerprints };
}

function metaTtl(source: OnlineSource, lateness: number): number {
  return source.lifetime ? Infinity : source.reach + lateness + 2 * source.maxGrain;
}

function sumOutcomes(outcomes: readonly WriteOutcome[]): OnlineWriteResult {
  let applied = 0;
  let duplicates = 0;
  let late = 0;
  for (const o of outcomes) {
    applied += o.applied;
    duplicates += o.duplicates;
    late += o.late;
  }
  return { applied, duplicates, late };
}
