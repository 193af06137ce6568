import { attributeSource, entity, eventSource, type WindowSpec } from '@tandem/core';
import { eventSchema } from '@tandem/feature-store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parityCoverage, sumCoverage } from './coverage.js';
import {
  batchLateArrivals,
  combineParityStreams,
  keyId,
  maxTileGrain,
  type ParityStream,
  parityEntityKey,
  parityStreamArb,
  windowsOf,
} from './streams.js';
import { VALUE_BOUNDS, valueWithinBounds } from './values.js';

const customer = entity({ name: 'customer', keys: { customer_id: 'string' } });
const orders = eventSource({
  name: 'orders',
  entity: customer,
  fields: {
    amount: 'float',
    items: 'int',
    channel: { type: 'string', nullable: true },
    note: { type: 'float', nullable: true },
    gift: { type: 'bool', nullable: true },
  },
});
const account = entity({ name: 'account', keys: { region: 'string', account_no: 'int' } });
const profiles = attributeSource({
  name: 'profiles',
  entity: account,
  fields: { tier: { type: 'string', nullable: true }, score: 'float' },
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const features = [
  orders.count().window('1h').as('n_1h'),
  orders.sum('amount').window('2h', { hop: '10m' }).as('amount_2h'),
  orders.mean('amount').window('7d').as('mean_7d'),
  orders.max('items').window('30d').as('max_30d'),
  orders
    .last('amount')
    .window(30 * DAY, { hop: 1 })
    .as('last_30d_1ms'),
  orders.sum('items').as('items_lifetime'),
];
const orderWindows = windowsOf('orders', features);
const profileFeatures = [profiles.latest('tier', { ttl: '3d' }).as('tier')];
const profileWindows = windowsOf('profiles', profileFeatures);

const ordersArb = parityStreamArb({
  source: orders,
  windows: features,
  allowedLateness: '1h',
});
const negativeArb = parityStreamArb({
  source: orders,
  windows: [{ kind: 'sliding', length: 600_000, hop: 120_000 }],
  allowedLateness: '5m',
  origin: -3 * HOUR,
});
const profilesArb = parityStreamArb({
  source: profiles,
  windows: profileFeatures,
  allowedLateness: '10m',
});

/** Checks what every generated stream promises, whatever the draw; returns its coverage. */
function checkStream(
  stream: ParityStream,
  source: typeof orders | typeof profiles,
  windows: readonly WindowSpec[],
) {
  const problems: string[] = [];
  const fail = (what: string) => problems.length < 5 && problems.push(what);
  const schema = eventSchema(source.ir);
  const fields = Object.entries(source.ir.fields);
  for (let i = 1; i < stream.events.length; i++) {
    if (stream.events[i]!.arrival < stream.events[i - 1]!.arrival) fail(`arrival order at ${i}`);
  }
  for (let i = 1; i < stream.queries.length; i++) {
    if (stream.queries[i]!.q < stream.queries[i - 1]!.q) fail(`query order at ${i}`);
  }
  const copies = new Map<string, number>();
  for (const e of stream.events) {
    // Ingestible as it is: the offline store's own event schema accepts it.
    const parsed = schema.safeParse({ ...e.key, ts: e.ts, eventId: e.eventId, ...e.values });
    if (!parsed.success) fail(JSON.stringify(parsed.error.issues));
    for (const [name, field] of fields) {
      const v = e.values[name] ?? null;
      if (!field.nullable && v === null) fail(`null ${name}`);
      if (!valueWithinBounds(field.type, v)) fail(`${name}=${String(v)} out of bounds`);
    }
    if (!Number.isSafeInteger(e.ts) || !Number.isSafeInteger(e.arrival)) fail('unsafe time');
    // Copies of one event id are retries of one event: same entity, same time.
    if (e.eventId !== null) {
      const id = `${keyId(e.key)}|${e.eventId}`;
      const ts = copies.get(id);
      if (ts !== undefined && ts !== e.ts) fail(`copy of ${e.eventId} at another time`);
      copies.set(id, e.ts);
    }
  }
  const withEvents = new Set(stream.events.map((e) => keyId(e.key)));
  const queried = new Set(stream.queries.map((q) => keyId(q.key)));
  for (const key of stream.silent) {
    if (withEvents.has(keyId(key)) || !queried.has(keyId(key))) fail(`silent ${keyId(key)}`);
  }
  for (const key of stream.entities) {
    if (!withEvents.has(keyId(key)) && !queried.has(keyId(key))) fail(`unused ${keyId(key)}`);
  }
  // Every read of an entity with events has all four edges of one of its windows.
  const cover = parityCoverage(stream, windows);
  const activeReads = stream.queries.filter((q) => withEvents.has(keyId(q.key))).length;
  if (cover.readsWithAllEdges !== activeReads) fail('a read without its edges');
  if (cover.silentEntities !== stream.silent.length) fail('silent count');
  expect(problems).toEqual([]);
  return cover;
}

describe('parityStreamArb', () => {
  it('generates valid, ingestible streams with every edge on every read', () => {
    fc.assert(
      fc.property(ordersArb, (stream) => {
        checkStream(stream, orders, orderWindows);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(profilesArb, (stream) => {
        checkStream(stream, profiles, profileWindows);
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(negativeArb, (stream) => {
        checkStream(stream, orders, [{ kind: 'sliding', length: 600_000, hop: 120_000 }]);
        expect(stream.queries.every((q) => q.q >= -3 * HOUR - 1)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('really produces every adversarial case', () => {
    const streams = fc.sample(ordersArb, { numRuns: 300, seed: 42 });
    const total = sumCoverage(streams.map((s) => parityCoverage(s, orderWindows)));
    for (const [name, value] of Object.entries(total)) {
      if (typeof value === 'number') expect(value, name).toBeGreaterThan(0);
      else for (const [edge, n] of Object.entries(value)) expect(n, edge).toBeGreaterThan(0);
    }
    // Not just once in a while: the cases are common.
    expect(total.late / total.events).toBeGreaterThan(0.05);
    expect(total.duplicates).toBeGreaterThan(100);
    expect(total.conflictingDuplicates).toBeGreaterThan(10);
    expect(total.equalTimestamps).toBeGreaterThan(100);
    expect(total.outOfOrder).toBeGreaterThan(100);
    expect(total.arrivalAtQuery).toBeGreaterThan(50);
    expect(total.arrivalJustAfterQuery).toBeGreaterThan(20);
    expect(total.huge).toBeGreaterThan(50);
    expect(total.tiny).toBeGreaterThan(50);
    expect(total.negative).toBeGreaterThan(500);
    // Values stay inside the documented bounds.
    const all = streams.flatMap((s) => s.events.map((e) => e.values.amount as number));
    expect(Math.max(...all.map(Math.abs))).toBeLessThanOrEqual(VALUE_BOUNDS.FLOAT_HUGE);
    // Reads on a hop boundary give or take 1 ms, and reads sharing a time.
    const qs = streams.flatMap((s) => s.queries.map((q) => q.q));
    expect(
      qs.filter((q) => [0, 1, 299_999].includes(((q % 300_000) + 300_000) % 300_000)).length,
    ).toBeGreaterThan(50);
    const shared = streams.filter(
      (s) => new Set(s.queries.map((q) => q.q)).size < s.queries.length,
    );
    expect(shared.length).toBeGreaterThan(100);
  });

  it('covers attribute sources with ttl edges and composite integer keys', () => {
    const streams = fc.sample(profilesArb, { numRuns: 200, seed: 7 });
    const total = sumCoverage(streams.map((s) => parityCoverage(s, profileWindows)));
    expect(total.edges.window_start).toBeGreaterThan(100);
    expect(total.edges.before_window_start).toBeGreaterThan(100);
    expect(total.nulls).toBeGreaterThan(50);
    const accounts = new Set(streams.flatMap((s) => s.entities.map((k) => k.account_no)));
    expect(accounts.has(Number.MAX_SAFE_INTEGER) && accounts.has(-1) && accounts.has(0)).toBe(true);
  });
});

describe('parityStreamArb options', () => {
  it('keeps every arrival on time with lateRate 0, and adds plain reads with extraReads', () => {
    const arb = parityStreamArb({
      source: orders,
      windows: features,
      allowedLateness: '15m',
      lateRate: 0,
      queries: { min: 2, max: 2 },
      extraReads: 20,
      silentEntities: 0,
    });
    fc.assert(
      fc.property(arb, (stream) => {
        const cover = parityCoverage(stream, orderWindows);
        expect(cover.late).toBe(0);
        expect(stream.queries.length).toBeLessThanOrEqual(22);
        expect(cover.readsWithAllEdges).toBeGreaterThanOrEqual(
          stream.queries.length > 2 ? 0 : stream.queries.length,
        );
      }),
      { numRuns: 100 },
    );
    const sizes = fc.sample(arb, { numRuns: 100, seed: 5 }).map((s) => s.queries.length);
    expect(Math.max(...sizes)).toBeGreaterThan(15);
  });
});

describe('batchLateArrivals', () => {
  it('gathers late arrivals into backfills and drops the reads before their materialization', () => {
    const arb = parityStreamArb({
      source: orders,
      windows: features,
      allowedLateness: '10m',
      lateRate: 0.3,
      extraReads: 20,
    });
    fc.assert(
      fc.property(arb, (stream) => {
        const every = 3 * HOUR;
        const delay = maxTileGrain(features) + 1;
        const { stream: out, materializeAt } = batchLateArrivals(stream, { every, features });
        expect(delay).toBeGreaterThan(60_000);
        expect(out.events.length).toBe(stream.events.length);
        const late = out.events.filter((e) => e.arrival - e.ts > stream.allowedLateness);
        expect(late.length).toBeGreaterThanOrEqual(parityCoverage(stream, orderWindows).late);
        for (const e of late) expect(((e.arrival % every) + every) % every).toBe(0);
        for (let i = 1; i < out.events.length; i++) {
          expect(out.events[i]!.arrival).toBeGreaterThanOrEqual(out.events[i - 1]!.arrival);
        }
        expect(materializeAt).toEqual([...materializeAt].sort((a, b) => a - b));
        for (const at of materializeAt) {
          expect(out.queries.some((q) => q.q >= at - delay && q.q < at)).toBe(false);
        }
        expect(new Set(late.map((e) => e.arrival + delay))).toEqual(new Set(materializeAt));
      }),
      { numRuns: 100 },
    );
    expect(() => batchLateArrivals(fc.sample(arb, 1)[0]!, { every: HOUR })).toThrow(
      /delay or features/,
    );
  });
});

describe('parityEntityKey and combineParityStreams', () => {
  it('gives distinct keys, adversarial ones first', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => keyId(parityEntityKey(account, i)));
    expect(new Set(keys).size).toBe(2000);
    const strings = Array.from({ length: 8 }, (_, i) => parityEntityKey(customer, i).customer_id);
    expect(strings).toContain('a:b5');
    expect(strings).toContain('{t}6');
  });

  it('joins streams with distinct entities, keeping every event and read', () => {
    fc.assert(
      fc.property(fc.array(ordersArb, { minLength: 1, maxLength: 4 }), (streams) => {
        const joined = combineParityStreams(customer, streams);
        expect(joined.events.length).toBe(streams.reduce((n, s) => n + s.events.length, 0));
        expect(joined.queries.length).toBe(streams.reduce((n, s) => n + s.queries.length, 0));
        expect(new Set(joined.entities.map(keyId)).size).toBe(joined.entities.length);
        checkStream(joined, orders, orderWindows);
        const before = sumCoverage(streams.map((s) => parityCoverage(s, orderWindows)));
        const after = parityCoverage(joined, orderWindows);
        expect(after.duplicates).toBe(before.duplicates);
        expect(after.edges).toEqual(before.edges);
        expect(after.late).toBe(before.late);
      }),
      { numRuns: 50 },
    );
  });
});
