/**
 * Point-in-time training-set benchmark (issue 3, item 8): Tandem against a Feast-style
 * point-in-time join and a plain LATERAL reference, on the same generated data in the same run,
 * plus ingestion throughput. Server side, each method writes its rows into a new table in
 * Postgres (`writeTrainingSet({ into })`, `CREATE TABLE AS`); the goals are judged there.
 * Streaming, each hands every row to JS (`getTrainingSet`, a cursor), next to the floor of doing
 * only that. Writes bench/results/pit.json.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_SCALE
 * (default 1: 2M events, 100k users, 200k and 2M entity rows), BENCH_RUNS (default 3),
 * BENCH_SEED (default 42).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import type { AnyFeature } from '@tandem/core';
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

/** Medians of the server-side methods: each writes its rows into a new table in Postgres. */
interface ServerTimes {
  /** `store.writeTrainingSet({ into })` with the 5 features. */
  readonly tandem: Summary;
  /** The same with last_amount_30d only (the one feature the Feast-style query computes). */
  readonly tandemLastOnly: Summary;
  /** The same with the 4 windowed features. */
  readonly tandemWindowed: Summary;
  /** `CREATE TABLE AS` the Feast-style query. */
  readonly feast: Summary;
  /** `CREATE TABLE AS` the LATERAL reference (4 windowed features). */
  readonly lateral: Summary;
}

/** Medians of the methods that hand every row to JS. */
interface StreamingTimes {
  /** `store.getTrainingSet` with the 5 features, consumed as an async iterator. */
  readonly tandem: Summary;
  /** The Feast-style query through a cursor. */
  readonly feast: Summary;
  /** The LATERAL reference through a cursor. */
  readonly lateral: Summary;
  /** The entity rows alone (no feature) as JSON objects: the floor of any method here. */
  readonly floor: Summary;
}

/** Output of one entity-row size. */
interface SizeResult {
  readonly entityRows: number;
  readonly server: ServerTimes;
  readonly streaming: StreamingTimes;
  readonly ratios: {
    readonly server: {
      readonly feastOverTandem: number;
      readonly feastOverTandemLastOnly: number;
      readonly lateralOverTandemWindowed: number;
    };
    readonly streaming: {
      readonly feastOverTandem: number;
      /** Feast's time over the floor: the highest Feast / Tandem ratio reachable streaming. */
      readonly feastOverFloor: number;
    };
  };
  /** The goals, judged on the server-side times. */
  readonly goals: {
    readonly feastOverTandem: number;
    readonly feastOverTandemMet: boolean;
    readonly feastOverTandemLastOnlyMet: boolean;
    readonly lateralOverTandemWindowed: number;
    readonly lateralOverTandemWindowedMet: boolean;
  };
  readonly agreement: Record<string, Agreement>;
}

type Columns<K extends string> = Record<K, Float64Array>;
const WINDOWED = ['sum7d', 'count7d', 'mean24h', 'max30d'] as const;
type Windowed = (typeof WINDOWED)[number];
const columns = <K extends string>(names: readonly K[], rows: number) =>
  Object.fromEntries(names.map((n) => [n, nullColumn(rows)])) as Columns<K>;
const FEATURE_COLUMN: Record<'last' | Windowed, string> = {
  last: lastAmount.name,
  sum7d: sum7d.name,
  count7d: count7d.name,
  mean24h: mean24h.name,
  max30d: max30d.name,
};
const LATERAL_COLUMN: Record<Windowed, string> = {
  sum7d: 'sum_7d',
  count7d: 'count_7d',
  mean24h: 'mean_24h',
  max30d: 'max_30d',
};

/** Values of the Feast-style query: the amount per row, and how many rows each entity row got. */
interface FeastValues {
  readonly amount: Float64Array;
  readonly rowsPerEntityRow: Uint8Array;
}

function feastValues(rows: number): FeastValues & { add(row: Record<string, unknown>): void } {
  const amount = nullColumn(rows);
  const rowsPerEntityRow = new Uint8Array(rows);
  return {
    amount,
    rowsPerEntityRow,
    add(row) {
      const i = Number(row.row_id) - 1;
      amount[i] = toNumber(row.amount);
      rowsPerEntityRow[i] = Math.min(255, rowsPerEntityRow[i]! + 1);
    },
  };
}

async function benchSize(rows: number, table: string, events: string): Promise<SizeResult> {
  const schema = config.schema;
  const out = (name: string) => `"${schema}"."${name}"`;
  const dropOutputs = () =>
    pool.query(
      `DROP TABLE IF EXISTS ${['pit_tandem', 'pit_tandem_last', 'pit_tandem_windowed', 'pit_feast', 'pit_lateral'].map(out).join(', ')}`,
    );
  const runs: Record<string, Run[]> = {};
  const report = (name: string, run: Run) => {
    runs[name] = [...(runs[name] ?? []), run];
    log(`  ${name}: ${Math.round(run.ms)} ms, ${run.rows} rows`);
  };
  // Server-side runs deliver no row to JS: they count the entity rows they wrote.
  const write = async (features: readonly AnyFeature[], into: string) => ({
    ...(await timed(async () => {
      await store.writeTrainingSet({ features, entityRows: { table }, into: { table: into } });
    })),
    rows,
  });
  const createAs = async (name: string, query: string) => ({
    ...(await timed(async () => {
      await pool.query(`CREATE TABLE ${out(name)} AS ${query}`);
    })),
    rows,
  });

  const streamed = columns(['last', ...WINDOWED], rows);
  const streamedLateral = columns(WINDOWED, rows);
  let streamedFeast = feastValues(rows);
  let floorRows = 0;
  for (let run = 0; run < config.runs; run++) {
    log(`${rows} entity rows, run ${run + 1}/${config.runs}: server side`);
    await dropOutputs();
    report('server.tandem', await write(allFeatures, 'pit_tandem'));
    report('server.feast', await createAs('pit_feast', feastSql(table, events)));
    report('server.lateral', await createAs('pit_lateral', lateralSql(table, events)));
    report('server.tandemLastOnly', await write([lastAmount], 'pit_tandem_last'));
    report('server.tandemWindowed', await write(windowedFeatures, 'pit_tandem_windowed'));

    log(`${rows} entity rows, run ${run + 1}/${config.runs}: streaming to JS`);
    report(
      'streaming.tandem',
      await timed(async (sink) => {
        for await (const row of store.getTrainingSet({
          features: [...allFeatures],
          entityRows: { table },
        })) {
          const i = (row.row_id as number) - 1;
          for (const [key, name] of Object.entries(FEATURE_COLUMN)) {
            streamed[key as keyof typeof streamed][i] = toNumber(row[name]);
          }
          sink.row();
        }
      }, rows),
    );
    streamedFeast = feastValues(rows);
    report(
      'streaming.feast',
      await timed(
        (sink) =>
          streamQuery(pool, feastSql(table, events), (row) => {
            streamedFeast.add(row);
            sink.row();
          }),
        rows,
      ),
    );
    report(
      'streaming.lateral',
      await timed(
        (sink) =>
          streamQuery(pool, lateralSql(table, events), (row) => {
            const i = Number(row.row_id) - 1;
            for (const key of WINDOWED)
              streamedLateral[key][i] = toNumber(row[LATERAL_COLUMN[key]]);
            sink.row();
          }),
        rows,
      ),
    );
    floorRows = 0;
    report(
      'streaming.floor',
      await timed(
        (sink) =>
          streamQuery(pool, floorSql(table), (row) => {
            if ((row.doc as { row_id: number }).row_id === floorRows + 1) floorRows += 1;
            sink.row();
          }),
        rows,
      ),
    );
  }

  // What the server-side methods wrote (of their last run), read back.
  const server = columns(['last', ...WINDOWED], rows);
  const serverLast = nullColumn(rows);
  const serverWindowed = columns(WINDOWED, rows);
  const serverLateral = columns(WINDOWED, rows);
  const serverFeast = feastValues(rows);
  const readTable = (name: string, onRow: (i: number, row: Record<string, unknown>) => void) =>
    streamQuery(pool, `SELECT * FROM ${out(name)}`, (row) =>
      onRow(Number(row.row_number ?? row.row_id) - 1, row),
    );
  await readTable('pit_tandem', (i, row) => {
    for (const [key, name] of Object.entries(FEATURE_COLUMN)) {
      server[key as keyof typeof server][i] = toNumber(row[name]);
    }
  });
  await readTable('pit_tandem_last', (i, row) => {
    serverLast[i] = toNumber(row[lastAmount.name]);
  });
  await readTable('pit_tandem_windowed', (i, row) => {
    for (const key of WINDOWED) serverWindowed[key][i] = toNumber(row[FEATURE_COLUMN[key]]);
  });
  await readTable('pit_lateral', (i, row) => {
    for (const key of WINDOWED) serverLateral[key][i] = toNumber(row[LATERAL_COLUMN[key]]);
  });
  await readTable('pit_feast', (_i, row) => serverFeast.add(row));
  await dropOutputs();

  // Rows where Feast's semantics differ from DESIGN §3: an event exactly at q (Feast's head is
  // inclusive), or several events tied on the newest time (Feast returns one row per tied event).
  const atQ = new Uint8Array(rows);
  const eventsAtQ = await pool.query<{ row_id: string }>(
    `SELECT DISTINCT r.row_id FROM ${table} r JOIN ${events} e ON e.user_id = r.user_id AND e.ts = r.ts`,
  );
  for (const { row_id } of eventsAtQ.rows) atQ[Number(row_id) - 1] = 1;
  const count = (i: number) => server.count7d[i]!;
  const sumOrZero = (column: Float64Array) => column.map((v) => (Number.isNaN(v) ? 0 : v));
  const windowedAgainst = (
    prefix: string,
    tandem: Columns<Windowed>,
    lateral: Columns<Windowed>,
  ) => ({
    [`${prefix}amount_sum_7d_vs_lateral`]: compareColumns(tandem.sum7d, sumOrZero(lateral.sum7d), {
      how: 'float-sum',
      count,
      excludedBecause: 'none (SQL sum of no rows is null; Tandem sum of an empty window is 0)',
    }),
    [`${prefix}tx_count_7d_vs_lateral`]: compareColumns(tandem.count7d, lateral.count7d, {
      how: 'exact',
    }),
    [`${prefix}amount_mean_24h_vs_lateral`]: compareColumns(tandem.mean24h, lateral.mean24h, {
      how: 'float-mean',
      count,
    }),
    [`${prefix}amount_max_30d_vs_lateral`]: compareColumns(tandem.max30d, lateral.max30d, {
      how: 'exact',
    }),
  });
  const lastAgainstFeast = (last: Float64Array, feast: FeastValues) =>
    compareColumns(last, feast.amount, {
      how: 'exact',
      skip: (i) => atQ[i] === 1 || feast.rowsPerEntityRow[i] !== 1,
      excludedBecause:
        'an event exactly at q (Feast includes it) or events tied on the newest time (Feast returns a row per tied event)',
    });
  const oneRowEach = (feast: FeastValues): Agreement => ({
    compared: rows,
    excluded: 0,
    excludedBecause: 'none',
    mismatches: feast.rowsPerEntityRow.reduce((n, c) => n + (c === 1 ? 0 : 1), 0),
    examples: [],
  });
  const agreement: Record<string, Agreement> = {
    'server.last_amount_30d_vs_feast': lastAgainstFeast(server.last, serverFeast),
    ...windowedAgainst('server.', server, serverLateral),
    'server.last_only_vs_full': compareColumns(serverLast, server.last, { how: 'exact' }),
    'streaming.last_amount_30d_vs_feast': lastAgainstFeast(streamed.last, streamedFeast),
    ...windowedAgainst('streaming.', streamed, streamedLateral),
    'streaming.floor_rows_in_order': {
      compared: rows,
      excluded: 0,
      excludedBecause: 'none',
      mismatches: rows - floorRows,
      examples: [],
    },
    'server.feast_rows_per_entity_row': oneRowEach(serverFeast),
    'streaming.feast_rows_per_entity_row': oneRowEach(streamedFeast),
  };
  for (const key of WINDOWED) {
    agreement[`server.windowed_only_${key}_vs_full`] = compareColumns(
      serverWindowed[key],
      server[key],
      { how: 'exact' },
    );
  }
  for (const key of ['last', ...WINDOWED] as const) {
    agreement[`server_vs_streaming.${FEATURE_COLUMN[key]}`] = compareColumns(
      server[key],
      streamed[key],
      { how: 'exact' },
    );
  }
  log(
    `  Feast returned ${serverFeast.rowsPerEntityRow.reduce((a, b) => a + b, 0)} rows for ${rows} entity rows`,
  );

  const median = (name: string) => summarize(runs[name]!);
  const serverTimes: ServerTimes = {
    tandem: median('server.tandem'),
    tandemLastOnly: median('server.tandemLastOnly'),
    tandemWindowed: median('server.tandemWindowed'),
    feast: median('server.feast'),
    lateral: median('server.lateral'),
  };
  const streamingTimes: StreamingTimes = {
    tandem: median('streaming.tandem'),
    feast: median('streaming.feast'),
    lateral: median('streaming.lateral'),
    floor: median('streaming.floor'),
  };
  const feastGoal = rows >= scaled(2_000_000, config.scale) ? 15 : 5;
  const ratios = {
    server: {
      feastOverTandem: ratio(serverTimes.feast.ms, serverTimes.tandem.ms),
      feastOverTandemLastOnly: ratio(serverTimes.feast.ms, serverTimes.tandemLastOnly.ms),
      lateralOverTandemWindowed: ratio(serverTimes.lateral.ms, serverTimes.tandemWindowed.ms),
    },
    streaming: {
      feastOverTandem: ratio(streamingTimes.feast.ms, streamingTimes.tandem.ms),
      feastOverFloor: ratio(streamingTimes.feast.ms, streamingTimes.floor.ms),
    },
  };
  return {
    entityRows: rows,
    server: serverTimes,
    streaming: streamingTimes,
    ratios,
    goals: {
      feastOverTandem: feastGoal,
      feastOverTandemMet: ratios.server.feastOverTandem >= feastGoal,
      feastOverTandemLastOnlyMet: ratios.server.feastOverTandemLastOnly >= feastGoal,
      lateralOverTandemWindowed: 1,
      lateralOverTandemWindowedMet: ratios.server.lateralOverTandemWindowed >= 1,
    },
    agreement,
  };
}

function printSize(result: SizeResult): void {
  const line = (label: string, s: Summary) =>
    `  ${label.padEnd(36)} ${String(s.ms).padStart(8)} ms ${String(s.rowsPerSecond).padStart(9)} rows/s   runs ${s.runsMs.join(', ')} ms`;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const { server, streaming, ratios, goals } = result;
  const out = [
    `entity rows: ${result.entityRows}`,
    '  server side (rows written into a table in Postgres; the goals are judged here):',
    line('Tandem writeTrainingSet (5 features)', server.tandem),
    line('Feast-style PIT join (last 30d)', server.feast),
    `  ${'Feast / Tandem'.padEnd(36)} ${ratios.server.feastOverTandem}x (goal ${goals.feastOverTandem}x: ${met(goals.feastOverTandemMet)})`,
    line('Tandem last amount only', server.tandemLastOnly),
    `  ${'Feast / Tandem (same feature)'.padEnd(36)} ${ratios.server.feastOverTandemLastOnly}x (goal ${goals.feastOverTandem}x: ${met(goals.feastOverTandemLastOnlyMet)})`,
    line('Tandem windowed only (4 features)', server.tandemWindowed),
    line('LATERAL reference (4 windowed)', server.lateral),
    `  ${'LATERAL / Tandem windowed'.padEnd(36)} ${ratios.server.lateralOverTandemWindowed}x (goal 1x: ${met(goals.lateralOverTandemWindowedMet)})`,
    '  streaming every row to JS:',
    line('Tandem getTrainingSet (5 features)', streaming.tandem),
    `  ${'  RSS after each 10% of rows (MB)'.padEnd(36)} ${streaming.tandem.rssMbByTenth.join(', ')}`,
    line('Feast-style PIT join (last 30d)', streaming.feast),
    `  ${'Feast / Tandem'.padEnd(36)} ${ratios.streaming.feastOverTandem}x`,
    line('LATERAL reference (4 windowed)', streaming.lateral),
    line('Floor: entity rows only, as JSON', streaming.floor),
    `  ${'Feast / floor (ratio ceiling)'.padEnd(36)} ${ratios.streaming.feastOverFloor}x`,
    '  agreement (mismatches / compared, excluded):',
    ...Object.entries(result.agreement).map(
      ([name, a]) =>
        `    ${name.padEnd(48)} ${a.mismatches} / ${a.compared}, ${a.excluded} excluded`,
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
        server: {
          tandem:
            'store.writeTrainingSet({ features: all 5, entityRows: { table }, into: { table } }): one INSERT ... SELECT computing every value in SQL into a new typed table (renamed into place, primary key added); the rows never leave Postgres',
          tandemLastOnly:
            'the same with last_amount_30d only: the one feature the Feast-style query computes',
          tandemWindowed: 'the same with the 4 windowed features only',
          feast:
            "CREATE TABLE AS Feast's Postgres offline-store point-in-time template for one feature view (ttl 30d, no created column)",
          lateral:
            'CREATE TABLE AS a plain LEFT JOIN LATERAL with FILTERed aggregates at the same window edges',
        },
        streaming: {
          tandem:
            'store.getTrainingSet({ features: all 5, entityRows: { table } }) consumed as an async iterator; values written into preallocated columns (nothing kept)',
          feast: 'the Feast-style query, streamed through a cursor',
          lateral: 'the LATERAL reference, rows in input order, streamed through a cursor',
          floor:
            'SELECT to_json(r) FROM the entity table ORDER BY row_id, streamed through a cursor (pg parses each json row into an object): the cost of delivering the rows alone, with no feature, which bounds every method that hands rows to JS',
        },
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
