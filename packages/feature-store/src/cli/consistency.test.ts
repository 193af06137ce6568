import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPostgres, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcess, tandem } from '../../test/cli-run.js';
import {
  avgTicket7d,
  transactions,
  txCount7d,
  txSum7d,
} from '../../test/fixtures/tandem.config.js';
import { postgresExecutor, type SqlExecutor } from '../executor/executor.js';
import { createOfflineStore } from '../offline/store.js';
import { memoryAdapter } from '../online/memory/adapter.js';
import { createOnlineStore } from '../online/store.js';
import type { ConsistencyReport } from '../parity/consistency/backfill.js';
import { withConsistencyLog } from '../parity/consistency/log.js';

const CONFIG = fileURLToPath(new URL('../../test/fixtures/tandem.config.ts', import.meta.url));
const MINUTE = 60_000;
const BASE = Date.UTC(2026, 6, 1);

const work = await mkdtemp(join(tmpdir(), 'tandem-consistency-cli-'));
const file = (name: string) => join(work, name);
let database: TestDatabase;
let executor: SqlExecutor;
let env: Record<string, string>;
let logged = 0;

/** The logged features: the managed-source part of the fixture's service (a feature list). */
const features = [txCount7d, txSum7d, avgTicket7d];

beforeAll(async () => {
  database = await openPostgres('fs_consistency_cli');
  if (database.engine !== 'postgres') return;
  executor = postgresExecutor(database.connectionString!);
  env = {
    TANDEM_FIXTURE_DATABASE_URL: database.connectionString!,
    TANDEM_FIXTURE_SCHEMA: database.schema,
  };
  // Production-like: batches are ingested (Postgres, then the online store), reads happen now.
  let now = BASE;
  const clock = () => now;
  const online = createOnlineStore({ adapter: memoryAdapter({ now: clock }), features, clock });
  const offline = createOfflineStore({ executor, schema: database.schema, online, clock });
  await offline.apply([transactions]);
  const store = withConsistencyLog(online, {
    executor,
    schema: database.schema,
    rate: 1,
    clock,
  });
  for (let step = 0; step < 40; step++) {
    now += 17 * MINUTE + step;
    await offline.ingest(
      transactions,
      Array.from({ length: 4 }, (_, i) => ({
        user_id: `u${(step + i) % 7}`,
        ts: now - i * 5 * MINUTE,
        eventId: `t${step}-${i}`,
        amount: ((step * 31 + i * 17) % 50) / 4 + 0.1,
        merchant: i % 2 === 0 ? 'm1' : 'm2',
      })),
    );
    now += 1;
    const rows = await store.getOnlineFeatures({
      service: features,
      entities: [0, 1, 2, 3, 4, 5, 6, 7].map((u) => ({ user_id: `u${u}` })),
    });
    logged += rows.length;
  }
  await store.consistencyLog.stop();
});
afterAll(async () => {
  await executor?.close();
  await database?.close();
  await rm(work, { recursive: true, force: true });
});

it('exits 2 on usage errors, naming the problem', async () => {
  const cases: [readonly string[], RegExp][] = [
    [['consistency', '--since', 'yesterday'], /--since must be a duration like 30m, 24h or 7d/],
    [['consistency', '--limit', '0'], /--limit must be an integer >= 1, not 0/],
    [['consistency', '--since', '1h', '--from', '5'], /give --since or --from, not both/],
    [['consistency', '--sample', '5'], /consistency takes no --sample/],
  ];
  for (const [argv, message] of cases) {
    const run = await inProcess(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  }
  const help = await inProcess(['--help']);
  expect(help.stdout).toMatch(/consistency {2,}Backfill the logged online reads/);
});

describe.skipIf(process.env.DATABASE_URL === 'none')('tandem consistency on postgres', () => {
  it('backfills the log, prints the tables and rates, writes the reports, exits 0', async () => {
    if (database.engine !== 'postgres') return;
    const [all, recent, unknown] = await Promise.all([
      tandem(
        [
          'consistency',
          '--config',
          CONFIG,
          '--json',
          file('out/consistency.json'),
          '--html',
          file('out/consistency.html'),
        ],
        env,
      ),
      tandem(['consistency', '--config', CONFIG, '--limit', '5', '--json', file('r.json')], env),
      tandem(['consistency', '--config', CONFIG, '--service', 'nope'], env),
    ]);
    expect([all.code, all.stderr]).toEqual([0, '']);
    expect(all.stdout).toContain(`Consistency of ${logged} logged online reads`);
    expect(all.stdout).toMatch(/Definition [0-9a-f]{12} \(a feature list\): \d+ reads/);
    expect(all.stdout).toMatch(/Online values: as served and logged/);
    expect(all.stdout).toMatch(/tx_count_7d +exact +\d+/);
    expect(all.stdout).toMatch(/Mismatch rates/);
    expect(all.stdout).toMatch(/avg_ticket_7d +\d+ +0 +0\.000%/);
    expect(all.stdout).toContain('OK: every logged value agrees offline.');
    const report = JSON.parse(
      await readFile(file('out/consistency.json'), 'utf8'),
    ) as ConsistencyReport;
    expect(report.records).toBe(logged);
    expect(report.checked).toBe(logged);
    expect(report.rates.map((r) => r.feature)).toEqual([
      'tx_count_7d',
      'tx_sum_7d',
      'avg_ticket_7d',
    ]);
    const html = await readFile(file('out/consistency.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('tx_sum_7d');
    expect(recent.code).toBe(0);
    expect((JSON.parse(await readFile(file('r.json'), 'utf8')) as ConsistencyReport).records).toBe(
      5,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no feature service named nope/);
  });

  it('exits 1 and shows the rate when a served value disagrees', async () => {
    if (database.engine !== 'postgres') return;
    const log = sql`${sql.identifier(database.schema)}.consistency_log`;
    await executor.query(sql`
      UPDATE ${log} SET "values" = jsonb_set("values", '{tx_count_7d}', to_jsonb(99))
      WHERE id = (SELECT max(id) FROM ${log})`);
    const run = await tandem(['consistency', '--config', CONFIG], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('FAIL: some logged values disagree offline.');
    expect(run.stdout).toMatch(/tx_count_7d +\d+ +1 +\d+\.\d{3}%/);
    expect(run.stdout).toMatch(/tx_count_7d \[mismatch\] user_id=/);
  });
});
