import type { AnyFeature, FeatureService } from '@tandem/core';
import { TandemError } from '@tandem/core';
import { Cluster, Redis } from 'ioredis';
import type { OnlineConfig, TandemConfig } from '../config/config.js';
import type { SqlExecutor } from '../executor/executor.js';
import {
  type MaterializeProgress,
  type MaterializeSourceResult,
  materialize,
} from '../online/materialize/materialize.js';
import { repair } from '../online/materialize/repair.js';
import { redisAdapter } from '../online/redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../online/store.js';
import { type Progress, startProgress } from './progress.js';

/** Arguments of `tandem materialize` and `tandem repair`. */
export interface MaterializeArgs {
  /** `materialize` or `repair`. */
  readonly command: 'materialize' | 'repair';
  /** Rebuild every reachable tile (`--full`). */
  readonly full: boolean;
  /** The watermark to reach, epoch ms (`--end`). */
  readonly end: number | undefined;
  /** Only these sources (`--source`, repeatable). */
  readonly sources: readonly string[] | undefined;
}

/** Usage lines of `tandem materialize` and `tandem repair`. */
export const MATERIALIZE_USAGE = `  materialize               Write the batch layer of the online store (config.online.redis) from
                            Postgres and move each source's batch watermark: incremental from the
                            last run (late events repaired), full the first time. A run that was
                            killed resumes from its checkpoint.
      --full                  rebuild every reachable tile
      --end <time>            watermark to reach: epoch ms or ISO 8601 (default and upper bound:
                              now minus the allowed lateness)
      --source <name>         only this source (repeatable)
  repair                    Rebuild the online store from Postgres after data loss: clear its keys
                            (all of the namespace, or the sources'), materialize in full, replay
                            recent events into the stream layer.
      --source <name>         only this source (repeatable)
`;

/** The options each command takes. */
export const MATERIALIZE_OPTIONS = {
  materialize: ['config', 'full', 'end', 'source'],
  repair: ['config', 'source'],
} as const;

/**
 * The arguments of `tandem materialize` / `tandem repair` from parsed options.
 * @throws {Error} with a usage message for a bad `--end`.
 */
export function materializeArgs(
  command: 'materialize' | 'repair',
  values: { readonly full?: boolean; readonly end?: string; readonly source?: string[] },
): MaterializeArgs {
  let end: number | undefined;
  if (values.end !== undefined) {
    const parsed = parseEnd(values.end);
    if (parsed === null) {
      throw new Error(`--end must be epoch milliseconds or an ISO 8601 time, not ${values.end}`);
    }
    end = parsed;
  }
  return { command, full: values.full === true, end, sources: values.source };
}

/** Where the command writes. */
export interface MaterializeOutput {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Runs `tandem materialize` or `tandem repair` against the config's database and its online store
 * (Redis), with a progress bar per source on stderr and one summary line per source on stdout.
 * @throws {TandemError} `INVALID_ARGUMENT` (path `config.online.redis`) without a Redis online
 * store; whatever `materialize` / `repair` throw.
 */
export async function runMaterialize(
  executor: SqlExecutor,
  config: TandemConfig,
  args: MaterializeArgs,
  output: MaterializeOutput,
): Promise<void> {
  const features: (FeatureService | AnyFeature)[] = [
    ...(config.services ?? []),
    ...(config.features ?? []),
  ];
  const online = await openOnlineStore(config.online, features);
  if (online.store.features.size === 0) {
    await online.close();
    throw new TandemError(
      'INVALID_ARGUMENT',
      'nothing to materialize: the config lists no aggregation feature',
      { path: 'config' },
    );
  }
  const bars = new Map<string, { progress: Progress; done: number }>();
  let rows = 0;
  let started = Date.now();
  const onProgress = (p: MaterializeProgress) => {
    if (p.phase === 'start') {
      rows = 0;
      started = Date.now();
      const rate = () =>
        `${Math.round(rows / Math.max((Date.now() - started) / 1000, 0.001))} rows/s`;
      bars.set(p.source, {
        progress: startProgress(
          `${args.command} ${p.source}`,
          p.totalEntities ?? 0,
          'entities',
          output.stderr as NodeJS.WriteStream,
          rate,
        ),
        done: 0,
      });
      return;
    }
    const bar = bars.get(p.source);
    if (bar === undefined) return;
    rows = p.rows;
    if (p.entities > bar.done) {
      bar.progress.increment(p.entities - bar.done);
      bar.done = p.entities;
    }
    if (p.phase === 'done') {
      bar.progress.stop();
      bars.delete(p.source);
    }
  };
  try {
    const common = {
      executor,
      schema: config.schema ?? 'tandem',
      online: online.store,
      onProgress,
      ...(args.sources === undefined ? {} : { sources: args.sources }),
    };
    if (args.command === 'repair') {
      const result = await repair(common);
      for (const run of result.materialized.runs) output.stdout.write(`${summary(run)}\n`);
      for (const [source, replay] of Object.entries(result.replayed)) {
        output.stdout.write(
          replay.skipped === undefined
            ? `${source}: replayed ${replay.events} recent events into the stream layer (${replay.applied} applied).\n`
            : `${source}: no replay, ${replay.skipped}.\n`,
        );
      }
      return;
    }
    const result = await materialize({
      ...common,
      ...(args.full ? { full: true } : {}),
      ...(args.end === undefined ? {} : { end: args.end }),
    });
    for (const run of result.runs) output.stdout.write(`${summary(run)}\n`);
  } finally {
    for (const bar of bars.values()) bar.progress.stop();
    await online.close();
  }
}

/** One line about a source's run. */
export function summary(run: MaterializeSourceResult): string {
  const at = (ms: number | null) => (ms === null ? 'none' : new Date(ms).toISOString());
  if (run.mode === 'up_to_date') {
    return `${run.source}: up to date (watermark ${at(run.watermark)}).`;
  }
  const seconds = run.elapsedMs / 1000;
  const rate = Math.round(run.rows / Math.max(seconds, 0.001));
  const kind = `${run.resumed ? 'resumed ' : ''}${run.mode}`;
  const from = run.previous === null ? '' : ` from ${at(run.previous)}`;
  const late = run.lateEntities > 0 ? `, ${run.lateEntities} with late events` : '';
  return `${run.source}: ${kind} run${from} to ${at(run.watermark)}: ${run.entities} entities${late}, ${run.rows} rows, ${run.tiles} tiles in ${seconds.toFixed(1)} s (${rate} rows/s).`;
}

/**
 * Parses `--end`: integer epoch milliseconds or an ISO 8601 date-time.
 * @returns null when it is neither.
 */
export function parseEnd(text: string): number | null {
  if (/^-?\d+$/.test(text)) {
    const ms = Number(text);
    return Number.isSafeInteger(ms) ? ms : null;
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/** The config's online store over Redis, connected; `close` quits the connection. */
async function openOnlineStore(
  config: OnlineConfig | undefined,
  features: readonly (FeatureService | AnyFeature)[],
): Promise<{ store: OnlineStore; close: () => Promise<void> }> {
  if (config?.redis === undefined) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      "the config has no online store: add online: { redis: 'redis://...' } (the in-process store lives inside your application)",
      { path: 'config.online.redis' },
    );
  }
  const redis = config.redis;
  const fail = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null };
  const client =
    typeof redis === 'string'
      ? new Redis(redis, fail)
      : 'cluster' in redis
        ? new Cluster([...redis.cluster], { lazyConnect: true, clusterRetryStrategy: () => null })
        : new Redis({ ...redis, ...fail });
  // ioredis reports why a connection failed as an error event; the promise only says "closed".
  let failure: unknown;
  client.on('error', (error: unknown) => {
    failure = error;
  });
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw failure ?? error;
  }
  const store = createOnlineStore({
    adapter: redisAdapter({ client }),
    features,
    ...(config.namespace === undefined ? {} : { namespace: config.namespace }),
    ...(config.allowedLateness === undefined ? {} : { allowedLateness: config.allowedLateness }),
  });
  return {
    store,
    close: async () => {
      await store.close();
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}
