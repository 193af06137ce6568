import {
  compareCodePoints,
  type ScalarValue,
  type SourceIR,
  SYSTEM_COLUMNS,
  sourceRelationSql,
  TandemError,
  type WindowSpec,
} from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import { arrayLiteral } from '../../internal/array-literal.js';
import { sourceTableSql } from '../../offline/managed-tables.js';
import type { EntityKey, ParityPoint, SampledPoints } from '../types.js';
import { seededRandom, uniformInt } from './random.js';

/** An event read back from Postgres for the replay: the online event plus where it came from. */
export interface TimelineEvent {
  readonly source: string;
  /** Entity keys of the source's entity. */
  readonly key: EntityKey;
  readonly ts: number;
  readonly eventId: string | null;
  /** The stored sequence; for sources without event id and sequence, a synthetic one (see replay). */
  readonly seq: number | null;
  /** The stored sequence (null when the source has none). */
  readonly storedSeq: number | null;
  readonly ingestedAt: number | null;
  readonly values: Readonly<Record<string, ScalarValue>>;
  /** When the event reached Tandem: its ingestion time, or its event time when unknown. */
  readonly arrival: number;
}

/** An entity of a source as a string: the key values in the entity's key order. */
export function entityTag(keyNames: readonly string[], key: EntityKey): string {
  return JSON.stringify(keyNames.map((name) => String(key[name])));
}

const KEY_CHUNK = 2000;

/** The relation of a source's rows (every stored copy: the replay dedupes like the online store). */
function relationOf(schema: string, source: SourceIR): SQL {
  return sourceRelationSql(source, { table: sourceTableSql(schema, source), dedupe: false });
}

/**
 * Reads every event of the given entities of a source, grouped by entity tag, sorted by event
 * time (then event id, then sequence). Sources with neither an event id nor a sequence get a
 * synthetic sequence (rank by time, then values), so that the online store, which dedupes by id or
 * sequence, keeps them apart.
 */
export async function loadEvents(
  executor: SqlExecutor,
  schema: string,
  source: SourceIR,
  keys: readonly EntityKey[],
): Promise<Map<string, TimelineEvent[]>> {
  const keyNames = Object.keys(source.entity.keys);
  const byTag = new Map<string, TimelineEvent[]>();
  const unique = new Map(keys.map((k) => [entityTag(keyNames, k), k]));
  const all = [...unique.values()];
  const relation = relationOf(schema, source);
  for (let start = 0; start < all.length; start += KEY_CHUNK) {
    const chunk = all.slice(start, start + KEY_CHUNK);
    const columns = keyNames.map((name, i) => {
      const type = source.entity.keys[name] === 'int' ? 'bigint[]' : 'text[]';
      return {
        array: sql`CAST(${arrayLiteral(chunk.map((k) => k[name]))} AS ${sql.raw(type)})`,
        join: sql`e.${sql.identifier(name)} = k.${sql.identifier(`c${i}`)}`,
        alias: sql.identifier(`c${i}`),
      };
    });
    const rows = await executor.query<{ doc: unknown }>(sql`
      SELECT to_json(e) AS doc
      FROM ${relation} e
      JOIN unnest(${sql.join(
        columns.map((c) => c.array),
        sql`, `,
      )}) AS k(${sql.join(
        columns.map((c) => c.alias),
        sql`, `,
      )}) ON ${sql.join(
        columns.map((c) => c.join),
        sql` AND `,
      )}`);
    for (const row of rows) {
      const doc = (typeof row.doc === 'string' ? JSON.parse(row.doc) : row.doc) as Record<
        string,
        unknown
      >;
      const key: Record<string, string | number> = {};
      for (const name of keyNames) key[name] = doc[name] as string | number;
      const values: Record<string, ScalarValue> = {};
      for (const name of Object.keys(source.fields)) {
        values[name] = (doc[name] ?? null) as ScalarValue;
      }
      const ts = Number(doc[SYSTEM_COLUMNS.ts]);
      const ingestedAt = numberOrNull(doc[SYSTEM_COLUMNS.ingestedAt]);
      const seq = numberOrNull(doc[SYSTEM_COLUMNS.seq]);
      const event: TimelineEvent = {
        source: source.name,
        key,
        ts,
        eventId: (doc[SYSTEM_COLUMNS.eventId] ?? null) as string | null,
        seq,
        storedSeq: seq,
        ingestedAt,
        values,
        arrival: ingestedAt ?? ts,
      };
      const tag = entityTag(keyNames, key);
      const list = byTag.get(tag) ?? [];
      list.push(event);
      byTag.set(tag, list);
    }
  }
  const synthetic = source.eventId === null && source.sequence === null;
  let next = 1;
  for (const list of byTag.values()) {
    list.sort(synthetic ? bySyntheticOrder : byEventOrder);
    if (synthetic) {
      list.forEach((event, i) => {
        list[i] = { ...event, seq: next++ };
      });
    }
  }
  return byTag;
}

function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function byEventOrder(a: TimelineEvent, b: TimelineEvent): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  if (a.eventId !== b.eventId) {
    if (a.eventId === null) return -1;
    if (b.eventId === null) return 1;
    return compareCodePoints(a.eventId, b.eventId);
  }
  return (a.seq ?? -Infinity) - (b.seq ?? -Infinity);
}

function bySyntheticOrder(a: TimelineEvent, b: TimelineEvent): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  const x = JSON.stringify(a.values);
  const y = JSON.stringify(b.values);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The entities of a sample: up to `count` distinct keys found in the sources, in a seeded hash order. */
export async function sampleEntities(
  executor: SqlExecutor,
  schema: string,
  sources: readonly SourceIR[],
  count: number,
  seed: number,
): Promise<EntityKey[]> {
  const first = sources[0];
  if (first === undefined || count <= 0) return [];
  const keyNames = Object.keys(first.entity.keys);
  const keyColumns = keyNames.map(
    (name, i) => sql`${sql.identifier(name)} AS ${sql.identifier(`k${i}`)}`,
  );
  const union = sql.join(
    sources.map(
      (source) =>
        sql`SELECT DISTINCT ${sql.join(keyColumns, sql`, `)} FROM ${relationOf(schema, source)} s`,
    ),
    sql` UNION `,
  );
  const hashed = sql.join(
    [
      ...keyNames.map((_, i) => sql`CAST(${sql.identifier(`k${i}`)} AS text)`),
      sql`CAST(${String(seed)} AS text)`,
    ],
    sql`, `,
  );
  const rows = await executor.query<Record<string, unknown>>(sql`
    SELECT to_json(d) AS doc FROM (${union}) d
    ORDER BY md5(concat_ws(chr(31), ${hashed})), ${sql.join(
      keyNames.map((_, i) => sql.identifier(`k${i}`)),
      sql`, `,
    )}
    LIMIT ${sql.raw(String(Math.floor(count)))}`);
  return rows.map((row) => {
    const doc = (typeof row.doc === 'string' ? JSON.parse(row.doc) : row.doc) as Record<
      string,
      string | number
    >;
    return Object.fromEntries(keyNames.map((name, i) => [name, doc[`k${i}`]!]));
  });
}

/** An aggregation window over a source, for biasing sampled times towards its edges. */
export interface SampleWindow {
  readonly source: string;
  readonly window: WindowSpec;
}

/**
 * Times for one entity: `perEntity` distinct times, three quarters of them (while the entity has
 * events) at places where some window changes for one of its events: `ts` and `ts + 1` (the
 * exclusive head), the arrival time and 1 ms before it (the as-of rule on ingestion), the last q
 * at which `T(q)` still reaches the event and the first at which it does not, and `ts - 1`; the
 * rest uniform in `[from, to]`.
 */
export function sampleTimes(
  random: () => number,
  events: readonly TimelineEvent[],
  windows: readonly SampleWindow[],
  perEntity: number,
  from: number,
  to: number,
): number[] {
  const times = new Set<number>();
  const edgeCandidates = (event: TimelineEvent): number[] => {
    const own = windows.filter((w) => w.source === event.source);
    const w = own[Math.floor(random() * own.length)]?.window ?? { kind: 'lifetime' as const };
    const out = [event.ts, event.ts + 1, event.ts - 1];
    if (event.ingestedAt !== null) out.push(event.ingestedAt, event.ingestedAt - 1);
    if (w.kind === 'sliding') {
      // T(q) <= ts  <=>  q < (floor(ts / h) + 1) * h + W
      const exit = (Math.floor(event.ts / w.hop) + 1) * w.hop + w.length;
      out.push(exit - 1, exit);
    } else if (w.kind === 'ttl') {
      out.push(event.ts + w.length, event.ts + w.length + 1);
    }
    return out;
  };
  for (let attempt = 0; times.size < perEntity && attempt < perEntity * 8; attempt++) {
    if (events.length > 0 && random() < 0.75) {
      const event = events[Math.floor(random() * events.length)]!;
      const candidates = edgeCandidates(event);
      times.add(candidates[Math.floor(random() * candidates.length)]!);
    } else {
      times.add(uniformInt(random, from, to));
    }
  }
  return [...times].sort((a, b) => a - b);
}

/** The sampled points: entities found in the data, times per entity biased to window edges. */
export async function samplePoints(
  executor: SqlExecutor,
  schema: string,
  entityGroups: readonly {
    readonly keyNames: readonly string[];
    readonly sources: readonly SourceIR[];
  }[],
  windows: readonly SampleWindow[],
  options: SampledPoints,
  loadEntityEvents: (keys: readonly EntityKey[]) => Promise<(entity: EntityKey) => TimelineEvent[]>,
): Promise<ParityPoint[]> {
  const { entities, perEntity } = options;
  if (!Number.isSafeInteger(entities) || entities < 1) {
    throw new TandemError('INVALID_ARGUMENT', 'sample.entities must be a positive integer', {
      path: 'sample.entities',
    });
  }
  if (!Number.isSafeInteger(perEntity) || perEntity < 1) {
    throw new TandemError('INVALID_ARGUMENT', 'sample.perEntity must be a positive integer', {
      path: 'sample.perEntity',
    });
  }
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  const perGroup = await Promise.all(
    entityGroups.map((group) => sampleEntities(executor, schema, group.sources, entities, seed)),
  );
  const empty = perGroup.findIndex((keys) => keys.length === 0);
  if (empty >= 0) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `no data to sample: the sources of entity keys ${entityGroups[empty]!.keyNames.join(', ')} hold no events`,
      { path: 'sample' },
    );
  }
  // One row per combination (several entities: each cycles through its own sample).
  const rows = Math.max(...perGroup.map((keys) => keys.length));
  const combined: EntityKey[] = [];
  for (let i = 0; i < rows; i++) {
    combined.push(Object.assign({}, ...perGroup.map((keys) => keys[i % keys.length]!)));
  }
  const eventsOf = await loadEntityEvents(combined);
  let lo = Infinity;
  let hi = -Infinity;
  for (const entity of combined) {
    for (const event of eventsOf(entity)) {
      lo = Math.min(lo, event.ts);
      hi = Math.max(hi, event.ts + 1, event.arrival + 1);
    }
  }
  const from = options.from ?? (Number.isFinite(lo) ? lo : 0);
  const to = options.to ?? (Number.isFinite(hi) ? hi : from + 1);
  const points: ParityPoint[] = [];
  for (const entity of combined) {
    for (const q of sampleTimes(random, eventsOf(entity), windows, perEntity, from, to)) {
      points.push({ entity, q });
    }
  }
  return points;
}
