import { pgliteExecutor, postgresExecutor, type SqlExecutor } from '@tandem/feature-store';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { REDACTED } from './logger.js';
import { createPredictionLog, type PredictionRecord } from './prediction-log.js';

const engines: TestDatabase[] = await openSqlEngines('serving_prediction_log');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

function executorOf(database: TestDatabase): SqlExecutor {
  return database.engine === 'pglite'
    ? pgliteExecutor(database.pglite)
    : postgresExecutor(database.connectionString);
}

function record(
  id: string,
  userId: string,
  extra: Partial<PredictionRecord> = {},
): PredictionRecord {
  return {
    id,
    ts: 1_700_000_000_000,
    model: 'fraud',
    version: '3',
    entity: { user_id: userId },
    request: { user_id: userId, amount: 12.5, email: `${userId}@example.com` },
    features: { tx_count_7d: 4, email: `${userId}@example.com` },
    prediction: { probability: 0.25 },
    fallback: null,
    latencyMs: 1.5,
    ...extra,
  };
}

describe('key-hash sampling', () => {
  const executor = { engine: 'postgres' } as unknown as SqlExecutor; // never queried here
  it('samples a stable share of entities, the same entity always in or out', () => {
    const log = createPredictionLog({ executor, schema: 'unused', sampleRate: 0.3 });
    let sampled = 0;
    for (let i = 0; i < 5000; i++) {
      const entity = { user_id: `u${i}` };
      const first = log.sampled(entity);
      expect(log.sampled({ user_id: `u${i}` })).toBe(first);
      if (first) sampled++;
    }
    expect(sampled / 5000).toBeGreaterThan(0.27);
    expect(sampled / 5000).toBeLessThan(0.33);
    const salted = createPredictionLog({ executor, schema: 'unused', sampleRate: 0.3, salt: 'b' });
    let differs = 0;
    for (let i = 0; i < 1000; i++) {
      if (salted.sampled({ user_id: `u${i}` }) !== log.sampled({ user_id: `u${i}` })) differs++;
    }
    expect(differs).toBeGreaterThan(100);
    expect(
      createPredictionLog({ executor, schema: 'unused', sampleRate: 0 }).sampled({ a: 1 }),
    ).toBe(false);
    expect(
      createPredictionLog({ executor, schema: 'unused', sampleRate: 1 }).sampled({ a: 1 }),
    ).toBe(true);
    // 1 and "1" are different keys.
    const half = createPredictionLog({ executor, schema: 'unused', sampleRate: 0.5 });
    let typed = 0;
    for (let i = 0; i < 200; i++)
      if (half.sampled({ k: i }) !== half.sampled({ k: String(i) })) typed++;
    expect(typed).toBeGreaterThan(20);
  });

  it('rejects bad options when created', () => {
    expect(() => createPredictionLog({ executor, schema: 'bad schema' })).toThrow(/identifier/);
    expect(() => createPredictionLog({ executor, schema: 's', table: 'x;drop' })).toThrow(
      /identifier/,
    );
    expect(() => createPredictionLog({ executor, schema: 's', sampleRate: 2 })).toThrow(
      /sampleRate/,
    );
  });
});

describe.each(engines.map((e) => [e.engine, e] as const))('prediction log on %s', (_, db) => {
  const executor = executorOf(db);
  afterAll(() => executor.close());

  it('creates its table on first use, writes sampled records with PII redacted, attaches labels', async () => {
    const counts: Record<string, number> = {};
    const log = createPredictionLog({
      executor,
      schema: db.schema,
      table: 'predictions',
      sampleRate: 1,
      redact: ['email'],
      onCount: (outcome, n) => {
        counts[outcome] = (counts[outcome] ?? 0) + n;
      },
    });
    const before = await db.execute<{ found: boolean }>(
      sql`SELECT to_regclass(${`${db.schema}.predictions`}) IS NOT NULL AS found`,
    );
    expect(before[0]!.found).toBe(false);
    expect(log.record(record('p1', 'ann'))).toBe(true);
    expect(log.record(record('p2', 'bob', { fallback: 'store_unavailable', features: null }))).toBe(
      true,
    );
    expect(await log.flush()).toBe(2);
    const stored = await log.get('p1');
    expect(stored).toMatchObject({
      id: 'p1',
      model: 'fraud',
      version: '3',
      entity: { user_id: 'ann' },
      request: { user_id: 'ann', amount: 12.5, email: REDACTED },
      features: { tx_count_7d: 4, email: REDACTED },
      prediction: { probability: 0.25 },
      fallback: null,
      latencyMs: 1.5,
      label: null,
      labeledAt: null,
    });
    expect((await log.get('p2'))?.fallback).toBe('store_unavailable');
    expect(await log.attachLabel('p1', { fraud: true }, 1_700_000_100_000)).toBe(true);
    expect(await log.get('p1')).toMatchObject({
      label: { fraud: true },
      labeledAt: 1_700_000_100_000,
    });
    expect(await log.attachLabel('unknown', 1)).toBe(false);
    expect(await log.get('unknown')).toBeNull();
    // A label for a record still in the buffer flushes it first.
    log.record(record('p3', 'cid'));
    expect(await log.attachLabel('p3', 0)).toBe(true);
    await log.close();
    expect(log.record(record('p4', 'dan'))).toBe(false);
    expect(counts).toEqual({ sampled: 3, written: 3 });
    const rows = await db.execute<{ n: number | string }>(
      sql`SELECT count(*) AS n FROM ${sql.identifier(db.schema)}.predictions`,
    );
    expect(Number(rows[0]!.n)).toBe(3);
  });

  it('writes in batches by size and by timer, and drops beyond maxBuffer', async () => {
    const counts: Record<string, number> = {};
    const log = createPredictionLog({
      executor,
      schema: db.schema,
      table: 'batched',
      sampleRate: 1,
      maxBatch: 10,
      maxBuffer: 25,
      flushIntervalMs: 20,
      onCount: (outcome, n) => {
        counts[outcome] = (counts[outcome] ?? 0) + n;
      },
    });
    for (let i = 0; i < 30; i++) log.record(record(`b${i}`, `u${i}`));
    // Batches of 10 went out at 10, 20 and 30 records: nothing was dropped.
    await log.flush();
    expect(counts.written).toBe(30);
    log.record(record('late', 'late'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(counts.written).toBe(31); // the timer flushed it
    await log.close();
  });

  it('counts failed writes and never throws into the caller', async () => {
    const errors: unknown[] = [];
    const counts: Record<string, number> = {};
    const broken: SqlExecutor = {
      ...executor,
      query: () => Promise.reject(new Error('database down')),
    };
    const log = createPredictionLog({
      executor: broken,
      schema: db.schema,
      table: 'never',
      sampleRate: 1,
      maxBuffer: 2,
      onError: (e) => errors.push(e),
      onCount: (outcome, n) => {
        counts[outcome] = (counts[outcome] ?? 0) + n;
      },
    });
    for (let i = 0; i < 3; i++) expect(log.record(record(`f${i}`, `u${i}`))).toBe(true);
    expect(await log.flush()).toBe(0);
    expect(counts).toEqual({ sampled: 3, dropped: 1, failed: 2 });
    expect(errors).toHaveLength(1);
  });
});
