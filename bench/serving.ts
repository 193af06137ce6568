/**
 * Serving benchmark (issue 6, item 9): Tandem's Express middleware against a hand-written minimal
 * Express + ioredis + onnxruntime-node handler doing the same work (parse the JSON body, read 20
 * features of one account from Redis, build the tensor, run the ONNX model, answer JSON), on the
 * same data and the same model, in the same run. autocannon drives each server (in its own
 * process) at 1, 32 and 64 connections; runs are interleaved and repeated, medians reported.
 * Writes bench/results/serving.json.
 *
 * Servers compared:
 * - `handwritten`: express.json + HMGET of 20 fields of a plain hash + Float32Array + session.run;
 * - `middleware`: `middleware({ store, models })` with its defaults (validation, deadline,
 *   concurrency limit, circuit breaker, metrics, spans, batched feature reads and micro-batched
 *   model runs), reading Tandem's online store on Redis (tiles, one Lua read), the product path;
 * - `middleware-hmget`: the same middleware reading the hand-written handler's hashes with HMGET
 *   (the entities of a batched read pipelined), which isolates the middleware's own cost from the
 *   online store's;
 * - `middleware-nobatch`: the product path with both batchings off.
 *
 * Environment: REDIS_URL (default redis://127.0.0.1:6379), BENCH_RUNS (3), BENCH_SEED (42),
 * BENCH_SERVING_SECONDS (5 per measurement), BENCH_SERVING_CONNECTIONS (1,32,64),
 * BENCH_SERVING_VARIANTS (all four), BENCH_SERVING_ENTITIES (1000 accounts),
 * BENCH_SERVING_EVENTS (20 payments per account on average), BENCH_PROFILE (1 by default: CPU
 * profiles of the hand-written server, the middleware on HMGET and the middleware on the store at
 * BENCH_PROFILE_CONNECTIONS (default 32) connections, CPU per request by category side by side; 0
 * to skip), BENCH_PROFILE_DIR (keep
 * the `.cpuprofile` files there, for DevTools; default a temporary directory, deleted).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisAdapter } from '@tandem/feature-store';
import { Redis } from 'ioredis';
import { accountIds, benchModel, loadData } from './serving-lib/data.js';
import { FEATURE_NAMES } from './serving-lib/features.js';
import { type LoadRun, runLoad } from './serving-lib/load.js';
import { type ProfileCategory, summarizeProfile, topFunctions } from './serving-lib/profile.js';
import {
  type ProfileMessage,
  predictPath,
  type ServerConfig,
  type Variant,
} from './serving-lib/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const number = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0`);
  return value;
};
const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

const config = {
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  runs: Math.max(1, Math.round(number('BENCH_RUNS', 3))),
  seed: Math.round(number('BENCH_SEED', 42)),
  seconds: number('BENCH_SERVING_SECONDS', 5),
  warmupSeconds: number('BENCH_SERVING_WARMUP', 1),
  connections: list('BENCH_SERVING_CONNECTIONS', '1,32,64').map(Number),
  variants: list(
    'BENCH_SERVING_VARIANTS',
    'handwritten,middleware,middleware-hmget,middleware-nobatch',
  ) as Variant[],
  entities: Math.round(number('BENCH_SERVING_ENTITIES', 1000)),
  eventsPerEntity: number('BENCH_SERVING_EVENTS', 20),
  profile: number('BENCH_PROFILE', 1) !== 0,
  profileConnections: number('BENCH_PROFILE_CONNECTIONS', 32),
};
if (!config.variants.includes('handwritten')) {
  throw new Error('BENCH_SERVING_VARIANTS must include handwritten (the baseline)');
}

const began = performance.now();
const log = (message: string) => {
  const seconds = ((performance.now() - began) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${seconds}s] ${message}\n`);
};
const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const namespace = `bench-serving-${process.pid}`;
const keys = { namespace, hashPrefix: `${namespace}:h:` };
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
const children: ChildProcess[] = [];

/** Starts one server process and waits for its port. */
async function startServer(
  variant: Variant,
  model: Uint8Array,
  now: number,
): Promise<{ url: string; child: ChildProcess }> {
  const serverConfig: ServerConfig = {
    variant,
    redisUrl: config.redisUrl,
    namespace,
    hashPrefix: keys.hashPrefix,
    now,
    model: Buffer.from(model).toString('base64'),
  };
  const child = fork(join(here, 'serving-lib', 'server.ts'), [], {
    // The servers load Tandem as this process does: the built packages under `npm run bench`
    // (what an application runs), or the sources given `--conditions=tandem-source`.
    execArgv: process.execArgv.filter((flag) => !flag.startsWith('--cpu-prof')),
    env: { ...process.env, BENCH_SERVING_SERVER: JSON.stringify(serverConfig) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`server ${variant} exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** Sends a server a profiler message and waits for its acknowledgement. */
function ask(child: ChildProcess, message: ProfileMessage, answer: string): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if ((m as { profile?: string }).profile === answer) {
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.disconnect();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** POSTs one body and returns the parsed answer. */
async function post(url: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, json: await res.json() };
}

/** The probability in either server's answer. */
function probabilityOf(json: unknown): number {
  const prediction = (json as { prediction?: { probability?: unknown } }).prediction;
  const p = prediction?.probability;
  if (typeof p !== 'number') throw new Error(`no probability in ${JSON.stringify(json)}`);
  return p;
}

interface Cell {
  readonly runs: (LoadRun & {
    /** CPU time of the server process per answered request (user + system), microseconds. */
    readonly serverCpuUsPerRequest: number;
    /** CPU time of the Redis server per answered request (shared server: includes others). */
    readonly redisCpuUsPerRequest: number;
    /** Share of the machine's CPU time the hypervisor stole during the run, percent. */
    readonly stealPercent: number;
    /** Mean requests per feature read (middleware servers; NaN for the hand-written one). */
    readonly requestsPerFeatureRead: number;
    /** Mean rows per model run (NaN for the hand-written server and with model batching off). */
    readonly rowsPerModelRun: number;
  })[];
}

/** CPU time (user + system) of a process so far, ms, from /proc (Linux; NaN elsewhere). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100;

/** Jiffies of the whole machine so far: total and stolen by the hypervisor (/proc/stat). */
function machineJiffies(): { total: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    return { total: fields.slice(0, 8).reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
  } catch {
    return { total: Number.NaN, steal: Number.NaN };
  }
}

/** Counters of a middleware server's batching so far (its `/ml/metrics`). */
interface BatchCounters {
  /** Predictions answered. */
  readonly requests: number;
  /** Feature reads sent to the store (each a batch of requests). */
  readonly featureReads: number;
  /** Model runs (each a micro-batch of rows). */
  readonly modelRuns: number;
}

/** Sums the samples of one metric in a Prometheus text exposition. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** Reads a middleware server's batching counters (undefined for the hand-written server). */
async function batchCounters(variant: Variant, url: string): Promise<BatchCounters | undefined> {
  if (variant === 'handwritten') return undefined;
  const text = await (await fetch(`${url}/ml/metrics`)).text();
  return {
    requests: metricSum(text, 'tandem_serving_requests_total'),
    featureReads: metricSum(text, 'tandem_serving_feature_fetch_duration_seconds_count'),
    modelRuns: metricSum(text, 'tandem_serving_batch_size_count'),
  };
}

/** CPU time of the Redis server so far, ms (INFO cpu). */
async function redisCpuMs(): Promise<number> {
  const info = await redis.info('cpu');
  const user = /used_cpu_user:([\d.]+)/.exec(info)?.[1];
  const sys = /used_cpu_sys:([\d.]+)/.exec(info)?.[1];
  return (Number(user) + Number(sys)) * 1000;
}

async function main(): Promise<void> {
  log(
    `serving benchmark: ${config.variants.join(', ')} at ${config.connections.join('/')} connections, ${config.runs} runs of ${config.seconds}s`,
  );
  const loaded = await loadData(redis, keys, config.entities, config.eventsPerEntity, config.seed);
  log(
    `data: ${loaded.events.toLocaleString('en-US')} payments of ${loaded.accounts.length.toLocaleString('en-US')} accounts streamed into the online store in ${Math.round(loaded.writeMs)} ms; 20-field hashes written in ${Math.round(loaded.hashMs)} ms`,
  );
  const model = benchModel();
  const servers = new Map<Variant, string>();
  const pids = new Map<Variant, number>();
  for (const variant of config.variants) {
    const { url, child } = await startServer(variant, model, loaded.now);
    servers.set(variant, url);
    pids.set(variant, child.pid!);
  }
  log(`servers up: ${[...servers].map(([v, u]) => `${v} ${u}`).join(', ')}`);

  // Same data, same model, same answers: check every server on a sample of accounts.
  const accounts = accountIds(config.entities);
  const sample = accounts.filter((_, i) => i % Math.max(1, Math.floor(accounts.length / 50)) === 0);
  let maxDifference = 0;
  for (const account of sample) {
    const body = JSON.stringify({ account_id: account });
    const base = await post(`${servers.get('handwritten')}${predictPath('handwritten')}`, body);
    for (const variant of config.variants) {
      if (variant === 'handwritten') continue;
      const other = await post(`${servers.get(variant)}${predictPath(variant)}`, body);
      if (base.status !== 200 || other.status !== 200) {
        throw new Error(`${variant}: ${other.status} ${JSON.stringify(other.json)}`);
      }
      maxDifference = Math.max(
        maxDifference,
        Math.abs(probabilityOf(base.json) - probabilityOf(other.json)),
      );
    }
  }
  if (maxDifference > 1e-6) throw new Error(`servers disagree by ${maxDifference}`);
  log(`answers agree on ${sample.length} accounts (max |difference| ${maxDifference})`);

  // Request bodies: accounts in a seeded order (every request hits a known account).
  const bodies = Array.from({ length: 512 }, (_, i) =>
    JSON.stringify({ account_id: accounts[(i * 7919) % accounts.length] }),
  );
  const load = (variant: Variant, connections: number, seconds: number) =>
    runLoad({
      url: servers.get(variant)!,
      path: predictPath(variant),
      bodies,
      connections,
      seconds,
    });
  for (const variant of config.variants) await load(variant, 32, Math.max(2, config.warmupSeconds));
  log('warmed up');

  const cells = new Map<string, Cell>();
  for (let run = 0; run < config.runs; run++) {
    for (const connections of config.connections) {
      // Rotate the order each run: no server always goes first (or right after another).
      const order = config.variants.map(
        (_, i) => config.variants[(i + run) % config.variants.length]!,
      );
      for (const variant of order) {
        if (config.warmupSeconds > 0) await load(variant, connections, config.warmupSeconds);
        const cpuBefore = cpuMs(pids.get(variant)!);
        const redisBefore = await redisCpuMs();
        const jiffiesBefore = machineJiffies();
        const batchesBefore = await batchCounters(variant, servers.get(variant)!);
        const measured = await load(variant, connections, config.seconds);
        const jiffiesAfter = machineJiffies();
        const batchesAfter = await batchCounters(variant, servers.get(variant)!);
        // NaN when that batching is off (no batch observed) or for the hand-written server.
        const perBatch = (key: 'featureReads' | 'modelRuns') => {
          if (batchesBefore === undefined || batchesAfter === undefined) return Number.NaN;
          const batches = batchesAfter[key] - batchesBefore[key];
          return batches > 0
            ? (batchesAfter.requests - batchesBefore.requests) / batches
            : Number.NaN;
        };
        const result = {
          ...measured,
          stealPercent:
            (100 * (jiffiesAfter.steal - jiffiesBefore.steal)) /
            Math.max(1, jiffiesAfter.total - jiffiesBefore.total),
          serverCpuUsPerRequest:
            ((cpuMs(pids.get(variant)!) - cpuBefore) * 1000) / measured.requests,
          redisCpuUsPerRequest: (((await redisCpuMs()) - redisBefore) * 1000) / measured.requests,
          requestsPerFeatureRead: perBatch('featureReads'),
          rowsPerModelRun: perBatch('modelRuns'),
        };
        const key = `${variant}@${connections}`;
        const cell = cells.get(key) ?? { runs: [] };
        cell.runs.push(result);
        cells.set(key, cell);
        log(
          `run ${run + 1} ${variant.padEnd(18)} c=${String(connections).padStart(2)}: ${Math.round(result.rps).toLocaleString('en-US').padStart(6)} req/s, p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms, server CPU ${result.serverCpuUsPerRequest.toFixed(0)} us/req, Redis CPU ${result.redisCpuUsPerRequest.toFixed(0)} us/req, steal ${result.stealPercent.toFixed(0)}%${Number.isNaN(result.requestsPerFeatureRead) ? '' : `, ${result.requestsPerFeatureRead.toFixed(1)} req/feature read`}${Number.isNaN(result.rowsPerModelRun) ? '' : `, ${result.rowsPerModelRun.toFixed(1)} rows/model run`}${result.non2xx + result.errors > 0 ? `, ${result.non2xx} non-2xx, ${result.errors} errors` : ''} (load ${result.loadAvg.toFixed(1)})`,
        );
      }
    }
  }

  const summary = (variant: Variant, connections: number) => {
    const runs = cells.get(`${variant}@${connections}`)!.runs;
    return {
      rps: Math.round(median(runs.map((r) => r.rps))),
      p50Ms: round(median(runs.map((r) => r.p50Ms))),
      p99Ms: round(median(runs.map((r) => r.p99Ms))),
      serverCpuUsPerRequest: round(median(runs.map((r) => r.serverCpuUsPerRequest)), 1),
      redisCpuUsPerRequest: round(median(runs.map((r) => r.redisCpuUsPerRequest)), 1),
      stealPercent: round(median(runs.map((r) => r.stealPercent)), 1),
      requestsPerFeatureRead: round(median(runs.map((r) => r.requestsPerFeatureRead)), 1),
      rowsPerModelRun: round(median(runs.map((r) => r.rowsPerModelRun)), 1),
      non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
      errors: runs.reduce((s, r) => s + r.errors, 0),
      runs: runs.map((r) => ({
        rps: Math.round(r.rps),
        requests: r.requests,
        p50Ms: round(r.p50Ms),
        p90Ms: round(r.p90Ms),
        p99Ms: round(r.p99Ms),
        maxMs: round(r.maxMs),
        serverCpuUsPerRequest: round(r.serverCpuUsPerRequest, 1),
        redisCpuUsPerRequest: round(r.redisCpuUsPerRequest, 1),
        stealPercent: round(r.stealPercent, 1),
        loadAvg: round(r.loadAvg, 2),
      })),
    };
  };
  const results = Object.fromEntries(
    config.variants.map((variant) => [
      variant,
      Object.fromEntries(config.connections.map((c) => [`c${c}`, summary(variant, c)])),
    ]),
  );
  // Throughput ratios against the hand-written handler: medians of per-run ratios (runs are
  // interleaved, so a run's ratio compares measurements taken seconds apart under the same load).
  const ratioOf = (variant: Variant, connections: number) => {
    const mine = cells.get(`${variant}@${connections}`)!.runs;
    const base = cells.get(`handwritten@${connections}`)!.runs;
    return round(median(mine.map((r, i) => r.rps / base[i]!.rps)), 3);
  };
  const ratios = Object.fromEntries(
    config.variants
      .filter((v) => v !== 'handwritten')
      .map((variant) => [
        variant,
        Object.fromEntries(config.connections.map((c) => [`c${c}`, ratioOf(variant, c)])),
      ]),
  );

  // Server CPU per request, hand-written over variant (> 1: the variant spends less CPU per
  // request). Load on a shared machine slows both servers' wall clock, much less their CPU cost.
  const cpuRatios = Object.fromEntries(
    config.variants
      .filter((v) => v !== 'handwritten')
      .map((variant) => [
        variant,
        Object.fromEntries(
          config.connections.map((c) => [
            `c${c}`,
            round(
              summary('handwritten', c).serverCpuUsPerRequest /
                summary(variant, c).serverCpuUsPerRequest,
              3,
            ),
          ]),
        ),
      ]),
  );

  const has = (v: Variant, c: number) =>
    config.variants.includes(v) && config.connections.includes(c);
  const goals = {
    throughputAt32: {
      goal: '>= 1.0x the hand-written throughput at 32 connections',
      ratio: has('middleware', 32) ? ratioOf('middleware', 32) : null,
      met: has('middleware', 32) ? ratioOf('middleware', 32) >= 1 : null,
    },
    p99At1: {
      goal: 'p99 <= 1 ms at 1 connection',
      p99Ms: has('middleware', 1) ? summary('middleware', 1).p99Ms : null,
      met: has('middleware', 1) ? summary('middleware', 1).p99Ms <= 1 : null,
    },
    throughputAt64: {
      goal: '>= 1.3x the hand-written throughput at 64 connections, with micro-batching',
      ratio: has('middleware', 64) ? ratioOf('middleware', 64) : null,
      met: has('middleware', 64) ? ratioOf('middleware', 64) >= 1.3 : null,
    },
  };

  /** One profiled server. */
  interface ServerProfile {
    connections: number;
    seconds: number;
    requests: number;
    rps: number;
    /** Server CPU per request during the profiled run (OS), microseconds. */
    cpuUsPerRequest: number;
    categories: ProfileCategory[];
    top: { fn: string; ms: number }[];
  }
  const profiles: Partial<Record<Variant, ServerProfile>> = {};
  const profiled = (['handwritten', 'middleware-hmget', 'middleware'] as const).filter((v) =>
    config.variants.includes(v),
  );
  if (config.profile) {
    // A fresh server of each kind, warmed up, profiled (node:inspector) during one run only.
    const keep = process.env.BENCH_PROFILE_DIR;
    const dir =
      keep === undefined || keep === ''
        ? mkdtempSync(join(tmpdir(), 'tandem-serving-profile-'))
        : keep;
    mkdirSync(dir, { recursive: true });
    try {
      for (const variant of profiled) {
        const { url, child } = await startServer(variant, model, loaded.now);
        const run = (seconds: number) =>
          runLoad({
            url,
            path: predictPath(variant),
            bodies,
            connections: config.profileConnections,
            seconds,
          });
        await run(Math.max(2, config.warmupSeconds));
        await ask(child, { profile: 'start' }, 'started');
        const cpuBefore = cpuMs(child.pid!);
        const measured = await run(config.seconds);
        const cpuUsPerRequest = ((cpuMs(child.pid!) - cpuBefore) * 1000) / measured.requests;
        const file = join(dir, `${variant}.cpuprofile`);
        await ask(child, { profile: 'stop', path: file }, 'written');
        await stopServer(child);
        profiles[variant] = {
          connections: config.profileConnections,
          seconds: config.seconds,
          requests: measured.requests,
          rps: Math.round(measured.rps),
          cpuUsPerRequest: round(cpuUsPerRequest, 1),
          categories: summarizeProfile(file, measured.requests, cpuUsPerRequest).map((c) => ({
            ...c,
            ms: round(c.ms, 1),
            percent: round(c.percent, 1),
            usPerRequest: round(c.usPerRequest, 1),
          })),
          top: topFunctions(file, 30),
        };
      }
      const categories = [
        ...new Set(profiled.flatMap((v) => profiles[v]!.categories.map((c) => c.category))),
      ];
      log(
        `CPU profile at ${config.profileConnections} connections, microseconds of CPU per request by category: ${profiled.map((v) => `${v} (${profiles[v]!.requests} requests, ${profiles[v]!.cpuUsPerRequest} us CPU/request)`).join(', ')}`,
      );
      for (const category of categories) {
        const cells = profiled.map((v) => {
          const c = profiles[v]!.categories.find((x) => x.category === category);
          return (c === undefined ? '-' : c.usPerRequest.toFixed(1)).padStart(18);
        });
        log(`  ${category.padEnd(52)}${cells.join('')}`);
      }
    } finally {
      if (dir !== keep) rmSync(dir, { recursive: true, force: true });
    }
  }

  const output = {
    benchmark: 'serving',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAvgAtEnd: loadavg().map((x) => round(x, 2)),
    },
    config: {
      runs: config.runs,
      secondsPerRun: config.seconds,
      warmupSecondsPerRun: config.warmupSeconds,
      connections: config.connections,
      accounts: config.entities,
      payments: loaded.events,
      features: FEATURE_NAMES.length,
      model: 'logistic regression, 20 float32 inputs (MatMul + Add + Sigmoid)',
      seed: config.seed,
      method:
        'autocannon (closed loop, keep-alive, 1 request in flight per connection) in the parent process; each server in its own process; runs interleaved and rotated; medians of runs; latencies of every 2xx response at full resolution',
    },
    sameAnswers: { accounts: sample.length, maxDifference },
    results,
    ratios,
    cpuRatios,
    goals,
    profiles,
  };
  const out = join(here, 'results', 'serving.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(output, null, 2)}\n`);

  log('');
  log(
    `${'server'.padEnd(20)}${config.connections.map((c) => `c=${c}: req/s  p50 / p99 ms  ratio  cpu/req`.padEnd(48)).join('')}`,
  );
  for (const variant of config.variants) {
    const cellsText = config.connections.map((c) => {
      const s = summary(variant, c);
      const ratio = variant === 'handwritten' ? '1.00x' : `${ratioOf(variant, c).toFixed(2)}x`;
      return `${String(s.rps).padStart(6)}  ${s.p50Ms.toFixed(2)} / ${s.p99Ms.toFixed(2)}  ${ratio}  ${s.serverCpuUsPerRequest.toFixed(0)}us`.padEnd(
        48,
      );
    });
    log(`${variant.padEnd(20)}${cellsText.join('')}`);
  }
  for (const [name, goal] of Object.entries(goals)) {
    log(`goal ${name}: ${goal.goal}: ${JSON.stringify(goal)}`);
  }
  log(`wrote ${out}`);
}

let cleaning: Promise<void> | undefined;
/** Stops the servers and deletes the benchmark's keys (once). */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all(children.map(stopServer));
    await redisAdapter({ client: redis }).clear(`${namespace}:`);
    redis.disconnect();
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the servers and deleting the benchmark's keys`);
    void cleanUp().finally(() => process.exit(130));
  });
}

try {
  if (loadavg()[0]! > cpus().length) {
    log(
      `warning: the load average (${loadavg()[0]!.toFixed(1)}) exceeds the ${cpus().length} CPUs: other processes compete with the servers, and the figures will show it`,
    );
  }
  await main();
} finally {
  await cleanUp();
}
