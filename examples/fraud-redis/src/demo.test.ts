import type { DemoResult } from '@tandem/example-quickstart';
import { fraudModelService, fraudService, SCORE_TOLERANCE } from '@tandem/example-quickstart';
import {
  openPostgres,
  openRedis,
  redisUnavailableReason,
  type TestDatabase,
  type TestRedis,
} from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFraudRedis } from './run.js';

const noRedis = await redisUnavailableReason();

describe.skipIf(noRedis)('fraud-redis demo (Postgres + Redis, end to end)', () => {
  let pg: TestDatabase;
  let redis: TestRedis;
  let result: DemoResult | undefined;
  beforeAll(async () => {
    pg = await openPostgres('fraud redis demo');
    redis = await openRedis('fraud redis demo');
    if (pg.engine !== 'postgres') return; // no PostgreSQL server here: the test says so below
    result = await runFraudRedis({
      databaseUrl: pg.connectionString,
      redisUrl: redis.url,
      schema: pg.schema,
      namespace: redis.prefix.slice(0, -1),
      reset: false,
      cleanup: false,
      log: () => {},
      latencyCalls: 100,
    });
  });
  afterAll(async () => {
    await redis?.close();
    await pg?.close();
  });

  it('runs on a real PostgreSQL server', () => {
    expect(pg.engine, 'openPostgres fell back to PGlite: no PostgreSQL server').toBe('postgres');
  });

  it('ingests into Postgres, streams to Redis, and keeps every key under its prefix', async () => {
    const r = result!;
    expect(r.ingested.online).toEqual({ applied: r.ingested.events, duplicates: 0, late: 0 });
    const keys = await redis.client.keys(`${redis.prefix}*`);
    expect(keys.length).toBeGreaterThan(10);
    expect(keys.every((k) => k.startsWith(redis.prefix))).toBe(true);
    if (pg.engine !== 'postgres') throw new Error('no PostgreSQL server');
    const tables = await pg.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1',
      [pg.schema],
    );
    expect(tables.rows[0]!.n).toBeGreaterThanOrEqual(2);
  });

  it('serves predictions over HTTP equal to the TypeScript reference model', () => {
    const r = result!;
    expect(r.trainingRows).toBe(1000);
    for (const p of r.predictions) expect(p.status).toBe(200);
    const scored = r.predictions.filter((p) => p.fallback === null);
    expect(scored.length).toBe(r.predictions.length - 1);
    for (const p of scored) {
      expect(Math.abs(p.score! - p.reference!)).toBeLessThanOrEqual(SCORE_TOLERANCE);
    }
    expect(r.predictions.find((p) => p.request.user_id === 'u5')?.fallback).toBe('unknown_entity');
    expect(r.latency.sequential.ok).toBe(100);
    expect(r.latency.concurrent.ok).toBe(200);
  });

  it('reports parity with zero mismatches between Redis and Postgres', () => {
    const r = result!;
    expect(r.mismatches).toBe(0);
    expect(r.parity.mismatches).toBe(0);
    expect(r.parity.onlineVsOffline).toMatchObject({
      values: 5 * (fraudService.features.length + fraudModelService.features.length),
      mismatches: 0,
    });
    expect(r.parity.servedVsOffline.mismatches).toBe(0);
    expect(r.parity.checkParity).toMatchObject({ ok: true, points: 100, disagreements: 0 });
    expect(r.output).toContain('Redis ');
    expect(r.output).toContain('PostgreSQL ');
    expect(r.output).toContain('Parity holds: zero mismatches.');
  });
});
