import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { fingerprint } from '@tandem/core';
import { openPostgres, type TestDatabase } from '@tandem/testing';
import { parse } from 'csv-parse/sync';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, inProcess, REPO_ROOT, tandem } from '../../test/cli-run.js';
import { transactions, txSum7d } from '../../test/fixtures/tandem.config.js';
import { pgliteExecutor, postgresExecutor, type SqlExecutor } from '../executor/executor.js';
import { createOfflineStore } from '../offline/store.js';
import { createRegistry } from '../registry/registry.js';

const CONFIG = fileURLToPath(new URL('../../test/fixtures/tandem.config.ts', import.meta.url));

/** The database the CLI runs against, and a way for the test to reach it between runs. */
interface Target {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly schema: string;
  /** Runs `work` on the database (PGlite: opened and closed around it, the CLI needs the dir). */
  use<T>(work: (executor: SqlExecutor) => Promise<T>): Promise<T>;
}

const work = await mkdtemp(join(tmpdir(), 'tandem-cli-'));
const dataDir = join(work, 'pglite');
/** A PGlite data directory: the `{ pglite: dir }` config. */
const pgliteDir: Target = {
  name: 'pglite data dir',
  env: { TANDEM_FIXTURE_PGLITE: dataDir, TANDEM_FIXTURE_SCHEMA: 'tandem_cli' },
  schema: 'tandem_cli',
  async use(run) {
    const db = new PGlite(dataDir);
    try {
      return await run(pgliteExecutor(db));
    } finally {
      await db.close();
    }
  },
};
const postgres: TestDatabase = await openPostgres('fs_cli');
const postgresPool =
  postgres.engine === 'postgres' ? postgresExecutor(postgres.connectionString!) : null;
/**
 * The full CLI flow runs on the local Postgres (each PGlite process boots for seconds); on
 * PGlite's data directory when there is no Postgres. The library itself is tested on both.
 */
const primary: Target =
  postgresPool === null
    ? pgliteDir
    : {
        name: 'postgres',
        env: {
          TANDEM_FIXTURE_DATABASE_URL: postgres.connectionString!,
          TANDEM_FIXTURE_SCHEMA: postgres.schema,
        },
        schema: postgres.schema,
        use: (run) => run(postgresPool),
      };
afterAll(async () => {
  await postgresPool?.close();
  await postgres.close();
  await rm(work, { recursive: true, force: true });
});

const ROWS_CSV =
  'user_id,ts,label,note\nu2,3000,1,x\nu1,2500,1,\nu1,1500,0,"a, b"\nu3,10,0,\nu1,2500,1,dup\n';
const ROWS_JSONL =
  '{"user_id":"u1","ts":2500,"label":true,"meta":{"k":[1,2]}}\n\n{"user_id":"u3","ts":10,"label":null}\n';
/** Feature values as of each entity row: tx count/sum 7d, their ratio, order total 30d. */
const AT = {
  u1_1500: { tx_count_7d: 1, tx_sum_7d: 10, avg_ticket_7d: 10, order_total_30d: 99.5 },
  u1_2500: { tx_count_7d: 2, tx_sum_7d: 40, avg_ticket_7d: 20, order_total_30d: 99.5 },
  u2_3000: { tx_count_7d: 1, tx_sum_7d: 5, avg_ticket_7d: 5, order_total_30d: 0 },
  u3_10: { tx_count_7d: 0, tx_sum_7d: 0, avg_ticket_7d: null, order_total_30d: 0 },
};
const csvCells = (values: Record<string, number | null>) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === null ? '' : String(v)]));

it('prints usage with --help, also through npx from the example project', async () => {
  const help = await tandem(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: tandem <command>/);
  const viaNpx = await new Promise<CliRun>((resolve) => {
    execFile(
      'npx',
      ['--no-install', 'tandem', '--help'],
      { cwd: join(REPO_ROOT, 'examples/quickstart') },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
  });
  expect(viaNpx.code).toBe(0);
  expect(viaNpx.stdout).toMatch(/training-set/);
});

it('exits 2 on usage errors', async () => {
  const cases: [readonly string[], RegExp][] = [
    [[], /missing command/],
    [['deploy'], /unknown command deploy/],
    [['plan', '--bogus'], /--bogus/],
    [['plan', 'extra'], /unexpected argument extra/],
    [['plan', '--force'], /plan takes no --force/],
    [['training-set', '--service', 's', '--rows', 'r.csv'], /training-set needs --out/],
    [
      ['training-set', '--service', 's', '--rows', 'r', '--out', 'o.txt'],
      /cannot tell the format of o\.txt/,
    ],
    [
      ['training-set', '--service', 's', '--rows', 'r', '--out', 'o.csv', '--format', 'xml'],
      /--format must be csv or jsonl/,
    ],
    [
      ['training-set', '--service', 's', '--rows', 'r', '--out', 'o.csv', '--time-unit', 's'],
      /--time-unit must be/,
    ],
  ];
  for (const [argv, message] of cases) {
    const run = await inProcess(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/Run 'tandem --help' for usage/);
  }
});

it('exits 1 with the error code and path, 3 on unexpected errors; leaves no partial file', async () => {
  const badConfig = join(work, 'bad.config.mts');
  await writeFile(badConfig, 'export default { database: { url: "" } };\n');
  const rows = join(work, 'bad-rows.csv');
  await writeFile(rows, 'user_id,ts\nu1,10\nu2,soon\n');
  const out = join(work, 'never.csv');
  const [noConfig, invalid, down, badRow, unknownService] = await Promise.all([
    tandem(['plan', '--config', join(work, 'missing.config.ts')]),
    tandem(['plan', '--config', badConfig]),
    tandem(['plan', '--config', CONFIG], {
      TANDEM_FIXTURE_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres',
    }),
    tandem(
      ['training-set', '--config', CONFIG, '--service', 'fraud_v1', '--rows', rows, '--out', out],
      primary.env,
    ),
    tandem(
      ['training-set', '--config', CONFIG, '--service', 'nope', '--rows', rows, '--out', out],
      primary.env,
    ),
  ]);
  expect([noConfig.code, invalid.code, badRow.code, unknownService.code]).toEqual([1, 1, 1, 1]);
  expect(noConfig.stderr).toMatch(
    /^error \[INVALID_ARGUMENT\] config: config file .* does not exist/,
  );
  expect(invalid.stderr).toMatch(
    /^error \[INVALID_ARGUMENT\] config\.database\.url: must be a non-empty string/,
  );
  expect(badRow.stderr).toContain(
    `error [INVALID_ARGUMENT] ${rows}:3.ts: the time (epoch milliseconds) must be a safe integer, got "soon"`,
  );
  expect(unknownService.stderr).toMatch(
    /^error \[INVALID_ARGUMENT\] --service: no feature service named nope in the config \(it has fraud_v1\)/,
  );
  expect(existsSync(out)).toBe(false);
  expect((await readdir(work)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  expect(down.code).toBe(3);
  expect(down.stderr).toMatch(/^unexpected error: .*ECONNREFUSED/);
});

describe(`tandem on ${primary.name}`, () => {
  const target = primary;
  const schema = target.schema;
  const run = (args: readonly string[], variant?: 'changed') =>
    tandem(['--config', CONFIG, ...args], {
      ...target.env,
      ...(variant === undefined ? {} : { TANDEM_FIXTURE_VARIANT: variant }),
    });
  const file = (name: string) => join(work, name);

  beforeAll(async () => {
    await writeFile(file('rows.csv'), ROWS_CSV);
    await writeFile(file('rows.jsonl'), ROWS_JSONL);
  });

  it('plan reports a missing user-owned table with exit 1', async () => {
    const plan = await run(['plan']);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/\+ tx_count_7d\s+v1/);
    expect(plan.stdout).toMatch(/will be created/);
    expect(plan.stdout).toContain(
      `UNKNOWN_TABLE source orders.table: table ${schema}.app_orders does not exist`,
    );
  });

  it('plan recommends the index; apply creates and registers, and says so', async () => {
    await target.use(async (executor) => {
      await executor.query(sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`);
      await executor.query(
        sql`CREATE TABLE ${sql.identifier(schema)}.app_orders (customer text NOT NULL, created_ms bigint NOT NULL, total numeric)`,
      );
      await executor.query(
        sql`INSERT INTO ${sql.identifier(schema)}.app_orders VALUES ('u1', 500, 99.5), ('u2', 9000, 1)`,
      );
      await executor.query(
        sql`CREATE TABLE ${sql.identifier(schema)}.labels AS SELECT * FROM (VALUES ('u1', CAST(2500 AS bigint), 1), ('u3', CAST(10 AS bigint), 0), ('u2', CAST(3000 AS bigint), 1)) v(user_id, ts, label)`,
      );
    });
    const plan = await run(['plan']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS "app_orders_tandem_pit" ON "${schema}"."app_orders" ("customer", "created_ms");`,
    );
    expect(plan.stdout).toContain('Plan: 4 added, 0 changed, 0 removed, 0 unchanged.');
    const apply = await run(['apply']);
    expect([apply.code, apply.stderr]).toEqual([0, '']);
    expect(apply.stdout).toContain('Applied: 4 added, 0 changed, 0 removed, 0 unchanged.');
    const registered = await target.use((executor) =>
      createRegistry({ executor, schema }).features(),
    );
    expect(registered.map((f) => [f.name, f.version])).toEqual([
      ['avg_ticket_7d', 1],
      ['order_total_30d', 1],
      ['tx_count_7d', 1],
      ['tx_sum_7d', 1],
    ]);
  });

  it('writes training sets from CSV, JSONL and a table, in input order', async () => {
    await target.use(async (executor) => {
      const store = createOfflineStore({ executor, schema, clock: () => 0 });
      await store.ingest(transactions, [
        { user_id: 'u1', ts: 1000, eventId: 'a', amount: 10, merchant: 'm' },
        { user_id: 'u1', ts: 2000, eventId: 'b', amount: 30, merchant: 'm' },
        { user_id: 'u2', ts: 1500, eventId: 'c', amount: 5, merchant: 'x' },
        { user_id: 'u2', ts: 3000, eventId: 'd', amount: 7, merchant: 'x' },
      ]);
    });
    const [fromCsv, fromJsonl, fromTable] = await Promise.all([
      run([
        'training-set',
        '--service',
        'fraud_v1',
        '--rows',
        file('rows.csv'),
        '--out',
        file('out.csv'),
      ]),
      run([
        'training-set',
        '--service',
        'fraud_v1',
        '--rows',
        file('rows.jsonl'),
        '--out',
        file('out.jsonl'),
      ]),
      run([
        'training-set',
        '--service',
        'fraud_v1',
        '--rows',
        `${schema}.labels`,
        '--out',
        file('table.out'),
        '--format',
        'jsonl',
      ]),
    ]);
    expect([fromCsv.code, fromJsonl.code, fromTable.code]).toEqual([0, 0, 0]);
    expect(fromCsv.stdout).toMatch(/^Wrote 5 rows to .*out\.csv in [\d.]+ s/);
    // Not a terminal: plain progress lines instead of a bar.
    expect(fromCsv.stderr).toMatch(/training set: 5\/5 rows \(100%\)/);
    expect(parse(await readFile(file('out.csv')), { columns: true })).toEqual([
      { user_id: 'u2', ts: '3000', label: '1', note: 'x', ...csvCells(AT.u2_3000) },
      { user_id: 'u1', ts: '2500', label: '1', note: '', ...csvCells(AT.u1_2500) },
      { user_id: 'u1', ts: '1500', label: '0', note: 'a, b', ...csvCells(AT.u1_1500) },
      { user_id: 'u3', ts: '10', label: '0', note: '', ...csvCells(AT.u3_10) },
      { user_id: 'u1', ts: '2500', label: '1', note: 'dup', ...csvCells(AT.u1_2500) },
    ]);
    const jsonl = async (name: string) =>
      (await readFile(file(name), 'utf8'))
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line));
    expect(await jsonl('out.jsonl')).toEqual([
      { user_id: 'u1', ts: 2500, label: true, meta: { k: [1, 2] }, ...AT.u1_2500 },
      { user_id: 'u3', ts: 10, label: null, ...AT.u3_10 },
    ]);
    expect(await jsonl('table.out')).toEqual([
      { user_id: 'u1', ts: 2500, label: 1, ...AT.u1_2500 },
      { user_id: 'u3', ts: 10, label: 0, ...AT.u3_10 },
      { user_id: 'u2', ts: 3000, label: 1, ...AT.u2_3000 },
    ]);
    const scratch = await target.use((executor) =>
      executor.query(
        sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} AND table_name LIKE '\\_\\_%'`,
      ),
    );
    expect(scratch).toEqual([]);
  });

  it('refuses to change a materialized feature (exit 1) until --force', async () => {
    await target.use((executor) =>
      createRegistry({ executor, schema }).writeWatermark({
        feature: 'tx_sum_7d',
        fingerprint: fingerprint(txSum7d),
        watermark: 4000,
      }),
    );
    const plan = await run(['plan'], 'changed');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/~ tx_sum_7d\s+v1 -> v2 .*\[materialized: needs --force\]/);
    expect(plan.stdout).toContain('apply will refuse without --force: tx_sum_7d is materialized');
    const refused = await run(['apply'], 'changed');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^error \[MATERIALIZED_FEATURE_CHANGED\] feature tx_sum_7d: apply refuses to change the definition of materialized feature tx_sum_7d/,
    );
    const forced = await run(['apply', '--force'], 'changed');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/\[materialized: forced, materialization reset\]/);
    const rows = await target.use((executor) => createRegistry({ executor, schema }).features());
    expect(rows.find((f) => f.name === 'tx_sum_7d')).toMatchObject({
      version: 2,
      materialized: false,
    });
  });
});

describe.runIf(primary !== pgliteDir)('tandem on a pglite data dir', () => {
  it('applies and writes a training set', async () => {
    const { env, schema } = pgliteDir;
    await pgliteDir.use(async (executor) => {
      await executor.query(sql`CREATE SCHEMA ${sql.identifier(schema)}`);
      await executor.query(
        sql`CREATE TABLE ${sql.identifier(schema)}.app_orders (customer text, created_ms bigint, total double precision)`,
      );
    });
    const apply = await tandem(['apply', '--config', CONFIG], env);
    expect(apply.code).toBe(0);
    expect(apply.stdout).toContain('Applied: 4 added');
    await writeFile(join(work, 'dir-rows.jsonl'), ROWS_JSONL);
    const out = join(work, 'dir-out.csv');
    const training = await tandem(
      [
        'training-set',
        '--config',
        CONFIG,
        '--service',
        'fraud_v1',
        '--rows',
        join(work, 'dir-rows.jsonl'),
        '--out',
        out,
      ],
      env,
    );
    expect(training.code).toBe(0);
    expect(parse(await readFile(out), { columns: true })).toEqual([
      {
        user_id: 'u1',
        ts: '2500',
        label: 'true',
        meta: '{"k":[1,2]}',
        ...csvCells({ ...AT.u3_10 }),
      },
      { user_id: 'u3', ts: '10', label: '', meta: '', ...csvCells(AT.u3_10) },
    ]);
  });
});
