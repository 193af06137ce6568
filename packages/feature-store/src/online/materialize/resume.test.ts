import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  openPostgres,
  openRedis,
  redisUnavailableReason,
  type TestDatabase,
  type TestRedis,
} from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineFeatures, orders } from '../../../test/online-model.js';
import { postgresExecutor, type SqlExecutor } from '../../executor/executor.js';
import { ingestEvents, type WrittenEvent } from '../../offline/ingest.js';
import { applyDefinitions } from '../../registry/registry.js';
import { redisAdapter } from '../redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../store.js';
import { DAY, expectParity, HOUR, MINUTE, snapshotRedis } from './harness.js';
import { type MaterializeProgress, materialize, runMarker } from './materialize.js';

const CHILD = fileURLToPath(new URL('./resume.child.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../../', import.meta.url));
const NOW = Date.UTC(2026, 10, 12, 9, 30);
const CUSTOMERS = Array.from({ length: 40 }, (_, i) => `c${String(i).padStart(2, '0')}`);

const redisReason = await redisUnavailableReason();
const database: TestDatabase = await openPostgres('fs_mat_resume');
const skip =
  redisReason ?? (database.engine === 'postgres' ? false : 'needs a real Postgres server');

describe.skipIf(skip)('a materialization killed midway', () => {
  let redis: TestRedis;
  let executor: SqlExecutor;
  const written: WrittenEvent[] = [];
  const store = (namespace: string): OnlineStore =>
    createOnlineStore({
      adapter: redisAdapter({ client: redis.client }),
      features: [...onlineFeatures],
      namespace,
      allowedLateness: '1h',
      clock: () => NOW,
    });

  beforeAll(async () => {
    redis = await openRedis('materialize resume');
    executor = postgresExecutor(database.connectionString!);
    await applyDefinitions(executor, database.schema, { features: [...onlineFeatures] });
    // Events of 40 customers over the last 32 days, all below the watermark the run reaches.
    const events = CUSTOMERS.flatMap((customer, c) =>
      Array.from({ length: 6 }, (_, i) => ({
        customer_id: customer,
        ts: NOW - 3 * HOUR - ((c * 7919 + i * 104_729) % (32 * 24 * 60)) * MINUTE - i,
        eventId: `e${c}-${i}`,
        amount: (c - 20) * 1.5 + i,
        items: (c + i) % 10,
        channel: i % 3 === 0 ? null : ['web', 'app'][(c + i) % 2]!,
      })),
    );
    const result = await ingestEvents(executor, database.schema, orders, events, NOW - DAY, true);
    written.push(...(result.written ?? []));
  });
  afterAll(async () => {
    await executor?.close();
    await redis?.close();
    await database.close();
  });

  it('resumes from its checkpoint and ends with the tiles of a clean run', async () => {
    const killed = `${redis.prefix}killed`;
    const child = spawn(
      process.execPath,
      [
        '--conditions=tandem-source',
        '--import',
        'tsx',
        CHILD,
        JSON.stringify({
          databaseUrl: database.connectionString,
          schema: database.schema,
          redisUrl: redis.url,
          namespace: killed,
          now: NOW,
          chunkSize: 3,
          pauseMs: 200,
        }),
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        output += String(chunk);
        const chunks = output.split('\n').filter((line) => line.includes('"phase":"chunk"'));
        if (chunks.length >= 4) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`child exited early: ${output}\n${stderr}`)));
    });
    expect(await exited).toBe('SIGKILL');
    expect(output).not.toContain('DONE');
    const progress = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as MaterializeProgress);
    // One visit per entity and grain: the model's features have three grains.
    const total = progress[0]!.totalEntities!;
    expect(total).toBeGreaterThan(CUSTOMERS.length);
    const killedAt = progress[progress.length - 1]!.entities;
    expect(killedAt).toBeGreaterThan(0);

    // The run is pending in the registry with a checkpoint; the online watermark did not move.
    const [row] = await executor.query<{ pending: unknown; checkpoint: { key: string[] } | null }>(
      sql`SELECT pending, checkpoint FROM ${sql.identifier(database.schema)}.materialize_runs WHERE namespace = ${killed}`,
    );
    expect(row?.pending).not.toBeNull();
    expect(row?.checkpoint?.key[0]).toMatch(/^c\d\d$/);
    const online = store(killed);
    expect(await online.watermark('orders')).toBeNull();
    expect(await online.watermark(runMarker('orders'))).toBe((row!.pending as { id: number }).id);

    // Resumed in this process: only the entities after the checkpoint are written.
    const resumed = await materialize({
      executor,
      schema: database.schema,
      online,
      clock: () => NOW,
      chunkSize: 3,
    });
    expect(resumed.runs).toHaveLength(1);
    expect(resumed.runs[0]).toMatchObject({ mode: 'full', resumed: true, watermark: NOW - HOUR });
    expect(resumed.runs[0]!.entities).toBeGreaterThan(0);
    expect(resumed.runs[0]!.entities).toBeLessThanOrEqual(total - killedAt);
    expect(await online.watermark('orders')).toBe(NOW - HOUR);

    // A clean run into another namespace writes exactly the same batch tiles.
    const clean = `${redis.prefix}clean`;
    await materialize({
      executor,
      schema: database.schema,
      online: store(clean),
      clock: () => NOW,
    });
    const strip = (snapshot: Record<string, unknown>, prefix: string) =>
      Object.fromEntries(Object.entries(snapshot).map(([k, v]) => [k.slice(prefix.length), v]));
    const tiles = strip(await snapshotRedis(redis.client, killed, 'b'), killed);
    expect(Object.keys(tiles).length).toBeGreaterThan(CUSTOMERS.length);
    expect(tiles).toEqual(strip(await snapshotRedis(redis.client, clean, 'b'), clean));

    await expectParity(online, written, [...CUSTOMERS, 'nobody'], NOW);
    await expectParity(online, written, CUSTOMERS.slice(0, 5), NOW + 20 * MINUTE);
  }, 120_000);
});
