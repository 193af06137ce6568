import { type AnyFeature, attributeSource, entity, eventSource } from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { type SQL, sql } from 'drizzle-orm';
import { bigint, doublePrecision, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  entityRowsArb,
  type GeneratedOwnedEvent,
  ownedEventsArb,
} from '../../../test/arbitraries.js';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import {
  expectTrainingSet,
  matches,
  type OracleEvent,
  type OracleFeature,
} from '../../../test/oracle.js';
import { arrayLiteral } from '../../internal/array-literal.js';
import { createOfflineStore, type OfflineStore } from '../store.js';
import type { TrainingSetOptions } from './training-set.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });

/** A user-owned table described by name and column mapping: timestamptz times, no ingestion columns. */
const payments = eventSource({
  name: 'payments',
  entity: user,
  table: 'payments',
  keyColumns: { user_id: 'payer' },
  timestamp: { column: 'paid_at', unit: 'timestamp' },
  eventId: 'payment_id',
  fields: {
    amount: { type: 'float', column: 'value' },
    merchant: { type: 'string', column: 'shop' },
  },
});

/** A user-owned table described by a drizzle table: a timestamp without time zone (read as UTC). */
const ordersTable = pgTable('orders', {
  orderId: text('order_id'),
  customer: text('customer_id').notNull(),
  placedAt: timestamp('placed_at', { mode: 'date', precision: 6 }).notNull(),
  loadedAt: timestamp('loaded_at', { mode: 'date', precision: 6 }),
  position: bigint('position', { mode: 'number' }),
  total: doublePrecision('total'),
  shop: text('shop'),
});
const orders = eventSource({
  name: 'orders',
  entity: user,
  table: ordersTable,
  keyColumns: { user_id: ordersTable.customer },
  timestamp: ordersTable.placedAt,
  eventId: ordersTable.orderId,
  sequence: ordersTable.position,
  ingestedAt: ordersTable.loadedAt,
  fields: { amount: ordersTable.total, merchant: ordersTable.shop },
});

/** A user-owned attribute table, in another schema. */
const accounts = attributeSource({
  name: 'accounts',
  entity: user,
  table: 'app_data.accounts',
  keyColumns: { user_id: 'uid' },
  timestamp: { column: 'updated_at', unit: 'timestamp' },
  fields: { tier: 'string' },
});

const HOUR = { kind: 'sliding', length: 3_600_000, hop: 300_000 } as const;
const LIFETIME = { kind: 'lifetime' } as const;

type Pair = readonly [AnyFeature, Omit<OracleFeature, 'name' | 'knowsIngestion'>];

function eventFeatures(source: typeof payments | typeof orders): Pair[] {
  const s = source as typeof payments;
  const p = source.name;
  return [
    [s.count().window('1h').as(`${p}_n_1h`), { fn: 'count', field: null, window: HOUR }],
    [s.sum('amount').as(`${p}_sum`), { fn: 'sum', field: 'amount', window: LIFETIME }],
    [
      s.mean('amount').window('1h').as(`${p}_mean_1h`),
      { fn: 'mean', field: 'amount', window: HOUR },
    ],
    [s.max('amount').as(`${p}_max`), { fn: 'max', field: 'amount', window: LIFETIME }],
    [
      s.last('merchant').as(`${p}_last_merchant`),
      { fn: 'last', field: 'merchant', window: LIFETIME },
    ],
    [
      s.lastK('amount', 4).window('1h').as(`${p}_last4`),
      { fn: 'last_k', field: 'amount', k: 4, window: HOUR },
    ],
    [
      s.variance('amount').as(`${p}_variance`),
      { fn: 'variance', field: 'amount', window: LIFETIME },
    ],
  ];
}

const tierPair: Pair = [
  accounts.latest('tier', { ttl: '30m' }).as('tier_30m'),
  { fn: 'latest', field: 'tier', window: { kind: 'ttl', length: 1_800_000 } },
];

/** Microseconds `us` as a timestamptz / timestamp expression. */
const micros = (us: SQL, type: 'timestamptz' | 'timestamp') =>
  sql`${sql.raw(type)} 'epoch' + ${us} * interval '1 microsecond'`;

const engines: TestDatabase[] = await openSqlEngines('fs_ts_user_tables');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))(
  'user-owned tables on %s',
  (_n, database) => {
    let store: OfflineStore;
    beforeAll(async () => {
      store = createOfflineStore({
        executor: pgliteOrPostgresExecutor(database),
        schema: database.schema,
      });
      const q = (query: SQL) => store.executor.query(query);
      await q(sql`CREATE TABLE payments (
      payer text NOT NULL, paid_at timestamptz NOT NULL, payment_id text, value double precision,
      shop text, note text)`);
      await q(sql`CREATE TABLE orders (
      order_id text, customer_id text NOT NULL, placed_at timestamp(6) NOT NULL,
      loaded_at timestamp(6), position bigint, total double precision, shop text)`);
      await q(sql`CREATE SCHEMA app_data`);
      await q(sql`CREATE TABLE app_data.accounts (uid text, updated_at timestamptz, tier text)`);
    });
    afterAll(async () => {
      await store.executor.query(sql`DROP SCHEMA app_data CASCADE`);
      await store.executor.close();
    });

    const read = async (options: TrainingSetOptions) => {
      const rows: Record<string, unknown>[] = [];
      for await (const row of store.getTrainingSet(options)) rows.push(row);
      return rows;
    };

    /**
     * Writes events into a user table: the time gets a sub-millisecond part (`fraction` us), which
     * must floor away.
     */
    const insert = async (
      table: 'payments' | 'orders',
      events: readonly GeneratedOwnedEvent[],
      fraction: (i: number) => number,
    ) => {
      const col = (values: unknown[], type: string) =>
        sql`CAST(${arrayLiteral(values)} AS ${sql.raw(type)})`;
      const us = events.map((e, i) => e.ts * 1000 + fraction(i));
      const loaded = events.map((e) => (e.ingestedAt === null ? null : e.ingestedAt * 1000));
      const rows = sql`unnest(${col(
        events.map((e) => e.user_id),
        'text[]',
      )}, ${col(us, 'bigint[]')}, ${col(
        events.map((e) => e.eventId),
        'text[]',
      )}, ${col(
        events.map((e) => e.amount),
        'float8[]',
      )}, ${col(
        events.map((e) => e.merchant),
        'text[]',
      )}, ${col(loaded, 'bigint[]')}, ${col(
        events.map((e) => e.seq),
        'bigint[]',
      )}) AS t(k, us, id, amount, shop, loaded, seq)`;
      await store.executor.query(
        table === 'payments'
          ? sql`INSERT INTO payments (payer, paid_at, payment_id, value, shop)
            SELECT k, ${micros(sql`us`, 'timestamptz')}, id, amount, shop FROM ${rows}`
          : sql`INSERT INTO orders (customer_id, placed_at, order_id, total, shop, loaded_at, position)
            SELECT k, ${micros(sql`us`, 'timestamp')}, id, amount, shop, ${micros(sql`loaded`, 'timestamp')}, seq FROM ${rows}`,
      );
    };

    it('apply creates nothing for user-owned sources', async () => {
      await store.apply([payments, orders, accounts]);
      const tables = await store.executor.query<{ name: string }>(
        sql`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ${store.schema} ORDER BY 1`,
      );
      // Tandem's own tables (the online store's backlog, the registry) may be there; no managed
      // source table is.
      const names = tables.map((t) => t.name);
      expect(names.filter((name) => /^(events|attributes)_/.test(name))).toEqual([]);
      expect(names).toEqual(expect.arrayContaining(['orders', 'payments']));
    });

    it('dedupe on a table without ingestion columns keeps the earliest copy by ts', async () => {
      await insert(
        'payments',
        [
          {
            user_id: 'dup',
            ts: 10,
            eventId: 'p1',
            amount: 1,
            qty: null,
            merchant: 'late copy',
            ingestedAt: null,
            seq: null,
          },
          {
            user_id: 'dup',
            ts: 5,
            eventId: 'p1',
            amount: 2,
            qty: null,
            merchant: 'early copy',
            ingestedAt: null,
            seq: null,
          },
          {
            user_id: 'dup',
            ts: 6,
            eventId: null,
            amount: 4,
            qty: null,
            merchant: 'no id',
            ingestedAt: null,
            seq: null,
          },
          {
            user_id: 'dup',
            ts: 6,
            eventId: null,
            amount: 4,
            qty: null,
            merchant: 'no id',
            ingestedAt: null,
            seq: null,
          },
        ],
        () => 0,
      );
      const rows = await read({
        features: [payments.count().as('n'), payments.sum('amount').as('total')],
        entityRows: [4, 6, 7, 11].map((ts) => ({ user_id: 'dup', ts })),
      });
      expect(rows.map((r) => [r.ts, r.n, r.total])).toEqual([
        [4, 0, 0],
        [6, 1, 2],
        [7, 3, 10],
        [11, 3, 10],
      ]);
    });

    it('dedupe with ingestion columns keeps the earliest ingested copy, before the as-of filter', async () => {
      // DESIGN §3 / docs/semantics.md worked example: copy 2 (ingested first) is the event; copy 3
      // (unknown ingestion time) is never used, even before copy 2 is ingested.
      await insert(
        'orders',
        [
          {
            user_id: 'dup',
            ts: 100,
            eventId: 'x',
            amount: 10,
            qty: null,
            merchant: 'copy 1',
            ingestedAt: 500,
            seq: 2,
          },
          {
            user_id: 'dup',
            ts: 100,
            eventId: 'x',
            amount: 12,
            qty: null,
            merchant: 'copy 2',
            ingestedAt: 200,
            seq: 1,
          },
          {
            user_id: 'dup',
            ts: 100,
            eventId: 'x',
            amount: 99,
            qty: null,
            merchant: 'copy 3',
            ingestedAt: null,
            seq: 0,
          },
          {
            user_id: 'dup',
            ts: 150,
            eventId: 'y',
            amount: 5,
            qty: null,
            merchant: 'y',
            ingestedAt: null,
            seq: 3,
          },
        ],
        () => 0,
      );
      const rows = await read({
        features: [
          orders.count().as('n'),
          orders.sum('amount').as('total'),
          orders.last('merchant').as('m'),
        ],
        entityRows: [120, 199, 200, 1_000].map((ts) => ({ user_id: 'dup', ts })),
      });
      expect(rows.map((r) => [r.ts, r.n, r.total, r.m])).toEqual([
        [120, 0, 0, null],
        [199, 1, 5, 'y'],
        [200, 2, 17, 'y'],
        [1_000, 2, 17, 'y'],
      ]);
    });

    it('sub-millisecond timestamps floor to the millisecond, before 1970 too', async () => {
      // 999.5 us before q floors to q - 1 (visible); 400 us after q floors to q (not visible);
      // -0.5 ms floors to -1 ms.
      const events = [
        { ts: 1_000, us: 1_000_000 - 500, amount: 1 },
        { ts: 1_000, us: 1_000_000 + 400, amount: 2 },
        { ts: 0, us: -500, amount: 4 },
      ];
      await store.executor.query(sql`INSERT INTO payments (payer, paid_at, value) VALUES
      ${sql.join(
        events.map(
          (e) =>
            sql`('floor', ${micros(sql`CAST(${e.us} AS bigint)`, 'timestamptz')}, ${e.amount})`,
        ),
        sql`, `,
      )}`);
      const rows = await read({
        features: [payments.sum('amount').as('total')],
        entityRows: [-1, 0, 999, 1_000, 1_001].map((ts) => ({ user_id: 'floor', ts })),
      });
      expect(rows.map((r) => [r.ts, r.total])).toEqual([
        [-1, 0],
        [0, 4],
        [999, 4],
        [1_000, 5],
        [1_001, 7],
      ]);
    });

    it('reads the table in place: a row the app writes later shows up in the next training set', async () => {
      const features = [payments.count().as('n')];
      const entityRows = [{ user_id: 'live', ts: 10_000 }];
      expect((await read({ features, entityRows }))[0]!.n).toBe(0);
      await store.executor.query(
        sql`INSERT INTO payments (payer, paid_at, value) VALUES ('live', timestamptz 'epoch' + interval '1 second', 1)`,
      );
      expect((await read({ features, entityRows }))[0]!.n).toBe(1);
    });

    it('named, drizzle and attribute tables equal the oracle on generated data', async () => {
      // Several samples, so the data are large; sequences stay unique across them.
      const sample = (seed: number) =>
        fc
          .sample(ownedEventsArb, { seed, numRuns: 6 })
          .flatMap((events, k) =>
            events.map((e) => ({ ...e, seq: e.seq === null ? null : e.seq + k * 1_000 })),
          );
      const paymentRows = sample(7);
      const orderRows = sample(8);
      const fresh = (events: GeneratedOwnedEvent[], prefix: string) =>
        events.map((e) => ({ ...e, user_id: `${prefix}${e.user_id}` }));
      const paid = fresh(paymentRows, 'gen_');
      // The payments table has no ingestion columns: its events carry none. Copies of one event id
      // then differ by ts only; drop exact (id, ts) repeats, whose kept copy would be arbitrary.
      const seen = new Set<string>();
      const paidStored = paid
        .map((e) => ({ ...e, ingestedAt: null, seq: null }))
        .filter((e) => {
          const key = JSON.stringify([e.user_id, e.eventId, e.ts]);
          if (e.eventId === null || !seen.has(key)) {
            seen.add(key);
            return true;
          }
          return false;
        });
      const ordered = fresh(orderRows, 'gen_');
      await insert('payments', paidStored, (i) => (i * 379) % 1000);
      await insert('orders', ordered, (i) => (i * 613) % 1000);
      const tiers = fc.sample(
        fc.record({
          user_id: fc.constantFrom(...new Set(ordered.map((e) => e.user_id))),
          ts: fc.integer({ min: -7_200_000, max: 7_200_000 }),
          tier: fc.option(fc.constantFrom('gold', 'silver', 'Gold')),
        }),
        { seed: 9, numRuns: 60 },
      );
      await store.executor.query(
        sql`INSERT INTO app_data.accounts (uid, updated_at, tier) VALUES ${sql.join(
          tiers.map(
            (t) =>
              sql`(${t.user_id}, ${micros(sql`CAST(${t.ts * 1000} AS bigint)`, 'timestamptz')}, ${t.tier})`,
          ),
          sql`, `,
        )}`,
      );
      const [entityRows] = fc.sample(
        entityRowsArb(
          [...paid, ...ordered].map((e) => e.ts),
          200,
        ),
        { seed: 10, numRuns: 1 },
      );
      const rows = entityRows!.map((r) => ({ ...r, user_id: `gen_${r.user_id}` }));
      const pairs = [...eventFeatures(payments), ...eventFeatures(orders), tierPair];
      const actual = await read({
        features: pairs.map(([f]) => f),
        entityRows: rows,
        pageSize: 64,
      });

      const oracleEvents = (events: readonly GeneratedOwnedEvent[]): OracleEvent[] =>
        events.map((e) => ({
          keys: { user_id: e.user_id },
          ts: e.ts,
          eventId: e.eventId,
          seq: e.seq,
          ingestedAt: e.ingestedAt,
          values: { amount: e.amount, merchant: e.merchant },
        }));
      const tierEvents: OracleEvent[] = tiers.map((t) => ({
        keys: { user_id: t.user_id },
        ts: t.ts,
        eventId: null,
        seq: null,
        ingestedAt: null,
        values: { tier: t.tier },
      }));
      const sources = new Map<OracleFeature, OracleEvent[]>();
      for (const [feature, description] of eventFeatures(payments)) {
        sources.set(
          { ...description, name: feature.name, knowsIngestion: false },
          oracleEvents(paidStored),
        );
      }
      for (const [feature, description] of eventFeatures(orders)) {
        sources.set(
          { ...description, name: feature.name, knowsIngestion: true },
          oracleEvents(ordered),
        );
      }
      sources.set({ ...tierPair[1], name: tierPair[0].name, knowsIngestion: false }, tierEvents);
      const expected = expectTrainingSet(
        sources,
        rows.map((r) => ({ keys: { user_id: r.user_id }, q: r.ts })),
      );
      expect(actual).toHaveLength(rows.length);
      const wrong = actual.flatMap((row, i) =>
        Object.entries(expected[i]!).flatMap(([name, want]) =>
          matches(want, row[name])
            ? []
            : [
                `row ${i} ${rows[i]!.user_id}@${rows[i]!.ts} ${name}: got ${JSON.stringify(row[name])}, want ${JSON.stringify(want)}`,
              ],
        ),
      );
      expect(wrong).toEqual([]);
      // The data exercise what they should: duplicates, late rows, values in every feature.
      expect(
        new Set(paid.filter((e) => e.eventId !== null).map((e) => `${e.user_id}/${e.eventId}`))
          .size,
      ).toBeLessThan(paid.filter((e) => e.eventId !== null).length);
      expect(ordered.some((e) => e.ingestedAt !== null && e.ingestedAt > e.ts)).toBe(true);
      for (const [feature] of pairs) {
        expect(actual.some((r) => r[feature.name] !== null && r[feature.name] !== 0)).toBe(true);
      }
    });
  },
);
