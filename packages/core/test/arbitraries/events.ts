/**
 * fast-check generators of adversarial event sets, shared by the aggregation property tests.
 *
 * The event model is one table of rows `(tenant, account, ts, event_id, seq, ingested_at, n, x,
 * s, b)`: `(tenant, account)` is a composite entity key and `tenant` alone a single-key entity
 * over the same rows. Generated sets are biased towards the shapes that break window and
 * ordering code: events exactly at `q`, `q - 1`, `T(q)` and `T(q) - 1`, equal timestamps,
 * duplicated event ids (identical copies, or copies ingested at different times with a different
 * payload), late events (`ingested_at > q`), nulls, extreme numbers and entities with no events.
 */
import fc from 'fast-check';
import type { ScalarValue, TimedValue, ValueType } from '../../src/index.js';

/** One row of the events table. */
export interface EventRow {
  readonly tenant: string;
  readonly account: number;
  readonly ts: number;
  readonly eventId: string | null;
  readonly seq: number | null;
  readonly ingestedAt: number | null;
  /** int field */
  readonly n: number | null;
  /** float field */
  readonly x: number | null;
  /** string field */
  readonly s: string | null;
  /** bool field */
  readonly b: boolean | null;
}

/** A point-in-time lookup: the entity `(tenant, account)` (or `tenant` alone) as of `q`. */
export interface AsOf {
  readonly tenant: string;
  readonly account: number;
  readonly q: number;
}

/** An event set and the lookups to evaluate over it. */
export interface Scenario {
  readonly events: readonly EventRow[];
  readonly lookups: readonly AsOf[];
}

/** Sliding windows `(W, h)` in ms exercised by the tests; small so that boundaries get hit. */
export const SLIDING_WINDOWS: readonly { readonly length: number; readonly hop: number }[] = [
  { length: 100, hop: 10 },
  { length: 60, hop: 60 },
  { length: 7, hop: 1 },
  { length: 250, hop: 50 },
];

/** Attribute ttls in ms exercised by the tests. */
export const TTLS: readonly number[] = [50, 1];

/** `T(q) = floor((q - W) / h) * h`, computed independently of the code under test. */
export function referenceWindowStart(q: number, length: number, hop: number): number {
  return Math.floor((q - length) / hop) * hop;
}

/** Entity keys used by the generators: a few composite keys sharing tenants. */
export const ENTITIES: readonly { readonly tenant: string; readonly account: number }[] = [
  { tenant: 'acme', account: 1 },
  { tenant: 'acme', account: 2 },
  { tenant: 'Acme', account: 1 },
  { tenant: 'zé', account: -7 },
  { tenant: 'zé', account: 9_007_199_254_740_991 },
];

/** Entities that never get events (lookups of them must give empty values). */
export const EMPTY_ENTITIES: readonly { readonly tenant: string; readonly account: number }[] = [
  { tenant: 'acme', account: 3 },
  { tenant: 'nobody', account: 1 },
];

/** Event ids: a small pool, so collisions (duplicates) are frequent; code point order matters. */
const EVENT_IDS = ['e1', 'e2', 'E1', 'e10', 'é', '\u{1F600}', '\uFFFF', '\uE000', ''];

/** Strings whose code point order differs from UTF-16 and locale orders. */
const STRINGS = [
  '',
  'a',
  'A',
  'b',
  'aa',
  'é',
  'e\u0301',
  'z',
  '\u{1F600}',
  '\uFFFF',
  '\uE000',
  ' ',
];

/** Small times around zero: negative times exercise floor division in `T(q)`. */
export const timeArb = fc.integer({ min: -400, max: 400 });

/** Integers, with extremes still exactly representable as doubles. */
export const intArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -20, max: 20 }) },
  { weight: 2, arbitrary: fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(0, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 31, -(2 ** 31) - 1),
  },
);

/**
 * Doubles, huge and tiny included, bounded so that squares neither overflow nor underflow
 * (|x| in [1e-150, 1e150] or 0): variance and stddev would rightly raise out of range otherwise,
 * which the out-of-range tests cover separately.
 */
export const floatArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -10, max: 10 }).map((v) => v / 4) },
  {
    weight: 3,
    arbitrary: fc
      .double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true })
      .map((v) => (v !== 0 && Math.abs(v) < 1e-150 ? 0 : v)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      0,
      -0,
      0.1,
      0.2,
      0.3,
      1e150,
      -1e150,
      1e-150,
      -1e-150,
      2 ** 53,
      2 ** 53 + 2,
      123456.789,
    ),
  },
);

/** Strings: a pool of order-sensitive ones, plus arbitrary text (no NUL, which Postgres rejects). */
export const stringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...STRINGS) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }).filter((s) => !s.includes('\u0000')),
  },
);

const nullable = <T>(arb: fc.Arbitrary<T>, nullFreq = 4): fc.Arbitrary<T | null> =>
  fc.option(arb, { freq: nullFreq, nil: null });

const keyArb = fc.constantFrom(...ENTITIES);

const payloadArb = fc.record({
  n: nullable(intArb),
  x: nullable(floatArb),
  s: nullable(stringArb),
  b: nullable(fc.boolean()),
});

/** One event with any combination of missing system columns. */
const eventArb = (times: fc.Arbitrary<number>): fc.Arbitrary<EventRow> =>
  fc
    .record({
      key: keyArb,
      ts: times,
      eventId: nullable(fc.constantFrom(...EVENT_IDS), 3),
      seq: nullable(fc.integer({ min: -3, max: 5 }), 2),
      lateness: nullable(
        fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 400 })),
        3,
      ),
      payload: payloadArb,
    })
    .map(({ key, ts, eventId, seq, lateness, payload }) => ({
      ...key,
      ts,
      eventId,
      seq,
      ingestedAt: lateness === null ? null : ts + lateness,
      ...payload,
    }));

/**
 * Extra events pinned to the boundaries of a lookup: at `q`, `q - 1`, `T(q)` and `T(q) - 1` for
 * one of the sliding windows, and at `q - ttl` / `q - ttl - 1` for attribute ttls.
 */
const boundaryEventsArb = (lookup: AsOf): fc.Arbitrary<EventRow[]> => {
  const { q } = lookup;
  const candidates = new Set<number>([q, q - 1, q + 1]);
  for (const w of SLIDING_WINDOWS) {
    const start = referenceWindowStart(q, w.length, w.hop);
    candidates.add(start);
    candidates.add(start - 1);
  }
  for (const ttl of TTLS) {
    candidates.add(q - ttl);
    candidates.add(q - ttl - 1);
  }
  const times = fc.constantFrom(...candidates);
  return fc.array(
    eventArb(times).map((e) => ({ ...e, tenant: lookup.tenant, account: lookup.account })),
    { maxLength: 4 },
  );
};

/**
 * Copies of some events under the same id: an exact duplicate, or a copy ingested at another time
 * (possibly with another timestamp and payload, as a corrected re-delivery).
 */
const duplicatesArb = (events: readonly EventRow[]): fc.Arbitrary<EventRow[]> =>
  events.length === 0
    ? fc.constant([])
    : fc
        .array(
          fc.record({
            index: fc.nat({ max: events.length - 1 }),
            exact: fc.boolean(),
            id: fc.constantFrom(...EVENT_IDS),
            ingestedAt: nullable(fc.integer({ min: -400, max: 800 }), 2),
            ts: timeArb,
            seq: nullable(fc.integer({ min: -3, max: 5 }), 2),
            payload: payloadArb,
            // The same id in another account of the same tenant: one event for the tenant entity,
            // two different events for the account entity.
            otherAccount: fc.constantFrom(...ENTITIES),
          }),
          { maxLength: 6 },
        )
        .map((specs) =>
          specs.map((d) => {
            const original = events[d.index]!;
            // An exact copy of an event without id stays without id: it counts twice.
            if (d.exact) return { ...original };
            const eventId = original.eventId ?? d.id;
            const sameTenant = d.otherAccount.tenant === original.tenant;
            return {
              ...original,
              account: sameTenant ? d.otherAccount.account : original.account,
              eventId,
              ts: d.ts,
              seq: d.seq,
              ingestedAt: d.ingestedAt,
              ...d.payload,
            };
          }),
        );

/**
 * Makes the data consistent with what an event id means: copies of one event (same tenant and id)
 * that tie on every dedupe criterion (ingestion time, sequence, event time) are the same delivery,
 * so they carry the same payload. Without this the kept copy would be arbitrary in SQL.
 */
export function normalizeCopies(events: readonly EventRow[]): EventRow[] {
  const first = new Map<string, EventRow>();
  return events.map((e) => {
    if (e.eventId === null) return e;
    const key = JSON.stringify([e.tenant, e.eventId, e.ingestedAt, e.seq, e.ts]);
    const seen = first.get(key);
    if (seen === undefined) {
      first.set(key, e);
      return e;
    }
    return { ...e, n: seen.n, x: seen.x, s: seen.s, b: seen.b };
  });
}

/** Lookups: each entity (empty ones too) at times near the events and at arbitrary times. */
const lookupsArb = (events: readonly EventRow[]): fc.Arbitrary<AsOf[]> => {
  const eventTimes = events.flatMap((e) => [e.ts, e.ts + 1, e.ingestedAt ?? e.ts]);
  const qArb =
    eventTimes.length === 0
      ? timeArb
      : fc.oneof(timeArb, fc.constantFrom(...eventTimes), fc.constantFrom(...eventTimes));
  return fc
    .array(
      fc.record({
        key: fc.oneof(
          { weight: 5, arbitrary: keyArb },
          { weight: 1, arbitrary: fc.constantFrom(...EMPTY_ENTITIES) },
        ),
        q: qArb,
      }),
      { minLength: 1, maxLength: 12 },
    )
    .map((rows) => rows.map(({ key, q }) => ({ ...key, q })));
};

/** A full scenario: events (with boundary events and duplicates) and lookups. */
export const scenarioArb: fc.Arbitrary<Scenario> = fc
  .array(eventArb(timeArb), { maxLength: 20 })
  .chain((base) =>
    lookupsArb(base).chain((lookups) =>
      fc
        .tuple(fc.tuple(...lookups.slice(0, 4).map(boundaryEventsArb)), duplicatesArb(base))
        .map(([boundary, duplicates]) => ({
          events: normalizeCopies([...base, ...boundary.flat(), ...duplicates]),
          lookups,
        })),
    ),
  );

/** Values of a given type, never null. */
export function valueArb(type: ValueType): fc.Arbitrary<Exclude<ScalarValue, null>> {
  switch (type) {
    case 'int':
      return intArb;
    case 'float':
      return floatArb;
    case 'string':
      return stringArb;
    case 'bool':
      return fc.boolean();
  }
}

/**
 * Timed values of one type for the fold/merge tests: few distinct timestamps and ids, so ties are
 * common. `nullable` allows null values (only `latest` keeps them).
 */
export function timedValueArb(type: ValueType, nullableValues = false): fc.Arbitrary<TimedValue> {
  const value = valueArb(type);
  return fc.record({
    ts: fc.integer({ min: -5, max: 5 }),
    eventId: nullable(fc.constantFrom(...EVENT_IDS), 3),
    seq: nullable(fc.integer({ min: -2, max: 2 }), 2),
    value: nullableValues ? nullable(value, 3) : value,
  });
}
