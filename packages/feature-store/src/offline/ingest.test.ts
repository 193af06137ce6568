import {
  compileFolder,
  decodeIntermediate,
  entity,
  eventSource,
  featureAggregateSql,
  intermediatesEqual,
  isTandemError,
  type SourceEvent,
  sourceRelationSql,
} from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import { createOfflineStore, type OfflineStore } from '../index.js';
import { sourceTableSql } from './managed-tables.js';

const user = entity({ name: 'user', keys: { user_id: 'string', shard: 'int' } });
const transactions = eventSource({
  name: 'transactions',
  entity: user,
  fields: { amount: 'float', merchant: 'string', approved: 'bool', items: 'int' },
});
const userTable = eventSource({
  name: 'app_events',
  entity: user,
  table: 'app_events',
  fields: { amount: 'float' },
});

const engines: TestDatabase[] = await openSqlEngines('fs_ingest');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))('ingestion on %s', (_name, database) => {
  let store: OfflineStore;
  let now = 1_000;
  afterAll(() => store.executor.close());
  beforeAll(async () => {
    store = createOfflineStore({
      executor: pgliteOrPostgresExecutor(database),
      schema: database.schema,
      clock: () => now,
    });
    await store.apply([transactions, userTable]);
    await store.apply([transactions]);
  });

  const count = async () =>
    Number(
      (
        await store.executor.query<{ n: number }>(
          sql`SELECT CAST(count(*) AS integer) AS n FROM ${sourceTableSql(store.schema, transactions.ir)}`,
        )
      )[0]!.n,
    );

  it('writes a batch, stamps ingestedAt and dedupes (entity, eventId) within and across batches', async () => {
    const first = await store.ingest(transactions, [
      {
        user_id: 'u1',
        shard: 1,
        ts: 10,
        eventId: 'a',
        amount: 1.5,
        merchant: 'm"1',
        approved: true,
        items: 2,
      },
      {
        user_id: 'u1',
        shard: 1,
        ts: 11,
        eventId: 'a',
        amount: 9,
        merchant: 'dup',
        approved: true,
        items: 2,
      },
      {
        user_id: 'u2',
        shard: 1,
        ts: 12,
        eventId: 'a',
        amount: null,
        merchant: '日本🎉',
        approved: null,
        items: null,
      },
      {
        user_id: 'u2',
        shard: 1,
        ts: new Date(13),
        amount: -0.25,
        merchant: '',
        approved: false,
        items: -3,
      },
    ]);
    expect(first).toEqual({ inserted: 3, duplicates: 1, ingestedAt: 1_000 });
    now = 2_000;
    const second = await store.ingest(transactions, [
      {
        user_id: 'u1',
        shard: 1,
        ts: 10,
        eventId: 'a',
        amount: 1.5,
        merchant: 'm"1',
        approved: true,
        items: 2,
      },
      {
        user_id: 'u1',
        shard: 1,
        ts: 20,
        eventId: 'b',
        amount: 2,
        merchant: 'NULL',
        approved: true,
        items: 1,
      },
    ]);
    expect(second).toEqual({ inserted: 1, duplicates: 1, ingestedAt: 2_000 });
    const rows = await store.executor.query<Record<string, unknown>>(
      sql`SELECT user_id, event_id, merchant, CAST(ingested_at AS integer) AS ingested_at FROM ${sourceTableSql(store.schema, transactions.ir)} ORDER BY seq`,
    );
    expect(rows.map((r) => [r.user_id, r.event_id, r.merchant, r.ingested_at])).toEqual([
      ['u1', 'a', 'm"1', 1_000],
      ['u2', 'a', '日本🎉', 1_000],
      ['u2', null, '', 1_000],
      ['u1', 'b', 'NULL', 2_000],
    ]);
  });

  it.each([
    ['a non-finite value', { amount: Number.POSITIVE_INFINITY }, 'events[1].amount'],
    ['NaN', { amount: Number.NaN }, 'events[1].amount'],
    ['a missing key', { user_id: undefined }, 'events[1].user_id'],
    ['a fractional int key', { shard: 1.5 }, 'events[1].shard'],
    ['a fractional timestamp', { ts: 1.5 }, 'events[1].ts'],
    ['a string timestamp', { ts: 'yesterday' }, 'events[1].ts'],
    ['a wrong type', { approved: 'yes' }, 'events[1].approved'],
    ['an unknown field', { amout: 3 }, 'events[1]'],
    ['a NUL character', { merchant: 'a\u0000b' }, 'events[1].merchant'],
    ['an eventId over 256 characters', { eventId: 'e'.repeat(257) }, 'events[1].eventId'],
  ])('rejects the whole batch on %s, naming row and field', async (_case, patch, path) => {
    const before = await count();
    const good = {
      user_id: 'u9',
      shard: 9,
      ts: 1,
      eventId: 'ok',
      amount: 1,
      merchant: 'x',
      approved: true,
      items: 1,
    };
    const error = await store
      .ingest(transactions, [good, { ...good, eventId: 'bad', ...patch }])
      .catch((e: unknown) => e);
    expect(isTandemError(error, 'INVALID_EVENT')).toBe(true);
    expect((error as { path: string }).path).toBe(path);
    expect(await count()).toBe(before);
  });

  it('accepts an eventId of 256 characters, multibyte included', async () => {
    const eventId = '🎉'.repeat(128);
    expect(eventId.length).toBe(256);
    const result = await store.ingest(transactions, [
      {
        user_id: 'u8',
        shard: 8,
        ts: 1,
        eventId,
        amount: 1,
        merchant: 'x',
        approved: true,
        items: 1,
      },
    ]);
    expect(result.inserted).toBe(1);
  });

  it('apply creates the covering point-in-time index (string fields left out), idempotently', async () => {
    const indexes = await store.executor.query<{ name: string; definition: string }>(sql`
      SELECT indexname AS name, indexdef AS definition FROM pg_indexes
      WHERE schemaname = ${store.schema} AND tablename = 'events_transactions' ORDER BY indexname`);
    expect(indexes.map((i) => i.name)).toEqual([
      'events_transactions_event_id',
      'events_transactions_pit_covering',
    ]);
    expect(indexes[1]!.definition).toContain(
      '(user_id, shard, ts) INCLUDE (event_id, seq, ingested_at, amount, approved, items)',
    );
  });

  it('apply replaces the plain (keys, ts) index of earlier versions', async () => {
    const table = sourceTableSql(store.schema, transactions.ir);
    await store.executor.query(
      sql`DROP INDEX ${sql.identifier(store.schema)}.events_transactions_pit_covering`,
    );
    await store.executor.query(
      sql`CREATE INDEX events_transactions_pit ON ${table} (user_id, shard, ts)`,
    );
    await store.apply([transactions]);
    const names = await store.executor.query<{ name: string }>(sql`
      SELECT indexname AS name FROM pg_indexes
      WHERE schemaname = ${store.schema} AND tablename = 'events_transactions' ORDER BY indexname`);
    expect(names.map((i) => i.name)).toEqual([
      'events_transactions_event_id',
      'events_transactions_pit_covering',
    ]);
  });

  it('refuses to ingest into a user-owned table', async () => {
    const error = await store
      .ingest(userTable, [{ user_id: 'u', shard: 1, ts: 1, amount: 1 }])
      .catch((e: unknown) => e);
    expect(isTandemError(error, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('ingested events read back through the compiled SQL equal the TS fold', async () => {
    const sum = transactions.sum('amount').window('1h', { hop: '5m' }).as('amount_sum_1h');
    const events: SourceEvent[] = [
      { ts: 10, eventId: 'a', seq: 1, ingestedAt: 1_000, values: { amount: 1.5 } },
      { ts: 20, eventId: 'b', seq: 4, ingestedAt: 2_000, values: { amount: 2 } },
    ];
    const relation = sourceRelationSql(transactions.ir, {
      table: sourceTableSql(store.schema, transactions.ir),
      dedupe: false,
    });
    // q = 30: both events happened before q but were ingested after it, so neither is visible.
    // q = 1500: only the first was ingested by then. q = 3000: both.
    for (const [q, expected] of [
      [30, { n: 0, sum: 0, sumAbs: 0 }],
      [1_500, { n: 1, sum: 1.5, sumAbs: 1.5 }],
      [3_000, { n: 2, sum: 3.5, sumAbs: 3.5 }],
    ] as const) {
      const rows = await store.executor.query<{ v: unknown }>(sql`
        SELECT ${featureAggregateSql(sum.ir, 'e', sql`CAST(${q} AS bigint)`)} AS v
        FROM ${relation} e WHERE e.user_id = ${'u1'} AND e.shard = ${1}`);
      const fromSql = decodeIntermediate({ fn: 'sum' }, rows[0]!.v);
      expect(fromSql).toEqual(expected);
      expect(
        intermediatesEqual({ fn: 'sum' }, fromSql, compileFolder(sum.ir).fold(events, q) as never),
      ).toBe(true);
    }
  });
});
