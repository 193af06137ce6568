/**
 * Point-in-time training-set benchmark (issue 3, item 8): Tandem's `getTrainingSet` against a
 * Feast-style point-in-time join and a plain LATERAL reference, on the same generated data in the
 * same run, plus ingestion throughput. Writes bench/results/pit.json.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_SCALE
 * (default 1: 2M events, 100k users, 200k and 2M entity rows), BENCH_RUNS (default 3),
 * BENCH_SEED (default 42).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createOfflineStore, postgresExecutor } from '@tandem/feature-store';
import pg from 'pg';
import { feastSql, floorSql, lateralSql } from './lib/baselines.js';
import { type Agreement, compareColumns, nullColumn, toNumber } from './lib/check.js';
import { readConfig, scaled } from './lib/config.js';
import { DATA_SPAN, eventTable, generateEntityRows, generateEvents } from './lib/data.js';
import {
  allFeatures,
  count7d,
  lastAmount,
  max30d,
  mean24h,
  sum7d,
  transactions,
  windowedFeatures,
} from './lib/features.js';
import { benchIngestion } from './lib/ingest.js';
import { type Run, type Summary, streamQuery, summarize, timed } from './lib/measure.js';

const config = readConfig();
const began = performance.now();
const log = (message: string) => {
  const seconds = ((performance.now() - began) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${seconds}s] ${message}\n`);
};
const ratio = (a: number, b: number) => Number((a / b).toFixed(2));

const pool = new pg.Pool({ connectionString: config.url, max: 6 });
const executor = postgresExecutor(pool);
const store = createOfflineStore({ executor, schema: config.schema });

/** Output of one entity-row size. */
interface SizeResult {
  readonly entityRows: number;
  readonly tandem: Summary;
  readonly tandemLastOnly: Summary;
  readonly tandemWindowed: Summary;
  readonly feast: Summary;
  readonly lateral: Summary;
  /** Delivering the entity rows alone (no feature) as JS objects: the floor of any method here. */
  readonly floor: Summary;
  readonly ratios: {
    readonly feastOverTandem: number;
    readonly feastOverTandemLastOnly: number;
    readonly lateralOverTandemWindowed: number;
    /** Feast's time over the floor: the highest Feast / Tandem ratio reachable in this harness. */
    readonly feastOverFloor: number;
  };
  readonly goals: {
    readonly feastOverTandem: number;
    readonly feastOverTandemMet: boolean;
    readonly feastOverTandemLastOnlyMet: boolean;
    readonly lateralOverTandemWindowed: number;
    readonly lateralOverTandemWindowedMet: boolean;
  };
  readonly agreement: Record<string, Agreement>;
}

async function benchSize(rows: number, table: string, events: string): Promise<SizeResult> {
  const tandem = {
    last: nullColumn(rows),
    sum7d: nullColumn(rows),
    count7d: nullColumn(rows),
    mean24h: nullColumn(rows),
    max30d: nullColumn(rows),
  };
  const lastOnly = nullColumn(rows);
  const windowed = {
    sum7d: nullColumn(rows),
    count7d: nullColumn(rows),
    mean24h: nullColumn(rows),
    max30d: nullColumn(rows),
  };
  const lateral = {
    sum7d: nullColumn(rows),
    count7d: nullColumn(rows),
    mean24h: nullColumn(rows),
    max30d: nullColumn(rows),
  };
  const feastAmount = nullColumn(rows);
  const feastRows = new Uint8Array(rows);
  const runs: Record<
    'tandem' | 'tandemLastOnly' | 'tandemWindowed' | 'feast' | 'lateral' | 'floor',
    Run[]
  > = {
    tandem: [],
    tandemLastOnly: [],
    tandemWindowed: [],
    feast: [],
    lateral: [],
    floor: [],
  };
  let floorRows = 0;
  const report = (name: keyof typeof runs, run: Run) => {
    runs[name].push(run);
    log(`  ${name}: ${Math.round(run.ms)} ms, ${run.rows} rows`);
  };
  for (let run = 0; run < config.runs; run++) {
    log(`${rows} entity rows, run ${run + 1}/${config.runs}`);
    report(
      'tandem',
      await timed(async (sink) => {
        for await (const row of store.getTrainingSet({
          features: [...allFeatures],
          entityRows: { table },
        })) {
          const i = (row.row_id as number) - 1;
          tandem.last[i] = toNumber(row[lastAmount.name]);
          tandem.sum7d[i] = toNumber(row[sum7d.name]);
          tandem.count7d[i] = toNumber(row[count7d.name]);
          tandem.mean24h[i] = toNumber(row[mean24h.name]);
          tandem.max30d[i] = toNumber(row[max30d.name]);
          sink.row();
        }
      }, rows),
    );
    feastRows.fill(0);
    report(
      'feast',
      await timed(
        (sink) =>
          streamQuery(pool, feastSql(table, events), (row) => {
            const i = Number(row.row_id) - 1;
            feastAmount[i] = toNumber(row.amount);
            feastRows[i] = Math.min(255, feastRows[i]! + 1);
            sink.row();
          }),
        rows,
      ),
    );
    report(
      'lateral',
      await timed(
        (sink) =>
          streamQuery(pool, lateralSql(table, events), (row) => {
            const i = Number(row.row_id) - 1;
            lateral.sum7d[i] = toNumber(row.sum_7d);
            lateral.count7d[i] = toNumber(row.count_7d);
            lateral.mean24h[i] = toNumber(row.mean_24h);
            lateral.max30d[i] = toNumber(row.max_30d);
            sink.row();
          }),
        rows,
      ),
    );
    floorRows = 0;
    report(
      'floor',
      await timed(
        (sink) =>
          streamQuery(pool, floorSql(table), (row) => {
            if ((row.doc as { row_id: number }).row_id === floorRows + 1) floorRows += 1;
            sink.row();
          }),
        rows,
      ),
    );
    report(
      'tandemLastOnly',
      await timed(async (sink) => {
        for await (const row of store.getTrainingSet({
          features: [lastAmount],
          entityRows: { table },
        })) {
          lastOnly[(row.row_id as number) - 1] = toNumber(row[lastAmount.name]);
          sink.row();
        }
      }, rows),
    );
    report(
      'tandemWindowed',
      await timed(async (sink) => {
        for await (const row of store.getTrainingSet({
          features: [...windowedFeatures],
          entityRows: { table },
        })) {
          const i = (row.row_id as number) - 1;
          windowed.sum7d[i] = toNumber(row[sum7d.name]);
          windowed.count7d[i] = toNumber(row[count7d.name]);
          windowed.mean24h[i] = toNumber(row[mean24h.name]);
          windowed.max30d[i] = toNumber(row[max30d.name]);
          sink.row();
        }
      }, rows),
    );
  }

  // Rows where Feast's semantics differ from DESIGN §3: an event exactly at q (Feast's head is
  // inclusive), or several events tied on the newest time (Feast returns one row per tied event).
  const atQ = new Uint8Array(rows);
  const eventsAtQ = await pool.query<{ row_id: string }>(
    `SELECT DISTINCT r.row_id FROM ${table} r JOIN ${events} e ON e.user_id = r.user_id AND e.ts = r.ts`,
  );
  for (const { row_id } of eventsAtQ.rows) atQ[Number(row_id) - 1] = 1;
  const count = (i: number) => tandem.count7d[i]!;
  const sumOrZero = (column: Float64Array) => column.map((v) => (Number.isNaN(v) ? 0 : v));
  const agreement: Record<string, Agreement> = {
    last_amount_30d_vs_feast: compareColumns(tandem.last, feastAmount, {
      how: 'exact',
      skip: (i) => atQ[i] === 1 || feastRows[i] !== 1,
      excludedBecause:
        'an event exactly at q (Feast includes it) or events tied on the newest time (Feast returns a row per tied event)',
    }),
    amount_sum_7d_vs_lateral: compareColumns(tandem.sum7d, sumOrZero(lateral.sum7d), {
      how: 'float-sum',
      count,
      excludedBecause: 'none (SQL sum of no rows is null; Tandem sum of an empty window is 0)',
    }),
    tx_count_7d_vs_lateral: compareColumns(tandem.count7d, lateral.count7d, { how: 'exact' }),
    amount_mean_24h_vs_lateral: compareColumns(tandem.mean24h, lateral.mean24h, {
      how: 'float-mean',
      count,
    }),
    amount_max_30d_vs_lateral: compareColumns(tandem.max30d, lateral.max30d, { how: 'exact' }),
  };
  agreement.last_only_vs_full = compareColumns(lastOnly, tandem.last, { how: 'exact' });
  for (const name of ['sum7d', 'count7d', 'mean24h', 'max30d'] as const) {
    agreement[`windowed_only_${name}_vs_full`] = compareColumns(windowed[name], tandem[name], {
      how: 'exact',
    });
  }
  agreement.floor_rows_in_order = {
    compared: rows,
    excluded: 0,
    excludedBecause: 'none',
    mismatches: rows - floorRows,
    examples: [],
  };
  const feastRowsOut = feastRows.reduce((a, b) => a + b, 0);
  agreement.feast_rows_per_entity_row = {
    compared: rows,
    excluded: 0,
    excludedBecause: 'none',
    mismatches: feastRows.reduce((n, c) => n + (c === 1 ? 0 : 1), 0),
    examples: [],
  };
  log(`  Feast returned ${feastRowsOut} rows for ${rows} entity rows`);

  const summary = {
    tandem: summarize(runs.tandem),
    tandemLastOnly: summarize(runs.tandemLastOnly),
    tandemWindowed: summarize(runs.tandemWindowed),
    feast: summarize(runs.feast),
    lateral: summarize(runs.lateral),
    floor: summarize(runs.floor),
  };
  const feastGoal = rows >= scaled(2_000_000, config.scale) ? 15 : 5;
  const ratios = {
    feastOverTandem: ratio(summary.feast.ms, summary.tandem.ms),
    feastOverTandemLastOnly: ratio(summary.feast.ms, summary.tandemLastOnly.ms),
    lateralOverTandemWindowed: ratio(summary.lateral.ms, summary.tandemWindowed.ms),
    feastOverFloor: ratio(summary.feast.ms, summary.floor.ms),
  };
  return {
    entityRows: rows,
    ...summary,
    ratios,
    goals: {
      feastOverTandem: feastGoal,
      feastOverTandemMet: ratios.feastOverTandem >= feastGoal,
      feastOverTandemLastOnlyMet: ratios.feastOverTandemLastOnly >= feastGoal,
      lateralOverTandemWindowed: 1,
      lateralOverTandemWindowedMet: ratios.lateralOverTandemWindowed >= 1,
    },
    agreement,
  };
}

function printSize(result: SizeResult): void {
  const line = (label: string, s: Summary) =>
    `  ${label.padEnd(34)} ${String(s.ms).padStart(8)} ms ${String(s.rowsPerSecond).padStart(9)} rows/s   runs ${s.runsMs.join(', ')} ms; RSS peak ${s.rssPeakMb} MB (+${s.rssGrowthMb} MB)`;
  const out = [
    `entity rows: ${result.entityRows}`,
    line('Tandem getTrainingSet (5 features)', result.tandem),
    `  ${'  RSS after each 10% of rows (MB)'.padEnd(34)} ${result.tandem.rssMbByTenth.join(', ')}`,
    line('Feast-style PIT join (last 30d)', result.feast),
    `  ${'Feast / Tandem'.padEnd(34)} ${result.ratios.feastOverTandem}x (goal ${result.goals.feastOverTandem}x: ${result.goals.feastOverTandemMet ? 'met' : 'NOT met'})`,
    line('Tandem last amount only', result.tandemLastOnly),
    `  ${'Feast / Tandem (same feature)'.padEnd(34)} ${result.ratios.feastOverTandemLastOnly}x (goal ${result.goals.feastOverTandem}x: ${result.goals.feastOverTandemLastOnlyMet ? 'met' : 'NOT met'})`,
    line('Tandem windowed only (4 features)', result.tandemWindowed),
    line('LATERAL reference (4 windowed)', result.lateral),
    `  ${'LATERAL / Tandem windowed'.padEnd(34)} ${result.ratios.lateralOverTandemWindowed}x (goal 1x: ${result.goals.lateralOverTandemWindowedMet ? 'met' : 'NOT met'})`,
    line('Floor: entity rows only, as JSON', result.floor),
    `  ${'Feast / floor (ratio ceiling)'.padEnd(34)} ${result.ratios.feastOverFloor}x`,
    '  agreement (mismatches / compared, excluded):',
    ...Object.entries(result.agreement).map(
      ([name, a]) =>
        `    ${name.padEnd(36)} ${a.mismatches} / ${a.compared}, ${a.excluded} excluded`,
    ),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<void> {
  const version = (await pool.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v;
  const settings = Object.fromEntries(
    (
      await pool.query<{ name: string; setting: string; unit: string | null }>(
        `SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather', 'effective_cache_size')`,
      )
    ).rows.map((r) => [r.name, r.unit === null ? r.setting : `${r.setting} x ${r.unit}`]),
  );
  const users = scaled(100_000, config.scale);
  const eventCount = scaled(2_000_000, config.scale);
  const sizes = [scaled(200_000, config.scale), scaled(2_000_000, config.scale)];
  const loadStart = loadavg();
  log(
    `scale ${config.scale}: ${eventCount} events, ${users} users, entity rows ${sizes.join(', ')}`,
  );

  await pool.query(`DROP SCHEMA IF EXISTS "${config.schema}" CASCADE`);
  try {
    await store.apply([transactions]);
    let start = performance.now();
    await generateEvents(pool, store, {
      events: eventCount,
      users,
      seed: config.seed,
    });
    const generateMs = Math.round(performance.now() - start);
    log(`generated ${eventCount} events in ${generateMs} ms`);
    start = performance.now();
    const tables: string[] = [];
    for (const rows of sizes) {
      tables.push(
        await generateEntityRows(pool, config.schema, { rows, users, seed: config.seed }),
      );
    }
    const entityMs = Math.round(performance.now() - start);
    log(`generated entity rows in ${entityMs} ms`);

    log('ingestion');
    const ingestion = await benchIngestion(pool, store, {
      events: scaled(200_000, config.scale),
      users,
      seed: config.seed,
      runs: config.runs,
      log,
    });

    const results: SizeResult[] = [];
    const events = eventTable(config.schema);
    for (const [i, rows] of sizes.entries()) {
      results.push(await benchSize(rows, tables[i]!, events));
    }

    const summary = {
      benchmark: 'point-in-time training set (issue 3, item 8)',
      date: new Date().toISOString(),
      config: {
        scale: config.scale,
        runs: config.runs,
        seed: config.seed,
        statistic: 'median of runs',
      },
      machine: {
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? 'unknown',
        loadAverageStart: loadStart.map((l) => Number(l.toFixed(2))),
        loadAverageEnd: loadavg().map((l) => Number(l.toFixed(2))),
        node: process.version,
        postgres: version,
        settings,
      },
      data: {
        events: eventCount,
        users,
        spanDays: DATA_SPAN / 86_400_000,
        generation:
          'server-side INSERT ... SELECT generate_series with hashint8extended(i, seed): uniform user and time, amount a multiple of 0.01 in [0, 1000), ingested at event time, written in time order into the managed table created by store.apply (indexes recreated by apply after the load), then VACUUM ANALYZE',
        entityRows:
          'uniform user, uniform q in the data range, table (row_id primary key, user_id, ts, label)',
        generateEventsMs: generateMs,
        generateEntityRowsMs: entityMs,
      },
      features: {
        [lastAmount.name]:
          "tx.last('amount').window(30d, { hop: 1 ms }): the newest amount in [q - 30d, q), i.e. a 30-day ttl (compared with Feast's ttl 30d)",
        [sum7d.name]: "tx.sum('amount').window('7d'), hop 1h",
        [count7d.name]: "tx.count().window('7d'), hop 1h",
        [mean24h.name]: "tx.mean('amount').window('24h'), hop 1h",
        [max30d.name]: "tx.max('amount').window('30d'), hop 1d",
      },
      methods: {
        tandem:
          'store.getTrainingSet({ features: all 5, entityRows: { table } }) consumed as an async iterator; rows written into preallocated columns (nothing kept)',
        tandemLastOnly:
          'the same with last_amount_30d only: the one feature the Feast-style query computes',
        tandemWindowed: 'the same with the 4 windowed features only',
        feast:
          "Feast's Postgres offline-store point-in-time template for one feature view (ttl 30d, no created column), streamed through a cursor",
        lateral:
          'plain LEFT JOIN LATERAL with FILTERed aggregates at the same window edges, rows in input order, streamed through a cursor',
        floor:
          'SELECT to_json(r) FROM the entity table ORDER BY row_id, streamed through a cursor (pg parses each json row into an object): the cost of delivering the rows alone, with no feature, which bounds every method that hands rows to JS',
      },
      ingestion,
      sizes: results,
      totalMs: Math.round(performance.now() - began),
    };
    for (const result of results) printSize(result);
    process.stdout.write(
      `ingestion of ${ingestion.events} events (${ingestion.batch} per call): store.ingest ${ingestion.store.eventsPerSecond} events/s, raw multi-row INSERT ${ingestion.rawInsert.eventsPerSecond} events/s\n`,
    );
    const path = new URL('./results/pit.json', import.meta.url);
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(path, `${JSON.stringify(summary, null, 2)}\n`);
    log(`wrote ${path.pathname}`);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${config.schema}" CASCADE`);
    await pool.end();
  }
}

await main();
