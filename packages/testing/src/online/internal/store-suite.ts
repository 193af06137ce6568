import {
  type AnyFeature,
  compileFolder,
  emptyIntermediate,
  featureValue,
  type Intermediate,
  type SourceEvent,
  TandemError,
  tileOf,
} from '@tandem/core';
import {
  createOnlineStore,
  type OnlineAdapter,
  type OnlineEvent,
  type OnlineFeatureRow,
  type OnlineStore,
  type OnlineStoreOptions,
} from '@tandem/feature-store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changedAmount7d, orderFeatures, profileFeatures } from './model.js';
import { type Scope, withScope } from './scope.js';

/** What the store-level tests need from the suite's options. */
export interface StoreSuiteContext {
  readonly makeAdapter: () => OnlineAdapter | Promise<OnlineAdapter>;
  readonly prefix: () => string;
  readonly numRuns: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2026, 10, 1);
/** The stores' clock in these tests. */
export const NOW = BASE + 40 * DAY;
/** A time within every test feature's current grain (5 and 10 min, 1 h, 2^22 ms), after `NOW`. */
export const WARM_AT = NOW + 37.5 * 60_000 + 17;

/** A store over the scope's adapter with the scope's prefix as namespace. */
export function storeIn(
  scope: Scope,
  options: Partial<OnlineStoreOptions> & { readonly name?: string } = {},
): OnlineStore {
  const { name = 's', ...rest } = options;
  return createOnlineStore({
    adapter: scope.adapter,
    features: [...orderFeatures, ...profileFeatures],
    allowedLateness: '60d',
    namespace: `${scope.prefix}${name}`,
    clock: () => NOW,
    ...rest,
  });
}

/** Random order events of a few customers over the last 35 days (and a little future). */
export const orderArb = fc.record({
  customer: fc.constantFrom('a', 'b', 'c'),
  ts: fc.oneof(
    fc.integer({ min: NOW - 35 * DAY, max: NOW + HOUR }),
    fc.integer({ min: NOW - 2 * HOUR, max: NOW }),
  ),
  id: fc.integer({ min: 0, max: 400 }),
  amount: fc.oneof(
    // Squares of |x| < 1e-160 underflow (a poisoned variance): kept out of the random values.
    fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((x) => x === 0 || Math.abs(x) > 1e-150),
    fc.integer({ min: -100, max: 100 }),
  ),
  items: fc.integer({ min: 0, max: 9 }),
  channel: fc.constantFrom(null, 'web', 'app', 'shop', 'phone'),
});

type OrderDraft = {
  customer: string;
  ts: number;
  id: number;
  amount: number;
  items: number;
  channel: string | null;
};

/** Online events of drafts; event ids are unique per customer (first draft wins). */
export function toEvents(drafts: readonly OrderDraft[]): OnlineEvent[] {
  const seen = new Set<string>();
  const events: OnlineEvent[] = [];
  drafts.forEach((e, seq) => {
    const id = `${e.customer}/${e.id}`;
    if (seen.has(id)) return;
    seen.add(id);
    events.push({
      key: { customer_id: e.customer },
      ts: e.ts,
      eventId: `e${e.id}`,
      seq: seq + 1,
      ingestedAt: null,
      values: { amount: e.amount, items: e.items, channel: e.channel },
    });
  });
  return events;
}

/** Checks every order feature of `rows` against the TS fold of each row's events as of `q`. */
export function expectFold(
  rows: readonly OnlineFeatureRow[],
  events: readonly OnlineEvent[],
  q: number,
  features: readonly AnyFeature[] = orderFeatures,
): void {
  for (const row of rows) {
    const mine: SourceEvent[] = events.filter((e) => e.key.customer_id === row.entity.customer_id);
    for (const feature of features) {
      // -0 and 0 are one value to every consumer (JSON, Postgres comparisons): compared as 0.
      const expected = zero(featureValue(feature.ir, compileFolder(feature.ir).fold(mine, q)));
      const actual = row.values[feature.name]!;
      // Float sums depend on the order of additions (tiles, then events): a sum that is an
      // integer in event order may be off by an ulp in tile order. Compared closely, not exactly.
      const floats =
        typeof expected === 'number' &&
        typeof actual.value === 'number' &&
        (!Number.isInteger(expected) || !Number.isInteger(actual.value));
      if (floats) {
        expect({ f: feature.name, q, v: actual.value as number }).toEqual({
          f: feature.name,
          q,
          v: expect.closeTo(expected as number, 6),
        });
      } else {
        expect({ f: feature.name, q, v: zero(actual.value) }).toEqual({
          f: feature.name,
          q,
          v: expected,
        });
      }
      expect({ f: feature.name, status: actual.status }).toEqual({
        f: feature.name,
        status: mine.length === 0 ? 'missing' : 'present',
      });
    }
  }
}

function zero<T>(value: T): T {
  if (Array.isArray(value)) return value.map(zero) as T;
  return (Object.is(value, -0) ? 0 : value) as T;
}

const customers = (...ids: string[]) => ids.map((customer_id) => ({ customer_id }));

/**
 * The adapter passed through, counting read calls and tracking writes in flight (window-cache
 * fills are not awaited by reads): `settled()` waits for them.
 */
function tracedAdapter(adapter: OnlineAdapter): {
  adapter: OnlineAdapter;
  reads: () => number;
  settled: () => Promise<void>;
} {
  let reads = 0;
  const writes = new Set<Promise<unknown>>();
  return {
    adapter: {
      ...adapter,
      read: (groups) => {
        reads++;
        return adapter.read(groups);
      },
      write: (groups) => {
        const write = adapter.write(groups);
        writes.add(write);
        void write.finally(() => writes.delete(write)).catch(() => undefined);
        return write;
      },
      // The scope closes the adapter itself.
      close: async () => {},
    },
    reads: () => reads,
    settled: async () => {
      await Promise.allSettled([...writes]);
    },
  };
}

/** Registers the store-level conformance tests (`createOnlineStore` over the adapter). */
export function describeStoreSuite(ctx: StoreSuiteContext): void {
  const run = <T>(body: (scope: Scope) => Promise<T>) =>
    withScope(ctx.makeAdapter, ctx.prefix, body);

  describe('online store over the adapter', () => {
    it('reads every aggregation exactly as the TS fold of the same events', () =>
      run(async (scope) => {
        let round = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.array(orderArb, { maxLength: 60 }),
            fc.array(fc.integer({ min: NOW - 3 * HOUR, max: NOW + 2 * HOUR }), {
              minLength: 1,
              maxLength: 4,
            }),
            async (drafts, queries) => {
              const store = storeIn(scope, { name: `p${round++}` });
              try {
                const events = toEvents(drafts);
                await store.writeEvents('orders', events);
                for (const q of queries) {
                  const rows = await store.getOnlineFeatures({
                    service: [...orderFeatures],
                    entities: customers('a', 'b', 'c', 'zz'),
                    at: q,
                  });
                  expectFold(rows, events, q);
                }
              } finally {
                await store.clear();
              }
            },
          ),
          { numRuns: ctx.numRuns },
        );
      }));

    it('out-of-order events in several calls, with replays, read as the fold of the distinct events', () =>
      run(async (scope) => {
        let round = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.array(orderArb, { minLength: 1, maxLength: 40 }),
            fc.integer({ min: 1, max: 5 }),
            fc.array(fc.nat(), { maxLength: 10 }),
            async (drafts, parts, replays) => {
              const store = storeIn(scope, { name: `o${round++}` });
              try {
                const events = toEvents(drafts);
                // Newest first, then shuffled replays of already written events.
                const order = [...events].sort((x, y) => y.ts - x.ts);
                const size = Math.ceil(order.length / parts);
                let applied = 0;
                let duplicates = 0;
                for (let at = 0; at < order.length; at += size) {
                  const result = await store.writeEvents('orders', order.slice(at, at + size));
                  applied += result.applied;
                  duplicates += result.duplicates;
                }
                const again = replays.map((i) => order[i % order.length]!);
                const replayed = await store.writeEvents('orders', again);
                expect({ applied, duplicates }).toEqual({ applied: events.length, duplicates: 0 });
                expect(replayed).toEqual({ applied: 0, duplicates: again.length, late: 0 });
                const rows = await store.getOnlineFeatures({
                  service: [...orderFeatures],
                  entities: customers('a', 'b', 'c'),
                  at: NOW,
                });
                expectFold(rows, events, NOW);
              } finally {
                await store.clear();
              }
            },
          ),
          { numRuns: Math.max(5, Math.round(ctx.numRuns / 2)) },
        );
      }));

    it('window caches: warm reads equal the fold through later writes, replays and late events', () =>
      run(async (scope) => {
        const at = WARM_AT;
        let round = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.array(orderArb, { minLength: 1, maxLength: 40 }),
            fc.integer({ min: 1, max: 4 }),
            async (drafts, parts) => {
              const traced = tracedAdapter(scope.adapter);
              const store = storeIn(
                { ...scope, adapter: traced.adapter },
                { name: `w${round++}`, clock: () => at },
              );
              try {
                const events = toEvents(drafts);
                const size = Math.ceil(events.length / parts);
                const written: OnlineEvent[] = [];
                let warm = 0;
                let reads = 0;
                for (let from = 0; from < events.length; from += size) {
                  const chunk = events.slice(from, from + size);
                  await store.writeEvents('orders', [...chunk, ...written.slice(0, 2)]);
                  written.push(...chunk);
                  const entities = customers(
                    ...new Set(written.map((e) => String(e.key.customer_id))),
                  );
                  for (let pass = 0; pass < 2; pass++) {
                    const before = traced.reads();
                    const rows = await store.getOnlineFeatures({
                      service: [...orderFeatures],
                      entities,
                      at,
                    });
                    expectFold(rows, written, at);
                    // An event newer than the read marks its windows unusable at `at`: their
                    // entity is read from the tiles each time.
                    if (written.every((e) => e.ts < at)) {
                      if (traced.reads() - before === 1) warm++;
                      reads++;
                    }
                    await traced.settled();
                  }
                }
                // Every second pass, at least, finds every window cached.
                expect(warm).toBeGreaterThanOrEqual(reads / 2);
              } finally {
                await store.clear();
              }
            },
          ),
          { numRuns: Math.max(5, Math.round(ctx.numRuns / 2)) },
        );
      }));

    it('window caches: an event ingested after the read time is not counted, cached or not', () =>
      run(async (scope) => {
        const at = WARM_AT;
        const later = at + 2 * 60_000;
        let now = at;
        const traced = tracedAdapter(scope.adapter);
        const store = storeIn({ ...scope, adapter: traced.adapter }, { clock: () => now });
        const order = (id: number, ts: number, ingestedAt: number | null): OnlineEvent => ({
          key: { customer_id: 'a' },
          ts,
          eventId: `e${id}`,
          seq: id,
          ingestedAt,
          values: { amount: id, items: 1, channel: 'web' },
        });
        const events = [order(1, NOW - 2 * HOUR, null), order(2, at - 60_000, later)];
        await store.writeEvents('orders', events);
        const read = async (q: number) => {
          const before = traced.reads();
          const rows = await store.getOnlineFeatures({
            service: [...orderFeatures],
            entities: customers('a'),
            at: q,
          });
          await traced.settled();
          expectFold(rows, events, q);
          return { rows, reads: traced.reads() - before };
        };
        // At `at` the second event is not visible yet: never counted, and no window holding it
        // is cached for this read (each read takes the tiles).
        for (let pass = 0; pass < 3; pass++) {
          const { rows, reads } = await read(at);
          expect(rows[0]!.values.orders_1h!.value).toBe(0);
          expect(rows[0]!.values.orders_7d!.value).toBe(1);
          expect(reads).toBe(2);
        }
        // Once it is ingested, reads count it, and the second one finds its windows cached.
        now = later;
        expect((await read(later)).rows[0]!.values.orders_7d!.value).toBe(2);
        const warm = await read(later);
        expect(warm.rows[0]!.values.orders_7d!.value).toBe(2);
        expect(warm.reads).toBe(1);
        await store.clear();
      }));

    it('window caches: new batch tiles and a moved watermark are read, not the cached body', () =>
      run(async (scope) => {
        const at = WARM_AT;
        const traced = tracedAdapter(scope.adapter);
        const store = storeIn({ ...scope, adapter: traced.adapter }, { clock: () => at });
        const count7d = orderFeatures[1];
        const read = async () => {
          const [row] = await store.getOnlineFeatures({
            service: [count7d],
            entities: customers('a'),
            at,
          });
          await traced.settled();
          return row!.values.orders_7d!.value;
        };
        const order = (id: number, ts: number): OnlineEvent => ({
          key: { customer_id: 'a' },
          ts,
          eventId: `e${id}`,
          seq: id,
          ingestedAt: null,
          values: { amount: 1, items: 1, channel: null },
        });
        await store.writeEvents('orders', [order(1, NOW - DAY), order(2, NOW - 2 * HOUR)]);
        expect(await read()).toBe(2);
        expect(await read()).toBe(2); // warm
        // Batch tiles below a watermark replace the stream layer there: `n` events at
        // NOW - 3d, as materialization would write them (the tile of every level).
        const ladder = store.features.get('orders_7d')!.ladder;
        const batch = (n: number) =>
          store.writeTiles('orders', [
            {
              key: { customer_id: 'a' },
              tiles: Array.from({ length: ladder.levels }, (_, level) => ({
                feature: 'orders_7d',
                level,
                start: tileOf(ladder, level, NOW - 3 * DAY).start,
                state: n,
              })),
            },
          ]);
        await batch(5);
        await store.setWatermark('orders', NOW - 12 * HOUR);
        expect(await read()).toBe(5 + 1);
        expect(await read()).toBe(6);
        // Rewritten batch tiles (a repair) under the same watermark.
        await batch(9);
        const before = traced.reads();
        expect(await read()).toBe(9 + 1);
        expect(traced.reads() - before).toBe(2); // the cache tag was dropped: cold
        await store.clear();
      }));

    it('counts late events, does not apply them, and exposes the count', () =>
      run(async (scope) => {
        const store = storeIn(scope, { allowedLateness: '1h' });
        const event = (id: number, ts: number, amount: number): OnlineEvent => ({
          key: { customer_id: 'a' },
          ts,
          eventId: `e${id}`,
          seq: id,
          ingestedAt: null,
          values: { amount, items: 1, channel: 'web' },
        });
        const onTime = [event(1, NOW - 30 * 60_000, 5), event(2, NOW - HOUR, 7)];
        const late = [event(3, NOW - HOUR - 1, 100), event(4, NOW - 3 * DAY, 1000)];
        const result = await store.writeEvents('orders', [...onTime, ...late]);
        expect(result).toEqual({ applied: 2, duplicates: 0, late: 2 });
        expect(await store.writeEvents('orders', [late[0]!])).toEqual({
          applied: 0,
          duplicates: 0,
          late: 1,
        });
        expect(await store.lateEvents()).toEqual({ orders: 3, profiles: 0 });
        const rows = await store.getOnlineFeatures({
          service: [...orderFeatures],
          entities: customers('a'),
          at: NOW,
        });
        expectFold(rows, onTime, NOW);
        expect(rows[0]!.values.amount_7d!.value).toBe(12);
      }));

    it('a latest with a ttl is outside_ttl once its newest row is older than the ttl', () =>
      run(async (scope) => {
        const store = storeIn(scope);
        const row = (id: number, ts: number, tier: string, score: number): OnlineEvent => ({
          key: { account_id: id },
          ts,
          eventId: null,
          seq: ts,
          ingestedAt: null,
          values: { tier, score },
        });
        await store.writeEvents('profiles', [
          row(1, NOW - 5 * HOUR, 'bronze', 1),
          row(1, NOW - 3 * HOUR, 'silver', 2),
          row(2, NOW - 30 * 60_000, 'gold', 3),
        ]);
        const read = (at: number) =>
          store.getOnlineFeatures({
            service: [...profileFeatures],
            entities: [{ account_id: 1 }, { account_id: 2 }, { account_id: 3 }],
            at,
          });
        const pick = (rows: OnlineFeatureRow[], i: number, name: string) => {
          const { value, status } = rows[i]!.values[name]!;
          return { value, status };
        };
        const now = await read(NOW);
        expect(pick(now, 0, 'tier_2h')).toEqual({ value: null, status: 'outside_ttl' });
        expect(pick(now, 0, 'score')).toEqual({ value: 2, status: 'present' });
        expect(pick(now, 1, 'tier_2h')).toEqual({ value: 'gold', status: 'present' });
        expect(pick(now, 2, 'tier_2h')).toEqual({ value: null, status: 'missing' });
        const earlier = await read(NOW - 2 * HOUR);
        expect(pick(earlier, 0, 'tier_2h')).toEqual({ value: 'silver', status: 'present' });
        expect(pick(earlier, 1, 'tier_2h').status).not.toBe('outside_ttl');
        const later = await read(NOW + 2 * HOUR);
        expect(pick(later, 1, 'tier_2h')).toEqual({ value: null, status: 'outside_ttl' });
        expect(pick(later, 1, 'score')).toEqual({ value: 3, status: 'present' });
      }));

    it('tells missing (never written) from definition_mismatch (written under another definition)', () =>
      run(async (scope) => {
        const first = storeIn(scope, { name: 'shared' });
        const changed = [...orderFeatures.filter((f) => f.name !== 'amount_7d'), changedAmount7d];
        const second = storeIn(scope, { name: 'shared', features: changed });
        await first.writeEvents('orders', [
          {
            key: { customer_id: 'a' },
            ts: NOW - HOUR,
            eventId: 'e1',
            seq: 1,
            ingestedAt: null,
            values: { amount: 2.5, items: 3, channel: 'web' },
          },
        ]);
        const read = (store: OnlineStore, features: readonly AnyFeature[]) =>
          store.getOnlineFeatures({
            service: [...features],
            entities: customers('a', 'never'),
            at: NOW,
          });
        const [a1, never1] = await read(first, orderFeatures);
        expect(a1!.values.amount_7d).toMatchObject({ value: 2.5, status: 'present' });
        expect(never1!.values.amount_7d).toMatchObject({ status: 'missing', freshnessMs: null });
        const [a2, never2] = await read(second, changed);
        const ir = changedAmount7d.ir as Extract<
          typeof changedAmount7d.ir,
          { kind: 'aggregation' }
        >;
        const empty = featureValue(ir, emptyIntermediate(ir.aggregation) as Intermediate);
        expect(a2!.values.amount_7d).toMatchObject({
          value: empty,
          status: 'definition_mismatch',
        });
        expect(a2!.values.orders_7d).toMatchObject({ value: 1, status: 'present' });
        expect(never2!.values.amount_7d).toMatchObject({ value: empty, status: 'missing' });
        // Once the changed definition writes, the first one is the stale one.
        await second.writeEvents('orders', [
          {
            key: { customer_id: 'a' },
            ts: NOW - 30 * 60_000,
            eventId: 'e2',
            seq: 2,
            ingestedAt: null,
            values: { amount: 1, items: 4, channel: 'app' },
          },
        ]);
        const [a3] = await read(second, changed);
        expect(a3!.values.amount_7d).toMatchObject({ value: 4, status: 'present' });
        const [a4] = await read(first, orderFeatures);
        expect(a4!.values.amount_7d!.status).toBe('definition_mismatch');
        // A feature the last writer does not keep is not kept up to date either.
        const partial = storeIn(scope, {
          name: 'shared',
          features: orderFeatures.filter((f) => f.name !== 'orders_1h'),
        });
        await partial.writeEvents('orders', [
          {
            key: { customer_id: 'a' },
            ts: NOW - 20 * 60_000,
            eventId: 'e3',
            seq: 3,
            ingestedAt: null,
            values: { amount: 1, items: 1, channel: null },
          },
        ]);
        const [a5] = await read(first, orderFeatures);
        expect(a5!.values.orders_1h!.status).toBe('definition_mismatch');
        expect(a5!.values.orders_7d).toMatchObject({ value: 3, status: 'present' });
        // Read again: the last writer's map is now known by its digest (no second read of it).
        const [a6] = await read(first, orderFeatures);
        expect(a6!.values.orders_1h!.status).toBe('definition_mismatch');
        expect(a6!.values.orders_7d).toMatchObject({ value: 3, status: 'present' });
      }));

    it('rejects bad events with a typed error and writes nothing of the batch', () =>
      run(async (scope) => {
        const store = storeIn(scope);
        const good: OnlineEvent = {
          key: { customer_id: 'good' },
          ts: NOW - HOUR,
          eventId: 'g1',
          seq: 1,
          ingestedAt: null,
          values: { amount: 1, items: 1, channel: 'web' },
        };
        const goodAccount: OnlineEvent = {
          key: { account_id: 1 },
          ts: NOW - HOUR,
          eventId: null,
          seq: 1,
          ingestedAt: null,
          values: { tier: 'gold', score: 1 },
        };
        const badOrders: [string, Partial<OnlineEvent>][] = [
          ['empty string key', { key: { customer_id: '' } }],
          ['number for a string key', { key: { customer_id: 7 } }],
          ['missing key', { key: {} }],
          ['ts NaN', { ts: Number.NaN }],
          ['ts not an integer', { ts: NOW - 0.5 }],
          ['ts infinite', { ts: Number.POSITIVE_INFINITY }],
          ['string for a float', { values: { amount: 'x', items: 1, channel: null } }],
          ['float for an int', { values: { amount: 1, items: 1.5, channel: null } }],
          ['number for a string', { values: { amount: 1, items: 1, channel: 5 } }],
          ['unknown field', { values: { amount: 1, items: 1, channel: null, nope: 1 } }],
          ['empty event id', { eventId: '' }],
          ['ingestedAt not an integer', { ingestedAt: NOW - 0.5 }],
          ['ingestedAt NaN', { ingestedAt: Number.NaN }],
        ];
        const badAccounts: [string, Partial<OnlineEvent>][] = [
          ['non-integer int key', { key: { account_id: 1.5 } }],
          ['string for an int key', { key: { account_id: '7' } }],
          ['NaN int key', { key: { account_id: Number.NaN } }],
          ['unsafe int key', { key: { account_id: 2 ** 53 } }],
          ['null for a non-nullable field', { values: { tier: 'x', score: null } }],
          ['missing non-nullable field', { values: { tier: 'x' } }],
        ];
        const failures: string[] = [];
        const check = async (
          source: string,
          base: OnlineEvent,
          name: string,
          patch: Partial<OnlineEvent>,
        ) => {
          const bad = { ...base, ...patch, eventId: patch.eventId ?? 'bad', seq: 2 } as OnlineEvent;
          let error: unknown;
          try {
            await store.writeEvents(source, [base, bad]);
          } catch (caught) {
            error = caught;
          }
          if (!(error instanceof TandemError)) {
            failures.push(`${name}: ${error === undefined ? 'accepted' : String(error)}`);
          } else if (
            !['INVALID_ARGUMENT', 'INVALID_EVENT'].includes(error.code) ||
            !(error.path ?? '').startsWith('events[1]')
          ) {
            failures.push(`${name}: ${error.code} at ${error.path}`);
          }
          try {
            const rows = await store.getOnlineFeatures({
              service: source === 'orders' ? [...orderFeatures] : [...profileFeatures],
              entities: [base.key],
              at: NOW,
            });
            const written = Object.entries(rows[0]!.values).filter(
              ([, v]) => v.status !== 'missing',
            );
            if (written.length > 0) {
              failures.push(`${name}: wrote ${written.map(([n]) => n).join(', ')}`);
            }
          } catch (caught) {
            failures.push(`${name}: written, then the read failed: ${String(caught)}`);
          }
          await store.clear();
        };
        for (const [name, patch] of badOrders) await check('orders', good, name, patch);
        for (const [name, patch] of badAccounts) await check('profiles', goodAccount, name, patch);
        expect(failures).toEqual([]);
        await expect(store.writeEvents('nope', [good])).rejects.toMatchObject({
          code: 'UNKNOWN_TABLE',
        });
      }));
  });
}
