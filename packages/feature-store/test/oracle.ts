/**
 * A brute-force point-in-time oracle written straight from DESIGN §3, independent of core's
 * engines (it never calls `compileFolder`, `inWindow`, `compareEventOrder` or `finalize`): for
 * every entity row it dedupes the entity's events, keeps those visible as of `q` (BigInt window
 * arithmetic with floor division), sorts them by the event order key and aggregates.
 */

/** A scalar as stored in an event. */
export type OracleScalar = number | string | boolean | null;

/** One stored event (or attribute row) of one entity. */
export interface OracleEvent {
  /** Entity key values by key name. */
  readonly keys: Readonly<Record<string, string | number>>;
  /** Event time, epoch ms. */
  readonly ts: number;
  /** Event id, or null (never deduped). */
  readonly eventId: string | null;
  /** Ingestion order, or null when unknown. */
  readonly seq: number | null;
  /** Ingestion time, epoch ms, or null when unknown (always visible). */
  readonly ingestedAt: number | null;
  /** Field values by field name. */
  readonly values: Readonly<Record<string, OracleScalar>>;
}

/** A window: sliding `[T(q), q)`, ttl `[q - length, q)`, or lifetime `(-inf, q)`. */
export type OracleWindow =
  | { readonly kind: 'sliding'; readonly length: number; readonly hop: number }
  | { readonly kind: 'ttl'; readonly length: number }
  | { readonly kind: 'lifetime' };

/** What the oracle computes for one feature, described independently of the feature IR. */
export interface OracleFeature {
  /** Output column name. */
  readonly name: string;
  /** Aggregation. `count` with `field: null` counts events. */
  readonly fn: 'count' | 'sum' | 'mean' | 'min' | 'max' | 'last' | 'last_k' | 'variance' | 'latest';
  /** The aggregated field, or null (only `count`). */
  readonly field: string | null;
  /** `k` of `last_k`. */
  readonly k?: number;
  /** The window. */
  readonly window: OracleWindow;
  /** Filter: the event counts only when this returns true. */
  readonly where?: (values: Readonly<Record<string, OracleScalar>>) => boolean;
  /** Replaces a null value. */
  readonly default?: OracleScalar;
  /** Whether the source knows ingestion times (`ingestedAt <= q` applies). */
  readonly knowsIngestion: boolean;
}

/** An expected value and the absolute tolerance it may be off by (0: exact). */
export interface Expected {
  readonly value: OracleScalar | readonly OracleScalar[];
  readonly tolerance: number;
}

const U = 2 ** -53;

/** `floor(a / b)` on BigInts (BigInt `/` truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** True when an event at `ts` is inside the window as of `q` (head exclusive). */
function visibleAt(window: OracleWindow, ts: number, q: number): boolean {
  const t = BigInt(ts);
  const at = BigInt(q);
  if (t >= at) return false;
  switch (window.kind) {
    case 'lifetime':
      return true;
    case 'ttl':
      return t >= at - BigInt(window.length);
    case 'sliding': {
      const hop = BigInt(window.hop);
      const start = floorDiv(at - BigInt(window.length), hop) * hop;
      return t >= start;
    }
  }
}

/** Bytewise comparison of UTF-8 encodings (SQL `COLLATE "C"`). */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareNullsFirst<T>(a: T | null, b: T | null, compare: (x: T, y: T) => number): number {
  if (a === null && b === null) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return compare(a, b);
}

function compareValues(a: OracleScalar, b: OracleScalar): number {
  return compareNullsFirst(a, b, (x, y) => {
    if (typeof x === 'string' && typeof y === 'string') return compareBytes(x, y);
    const nx = Number(x);
    const ny = Number(y);
    return nx < ny ? -1 : nx > ny ? 1 : 0;
  });
}

/** The event order of DESIGN §3: ts, eventId bytewise (null first), seq (null first), value. */
function eventOrder(field: string | null) {
  return (a: OracleEvent, b: OracleEvent): number =>
    a.ts - b.ts ||
    compareNullsFirst(a.eventId, b.eventId, compareBytes) ||
    compareNullsFirst(a.seq, b.seq, (x, y) => x - y) ||
    (field === null ? 0 : compareValues(a.values[field] ?? null, b.values[field] ?? null));
}

function nullsLast(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a - b;
}

/**
 * Events sharing an event id (within one entity: callers pass one entity's events) count once:
 * the earliest copy by (ingestedAt, seq, ts), unknown last.
 */
function dedupe(events: readonly OracleEvent[]): OracleEvent[] {
  const byId = new Map<string, OracleEvent>();
  const out: OracleEvent[] = [];
  for (const event of events) {
    if (event.eventId === null) {
      out.push(event);
      continue;
    }
    const kept = byId.get(event.eventId);
    const earlier =
      kept === undefined ||
      (nullsLast(event.ingestedAt, kept.ingestedAt) ||
        nullsLast(event.seq, kept.seq) ||
        event.ts - kept.ts) < 0;
    if (earlier) byId.set(event.eventId, event);
  }
  return [...out, ...byId.values()];
}

/** The expected value of one feature over one entity's (already deduplicated) events as of `q`. */
function expectFeature(
  feature: OracleFeature,
  events: readonly OracleEvent[],
  q: number,
): Expected {
  const counted = events
    .filter(
      (e) =>
        visibleAt(feature.window, e.ts, q) &&
        (!feature.knowsIngestion || e.ingestedAt === null || e.ingestedAt <= q) &&
        (feature.where === undefined || feature.where(e.values)),
    )
    .sort(eventOrder(feature.field));
  const aggregated = (e: OracleEvent) =>
    feature.field === null ? true : (e.values[feature.field] ?? null);
  const present = counted.filter((e) => aggregated(e) !== null);
  const numbers = present.map((e) => aggregated(e) as number);
  const withDefault = (value: OracleScalar, tolerance = 0): Expected => ({
    value: value === null ? (feature.default ?? null) : value,
    tolerance: value === null ? 0 : tolerance,
  });
  const n = numbers.length;
  const sum = numbers.reduce((s, x) => s + x, 0);
  const sumAbs = numbers.reduce((s, x) => s + Math.abs(x), 0);
  // DESIGN §3: two summation orders differ by at most 2 (n - 1) 2^-53 sum|x|.
  const sumTolerance = 2 * Math.max(n - 1, 0) * U * sumAbs;
  switch (feature.fn) {
    case 'count':
      return withDefault(present.length);
    case 'sum':
      return withDefault(sum, sumTolerance);
    case 'mean': {
      if (n === 0) return withDefault(null);
      const mean = sum / n;
      // The sums' tolerance scaled by 1/n, plus one rounding of the division on each side.
      return withDefault(mean, sumTolerance / n + 2 * U * Math.abs(mean));
    }
    case 'variance': {
      if (n < 2) return withDefault(null);
      const sumSq = numbers.reduce((s, x) => s + x * x, 0);
      const variance = Math.max(0, (sumSq - (sum * sum) / n) / (n - 1));
      // Error of (sumSq - sum^2 / n) from the two sums' summation order and the few roundings.
      const squareTolerance = 2 * Math.max(n - 1, 0) * U * sumSq;
      const spread =
        squareTolerance +
        (2 * Math.abs(sum) * sumTolerance) / n +
        8 * U * (sumSq + (sum * sum) / n);
      return withDefault(variance, spread / (n - 1));
    }
    case 'min':
      return withDefault(n === 0 ? null : Math.min(...numbers));
    case 'max':
      return withDefault(n === 0 ? null : Math.max(...numbers));
    case 'last': {
      const last = present.at(-1);
      return withDefault(last === undefined ? null : aggregated(last));
    }
    case 'latest': {
      // Attribute values: the latest row wins even when its value is null.
      const last = counted.at(-1);
      return withDefault(last === undefined ? null : aggregated(last));
    }
    case 'last_k':
      return {
        value: present
          .slice(-(feature.k ?? 1))
          .reverse()
          .map(aggregated),
        tolerance: 0,
      };
  }
}

/** Expected features for every entity row: `rows[i]` gives the entity keys and `q`. */
export function expectTrainingSet(
  sources: ReadonlyMap<OracleFeature, readonly OracleEvent[]>,
  rows: readonly { readonly keys: Readonly<Record<string, string | number>>; readonly q: number }[],
): Record<string, Expected>[] {
  const sameEntity = (a: OracleEvent['keys'], b: OracleEvent['keys']) =>
    Object.keys(b).every((k) => a[k] === b[k]);
  return rows.map((row) => {
    const out: Record<string, Expected> = {};
    for (const [feature, events] of sources) {
      out[feature.name] = expectFeature(
        feature,
        dedupe(events.filter((e) => sameEntity(e.keys, row.keys))),
        row.q,
      );
    }
    return out;
  });
}

/** True when `actual` equals `expected` (numbers within its tolerance; lists elementwise). */
export function matches(expected: Expected, actual: unknown): boolean {
  const { value, tolerance } = expected;
  if (Array.isArray(value)) {
    return (
      Array.isArray(actual) &&
      actual.length === value.length &&
      value.every((v, i) => v === actual[i])
    );
  }
  if (typeof value === 'number' && typeof actual === 'number') {
    return value === actual || Math.abs(value - actual) <= tolerance;
  }
  return value === actual;
}
