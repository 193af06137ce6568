import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  openPostgres,
  openRedis,
  redisUnavailableReason,
  type TestDatabase,
} from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcess, tandem } from '../../test/cli-run.js';
import { transactions } from '../../test/fixtures/tandem.config.js';
import { assertConfig } from '../config/config.js';
import { postgresExecutor, type SqlExecutor } from '../executor/executor.js';
import { createOfflineStore } from '../offline/store.js';
import type { ParityReport } from '../parity/types.js';

const CONFIG = fileURLToPath(new URL('../../test/fixtures/tandem.config.ts', import.meta.url));
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2026, 5, 1);

/** Whether the config accepts an `online` section yet (added with `tandem materialize`). */
const onlineConfig = (() => {
  try {
    assertConfig({ database: { url: 'postgres://x' }, online: {} });
    return null;
  } catch {
    return 'the config does not accept an online section yet';
  }
})();
const redisReason = await redisUnavailableReason();

const work = await mkdtemp(join(tmpdir(), 'tandem-parity-cli-'));
const file = (name: string) => join(work, name);
let database: TestDatabase;
let executor: SqlExecutor;
let env: Record<string, string>;
beforeAll(async () => {
  database = await openPostgres('fs_parity_cli');
  if (database.engine !== 'postgres') return;
  executor = postgresExecutor(database.connectionString!);
  env = {
    TANDEM_FIXTURE_DATABASE_URL: database.connectionString!,
    TANDEM_FIXTURE_SCHEMA: database.schema,
  };
  const schema = sql.identifier(database.schema);
  const offline = createOfflineStore({ executor, schema: database.schema });
  await offline.apply([transactions]);
  // The app's own orders table: no event id, no sequence, no ingestion time.
  await executor.query(
    sql`CREATE TABLE ${schema}.app_orders (customer text NOT NULL, created_ms bigint NOT NULL, total numeric)`,
  );
  const orders: string[] = [];
  for (let i = 0; i < 60; i++) {
    const ts = BASE + ((i * 7919) % (20 * DAY));
    orders.push(`('u${i % 5}', ${ts}, ${(i * 13) % 97}.25)`);
  }
  // Two orders of one customer at the same time: ties without ids.
  orders.push(`('u1', ${BASE + 3 * DAY}, 10.5)`, `('u1', ${BASE + 3 * DAY}, 2)`);
  await executor.query(sql`INSERT INTO ${schema}.app_orders VALUES ${sql.raw(orders.join(', '))}`);
  // Transactions ingested in half-hour batches, each a minute after its half hour: on time for
  // the online store's default allowed lateness (1h).
  const slots = new Map<number, Record<string, unknown>[]>();
  for (let day = 0; day < 20; day++) {
    for (let i = 0; i < 6; i++) {
      const ts = BASE + day * DAY + ((i * 3_600_017 + day * 977) % DAY);
      const slot = Math.floor(ts / (30 * MINUTE));
      const list = slots.get(slot) ?? [];
      list.push({
        user_id: `u${(day + i) % 6}`,
        ts,
        eventId: `t${day}-${i}`,
        amount: ((day * 31 + i * 17) % 50) / 4 + 0.1,
        merchant: i % 2 === 0 ? 'm1' : 'm2',
      });
      slots.set(slot, list);
    }
  }
  for (const [slot, events] of slots) {
    const stamped = (slot + 1) * 30 * MINUTE + MINUTE;
    await createOfflineStore({ executor, schema: database.schema, clock: () => stamped }).ingest(
      transactions,
      events,
    );
  }
});
afterAll(async () => {
  await executor?.close();
  await database?.close();
  await rm(work, { recursive: true, force: true });
});

it('exits 2 on usage and config errors, naming the problem', async () => {
  const cases: [readonly string[], RegExp][] = [
    [['parity', '--sample', 'x'], /--sample must be an integer >= 1, not x/],
    [['parity', '--per-entity', '0'], /--per-entity must be an integer >= 1/],
    [['parity', '--rows', 'r.csv'], /parity takes no --rows/],
    [['parity', '--html', ''], /--html needs a file name/],
  ];
  for (const [argv, message] of cases) {
    const run = await inProcess(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  }
  const missing = await inProcess(['parity', '--config', file('missing.config.ts')]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(
    /^tandem parity: config error \[INVALID_ARGUMENT\]: config: config file .* does not exist/,
  );
  const help = await inProcess(['--help']);
  expect(help.stdout).toMatch(/parity {2,}Check that offline/);
});

describe.skipIf(process.env.DATABASE_URL === 'none')('tandem parity on postgres', () => {
  it('prints the table, writes the HTML and JSON reports, exits 0 when every value agrees', async () => {
    if (database.engine !== 'postgres') return;
    const [all, one, unknown, unapplied] = await Promise.all([
      tandem(
        [
          'parity',
          '--config',
          CONFIG,
          '--sample',
          '300',
          '--per-entity',
          '30',
          '--html',
          file('out/report.html'),
          '--json',
          file('out/report.json'),
        ],
        env,
      ),
      tandem(['parity', '--config', CONFIG, '--service', 'fraud_v1', '--sample', '40'], env),
      tandem(['parity', '--config', CONFIG, '--service', 'nope'], env),
      tandem(['parity', '--config', CONFIG], { ...env, TANDEM_FIXTURE_SCHEMA: 'never_applied' }),
    ]);
    expect([all.code, all.stderr.replace(/parity: .*\n/g, '')]).toEqual([0, '']);
    expect(all.stdout).toMatch(
      /^Parity of a feature list: \d+ points \(\d+ entities, sampled, seed 1\)/,
    );
    expect(all.stdout).toMatch(/^tx_sum_7d +float-sum-bound +\d+/m);
    expect(all.stdout).toMatch(/^order_total_30d +float-sum-bound +\d+/m);
    expect(all.stdout).toMatch(/^OK: all \d+ values agree/m);
    expect(all.stdout).toMatch(/Wrote the HTML report to .*report\.html/);
    // Not a terminal: plain progress lines on stderr.
    expect(all.stderr).toMatch(/parity: online replay: \d+\/\d+ points \(100%\)/);
    const report = JSON.parse(await readFile(file('out/report.json'), 'utf8')) as ParityReport;
    expect(report.ok).toBe(true);
    expect(report.features.map((f) => f.name)).toEqual([
      'tx_count_7d',
      'tx_sum_7d',
      'avg_ticket_7d',
      'order_total_30d',
    ]);
    expect(report.replay.syntheticSequence).toEqual(['orders']);
    expect(report.sample.points).toBeGreaterThan(100);
    const html = await readFile(file('out/report.html'), 'utf8');
    expect(html).toContain('<tr data-feature="avg_ticket_7d" class="agreeing">');

    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^Parity of service fraud_v1: \d+ points/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /no feature service named nope in the config \(it has fraud_v1\)/,
    );
    expect(unapplied.code).toBe(2);
    expect(unapplied.stderr).toMatch(
      /^tandem parity: cannot check \[UNKNOWN_FEATURE\] feature tx_count_7d: source transactions was never applied/,
    );
    expect(existsSync(`${file('out/report.json')}.${process.pid}.tmp`)).toBe(false);
  });

  it('exits 1 and prints the offending events when values disagree', async () => {
    if (database.engine !== 'postgres') return;
    // A customer whose events all arrive 2 to 10 hours late, long after the run's one
    // materialization (at the median q): the stream layer skips them, so online values miss them.
    const arrival = BASE + 25 * DAY;
    await createOfflineStore({ executor, schema: database.schema, clock: () => arrival }).ingest(
      transactions,
      Array.from({ length: 9 }, (_, k) => ({
        user_id: 'u9',
        ts: arrival - (k + 2) * HOUR,
        eventId: `late-${k}`,
        amount: k + 0.5,
        merchant: 'm1',
      })),
    );
    const run = await tandem(
      [
        'parity',
        '--config',
        CONFIG,
        '--service',
        'fraud_v1',
        '--sample',
        '400',
        '--per-entity',
        '40',
        '--json',
        file('late.json'),
      ],
      env,
    );
    expect([run.code, run.stderr.replace(/parity: .*\n/g, '')]).toEqual([1, '']);
    expect(run.stdout).toMatch(/^FAIL: \d+ of \d+ values disagree/m);
    expect(run.stdout).toMatch(/events arrived later than the allowed lateness/);
    expect(run.stdout).toMatch(
      /^tx_count_7d \[(mismatch|online_null), unrepaired late event\] user_id="u9"/m,
    );
    expect(run.stdout).toMatch(/id=late-\d .*\[window, counts, late\]/);
    const report = JSON.parse(await readFile(file('late.json'), 'utf8')) as ParityReport;
    expect(report.ok).toBe(false);
    expect(report.totals.unrepairedLate).toBe(report.totals.disagreements);
  });

  it.skipIf(onlineConfig !== null || redisReason !== undefined)(
    `replays into Redis when the config names one (${onlineConfig ?? redisReason ?? 'redis'})`,
    async () => {
      if (database.engine !== 'postgres') return;
      const redis = await openRedis('parity cli');
      try {
        // The fixture plus an online section, from a config file outside the repo.
        const config = file('redis.config.mts');
        await writeFile(
          config,
          `import base from ${JSON.stringify(CONFIG)};\nexport default { ...base, online: { redis: process.env.PARITY_REDIS_URL, namespace: process.env.PARITY_NAMESPACE } };\n`,
        );
        const run = await tandem(
          [
            'parity',
            '--config',
            config,
            '--service',
            'fraud_v1',
            '--sample',
            '60',
            '--json',
            file('redis.json'),
          ],
          {
            ...env,
            PARITY_REDIS_URL: redis.url,
            PARITY_NAMESPACE: redis.prefix.replace(/:$/, ''),
          },
        );
        const report = JSON.parse(await readFile(file('redis.json'), 'utf8')) as ParityReport;
        expect(report.replay.engine).toBe('adapter');
        expect(report.replay.namespace.startsWith(`${redis.prefix}parity:`)).toBe(true);
        expect(await redis.client.keys(`${report.replay.namespace}*`)).toEqual([]);
        expect(run.code).toBe(report.ok ? 0 : 1);
      } finally {
        await redis.close();
      }
    },
  );
});
