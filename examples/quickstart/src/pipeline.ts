/**
 * The end-to-end demo, on any offline engine (PGlite, Postgres) and any online engine (in-process,
 * Redis): synthetic card payments ingested in arrival order into the offline store, which streams
 * them to the online store; the SQL values checked against the TypeScript fold; a point-in-time
 * training set; a logistic regression trained in TypeScript and exported to ONNX; the model served
 * by `@tandem/serving`'s middleware on a local port; real HTTP predictions checked against the
 * TypeScript reference model; latency; and a parity summary of the online store against the
 * offline store.
 */
import type { FeatureService } from '@tandem/core';
import {
  checkParity,
  createOfflineStore,
  createOnlineStore,
  type OfflineStore,
  type OnlineAdapter,
  type OnlineStore,
  type SqlExecutor,
  type TrainingRow,
} from '@tandem/feature-store';
import { ModelRegistry } from '@tandem/serving';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { describeFeature, formatValue, type Parity, parity } from './compare.js';
import { type DemoData, generateData, type PaymentRequest, type ProfileRow } from './data.js';
import { fraudModelService, fraudService, profiles, transactions } from './features.js';
import { modelInput, referenceScore, type TrainedModel, trainFraudModel } from './model.js';
import { referenceEngine, type Value } from './reference.js';
import { jsonClient, type LatencySummary, measureLatency, startModelServer } from './serve.js';

/** Where the demo runs: an offline engine and an online engine. */
export interface DemoEnvironment {
  /** The offline engine (PGlite or Postgres). Unqualified table names (`user_profiles`) land in its search path. */
  readonly executor: SqlExecutor;
  /** Schema of the offline store's tables. */
  readonly schema: string;
  /** The online engine (`memoryAdapter()` or `redisAdapter(...)`); the caller closes it. */
  readonly adapter: OnlineAdapter;
  /** Key namespace of the online store. */
  readonly namespace: string;
  /** How to name the engines in the output, e.g. `PGlite 17.5 (in memory)`, `Redis 7.0.15`. */
  readonly offlineLabel: string;
  readonly onlineLabel: string;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where output lines go; default `console.log`. */
  readonly log?: (line: string) => void;
  /** Also print the SQL the offline store runs for the compared training set. */
  readonly showSql?: boolean;
  /** Seed of the synthetic data. */
  readonly seed?: number;
  /** HTTP calls per latency series (one caller, then twice as many from 16); default 200. */
  readonly latencyCalls?: number;
}

/** One value compared between the offline store (SQL) and the TypeScript fold. */
export interface ComparedValue {
  readonly pair: number;
  readonly feature: string;
  readonly sql: Value;
  readonly ts: Value;
  readonly parity: Parity;
}

/** One payment scored over HTTP. */
export interface ScoredPayment {
  readonly request: PaymentRequest;
  readonly status: number;
  /** The model's fraud probability (null when the fallback answered). */
  readonly score: number | null;
  readonly label: string | null;
  /** Why the fallback answered, if it did. */
  readonly fallback: string | null;
  /** The TypeScript reference model on the offline store's features of the same request. */
  readonly reference: number | null;
  /** `|score - reference|`. */
  readonly difference: number | null;
  /** The served features (value by name). */
  readonly features: Readonly<Record<string, unknown>> | null;
  /** Round trip of the call, ms. */
  readonly ms: number;
}

/** Counts of a parity comparison. */
export interface ParityCounts {
  readonly values: number;
  readonly exact: number;
  readonly tolerance: number;
  readonly mismatches: number;
}

/** The parity summary. */
export interface ParitySummary {
  /** Online store vs offline store, as of the serving time, every feature of both services. */
  readonly onlineVsOffline: ParityCounts;
  /** The features the model server used (HTTP, `?features=true`) vs the offline store. */
  readonly servedVsOffline: ParityCounts;
  /** Offline store (SQL) vs the TypeScript fold, at the compared points. */
  readonly sqlVsFold: ParityCounts;
  /** `checkParity` of `@tandem/feature-store` (a replay over sampled points). */
  readonly checkParity: {
    readonly ok: boolean;
    readonly points: number;
    readonly values: number;
    readonly disagreements: number;
  };
  /** The sum of every mismatch above. */
  readonly mismatches: number;
}

/** What the demo did. */
export interface DemoResult {
  /** Offline store vs TypeScript fold, value by value. */
  readonly values: readonly ComparedValue[];
  /** Values differing between SQL and the TypeScript fold (0 means parity). */
  readonly mismatches: number;
  /** What ingestion did, summed over the batches. */
  readonly ingested: {
    readonly events: number;
    readonly duplicates: number;
    readonly online: {
      readonly applied: number;
      readonly duplicates: number;
      readonly late: number;
    };
    readonly profiles: number;
  };
  /** Rows of the training set. */
  readonly trainingRows: number;
  /** The trained model. */
  readonly model: TrainedModel;
  /** The serving time (epoch ms). */
  readonly serveAt: number;
  /** The payments scored over HTTP. */
  readonly predictions: readonly ScoredPayment[];
  /** HTTP latency with one caller and with 16. */
  readonly latency: { readonly sequential: LatencySummary; readonly concurrent: LatencySummary };
  readonly parity: ParitySummary;
  /** The printed text. */
  readonly output: string;
}

/** Entity rows per page of the training set. */
const PAGE_SIZE = 250;
/** Late arrivals in the data are up to three days late: the online store takes them all. */
const ALLOWED_LATENESS = '4d';
/** Predictions must equal the TypeScript reference model within this (float32 in ONNX). */
export const SCORE_TOLERANCE = 1e-5;

/** Runs the whole demo in `env`. */
export async function runDemo(
  env: DemoEnvironment,
  options: DemoOptions = {},
): Promise<DemoResult> {
  const began = performance.now();
  const lines: string[] = [];
  const print = (line = '') => {
    lines.push(line);
    (options.log ?? console.log)(line);
  };
  const data = generateData(options.seed ?? 42);
  const { executor } = env;

  // Both stores run on the demo's clock: ingestion stamps each batch with its arrival time, so
  // late arrivals stay invisible as of the times before they arrived, online and offline.
  let now = 0;
  const clock = () => now;
  const online = createOnlineStore({
    adapter: env.adapter,
    features: [fraudService, fraudModelService],
    namespace: env.namespace,
    allowedLateness: ALLOWED_LATENESS,
    clock,
  });
  const offline = createOfflineStore({ executor, schema: env.schema, clock, online });
  await offline.apply([transactions, profiles]);
  await createUserProfiles(executor, data.profiles);
  const ingested = await replay(data, offline, online, (t) => {
    now = t;
  });

  print('Tandem quickstart: features defined once, trained offline, served online');
  print(`  offline store: ${env.offlineLabel}   online store: ${env.onlineLabel}`);
  print();
  print('1. Data');
  const { stats } = data;
  print(
    `  ${stats.deliveries} deliveries of card payments for 4 users over 40 days, in ${data.batches.length} batches (${stats.redelivered} redelivered duplicates, ${stats.late} late arrivals, ${stats.ties} same-millisecond ties), ${data.profiles.length} rows in the app's own user_profiles table`,
  );
  print(
    `  replayed in arrival order: ${ingested.events} events into the offline store (${ingested.duplicates} duplicates dropped), streamed to the online store (${ingested.online.applied} applied, ${ingested.online.duplicates} duplicates, ${ingested.online.late} late), ${ingested.profiles} profile updates streamed`,
  );

  print();
  print(`2. Features: ${fraudService.name} (${fraudService.features.length} features)`);
  for (const feature of fraudService.features) {
    print(`  ${feature.name.padEnd(24)}${describeFeature(feature)}`);
  }
  print(
    `  ${fraudModelService.name}, the model's inputs: ${fraudModelService.layout.map((f) => f.name).join(', ')}`,
  );

  // Offline (SQL) against the TypeScript fold, at a few points in time.
  const fold = referenceEngine(fraudService, data);
  if (options.showSql === true) {
    print();
    print('SQL the offline store runs for the compared training set:');
  }
  const sqlStore =
    options.showSql === true
      ? createOfflineStore({ executor: printing(executor, print), schema: env.schema })
      : offline;
  const fromSql = await collect(sqlStore, fraudService, data.pairs);
  const values: ComparedValue[] = [];
  data.pairs.forEach((pair, index) => {
    const reference = fold(pair);
    for (const feature of fraudService.features) {
      values.push({
        pair: index,
        feature: feature.name,
        sql: fromSql[index]![feature.name] as Value,
        ts: reference.get(feature.name)!.value,
        parity: parity(feature, fromSql[index]!, reference),
      });
    }
  });
  const sqlVsFold = counts(values.map((v) => v.parity));
  print();
  print(
    `3. Offline store (SQL) = TypeScript fold, ${fraudService.name} as of ${data.pairs.length} points in time`,
  );
  const COL = 16;
  print(
    `  ${''.padEnd(24)}${data.pairs.map((p) => `${p.user_id} day ${dayOf(p.q)}`.padEnd(COL)).join('')}`,
  );
  for (const feature of fraudService.features) {
    const cells = data.pairs.map((_, index) => {
      const value = values.find((v) => v.pair === index && v.feature === feature.name)!;
      const mark = { exact: '', tolerance: ' ~', differs: ' (NO)' }[value.parity];
      return `${formatValue(value.sql, feature.valueType)}${mark}`.padEnd(COL);
    });
    print(`  ${feature.name.padEnd(24)}${cells.join('')}`);
  }
  print(
    sqlVsFold.mismatches === 0
      ? `  All ${sqlVsFold.values} values agree with the TypeScript fold (${sqlVsFold.exact} exactly, ${sqlVsFold.tolerance} within the float-sum tolerance, marked ~).`
      : `  ${sqlVsFold.mismatches} of ${sqlVsFold.values} values differ between SQL and TypeScript.`,
  );

  // Training set, labels, model, ONNX.
  const trainingStarted = performance.now();
  const trainingRows = await collect(offline, fraudModelService, data.trainingRows, PAGE_SIZE);
  const trainingMs = Math.round(performance.now() - trainingStarted);
  const trained = trainFraudModel(fraudModelService, trainingRows);
  print();
  print('4. Training');
  print(
    `  training set: ${trainingRows.length.toLocaleString('en-US')} point-in-time rows of ${fraudModelService.name} in ${trainingMs} ms (streamed in pages of ${PAGE_SIZE}), ${trained.positives} labelled fraud`,
  );
  print(
    `  logistic regression trained in TypeScript: ${trained.model.epochs} epochs, log-loss ${trained.model.loss.toFixed(4)}`,
  );
  print(`  exported to ONNX: ${trained.onnx.length} bytes, ${trained.sha256.slice(0, 23)}...`);

  // Serving.
  now = data.serveAt;
  const models = new ModelRegistry();
  const server = await (async () => {
    await models.load({
      name: 'fraud',
      version: '1',
      bytes: trained.onnx,
      sha256: trained.sha256,
      service: fraudModelService,
    });
    return startModelServer(online, models);
  })().catch(async (error: unknown) => {
    await models.close();
    throw error;
  });
  const client = jsonClient();
  try {
    const predictUrl = `${server.url}/models/fraud/predict`;
    const asOf = data.payments.map((p) => ({ ...p, q: data.serveAt }));
    const offlineRows = await collect(offline, fraudModelService, asOf);
    const modelFold = referenceEngine(fraudModelService, data);
    const known = data.payments.filter((p) => p.user_id !== 'u5');
    const body = (i: number) => ({ ...known[i % known.length]!, amount: 5 + (i % 200) });
    await measureLatency(client, predictUrl, 50, 4, body); // warm up (JIT, connections)
    const predictions: ScoredPayment[] = [];
    const served: Parity[] = [];
    for (const [i, payment] of data.payments.entries()) {
      const answer = await client.post(`${predictUrl}?features=true`, payment);
      predictions.push(
        scored(payment, answer, offlineRows[i]!, trained, served, modelFold(asOf[i]!)),
      );
    }
    print();
    print(
      `5. Serving: POST ${predictUrl} (Express + @tandem/serving, ONNX Runtime), as of ${new Date(data.serveAt).toISOString()}`,
    );
    print(
      `  ${'user'.padEnd(6)}${'amount'.padStart(8)}  ${'status'.padEnd(8)}${'score'.padEnd(10)}${'label'.padEnd(8)}${'TS reference'.padEnd(14)}${'|diff|'.padEnd(10)}ms`,
    );
    for (const p of predictions) {
      const score = p.score === null ? '-' : p.score.toFixed(6);
      const reference =
        p.reference === null ? `fallback: ${p.fallback}` : p.reference.toFixed(6).padEnd(14);
      const difference = p.difference === null ? '' : p.difference.toExponential(1).padEnd(10);
      print(
        `  ${p.request.user_id.padEnd(6)}${p.request.amount.toFixed(2).padStart(8)}  ${String(p.status).padEnd(8)}${score.padEnd(10)}${String(p.label).padEnd(8)}${reference}${difference}${p.reference === null ? '' : p.ms.toFixed(1)}`,
      );
    }
    const compared = predictions.filter((p) => p.difference !== null);
    const worst = Math.max(...compared.map((p) => p.difference!));
    print(
      `  ${compared.length} model scores equal the TypeScript reference model on the offline features within ${SCORE_TOLERANCE} (max |diff| ${worst.toExponential(1)}); u5 was never seen: the fallback answered, flagged`,
    );

    // Latency of real HTTP calls.
    const calls = options.latencyCalls ?? 200;
    const sequential = await measureLatency(client, predictUrl, calls, 1, body);
    const concurrent = await measureLatency(client, predictUrl, calls * 2, 16, body);
    print();
    print('6. Latency of the HTTP calls (keep-alive, client and server in this process)');
    for (const s of [sequential, concurrent]) {
      print(
        `  ${String(s.concurrency).padStart(2)} caller${s.concurrency === 1 ? ' ' : 's'}: p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, ${Math.round(s.perSecond).toLocaleString('en-US')} calls/s (${s.calls} calls, ${s.ok} answered 200)`,
      );
    }

    // Parity: online against offline.
    const onlineVsOffline = await compareStores(online, offline, data, fold, modelFold);
    const servedVsOffline = counts(served);
    const checked = await runCheckParity(env, offline);
    const mismatches =
      onlineVsOffline.mismatches +
      servedVsOffline.mismatches +
      sqlVsFold.mismatches +
      checked.disagreements;
    print();
    print('7. Parity');
    const line = (what: string, c: ParityCounts) =>
      print(
        `  ${what.padEnd(52)}${String(c.values).padStart(4)} values, ${c.exact} exact, ${c.tolerance} within tolerance, ${c.mismatches} mismatches`,
      );
    line(
      `online store vs offline store as of ${new Date(data.serveAt).toISOString().slice(0, 16)}`,
      onlineVsOffline,
    );
    line('features served over HTTP vs offline store', servedVsOffline);
    line('offline store (SQL) vs TypeScript fold', sqlVsFold);
    print(
      `  ${'checkParity (replay of the timeline, sampled points)'.padEnd(52)}${String(checked.values).padStart(4)} values at ${checked.points} points, ${checked.disagreements} disagreements`,
    );
    print(
      mismatches === 0
        ? '  Parity holds: zero mismatches.'
        : `  PARITY BROKEN: ${mismatches} mismatches.`,
    );
    print();
    print(`Done in ${((performance.now() - began) / 1000).toFixed(1)} s.`);
    return {
      values,
      mismatches: sqlVsFold.mismatches,
      ingested,
      trainingRows: trainingRows.length,
      model: trained,
      serveAt: data.serveAt,
      predictions,
      latency: { sequential, concurrent },
      parity: {
        onlineVsOffline,
        servedVsOffline,
        sqlVsFold,
        checkParity: checked,
        mismatches,
      },
      output: lines.join('\n'),
    };
  } finally {
    client.close();
    await server.close();
    await server.router.predictor.close();
    await models.close();
  }
}

/**
 * Replays the data in arrival order: payment batches through the offline store (Postgres first,
 * then the online store), profile updates straight to the online store (the app's profile table
 * is read in place offline; online, the app streams its changes).
 */
async function replay(
  data: DemoData,
  offline: OfflineStore,
  online: OnlineStore,
  setClock: (t: number) => void,
): Promise<DemoResult['ingested']> {
  type Step =
    | { readonly at: number; readonly batch: DemoData['batches'][number] }
    | { readonly at: number; readonly profile: ProfileRow };
  const steps: Step[] = [
    ...data.batches.map((batch) => ({ at: batch.arrivedAt, batch })),
    ...data.profiles.map((profile) => ({ at: profile.updated_at, profile })),
  ].sort((a, b) => a.at - b.at);
  let events = 0;
  let duplicates = 0;
  let profileCount = 0;
  const applied = { applied: 0, duplicates: 0, late: 0 };
  for (const step of steps) {
    setClock(step.at);
    if ('batch' in step) {
      const result = await offline.ingest(transactions, step.batch.events);
      events += result.inserted;
      duplicates += result.duplicates;
      if (result.online?.status !== 'applied') {
        throw new Error(`the online store did not take a batch: ${JSON.stringify(result.online)}`);
      }
      applied.applied += result.online.applied;
      applied.duplicates += result.online.duplicates;
      applied.late += result.online.late;
    } else {
      const { id, updated_at, country, plan } = step.profile;
      await online.writeEvents(profiles.name, [
        { key: { user_id: id }, ts: updated_at, values: { country, plan } },
      ]);
      profileCount++;
    }
  }
  return { events, duplicates, online: applied, profiles: profileCount };
}

/** The training set of `service` for entity rows with a `q` column, collected. */
async function collect(
  store: OfflineStore,
  service: FeatureService,
  entityRows: readonly Readonly<Record<string, unknown>>[],
  pageSize?: number,
): Promise<TrainingRow[]> {
  const rows: TrainingRow[] = [];
  for await (const row of store.getTrainingSet({
    features: service,
    entityRows: entityRows as never,
    timeColumn: 'q',
    ...(pageSize === undefined ? {} : { pageSize }),
  })) {
    rows.push(row);
  }
  return rows;
}

/** One HTTP answer, checked against the offline features and the reference model. */
function scored(
  request: PaymentRequest,
  answer: { status: number; body: unknown; ms: number },
  offlineRow: TrainingRow,
  trained: TrainedModel,
  served: Parity[],
  reference: ReadonlyMap<string, import('./reference.js').Computed>,
): ScoredPayment {
  const body = answer.body as {
    prediction?: { score: number | null; label: string | null };
    fallback?: { reason: string };
    features?: Record<string, { value: unknown }>;
  };
  const features =
    body.features === undefined
      ? null
      : Object.fromEntries(Object.entries(body.features).map(([k, v]) => [k, v.value]));
  const fallback = body.fallback?.reason ?? null;
  const score = body.prediction?.score ?? null;
  let expected: number | null = null;
  if (fallback === null && features !== null) {
    for (const feature of fraudModelService.features) {
      served.push(parity(feature, features, reference));
    }
    expected = referenceScore(trained.model, modelInput(fraudModelService, offlineRow));
  }
  return {
    request,
    status: answer.status,
    score,
    label: body.prediction?.label ?? null,
    fallback,
    reference: expected,
    difference: expected === null || score === null ? null : Math.abs(score - expected),
    features,
    ms: answer.ms,
  };
}

/**
 * Reads every feature of both services online for every user (known or not) as of the serving
 * time, and holds the online and the offline values to the same rule against the fold.
 */
async function compareStores(
  online: OnlineStore,
  offline: OfflineStore,
  data: DemoData,
  fold: ReturnType<typeof referenceEngine>,
  modelFold: ReturnType<typeof referenceEngine>,
): Promise<ParityCounts> {
  const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
  const rows = users.map((user_id, i) => ({ user_id, amount: 20 + 40 * i, q: data.serveAt }));
  const outcomes: Parity[] = [];
  for (const [service, reference] of [
    [fraudService, fold],
    [fraudModelService, modelFold],
  ] as const) {
    const fromOnline = await online.getOnlineFeatures({
      service,
      entities: rows.map((r) => ({ user_id: r.user_id })),
      requestData: rows.map((r) => ({ amount: r.amount })),
    });
    const fromOffline = await collect(offline, service, rows);
    rows.forEach((row, i) => {
      const expected = reference(row);
      const onlineValues = Object.fromEntries(
        Object.entries(fromOnline[i]!.values).map(([k, v]) => [k, v.value]),
      );
      for (const feature of service.features) {
        const a = parity(feature, onlineValues, expected);
        const b = parity(feature, fromOffline[i]!, expected);
        // Both within the rule of the fold: online and offline agree (exactly when both are exact).
        outcomes.push(
          a === 'differs' || b === 'differs'
            ? 'differs'
            : a === 'exact' && b === 'exact'
              ? 'exact'
              : 'tolerance',
        );
      }
    });
  }
  return counts(outcomes);
}

/**
 * `checkParity` of `@tandem/feature-store`: replays the offline timeline into a scratch namespace
 * of the online engine (cleared afterwards) and compares both stores at 100 sampled points.
 */
async function runCheckParity(
  env: DemoEnvironment,
  offline: OfflineStore,
): Promise<ParitySummary['checkParity']> {
  const report = await checkParity({
    offline,
    online: env.adapter,
    namespace: env.namespace,
    service: fraudModelService,
    sample: { entities: 4, perEntity: 25, seed: 1 },
    allowedLateness: ALLOWED_LATENESS,
  });
  return {
    ok: report.ok,
    points: report.sample.points,
    values: report.totals.values,
    disagreements: report.totals.disagreements,
  };
}

function counts(outcomes: readonly Parity[]): ParityCounts {
  return {
    values: outcomes.length,
    exact: outcomes.filter((p) => p === 'exact').length,
    tolerance: outcomes.filter((p) => p === 'tolerance').length,
    mismatches: outcomes.filter((p) => p === 'differs').length,
  };
}

/** The user's own table, which the `profiles` source reads in place. */
async function createUserProfiles(
  executor: SqlExecutor,
  rows: readonly ProfileRow[],
): Promise<void> {
  await executor.query(
    sql`CREATE TABLE user_profiles (id text NOT NULL, country text, plan text, updated_at timestamptz NOT NULL)`,
  );
  const values = rows.map(
    (p) => sql`(${p.id}, ${p.country}, ${p.plan}, ${new Date(p.updated_at).toISOString()})`,
  );
  await executor.query(sql`INSERT INTO user_profiles VALUES ${sql.join(values, sql`, `)}`);
}

const dialect = new PgDialect();

/** `executor`, printing every statement before it runs (for `--sql`). */
function printing(executor: SqlExecutor, print: (line: string) => void): SqlExecutor {
  return {
    ...executor,
    query<T extends Record<string, unknown>>(query: SQL) {
      print(`${dialect.sqlToQuery(query).sql};`);
      return executor.query<T>(query);
    },
    transaction: (work) => executor.transaction((tx) => work(printing(tx, print))),
  };
}

/** Day of the data (since 2025-01-01) with one decimal. */
function dayOf(ms: number): string {
  return ((ms - Date.UTC(2025, 0, 1)) / 86_400_000).toFixed(1);
}
