import { fileURLToPath } from 'node:url';
import {
  openPostgres,
  openRedis,
  redisUnavailableReason,
  type TestDatabase,
  type TestRedis,
} from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcess, tandem } from '../../test/cli-run.js';
import { onlineFeatures, orders } from '../../test/online-model.js';
import { postgresExecutor, type SqlExecutor } from '../executor/executor.js';
import { ingestEvents, type WrittenEvent } from '../offline/ingest.js';
import { expectParity, flushPrefix, HOUR, MINUTE } from '../online/materialize/harness.js';
import { redisAdapter } from '../online/redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../online/store.js';
import { applyDefinitions } from '../registry/registry.js';
import { parseEnd } from './materialize.js';

const CONFIG = fileURLToPath(new URL('./fixtures/materialize.config.ts', import.meta.url));

/** Runs the `tandem` bin with this file's config. */
const tandemWithConfig = (args: readonly string[], env: Record<string, string>) =>
  tandem([...args, '--config', CONFIG], env);

it('parses --end as epoch ms or ISO 8601', () => {
  expect(parseEnd('1700000000000')).toBe(1_700_000_000_000);
  expect(parseEnd('2026-11-20T08:00:00Z')).toBe(Date.UTC(2026, 10, 20, 8));
  expect(parseEnd('2026-11-20')).toBe(Date.UTC(2026, 10, 20));
  expect(parseEnd('soon')).toBeNull();
  expect(parseEnd('2026-13-45')).toBeNull();
  expect(parseEnd('99999999999999999999')).toBeNull();
});

it('exits 2 on usage errors', async () => {
  const cases: [readonly string[], RegExp][] = [
    [['materialize', '--end', 'soon'], /--end must be epoch milliseconds or an ISO 8601 time/],
    [['repair', '--full'], /repair takes no --full/],
    [['repair', '--end', '5'], /repair takes no --end/],
    [['materialize', '--service', 'x'], /materialize takes no --service/],
  ];
  for (const [argv, message] of cases) {
    const run = await inProcess(argv);
    expect([run.code, run.stderr]).toEqual([2, expect.stringMatching(message)]);
  }
  const help = await inProcess(['--help']);
  expect(help.stdout).toMatch(/materialize {15}Write the batch layer/);
  expect(help.stdout).toMatch(/repair {20}Rebuild the online store/);
});

const redisReason = await redisUnavailableReason();
const database: TestDatabase = await openPostgres('fs_cli_materialize');
const skip =
  redisReason ?? (database.engine === 'postgres' ? false : 'needs a real Postgres server');

describe.skipIf(skip)('tandem materialize and repair', () => {
  let redis: TestRedis;
  let executor: SqlExecutor;
  let online: OnlineStore;
  let env: Record<string, string>;
  const written: WrittenEvent[] = [];
  const customers = ['u1', 'u2', 'u3', 'u4'];

  beforeAll(async () => {
    redis = await openRedis('cli materialize');
    executor = postgresExecutor(database.connectionString!);
    await applyDefinitions(executor, database.schema, { features: [...onlineFeatures] });
    const now = Date.now();
    // Events of the last 20 days, all well below the batch watermark (now - 1h, on a grain).
    const events = Array.from({ length: 60 }, (_, i) => ({
      customer_id: customers[i % 4]!,
      ts: now - 3 * HOUR - i * 7 * HOUR - (i % 5) * MINUTE,
      eventId: `e${i}`,
      amount: i * 0.5 - 7,
      items: i % 10,
      channel: i % 3 === 0 ? null : 'web',
    }));
    const result = await ingestEvents(executor, database.schema, orders, events, now - HOUR, true);
    written.push(...(result.written ?? []));
    const namespace = `${redis.prefix}cli`;
    env = {
      TANDEM_FIXTURE_DATABASE_URL: database.connectionString!,
      TANDEM_FIXTURE_SCHEMA: database.schema,
      TANDEM_FIXTURE_REDIS_URL: redis.url,
      TANDEM_FIXTURE_NAMESPACE: namespace,
    };
    online = createOnlineStore({
      adapter: redisAdapter({ client: redis.client }),
      features: [...onlineFeatures],
      namespace,
      allowedLateness: '1h',
    });
  });
  afterAll(async () => {
    await executor?.close();
    await redis?.close();
    await database.close();
  });

  it('materializes with a progress line, then incrementally, then repairs after data loss', async () => {
    const first = await tandemWithConfig(['materialize'], env);
    expect([first.code, first.stderr]).toEqual([0, expect.any(String)]);
    expect(first.stdout).toMatch(
      /^orders: full run to \d{4}-\d\d-\d\dT[\d:.]+Z: \d+ entities, \d+ rows, \d+ tiles in [\d.]+ s \(\d+ rows\/s\)\.\n$/,
    );
    // Not a terminal: plain progress lines, with the rate.
    expect(first.stderr).toMatch(/materialize orders: (\d+)\/\1 entities \(100%\), \d+ rows\/s/);
    const q = Date.now();
    await expectParity(online, written, [...customers, 'nobody'], q);

    const again = await tandemWithConfig(['materialize', '--source', 'orders'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^orders: incremental run from \S+ to \S+: /);
    const older = await tandemWithConfig(
      ['materialize', '--end', new Date(q - 2 * HOUR).toISOString()],
      env,
    );
    expect(older.stdout).toMatch(/^orders: up to date \(watermark \S+\)\.\n$/);

    await flushPrefix(redis.client, `${env.TANDEM_FIXTURE_NAMESPACE}:`);
    expect(await online.watermark('orders')).toBeNull();
    const repaired = await tandemWithConfig(['repair'], env);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/^orders: full run to \S+: \d+ entities, \d+ rows/);
    expect(repaired.stdout).toMatch(/orders: replayed 0 recent events into the stream layer/);
    await expectParity(online, written, [...customers, 'nobody'], Date.now());
  }, 120_000);

  it('exits 1 without an online store or for an unknown source, 3 when Redis is down', async () => {
    const { TANDEM_FIXTURE_REDIS_URL: _redis, ...offline } = env;
    const [none, unknown, down] = await Promise.all([
      tandemWithConfig(['materialize'], offline),
      tandemWithConfig(['materialize', '--source', 'nope'], env),
      tandemWithConfig(['repair'], { ...env, TANDEM_FIXTURE_REDIS_URL: 'redis://127.0.0.1:1' }),
    ]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^error \[INVALID_ARGUMENT\] config\.online\.redis: the config has no online store/,
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^error \[INVALID_ARGUMENT\] sources\[0\]: no feature of the online store reads source nope \(it has orders\)/,
    );
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/^unexpected error: .*ECONNREFUSED/);
  }, 120_000);
});
