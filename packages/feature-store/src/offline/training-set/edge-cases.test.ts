import {
  attributeSource,
  derived,
  entity,
  eventSource,
  featureService,
  requestFeature,
} from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { createOfflineStore, type OfflineStore } from '../store.js';
import type { TrainingSetOptions } from './training-set.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', merchant: 'string' },
});
const profiles = attributeSource({ name: 'profiles', entity: user, fields: { country: 'string' } });
const merchant = entity({ name: 'merchant', keys: { merchant_id: 'string', region: 'int' } });
const sales = eventSource({ name: 'sales', entity: merchant, fields: { amount: 'float' } });

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// W = 1h with the default hop of 5m (W < 12h).
const count1h = tx.count().window('1h').as('count_1h');
const sum1h = tx.sum('amount').window('1h').as('sum_1h');
const last1h = tx.lastK('amount', 5).window('1h').as('last5_1h');
const countAll = tx.count().as('count_all');
const sumAll = tx.sum('amount').as('sum_all');
const meanAll = tx.mean('amount').as('mean_all');
const meanOrMinus1 = tx.mean('amount').default(-1).as('mean_or_minus_1');
const minAll = tx.min('amount').as('min_all');
const maxAll = tx.max('amount').as('max_all');
const lastAmount = tx.last('amount').as('last_amount');
const last5 = tx.lastK('amount', 5).as('last5');
const varianceAll = tx.variance('amount').as('variance_all');
const lastMerchant = tx.last('merchant').default('none').as('last_merchant');
const country1d = profiles.latest('country', { ttl: '1d' }).as('country_1d');
const country = profiles.latest('country').as('country');
const countryOrNone = profiles.latest('country').default('none').as('country_or_none');
const salesSum = sales.sum('amount').as('sales_sum');

/** `T(q) = floor((q - W) / h) * h`, written out with BigInt floor division. */
function windowStart(q: number, length: number, hop: number): number {
  const start = BigInt(q - length);
  const h = BigInt(hop);
  const quotient = start / h - (start % h < 0n ? 1n : 0n);
  return Number(quotient * h);
}

const engines: TestDatabase[] = await openSqlEngines('fs_ts_edges');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))(
  'training-set edge cases on %s',
  (_n, database) => {
    let store: OfflineStore;
    let now = 0;
    beforeAll(async () => {
      store = createOfflineStore({
        executor: pgliteOrPostgresExecutor(database),
        schema: database.schema,
        clock: () => now,
      });
      await store.apply([tx, profiles, sales]);
    });
    afterAll(() => store.executor.close());

    const read = async (options: TrainingSetOptions) => {
      const rows: Record<string, unknown>[] = [];
      for await (const row of store.getTrainingSet(options)) rows.push(row);
      return rows;
    };
    const ingestAt = async (
      clock: number,
      source: typeof tx | typeof profiles | typeof sales,
      events: Record<string, unknown>[],
    ) => {
      now = clock;
      return store.ingest(source, events);
    };
    const scratchTables = async () =>
      store.executor.query(
        sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${store.schema} AND table_name LIKE '\\_\\_rows%'`,
      );

    it.each([
      ['an unaligned q', 10 * HOUR + 2 * 60_000 + 7],
      ['a q on the hop grid', 10 * HOUR],
      ['a negative unaligned q', -(10 * HOUR + 2 * 60_000 + 7)],
      ['a negative q on the grid', -10 * HOUR],
    ])('sliding window edges (T(q) <= ts < q) with %s', async (name, q) => {
      const t = windowStart(q, HOUR, 300_000);
      expect(t).toBeLessThanOrEqual(q - HOUR);
      expect(t).toBeGreaterThan(q - HOUR - 300_000);
      const id = `w_${name}`;
      await ingestAt(Number.MIN_SAFE_INTEGER, tx, [
        { user_id: id, ts: q, eventId: 'at_q', amount: 1 },
        { user_id: id, ts: q - 1, eventId: 'before_q', amount: 2 },
        { user_id: id, ts: t, eventId: 'at_t', amount: 4 },
        { user_id: id, ts: t - 1, eventId: 'before_t', amount: 8 },
      ]);
      // The first q at which the window starts one hop later, dropping the event at T(q).
      const next = t + 300_000 + HOUR;
      expect(windowStart(next - 1, HOUR, 300_000)).toBe(t);
      expect(windowStart(next, HOUR, 300_000)).toBe(t + 300_000);
      const rows = await read({
        features: [count1h, sum1h, last1h, countAll],
        entityRows: [q, q + 1, next - 1, next, t].map((ts) => ({ user_id: id, ts })),
      });
      expect(rows.map((r) => [r.ts, r.count_1h, r.sum_1h, r.last5_1h, r.count_all])).toEqual([
        [q, 2, 6, [2, 4], 3],
        [q + 1, 3, 7, [1, 2, 4], 4],
        [next - 1, 3, 7, [1, 2, 4], 4],
        [next, 2, 3, [1, 2], 4],
        [t, 1, 8, [8], 1],
      ]);
    });

    it('attribute ttl edges (q - ttl <= ts < q), null values and defaults', async () => {
      const q = 100 * DAY;
      await ingestAt(0, profiles, [
        { user_id: 'ttl_in', ts: q - DAY, country: 'fr' },
        { user_id: 'ttl_out', ts: q - DAY - 1, country: 'fr' },
        { user_id: 'ttl_head', ts: q - DAY - 1, country: 'old' },
        { user_id: 'ttl_head', ts: q, country: 'new' },
        { user_id: 'ttl_null', ts: q - 5, country: 'de' },
        { user_id: 'ttl_null', ts: q - 1, country: null },
      ]);
      const rows = await read({
        features: [country1d, country, countryOrNone],
        entityRows: ['ttl_in', 'ttl_out', 'ttl_head', 'ttl_null', 'ttl_nobody'].map((id) => ({
          user_id: id,
          ts: q,
        })),
      });
      expect(rows.map((r) => [r.user_id, r.country_1d, r.country, r.country_or_none])).toEqual([
        ['ttl_in', 'fr', 'fr', 'fr'],
        ['ttl_out', null, 'fr', 'fr'],
        // The row at q is not visible (head exclusive); the older one has expired.
        ['ttl_head', null, 'old', 'old'],
        // The latest row's null value is the value: latest keeps nulls, the default replaces them.
        ['ttl_null', null, null, 'none'],
        ['ttl_nobody', null, null, 'none'],
      ]);
    });

    it('equal timestamps: ties broken by eventId bytewise, then ingestion order', async () => {
      // Bytewise (code point) order: 'B' < 'a' < 'b' < '～' (U+FF5E) < '😀' (U+1F600); UTF-16 code
      // unit order would put '😀' (0xD83D...) before '～'.
      await ingestAt(0, tx, [
        { user_id: 'tie_ids', ts: 100, eventId: 'b', amount: 1 },
        { user_id: 'tie_ids', ts: 100, eventId: 'a', amount: 2 },
        { user_id: 'tie_ids', ts: 100, eventId: 'B', amount: 3 },
        { user_id: 'tie_ids', ts: 100, eventId: '😀', amount: 4 },
        { user_id: 'tie_ids', ts: 100, eventId: '～', amount: 5 },
        { user_id: 'tie_ids', ts: 99, eventId: 'zzz', amount: 6 },
      ]);
      // Without event ids, the later ingestion wins; an event id sorts after no event id.
      await ingestAt(0, tx, [{ user_id: 'tie_seq', ts: 100, amount: 10, merchant: 'first' }]);
      await ingestAt(0, tx, [{ user_id: 'tie_seq', ts: 100, amount: 20, merchant: 'second' }]);
      await ingestAt(0, tx, [
        { user_id: 'tie_mixed', ts: 100, eventId: 'a', amount: 30, merchant: 'with id' },
      ]);
      await ingestAt(0, tx, [{ user_id: 'tie_mixed', ts: 100, amount: 40, merchant: 'no id' }]);
      const rows = await read({
        features: [lastAmount, last5, lastMerchant, minAll, maxAll],
        entityRows: [
          { user_id: 'tie_ids', ts: 101 },
          { user_id: 'tie_seq', ts: 101 },
          { user_id: 'tie_mixed', ts: 101 },
          { user_id: 'tie_ids', ts: 100 },
        ],
      });
      expect(
        rows.map((r) => [r.last_amount, r.last5, r.last_merchant, r.min_all, r.max_all]),
      ).toEqual([
        [4, [4, 5, 1, 2, 3], 'none', 1, 6],
        [20, [20, 10], 'second', 10, 20],
        [30, [30, 40], 'with id', 30, 40],
        [6, [6], 'none', 6, 6],
      ]);
    });

    it('a float last riding on the windowed scan equals its own probe: ties, zeros, late events', async () => {
      const last30m = tx.last('amount').window('30m').as('last_30m');
      await ingestAt(0, tx, [
        { user_id: 'ride', ts: 1_000, eventId: 'a', amount: 3 },
        // Tied on time with equal values: the value needs no tie-break.
        { user_id: 'ride', ts: 2_000, eventId: 'c', amount: 7 },
        { user_id: 'ride', ts: 2_000, eventId: 'b', amount: 7 },
        // Tied with different values: the greatest eventId ('e') wins.
        { user_id: 'ride', ts: 3_000, eventId: 'e', amount: -1 },
        { user_id: 'ride', ts: 3_000, eventId: 'd', amount: 5 },
        { user_id: 'ride', ts: 4_000, eventId: 'f', amount: 0 },
      ]);
      // Ingested at 6000: invisible before, and the older event is the last one until then.
      await ingestAt(6_000, tx, [{ user_id: 'ride', ts: 5_000, eventId: 'g', amount: 9 }]);
      const entityRows = [500, 1_001, 2_001, 3_001, 4_001, 5_999, 6_000, 4_000 + 40 * 60_000].map(
        (ts) => ({ user_id: 'ride', ts }),
      );
      const riding = await read({ features: [sum1h, last30m, lastAmount], entityRows });
      const alone = await read({ features: [last30m, lastAmount], entityRows });
      const expected = [null, 3, 7, -1, 0, 0, 9, null];
      expect(riding.map((r) => r.last_30m)).toEqual(expected);
      expect(alone.map((r) => r.last_30m)).toEqual(expected);
      expect(riding.map((r) => r.last_amount)).toEqual([null, 3, 7, -1, 0, 0, 9, 9]);
      expect(alone.map((r) => r.last_amount)).toEqual(riding.map((r) => r.last_amount));
    });

    it('duplicate eventIds count once: the first ingested copy is kept, per entity', async () => {
      expect(
        await ingestAt(10, tx, [
          { user_id: 'dup', ts: 10, eventId: 'x', amount: 1 },
          { user_id: 'dup', ts: 15, eventId: 'x', amount: 1000 },
          { user_id: 'dup_other', ts: 10, eventId: 'x', amount: 7 },
        ]),
      ).toMatchObject({ inserted: 2, duplicates: 1 });
      expect(
        await ingestAt(20, tx, [{ user_id: 'dup', ts: 5, eventId: 'x', amount: 100 }]),
      ).toMatchObject({ inserted: 0, duplicates: 1 });
      const rows = await read({
        features: [countAll, sumAll],
        entityRows: [
          { user_id: 'dup', ts: 50 },
          { user_id: 'dup_other', ts: 50 },
          { user_id: 'dup', ts: 10 },
          { user_id: 'dup', ts: 11 },
        ],
      });
      expect(rows.map((r) => [r.count_all, r.sum_all])).toEqual([
        [1, 1],
        [1, 7],
        [0, 0],
        [1, 1],
      ]);
    });

    it('late events (ingestedAt > q) are invisible at q, visible from q = ingestedAt on', async () => {
      await ingestAt(1_000, tx, [{ user_id: 'late', ts: 10, eventId: 'a', amount: 1 }]);
      await ingestAt(2_000, tx, [{ user_id: 'late', ts: 20, eventId: 'b', amount: 2 }]);
      await ingestAt(3_000, profiles, [{ user_id: 'late', ts: 30, country: 'late' }]);
      const rows = await read({
        features: [countAll, sumAll, countryOrNone],
        entityRows: [500, 999, 1_000, 1_999, 2_000, 2_999, 3_000].map((ts) => ({
          user_id: 'late',
          ts,
        })),
      });
      expect(rows.map((r) => [r.ts, r.count_all, r.sum_all, r.country_or_none])).toEqual([
        [500, 0, 0, 'none'],
        [999, 0, 0, 'none'],
        [1_000, 1, 1, 'none'],
        [1_999, 1, 1, 'none'],
        [2_000, 2, 3, 'none'],
        [2_999, 2, 3, 'none'],
        [3_000, 2, 3, 'late'],
      ]);
    });

    it('entities with no events: count 0, sum 0, other aggregations null, defaults applied', async () => {
      await ingestAt(0, tx, [{ user_id: 'future', ts: 5_000, eventId: 'f', amount: 3 }]);
      const features = [
        countAll,
        count1h,
        sumAll,
        meanAll,
        meanOrMinus1,
        minAll,
        maxAll,
        lastAmount,
        last5,
        varianceAll,
        lastMerchant,
        country1d,
        countryOrNone,
      ];
      const rows = await read({
        features,
        entityRows: [
          { user_id: 'nobody', ts: 1_000 },
          { user_id: 'future', ts: 1_000 },
        ],
      });
      const empty = {
        count_all: 0,
        count_1h: 0,
        sum_all: 0,
        mean_all: null,
        mean_or_minus_1: -1,
        min_all: null,
        max_all: null,
        last_amount: null,
        last5: [],
        variance_all: null,
        last_merchant: 'none',
        country_1d: null,
        country_or_none: 'none',
      };
      expect(rows).toEqual([
        { user_id: 'nobody', ts: 1_000, ...empty },
        { user_id: 'future', ts: 1_000, ...empty },
      ]);
    });

    it('variance and mean over a few events', async () => {
      await ingestAt(0, tx, [
        { user_id: 'stats', ts: 1, amount: 2 },
        { user_id: 'stats', ts: 2, amount: 4 },
        { user_id: 'stats', ts: 3, amount: null },
        { user_id: 'stats', ts: 4, amount: 9 },
      ]);
      const rows = await read({
        features: [countAll, meanAll, varianceAll, lastAmount],
        entityRows: [
          { user_id: 'stats', ts: 2 },
          { user_id: 'stats', ts: 4 },
          { user_id: 'stats', ts: 5 },
        ],
      });
      expect(rows.map((r) => [r.count_all, r.mean_all, r.variance_all, r.last_amount])).toEqual([
        [1, 2, null, 2],
        [3, 3, 2, 4],
        [4, 5, 13, 9],
      ]);
    });

    it('composite keys, and features of two entities in one set', async () => {
      await ingestAt(0, sales, [
        { merchant_id: 'm1', region: 1, ts: 1, eventId: 'a', amount: 1 },
        { merchant_id: 'm1', region: 2, ts: 1, eventId: 'a', amount: 10 },
        { merchant_id: 'm2', region: 1, ts: 1, eventId: 'a', amount: 100 },
      ]);
      await ingestAt(0, tx, [{ user_id: 'buyer', ts: 1, amount: 5 }]);
      const rows = await read({
        features: [salesSum, sumAll],
        entityRows: [
          { merchant_id: 'm1', region: 1, user_id: 'buyer', ts: 2 },
          { merchant_id: 'm1', region: 2, user_id: 'nobody', ts: 2 },
          { merchant_id: 'm2', region: 1, user_id: 'buyer', ts: 2 },
          { merchant_id: 'm2', region: 2, user_id: 'buyer', ts: 2 },
          { merchant_id: 'm1', region: 1, user_id: 'buyer', ts: 1 },
        ],
      });
      expect(rows.map((r) => [r.merchant_id, r.region, r.sales_sum, r.sum_all])).toEqual([
        ['m1', 1, 1, 5],
        ['m1', 2, 10, 0],
        ['m2', 1, 100, 5],
        ['m2', 2, 0, 5],
        ['m1', 1, 0, 0],
      ]);
    });

    it.each([
      [1, 1],
      [2, 2],
      [1, 3],
      [100, 2],
    ])(
      'entity rows out of order and duplicated keep input order (pageSize %i, concurrency %i)',
      async (pageSize, concurrency) => {
        await ingestAt(0, tx, [
          { user_id: 'order', ts: 10, eventId: 'o1', amount: 1 },
          { user_id: 'order', ts: 20, eventId: 'o2', amount: 2 },
          { user_id: 'order', ts: 30, eventId: 'o3', amount: 4 },
        ]);
        const times = [31, 11, 21, 31, 5, 11, 21, 31];
        const rows = await read({
          features: [sumAll, last5],
          entityRows: times.map((ts, id) => ({ user_id: 'order', ts, id })),
          pageSize,
          concurrency,
        });
        const sums: Record<number, number> = { 5: 0, 11: 1, 21: 3, 31: 7 };
        expect(rows.map((r) => r.id)).toEqual(times.map((_, i) => i));
        expect(rows.map((r) => r.sum_all)).toEqual(times.map((ts) => sums[ts]));
        expect(rows[0]).toEqual({ ...rows[3], id: 0 });
        expect(rows[7]).toEqual({ ...rows[3], id: 7 });
        expect(rows[1]).toEqual({ ...rows[5], id: 1 });
      },
    );

    it('derived and request-time features; extra entity-row columns pass through', async () => {
      await ingestAt(0, tx, [
        { user_id: 'req', ts: 1, amount: 10 },
        { user_id: 'req', ts: 2, amount: 30 },
      ]);
      const average = derived('average', { s: sumAll, n: countAll }, (f) => f.s.div(f.n));
      const big = derived('big_spender', { s: sumAll }, (f) => f.s.gt(25));
      const ratio = requestFeature({
        name: 'amount_vs_average',
        input: z.object({ request_amount: z.number() }),
        uses: { average },
        type: 'float',
        compute: (input, f) => (f.average === null ? null : input.request_amount / f.average),
      });
      const service = featureService('req_service', [ratio, big, countAll]);
      const rows = await read({
        features: service,
        entityRows: [
          { user_id: 'req', ts: 3, request_amount: 60, label: 'fraud', note: { nested: [1] } },
          { user_id: 'req', ts: 2, request_amount: 5, label: 'ok', note: null },
          { user_id: 'req_none', ts: 3, request_amount: 1, label: 'ok', note: 'x' },
        ],
      });
      // Output: the entity row's own columns, then the service's features in order.
      expect(rows).toEqual([
        {
          user_id: 'req',
          ts: 3,
          request_amount: 60,
          label: 'fraud',
          note: { nested: [1] },
          amount_vs_average: 3,
          big_spender: true,
          count_all: 2,
        },
        {
          user_id: 'req',
          ts: 2,
          request_amount: 5,
          label: 'ok',
          note: null,
          amount_vs_average: 0.5,
          big_spender: false,
          count_all: 1,
        },
        // Division by a count of 0 is null (safe division), and so is the request feature.
        {
          user_id: 'req_none',
          ts: 3,
          request_amount: 1,
          label: 'ok',
          note: 'x',
          amount_vs_average: null,
          big_spender: false,
          count_all: 0,
        },
      ]);
      expect(Object.keys(rows[0]!)).toEqual([
        'user_id',
        'ts',
        'request_amount',
        'label',
        'note',
        'amount_vs_average',
        'big_spender',
        'count_all',
      ]);
    });

    it('entity rows as an array, a table, a query, and timestamps (timeUnit timestamp)', async () => {
      await ingestAt(0, tx, [
        { user_id: 'src', ts: 99, eventId: 'a', amount: 1 },
        { user_id: 'src', ts: 100, eventId: 'b', amount: 2 },
        { user_id: 'src', ts: 200, eventId: 'c', amount: 4 },
        { user_id: 'src', ts: -1, eventId: 'd', amount: 8 },
      ]);
      await store.executor.query(
        sql`CREATE TABLE labels (user_id text, at_ms bigint, label integer, at timestamptz)`,
      );
      // Microsecond times floor to the millisecond: 100.5 ms -> q = 100, -0.5 ms -> q = -1.
      await store.executor.query(sql`INSERT INTO labels VALUES
      ('src', 300, 1, timestamptz '1970-01-01 00:00:00.3+00'),
      ('src', 101, 0, timestamptz '1970-01-01 00:00:00.1005+00'),
      ('src', 100, 1, timestamptz '1970-01-01 00:00:00.100999+00'),
      ('src', 0, 0, timestamptz '1969-12-31 23:59:59.9995+00')`);
      const expected = [
        [1, 15],
        [0, 11],
        [1, 9],
        [0, 8],
      ];
      const pick = (rows: Record<string, unknown>[]) => rows.map((r) => [r.label, r.sum_all]);
      const array = await read({
        features: [sumAll],
        entityRows: [
          { user_id: 'src', at_ms: 300, label: 1 },
          { user_id: 'src', at_ms: 101, label: 0 },
          { user_id: 'src', at_ms: 100, label: 1 },
          { user_id: 'src', at_ms: 0, label: 0 },
        ],
        timeColumn: 'at_ms',
      });
      expect(pick(array)).toEqual(expected);
      const table = await read({
        features: [sumAll],
        entityRows: { table: 'labels' },
        timeColumn: 'at_ms',
      });
      expect(pick(table)).toEqual(expected);
      const qualified = await read({
        features: [sumAll],
        entityRows: { table: `${store.schema}.labels` },
        timeColumn: 'at_ms',
      });
      expect(pick(qualified)).toEqual(expected);
      expect(qualified[0]).toMatchObject({ user_id: 'src', at_ms: 300, label: 1 });
      // A query's ORDER BY is the input order.
      const query = await read({
        features: [sumAll],
        entityRows: { query: sql`SELECT user_id, at_ms AS ts, label FROM labels ORDER BY at_ms` },
      });
      expect(pick(query)).toEqual([...expected].reverse());
      const timestamps = await read({
        features: [sumAll],
        entityRows: { query: sql`SELECT user_id, at, label FROM labels` },
        timeColumn: 'at',
        timeUnit: 'timestamp',
      });
      // -0.5 ms floors to q = -1, and the event at -1 is not before it.
      expect(pick(timestamps)).toEqual([
        [1, 15],
        [0, 9],
        [1, 9],
        [0, 0],
      ]);
      // The time column passes through as the engine renders it to JSON (an ISO string).
      expect(new Date(timestamps[0]!.at as string).getTime()).toBe(300);
      const timestampTable = await read({
        features: [sumAll],
        entityRows: { table: 'labels' },
        timeColumn: 'at',
        timeUnit: 'timestamp',
      });
      expect(pick(timestampTable)).toEqual(pick(timestamps));
      // Dates in an array are epoch ms.
      const dates = await read({
        features: [sumAll],
        entityRows: [{ user_id: 'src', ts: new Date(101), label: 0 }],
      });
      expect(pick(dates)).toEqual([[0, 11]]);
      expect(await read({ features: [sumAll], entityRows: [] })).toEqual([]);
      expect(
        await read({
          features: [sumAll],
          entityRows: { query: sql`SELECT * FROM labels WHERE false` },
          timeColumn: 'at_ms',
        }),
      ).toEqual([]);
      expect(await scratchTables()).toEqual([]);
    });
  },
);
