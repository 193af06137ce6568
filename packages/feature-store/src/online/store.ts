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
import type { KeyedOp, OnlineAdapter, ReadOp, WriteGroup, WriteOutcome } from './adapter.js';
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
  tileField,
} from './layout.js';

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

interface ServicePlan {
  readonly outputs: readonly AnyFeature[];
  readonly aggregations: readonly {
    readonly online: OnlineFeature;
    readonly folder: FeatureFolder;
  }[];
  readonly complete: RowCompletion;
  readonly hasComputed: boolean;
  readonly inputsOf: ReadonlyMap<string, readonly string[]>;
  readonly entities: FeatureService['entities'];
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
    const aggregations = service.dependencies
      .filter((f) => f.ir.kind === 'aggregation')
      .map((f) => {
        const online = byName.get(f.name);
        if (online === undefined || online.fp !== onlineFeature(f).fp) {
          throw new TandemError(
            'UNKNOWN_FEATURE',
            `feature ${f.name} is not kept by this online store (add it to createOnlineStore({ features }))`,
            { path: `feature ${f.name}` },
          );
        }
        return { online, folder: compileFolder(online.ir) };
      });
    const plan: ServicePlan = {
      outputs: service.features,
      aggregations,
      complete: compileRowCompletion(service.dependencies),
      hasComputed: service.dependencies.some((f) => f.ir.kind !== 'aggregation'),
      inputsOf: new Map(service.dependencies.map((f) => [f.name, f.inputs.map((i) => i.name)])),
      entities: service.entities,
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
            for (const op of featureOps) {
              ops.push({ key, field: tileField(f, level, tile.start, op.part), op });
            }
          }
        }
        return {
          // Without an id or a sequence an event cannot be told from a replay: never deduped,
          // as offline (rows without an event id all count).
          id: event.eventId ?? (event.seq == null ? '' : `#${event.seq}`),
          ts: event.ts,
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
      const indexOf = new Map<string, number>();
      const puts: { key: number; field: string; value: string }[] = [];
      const deletes: { key: number; field: string }[] = [];
      for (const tile of entity.tiles) {
        const f = byName.get(tile.feature);
        if (f === undefined || f.ir.source.name !== sourceName) {
          throw new TandemError(
            'UNKNOWN_FEATURE',
            `feature ${tile.feature} is not kept online for source ${sourceName}`,
            {
              path: `entities[${i}].tiles`,
            },
          );
        }
        const bucket = bucketOf(tile.start);
        const name = keys.tiles('b', sourceName, f.tileClass, bucket);
        let key = indexOf.get(name);
        if (key === undefined) {
          key = keyList.length;
          keyList.push(name);
          ttls.push(bucketTtl(source, f.tileClass, bucket, now, lateness));
          indexOf.set(name, key);
        }
        const texts = f.codec.encode(tile.state);
        f.codec.parts.forEach((part, p) => {
          const field = tileField(f, tile.level, tile.start, part);
          const text = texts[p] ?? null;
          if (text === null) deletes.push({ key: key!, field });
          else puts.push({ key: key!, field, value: text });
        });
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
      };
    });
    await adapter.write(groups);
  };

  /** The tiles a read of `f` at `q` takes (batch below the watermark, stream above), cached. */
  type PlannedTile = { layer: Layer; bucket: number; fields: readonly string[] };
  const tilePlans = new Map<string, PlannedTile[]>();
  const tilePlan = (f: OnlineFeature, q: number, head: number, mark: number | null) => {
    const start = bodyStart(f.ladder, f.ir.window, q);
    const batchEnd =
      mark === null ? -Infinity : Math.min(head, mark - floorMod(mark, f.ladder.grain));
    const cacheKey = `${f.fp}|${start}|${head}|${batchEnd}`;
    let planned = tilePlans.get(cacheKey);
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
    planned = tiles.map(({ layer, tile }) => ({
      layer,
      bucket: bucketOf(tile.start),
      fields: f.codec.parts.map((part) => tileField(f, tile.level, tile.start, part)),
    }));
    // Reads at "now" reuse a handful of plans; parity replays read at many times.
    if (tilePlans.size >= 4096) tilePlans.clear();
    tilePlans.set(cacheKey, planned);
    return planned;
  };

  const getOnlineFeatures = async (request: OnlineFeatureRequest): Promise<OnlineFeatureRow[]> => {
    const plan = planOf(request.service);
    const q = request.at ?? clock();
    const now = clock();
    const sourceNames = [...new Set(plan.aggregations.map((a) => a.online.ir.source.name))];
    const marks = await readWatermarks(sourceNames);

    // One read group per entity tag; each aggregation knows where its fields come back.
    type Pending = {
      ops: ReadOp[];
      index: Map<string, number>;
      fields: Map<string, number>[];
    };
    const rows = request.entities.map((key, row) => {
      const groups = new Map<string, Pending>();
      const keysByEntity = new Map<string, EntityKeys>();
      const entityKeysOf = (entity: OnlineSource['source']['entity']) => {
        let keys = keysByEntity.get(entity.name);
        if (keys === undefined) {
          keys = keysOf(entity, key, `entities[${row}]`);
          keysByEntity.set(entity.name, keys);
        }
        return keys;
      };
      const opOf = (keys: EntityKeys) => {
        let pending = groups.get(keys.tag);
        if (pending === undefined) {
          pending = { ops: [], index: new Map(), fields: [] };
          groups.set(keys.tag, pending);
        }
        return pending;
      };
      /** Where a field comes back: its key's read op and its position (each field asked once). */
      const fieldSlot = (pending: Pending, key: string, field: string) => {
        let at = pending.index.get(key);
        if (at === undefined) {
          at = pending.ops.length;
          pending.ops.push({ kind: 'fields', key, fields: [] });
          pending.fields.push(new Map());
          pending.index.set(key, at);
        }
        const positions = pending.fields[at]!;
        let position = positions.get(field);
        if (position === undefined) {
          const fields = (pending.ops[at] as unknown as { fields: string[] }).fields;
          position = fields.length;
          fields.push(field);
          positions.set(field, position);
        }
        return { op: at, field: position };
      };
      const reads = plan.aggregations.map(({ online: f }) => {
        const sourceName = f.ir.source.name;
        const keys = entityKeysOf(f.ir.source.entity);
        const pending = opOf(keys);
        const head = headStart(f.ladder, q);
        const mark = marks.get(sourceName) ?? null;
        const slots = tilePlan(f, q, head, mark).map((tile) => {
          const name = keys.tiles(tile.layer, sourceName, f.tileClass, tile.bucket);
          return tile.fields.map((field) => fieldSlot(pending, name, field));
        });
        const meta = [
          fieldSlot(pending, keys.meta(sourceName), `f:${f.feature.name}`),
          fieldSlot(pending, keys.meta(sourceName), 'u'),
        ];
        const rawKey = keys.raw(sourceName);
        let rawAt = pending.index.get(`raw:${rawKey}:${head}`);
        if (rawAt === undefined) {
          rawAt = pending.ops.length;
          pending.ops.push({ kind: 'range', key: rawKey, min: head, max: q });
          pending.fields.push(new Map());
          pending.index.set(`raw:${rawKey}:${head}`, rawAt);
        }
        return { tag: keys.tag, slots, meta, rawAt };
      });
      return { groups, reads };
    });

    const flat: (readonly ReadOp[])[] = [];
    const groupAt = rows.map(({ groups }) => {
      const at = new Map<string, number>();
      for (const [tag, pending] of groups) {
        at.set(tag, flat.length);
        flat.push(pending.ops);
      }
      return at;
    });
    const replies = await adapter.read(flat);

    return rows.map(({ reads }, row) => {
      const values = new Map<string, unknown>();
      const status = new Map<string, FeatureStatus>();
      const freshness = new Map<string, number | null>();
      reads.forEach((read, i) => {
        const { online: f, folder } = plan.aggregations[i]!;
        const reply = replies[groupAt[row]!.get(read.tag)!]!;
        const text = (slot: { op: number; field: number }) => reply[slot.op]![slot.field] ?? null;
        const written = text(read.meta[1]!);
        const writtenFp = text(read.meta[0]!);
        let state = emptyIntermediate(f.ir.aggregation) as Intermediate;
        for (const slot of read.slots) {
          const tile = f.codec.decode(slot.map(text));
          state = merge(f.ir.aggregation, state as never, tile as never) as Intermediate;
        }
        for (const member of reply[read.rawAt]!) {
          if (member === null) continue;
          const [ts, eventId, seq, ingestedAt, fields] = JSON.parse(member) as [
            number,
            string | null,
            number | null,
            number | null,
            Record<string, ScalarValue>,
          ];
          const event: SourceEvent = { ts, eventId, seq, ingestedAt, values: fields };
          if (folder.counts(event, q)) state = folder.add(state, event);
        }
        const windowFrom = windowStart(f.ir.window, q);
        const cut = f.ladder.cutoff ? f.codec.cut(state, windowFrom) : state;
        let featureStatus: FeatureStatus = 'present';
        if (written === null) featureStatus = 'missing';
        else if (writtenFp !== null && writtenFp !== f.fp) featureStatus = 'definition_mismatch';
        else if (f.ir.window.kind === 'ttl' && cut === null && state !== null)
          featureStatus = 'outside_ttl';
        const value =
          featureStatus === 'missing' || featureStatus === 'definition_mismatch'
            ? featureValue(f.ir, emptyIntermediate(f.ir.aggregation) as Intermediate)
            : featureValue(f.ir, cut);
        values.set(f.feature.name, value);
        status.set(f.feature.name, featureStatus);
        freshness.set(f.feature.name, written === null ? null : Math.max(0, now - Number(written)));
      });
      if (plan.hasComputed) {
        plan.complete(values, request.requestData?.[row] ?? {}, `requestData[${row}]`);
      }
      const out: Record<string, OnlineFeatureValue> = {};
      for (const feature of plan.outputs) {
        const inputs = leafInputs(plan, feature.name);
        const worst = inputs.map((n) => status.get(n) ?? 'present').find((s) => s !== 'present');
        const fresh = inputs.map((n) => freshness.get(n) ?? null);
        out[feature.name] = {
          value: (values.get(feature.name) ?? null) as ScalarValue | readonly ScalarValue[],
          status: worst ?? 'present',
          freshnessMs: fresh.some((x) => x === null)
            ? inputs.length === 0
              ? 0
              : null
            : Math.max(...(fresh as number[])),
        };
      }
      return { entity: request.entities[row]!, values: out as OnlineFeatureRow['values'] };
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
    close: () => adapter.close(),
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

/** The aggregation features a feature rests on (itself, for an aggregation). */
function leafInputs(plan: ServicePlan, name: string): string[] {
  const inputs = plan.inputsOf.get(name) ?? [];
  if (inputs.length === 0) {
    return plan.aggregations.some((a) => a.online.feature.name === name) ? [name] : [];
  }
  return [...new Set(inputs.flatMap((input) => leafInputs(plan, input)))];
}

function metaFields(source: OnlineSource, now: number): Record<string, string> {
  const meta: Record<string, string> = { u: String(now) };
  for (const f of source.features) meta[`f:${f.feature.name}`] = f.fp;
  return meta;
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
