import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type AnyFeature, type FeatureService, isTandemError, toMillis } from '@tandem/core';
import { Cluster, Redis } from 'ioredis';
import type { OnlineConfig, TandemConfig } from '../config/config.js';
import { type LoadedConfig, loadConfig, openDatabase } from '../config/load.js';
import { createOfflineStore } from '../offline/store.js';
import type { OnlineAdapter } from '../online/adapter.js';
import { redisAdapter } from '../online/redis/adapter.js';
import { checkParity } from '../parity/check.js';
import { renderParityHtml } from '../parity/render/html.js';
import { formatParityTable } from '../parity/render/table.js';
import type { CheckParityOptions, ParityReport } from '../parity/types.js';
import { type Progress, startProgress } from './progress.js';

/** Exit codes of `tandem parity`. */
export const PARITY_EXIT = {
  /** Every value agrees. */
  ok: 0,
  /** Some value disagrees (a mismatch, or a null on one side only). */
  disagreement: 1,
  /** The command line or the config is wrong, or the database is not ready (tables not applied). */
  usage: 2,
  /** Anything else (a bug, the database or Redis unreachable, ...). */
  unexpected: 3,
} as const;

/** The exit code of a parity report: 0 when every value agrees, 1 otherwise. */
export function parityExitCode(report: ParityReport): number {
  return report.ok ? PARITY_EXIT.ok : PARITY_EXIT.disagreement;
}

/** Usage of `tandem parity` (part of the CLI's help). */
export const PARITY_USAGE = `  parity                    Check that offline (SQL as of q) and online values agree on a sample
                            of (entity, q) points, replaying the timeline into a scratch
                            namespace of the online store; prints a table.
      --service <name>        feature service (default: every service and feature of the config)
      --sample <n>            points to check (default 1000)
      --per-entity <m>        times per entity (default 10; n / m entities are sampled)
      --seed <n>              sample seed (default 1)
      --html <file>           also write a self-contained HTML report
      --json <file>           also write the report as JSON
                            Exit codes: 0 all values agree, 1 some disagree, 2 usage, config or
                            setup error (e.g. tables not applied), 3 unexpected error.
`;

/** Options `tandem parity` takes (names as in `parseArgs`). */
export const PARITY_OPTIONS = [
  'config',
  'service',
  'sample',
  'per-entity',
  'seed',
  'html',
  'json',
] as const;

/** The parsed arguments of `tandem parity`. */
export interface ParityArgs {
  readonly config: string;
  readonly service?: string;
  readonly sample: number;
  readonly perEntity: number;
  readonly seed: number;
  readonly html?: string;
  readonly json?: string;
}

class ConfigError extends Error {}

/** Where `tandem parity` writes. */
export interface ParityOutput {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Parses the options of `tandem parity`.
 * @throws {Error} with a usage message for a bad value.
 */
export function parityArgs(values: Readonly<Record<string, unknown>>): ParityArgs {
  const count = (name: string, fallback: number, min: number) => {
    const text = values[name];
    if (text === undefined) return fallback;
    const n = Number(text);
    if (typeof text !== 'string' || !/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
      throw new Error(`--${name} must be an integer >= ${min}, not ${String(text)}`);
    }
    return n;
  };
  const path = (name: string) => {
    const value = values[name];
    if (value === undefined) return {};
    if (typeof value !== 'string' || value === '') throw new Error(`--${name} needs a file name`);
    return { [name]: value };
  };
  const service = values.service;
  if (service !== undefined && (typeof service !== 'string' || service === '')) {
    throw new Error('--service needs a name');
  }
  return {
    config: (values.config as string | undefined) ?? 'tandem.config.ts',
    ...(service === undefined ? {} : { service: service as string }),
    sample: count('sample', 1000, 1),
    perEntity: count('per-entity', 10, 1),
    seed: count('seed', 1, 0),
    ...path('html'),
    ...path('json'),
  };
}

/**
 * Runs `tandem parity`: loads the config, checks the selected features on a sample (the online
 * store from the config's `online.redis`, else the in-process engine), prints the table, writes
 * the HTML / JSON reports, and returns the exit code ({@link PARITY_EXIT}).
 */
export async function runParity(args: ParityArgs, output: ParityOutput): Promise<number> {
  let loaded: LoadedConfig;
  let features: AnyFeature[];
  let online: OnlineConfig;
  let service: FeatureService | undefined;
  try {
    loaded = await loadConfig(args.config);
    ({ features, online, service } = selectionOf(loaded.config, args.service));
  } catch (error) {
    if (error instanceof ConfigError || isTandemError(error)) {
      const code = isTandemError(error) ? ` [${error.code}]` : '';
      output.stderr.write(`tandem parity: config error${code}: ${(error as Error).message}\n`);
      return PARITY_EXIT.usage;
    }
    throw error;
  }
  const { config } = loaded;
  const executor = await openDatabase(config.database, loaded.directory);
  let client: Redis | Cluster | undefined;
  let progress: Progress | undefined;
  let reported = 0;
  try {
    let adapter: OnlineAdapter | undefined;
    const redis = online.redis;
    if (redis !== undefined) {
      const fail = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null };
      client =
        typeof redis === 'string'
          ? new Redis(redis, fail)
          : 'cluster' in redis
            ? new Cluster([...redis.cluster], {
                lazyConnect: true,
                clusterRetryStrategy: () => null,
              })
            : new Redis({ ...redis, ...fail });
      await client.connect();
      adapter = redisAdapter({ client });
    }
    const offline = createOfflineStore({ executor, schema: config.schema ?? 'tandem' });
    const perEntity = Math.min(args.perEntity, args.sample);
    const options: CheckParityOptions = {
      offline,
      ...(adapter === undefined ? {} : { online: adapter }),
      ...(service === undefined ? { features } : { service }),
      sample: { entities: Math.ceil(args.sample / perEntity), perEntity, seed: args.seed },
      ...(online.namespace === undefined ? {} : { namespace: online.namespace }),
      ...(online.allowedLateness === undefined ? {} : { allowedLateness: online.allowedLateness }),
      onProgress(p) {
        if (p.phase === 'sample') {
          progress = startProgress('parity: offline values', p.total, 'points');
          reported = 0;
          return;
        }
        progress?.increment(p.done - reported);
        reported = p.done;
        if (p.phase === 'offline' && p.done === p.total) {
          progress?.stop();
          progress = startProgress('parity: online replay', p.total, 'points');
          reported = 0;
        }
      },
    };
    let report: ParityReport;
    try {
      report = await checkParity(options);
    } catch (error) {
      if (!isTandemError(error)) throw error;
      // The definitions, tables or data are not ready for a check (e.g. never applied): not a
      // disagreement, so not exit 1.
      progress?.stop();
      progress = undefined;
      output.stderr.write(`tandem parity: cannot check [${error.code}] ${error.message}\n`);
      return PARITY_EXIT.usage;
    }
    progress?.stop();
    progress = undefined;
    const color = 'isTTY' in output.stdout && output.stdout.isTTY === true;
    output.stdout.write(formatParityTable(report, { color }));
    if (args.json !== undefined) {
      await writeAtomically(args.json, `${JSON.stringify(report, null, 2)}\n`);
      output.stdout.write(`Wrote the JSON report to ${args.json}.\n`);
    }
    if (args.html !== undefined) {
      await writeAtomically(args.html, renderParityHtml(report));
      output.stdout.write(`Wrote the HTML report to ${args.html}.\n`);
    }
    return parityExitCode(report);
  } finally {
    progress?.stop();
    client?.disconnect();
    await executor.close();
  }
}

/** The features `tandem parity` checks, from the config. */
function selectionOf(config: TandemConfig, serviceName: string | undefined) {
  const online = onlineSection(config);
  const services = config.services ?? [];
  if (serviceName !== undefined) {
    const service = services.find((s) => s.name === serviceName);
    if (service === undefined) {
      const known = services.map((s) => s.name);
      throw new ConfigError(
        `no feature service named ${serviceName} in the config (${known.length === 0 ? 'it has none' : `it has ${known.join(', ')}`})`,
      );
    }
    return { features: [...service.features], online, service };
  }
  const byName = new Map<string, AnyFeature>();
  for (const feature of [...services.flatMap((s) => s.features), ...(config.features ?? [])]) {
    if (!byName.has(feature.name)) byName.set(feature.name, feature);
  }
  if (byName.size === 0) {
    throw new ConfigError('the config has no services and no features to check');
  }
  return { features: [...byName.values()], online, service: undefined };
}

/** The config's online section (`assertConfig` checked its shape); the lateness is parsed here. */
function onlineSection(config: TandemConfig): OnlineConfig {
  const online = config.online ?? {};
  if (online.allowedLateness !== undefined) {
    toMillis(online.allowedLateness, 'config.online.allowedLateness');
  }
  return online;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}
