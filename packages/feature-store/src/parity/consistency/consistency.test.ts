import { derived, entity, eventSource, featureService } from '@tandem/core';
import {
  openPostgres,
  openRedis,
  redisUnavailableReason,
  type TestDatabase,
  type TestRedis,
} from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import type { SqlExecutor } from '../../executor/executor.js';
import { createOfflineStore } from '../../offline/store.js';
import type { OnlineAdapter } from '../../online/adapter.js';
import { memoryAdapter } from '../../online/memory/adapter.js';
import { redisAdapter } from '../../online/redis/adapter.js';
import { createOnlineStore } from '../../online/store.js';
import { checkConsistency, consistencyRates } from './backfill.js';
import { entityHash, entitySampled } from './hash.js';
import { withConsistencyLog } from './log.js';
import { readConsistencyLog } from './table.js';

const MIN = 60_000;
const BASE = Date.UTC(2026, 4, 1);

const customer = entity({ name: 'customer', keys: { customer_id: 'string' } });
const orders = eventSource({
  name: 'orders',
  entity: customer,
  fields: { amount: 'float', channel: { type: 'string', nullable: true } },
});
const n1h = orders.count().window('1h').as('orders_1h');
const sum1h = orders.sum('amount').window('1h').as('amount_1h');
const lastChannel = orders.last('channel').as('last_channel');
const avg = derived('avg_amount_1h', { s: sum1h, n: n1h }, (f) => f.s.div(f.n));
const service = featureService('checkout', [n1h, sum1h, lastChannel, avg]);
const CUSTOMERS = Array.from({ length: 40 }, (_, i) => `c${i}`);

describe('entity key hash sampling', () => {
  it('is stable, in [0, 1), independent of key order, and samples about the rate', () => {
    const a = entityHash({ region: 'eu', id: 7 });
    expect(entityHash({ id: 7, region: 'eu' })).toBe(a);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(1);
    expect(entityHash({ region: 'eu', id: 7 }, 'other salt')).not.toBe(a);
    const keys = Array.from({ length: 20_000 }, (_, i) => ({ customer_id: `k${i}` }));
    const share = keys.filter((k) => entitySampled(k, 0.1)).length / keys.length;
    expect(share).toBeGreaterThan(0.09);
    expect(share).toBeLessThan(0.11);
    expect(keys.every((k) => entitySampled(k, 1))).toBe(true);
    expect(keys.some((k) => entitySampled(k, 0))).toBe(false);
    // A sampled entity stays sampled at a higher rate (nested samples).
    expect(keys.filter((k) => entitySampled(k, 0.1)).every((k) => entitySampled(k, 0.3))).toBe(
      true,
    );
  });
});

const redisReason = await redisUnavailableReason();
let database: TestDatabase;
let executor: SqlExecutor;
let redis: TestRedis | undefined;
beforeAll(async () => {
  database = await openPostgres('consistency');
  executor = pgliteOrPostgresExecutor(database);
  if (!redisReason) redis = await openRedis('consistency');
});
afterAll(async () => {
  await redis?.close();
  await executor?.close();
  await database?.close();
});

const engines: [string, () => OnlineAdapter][] = [
  ['in-process', () => memoryAdapter()],
  ...(redisReason
    ? []
    : [['redis', () => redisAdapter({ client: redis!.client })] as [string, () => OnlineAdapter]]),
];

describe.each(engines)('consistency log on %s', (engine, makeAdapter) => {
  /**
   * Production-like: events are ingested (Postgres, then the online store) at increasing times and
   * reads happen "now", between ingestions, through the logged store.
   */
  async function scenario(schema: string, rate: number) {
    let now = BASE;
    const clock = () => now;
    const online = createOnlineStore({
      adapter: makeAdapter(),
      features: [service],
      namespace: `${redis?.prefix ?? 'test:'}${schema}:${engine}`,
      clock,
    });
    const offline = createOfflineStore({ executor, schema, online, clock });
    await offline.apply([orders]);
    const logged = withConsistencyLog(online, { executor, schema, rate, batchSize: 7, clock });
    let id = 0;
    let reads = 0;
    for (let step = 0; step < 30; step++) {
      now += 3 * MIN + (step % 4);
      const batch = CUSTOMERS.filter((_, i) => (i + step) % 3 === 0).map((c, i) => ({
        customer_id: c,
        ts: now - (i % 5) * 7 * MIN - (step % 2),
        eventId: `e${id++}`,
        amount: ((i * 37 + step) % 19) * 0.1 - 0.7,
        channel: i % 4 === 0 ? null : ['web', 'app', 'shop'][i % 3]!,
      }));
      await offline.ingest(orders, batch);
      now += 1 + (step % 3);
      const rows = await logged.getOnlineFeatures({
        service,
        entities: CUSTOMERS.slice(step % 10, (step % 10) + 12).map((c) => ({ customer_id: c })),
      });
      reads += rows.length;
    }
    await logged.consistencyLog.flush();
    return { offline, online, logged, reads };
  }

  it('logs the sampled entities in batches, then backfills them with zero mismatches', async () => {
    const schema = `${database.schema}_ok_${engine.replace('-', '_')}`;
    const { offline, online, logged, reads } = await scenario(schema, 0.5);
    try {
      const stats = logged.consistencyLog.stats();
      expect(stats.reads).toBe(reads);
      expect(stats.pending).toBe(0);
      expect(stats.failed + stats.dropped).toBe(0);
      const { records, definitions } = await readConsistencyLog(executor, schema);
      expect(records.length).toBe(stats.written);
      expect(records.length).toBe(stats.sampled);
      expect(records.length).toBeGreaterThan(0.3 * reads);
      expect(records.length).toBeLessThan(0.7 * reads);
      // Only sampled entities, each with the definition of the service read.
      expect(records.every((r) => entitySampled(r.entity, 0.5))).toBe(true);
      expect([...definitions.values()].map((d) => d.service)).toEqual(['checkout']);
      expect(Object.keys(records[0]!.values).sort()).toEqual([
        'amount_1h',
        'avg_amount_1h',
        'last_channel',
        'orders_1h',
      ]);

      const report = await checkConsistency({ offline, definitions: [service] });
      expect(report.ok).toBe(true);
      expect(report.records).toBe(records.length);
      expect(report.checked).toBe(records.length);
      expect(report.groups).toHaveLength(1);
      expect(report.groups[0]!.report!.sample.points).toBe(records.length);
      expect(report.groups[0]!.report!.totals.disagreements).toBe(0);
      expect(consistencyRates(report).map((r) => [r.feature, r.rate])).toEqual([
        ['orders_1h', 0],
        ['amount_1h', 0],
        ['last_channel', 0],
        ['avg_amount_1h', 0],
      ]);
      expect(report.rates.every((r) => r.checked === records.length)).toBe(true);
    } finally {
      await logged.consistencyLog.stop();
      await online.clear();
      await executor.query(sql`DROP SCHEMA IF EXISTS ${sql.identifier(schema)} CASCADE`);
    }
  });

  it('reports a served value that differs offline, with its rate and events', async () => {
    const schema = `${database.schema}_bad_${engine.replace('-', '_')}`;
    const { offline, online, logged } = await scenario(schema, 1);
    try {
      // Serving returned a count one too high for three logged reads.
      await executor.query(sql`
        UPDATE ${sql.identifier(schema)}.consistency_log
        SET "values" = jsonb_set("values", '{orders_1h}', to_jsonb(CAST("values"->>'orders_1h' AS integer) + 1))
        WHERE id IN (SELECT id FROM ${sql.identifier(schema)}.consistency_log ORDER BY id LIMIT 3)`);
      const report = await checkConsistency({ offline, definitions: [service] });
      expect(report.ok).toBe(false);
      const rate = report.rates.find((r) => r.feature === 'orders_1h')!;
      expect(rate.disagreements).toBe(3);
      expect(rate.rate).toBeCloseTo(3 / report.checked, 12);
      expect(report.rates.find((r) => r.feature === 'amount_1h')!.disagreements).toBe(0);
      const feature = report.groups[0]!.report!.features.find((f) => f.name === 'orders_1h')!;
      expect(feature.mismatch).toBe(3);
      const example = feature.examples[0]!;
      expect(example.online).toBe((example.offline as number) + 1);
      expect(example.reference).toBe(example.offline);
      expect(example.windows[0]!.events.length).toBeGreaterThan(0);
    } finally {
      await logged.consistencyLog.stop();
      await online.clear();
      await executor.query(sql`DROP SCHEMA IF EXISTS ${sql.identifier(schema)} CASCADE`);
    }
  });

  it('skips features whose definition changed since the reads were logged', async () => {
    const schema = `${database.schema}_changed_${engine.replace('-', '_')}`;
    const { offline, online, logged } = await scenario(schema, 0.3);
    try {
      const redefined = orders.count().window('2h').as('orders_1h');
      const report = await checkConsistency({
        offline,
        definitions: [sum1h, lastChannel, redefined],
        range: { limit: 20 },
      });
      expect(report.records).toBe(20);
      const group = report.groups[0]!;
      expect(group.unmatched.map((u) => u.feature).sort()).toEqual(['avg_amount_1h', 'orders_1h']);
      expect(group.unmatched.find((u) => u.feature === 'orders_1h')!.reason).toMatch(
        /definition changed/,
      );
      expect(group.report!.features.map((f) => f.name)).toEqual(['amount_1h', 'last_channel']);
      expect(report.ok).toBe(true);
    } finally {
      await logged.consistencyLog.stop();
      await online.clear();
      await executor.query(sql`DROP SCHEMA IF EXISTS ${sql.identifier(schema)} CASCADE`);
    }
  });
});

describe('consistency log failures', () => {
  it('never fails or delays a read: write errors are counted and reported', async () => {
    const errors: unknown[] = [];
    const broken: SqlExecutor = {
      engine: 'postgres',
      query: async () => {
        throw new Error('database down');
      },
      transaction: async () => {
        throw new Error('database down');
      },
      close: async () => {},
    };
    const online = createOnlineStore({ adapter: memoryAdapter(), features: [service] });
    const logged = withConsistencyLog(online, {
      executor: broken,
      rate: 1,
      batchSize: 2,
      maxPending: 4,
      flushIntervalMs: 60_000,
      onError: (e) => errors.push(e),
    });
    const rows = await logged.getOnlineFeatures({
      service,
      entities: CUSTOMERS.slice(0, 10).map((c) => ({ customer_id: c })),
      at: BASE,
    });
    expect(rows).toHaveLength(10);
    expect(rows[0]!.values.orders_1h!.value).toBe(0);
    await logged.consistencyLog.flush();
    const stats = logged.consistencyLog.stats();
    expect(stats.sampled).toBe(10);
    // 4 fit in the queue (the rest dropped), and the batches failed.
    expect(stats.dropped + stats.failed + stats.written).toBe(10);
    expect(stats.failed).toBeGreaterThan(0);
    expect(stats.written).toBe(0);
    expect(errors.length).toBeGreaterThan(0);
    await logged.close();
  });

  it('rejects a rate outside [0, 1]', () => {
    const online = createOnlineStore({ adapter: memoryAdapter(), features: [service] });
    expect(() => withConsistencyLog(online, { executor: {} as SqlExecutor, rate: 2 })).toThrow(
      /rate must be a number from 0 to 1/,
    );
  });
});
