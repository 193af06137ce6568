import type { AnyFeature, FeatureService, Source } from '@tandem/core';
import type * as FeatureStore from '@tandem/feature-store';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { batches, generateHistory } from './data.js';
import { median, ratio } from './stats.js';

/** What the materialization benchmark measured (or why it did not). */
export type MaterializationResult =
  | {
      readonly measured: true;
      readonly method: string;
      readonly events: number;
      readonly entities: number;
      /** `rows` of the result (events aggregated, summed over the run's queries). */
      readonly rows: number;
      readonly tiles: number;
      /** Tile fields written (HSET field-value pairs). */
      readonly fieldsWritten: number;
      readonly runsMaterializeMs: number[];
      readonly runsRawMs: number[];
      /**
       * CPU time of this Node process (user + system) during each `materialize` run, ms: the
       * client's share of the work, less sensitive than wall time to other load on the machine.
       */
      readonly runsMaterializeCpuMs: number[];
      /** Source rows (events) materialized per second. */
      readonly rowsPerSecond: number;
      /** The same rows over the time raw pipelined HSETs of the same fields take. */
      readonly rawRowsPerSecond: number;
      /** `raw ms / materialize ms`: the share of raw write speed reached (goal >= 0.5). */
      readonly materializeOverRaw: number;
    }
  | { readonly measured: false; readonly method: string; readonly reason: string };

/** Inputs of {@link benchMaterialization}. */
export interface MaterializationBench {
  readonly featureStore: typeof FeatureStore;
  readonly redis: Redis;
  readonly namespace: string;
  readonly databaseUrl: string;
  readonly users: number;
  readonly perUser: readonly [number, number];
  readonly now: number;
  readonly seed: number;
  readonly runs: number;
  readonly features: readonly AnyFeature[];
  readonly service: FeatureService;
  readonly source: Source;
  readonly log: (message: string) => void;
}

const METHOD =
  'the read history ingested into Postgres (managed table), then per run a full `materialize` into a fresh namespace (end = now - allowed lateness 1h), timed end to end (queries, roll-up, pipelined writes, checkpoints); baseline: the exact tile fields that run wrote (read back from its fresh namespace after the run, so capturing them costs the timed run nothing), as pipelined HSET key field value ... (one command per key, 500 commands per pipeline), raw second in each run (it replays what the run wrote), median';

type MaterializeFn = (options: {
  executor: FeatureStore.SqlExecutor;
  schema: string;
  online: FeatureStore.OnlineStore;
  full?: boolean;
  clock?: () => number;
}) => Promise<{ runs: readonly { rows: number; tiles: number; entities: number }[] }>;

/**
 * Materialization rows/s vs raw pipelined writes of the same tile fields. Skipped, with the
 * reason, when `materialize` is not exported by `@tandem/feature-store` or Postgres is not
 * reachable.
 */
export async function benchMaterialization(
  bench: MaterializationBench,
): Promise<MaterializationResult> {
  const fs = bench.featureStore as unknown as Record<string, unknown>;
  let materialize = fs.materialize as MaterializeFn | undefined;
  if (typeof materialize !== 'function') {
    // Until the package exports it: the module itself (sources run through tsx).
    try {
      const path = '../../packages/feature-store/src/online/materialize/materialize.js';
      materialize = ((await import(path)) as { materialize?: MaterializeFn }).materialize;
    } catch {
      materialize = undefined;
    }
  }
  const applyDefinitions = fs.applyDefinitions as
    | ((
        executor: FeatureStore.SqlExecutor,
        schema: string,
        definitions: { features: readonly AnyFeature[] },
      ) => Promise<unknown>)
    | undefined;
  if (typeof materialize !== 'function' || typeof applyDefinitions !== 'function') {
    return {
      measured: false,
      method: METHOD,
      reason: 'no materialize in @tandem/feature-store (nor its source module)',
    };
  }
  const pool = new pg.Pool({ connectionString: bench.databaseUrl, max: 4 });
  // One schema per process, like the key namespace.
  const schema = `tandem_bench_online_${process.pid}`;
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end();
    return { measured: false, method: METHOD, reason: `no Postgres: ${String(error)}` };
  }
  const executor = bench.featureStore.postgresExecutor(pool);
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await applyDefinitions(executor, schema, { features: bench.features });
    const offline = bench.featureStore.createOfflineStore({ executor, schema });
    const events = generateHistory({
      users: bench.users,
      perUser: bench.perUser,
      end: bench.now,
      span: 30 * 86_400_000,
      seed: bench.seed,
    });
    bench.log(`materialization: ingesting ${events.length} events into Postgres`);
    for (const batch of batches(events, 10_000)) {
      await offline.ingest(
        bench.source,
        batch.map((e) => ({ ...e.key, ts: e.ts, eventId: e.eventId, ...e.values })),
      );
    }
    await pool.query(`VACUUM ANALYZE "${schema}"."events_${bench.source.ir.name}"`);
    const materializeMs: number[] = [];
    const rawMs: number[] = [];
    const materializeCpuMs: number[] = [];
    let rows = 0;
    let tiles = 0;
    let entities = 0;
    let fieldsWritten = 0;
    for (let run = 0; run < bench.runs; run++) {
      const namespace = `${bench.namespace}:mat${run}`;
      const online = bench.featureStore.createOnlineStore({
        adapter: bench.featureStore.redisAdapter({ client: bench.redis }),
        features: [bench.service],
        namespace,
        allowedLateness: '1h',
        clock: () => bench.now,
      });
      const viaTandem = async () => {
        const cpu = process.cpuUsage();
        const start = performance.now();
        const result = await materialize({
          executor,
          schema,
          online,
          full: true,
          clock: () => bench.now,
        });
        materializeMs.push(performance.now() - start);
        const used = process.cpuUsage(cpu);
        materializeCpuMs.push((used.user + used.system) / 1000);
        rows = result.runs.reduce((a, r) => a + r.rows, 0);
        tiles = result.runs.reduce((a, r) => a + r.tiles, 0);
        entities = result.runs.reduce((a, r) => a + r.entities, 0);
      };
      const raw = async () => {
        const written = await batchTileFields(bench.redis, namespace);
        const byKey = new Map<string, string[]>();
        let fields = 0;
        for (const [key, pairs] of written) {
          byKey.set(`${bench.namespace}:rawmat${run}:${key}`, pairs);
          fields += pairs.length / 2;
        }
        const start = performance.now();
        for (const chunk of batches([...byKey], 500)) {
          const pipeline = bench.redis.pipeline();
          for (const [key, pairs] of chunk) pipeline.hset(key, ...pairs);
          await pipeline.exec();
        }
        rawMs.push(performance.now() - start);
        fieldsWritten = fields;
        // Each run starts from the same Redis: the replayed keys go, as the run's own do below.
        for (const chunk of batches([...byKey.keys()], 500)) await bench.redis.unlink(...chunk);
      };
      // The raw replay writes what materialization wrote, so it always runs second.
      await viaTandem();
      await raw();
      bench.log(
        `materialization run ${run + 1}/${bench.runs}: ${rows} rows, ${tiles} tiles, ${fieldsWritten} fields; materialize ${Math.round(materializeMs[run]!)} ms (CPU ${Math.round(materializeCpuMs[run]!)} ms), raw HSET ${Math.round(rawMs[run]!)} ms`,
      );
      await online.clear();
    }
    const m = median(materializeMs);
    const r = median(rawMs);
    return {
      measured: true,
      method: METHOD,
      events: events.length,
      entities,
      rows,
      tiles,
      fieldsWritten,
      runsMaterializeMs: materializeMs.map(Math.round),
      runsRawMs: rawMs.map(Math.round),
      runsMaterializeCpuMs: materializeCpuMs.map(Math.round),
      rowsPerSecond: Math.round((events.length / m) * 1000),
      rawRowsPerSecond: Math.round((events.length / r) * 1000),
      materializeOverRaw: ratio(r, m),
    };
  } catch (error) {
    return { measured: false, method: METHOD, reason: `materialization failed: ${String(error)}` };
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await pool.end();
  }
}

/**
 * The batch-layer tile fields of a namespace after a full run into it (fresh keys: exactly the
 * fields the run wrote), by key: SCAN for the tile keys, then HGETALL, 500 keys per pipeline.
 * Read back after the run so that capturing them costs the timed run nothing.
 */
async function batchTileFields(redis: Redis, namespace: string): Promise<Map<string, string[]>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${namespace}:*:t:b:*`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  const out = new Map<string, string[]>();
  for (const chunk of batches(keys.sort(), 500)) {
    const pipeline = redis.pipeline();
    for (const key of chunk) pipeline.hgetall(key);
    const replies = (await pipeline.exec()) ?? [];
    chunk.forEach((key, i) => {
      const [error, hash] = replies[i]!;
      if (error !== null) throw error;
      out.set(key, Object.entries(hash as Record<string, string>).flat());
    });
  }
  return out;
}
