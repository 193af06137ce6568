import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import {
  CONFIGURED_PROBE_TIMEOUT_MS,
  describeError,
  type Env,
  noticeOnce,
  withTimeout,
} from '../internal/util.js';

/** The oldest `redis-server` the spawned cluster works with (CLUSTER ADDSLOTSRANGE, `cluster-port`). */
export const MIN_REDIS_SERVER_MAJOR = 7;

/**
 * Where a {@link TestRedisCluster} came from: `REDIS_CLUSTER_NODES` (`env`, an existing cluster),
 * or three `redis-server` processes this test process started on loopback ports (`spawned`).
 */
export type RedisClusterOrigin = 'env' | 'spawned';

/** A node address of a Redis Cluster. */
export interface RedisClusterNode {
  /** Host name or IP address. */
  readonly host: string;
  /** Client port. */
  readonly port: number;
}

/** Where Redis Cluster tests of this process get their cluster from, or why they are skipped. */
export type RedisClusterTarget =
  | {
      readonly available: true;
      readonly origin: 'env';
      readonly nodes: readonly RedisClusterNode[];
    }
  | {
      readonly available: true;
      readonly origin: 'spawned';
      /** The `redis-server` executable found on PATH. */
      readonly executable: string;
      /** Its version, e.g. `7.0.15`. */
      readonly version: string;
    }
  | { readonly available: false; readonly reason: string };

/** Inputs of {@link resolveRedisCluster}; every field defaults to the real environment. */
export interface RedisClusterResolveOptions {
  /** Environment variables to read `REDIS_CLUSTER_NODES` and `PATH` from. */
  readonly env?: Env;
  /** Budget for probing each node of `REDIS_CLUSTER_NODES` (default 3 s). */
  readonly timeoutMs?: number;
}

/**
 * Decides where Redis Cluster tests get a cluster: `REDIS_CLUSTER_NODES=host:port,...` when set
 * (every listed node must answer CLUSTER INFO with `cluster_state:ok`, else the cluster is
 * unavailable: an explicit setting is never silently replaced); else a cluster of three
 * `redis-server` processes started on loopback ports, when `redis-server` (7.0 or newer) is on
 * PATH; else unavailable, with the reason. Never hangs: every probe is bounded.
 *
 * @param options - overrides for the environment and the probe budget
 */
export async function resolveRedisCluster(
  options: RedisClusterResolveOptions = {},
): Promise<RedisClusterTarget> {
  const env = options.env ?? process.env;
  const configured = env.REDIS_CLUSTER_NODES?.trim();
  if (configured !== undefined && configured !== '') {
    const nodes = parseClusterNodes(configured);
    if (nodes === undefined) {
      return {
        available: false,
        reason: `REDIS_CLUSTER_NODES (${JSON.stringify(configured)}) is not a comma-separated list of host:port`,
      };
    }
    const timeoutMs = options.timeoutMs ?? CONFIGURED_PROBE_TIMEOUT_MS;
    const failures = await Promise.all(nodes.map((node) => probeClusterNode(node, timeoutMs)));
    const failed = nodes.flatMap((node, index) => {
      const failure = failures[index];
      return failure === undefined ? [] : [`${formatNode(node)}: ${failure}`];
    });
    if (failed.length > 0) {
      return {
        available: false,
        reason: `REDIS_CLUSTER_NODES (${configured}) is not a healthy cluster: ${failed.join('; ')}`,
      };
    }
    return { available: true, origin: 'env', nodes };
  }
  const executable = await findOnPath('redis-server', env.PATH ?? '');
  if (executable === undefined) {
    return {
      available: false,
      reason:
        'REDIS_CLUSTER_NODES is not set and redis-server is not on PATH (install Redis 7 to run ' +
        'the cluster tests on a local three-master cluster)',
    };
  }
  let version: string;
  try {
    version = await redisServerVersion(executable);
  } catch (error) {
    return {
      available: false,
      reason: `REDIS_CLUSTER_NODES is not set and ${executable} --version failed: ${describeError(error)}`,
    };
  }
  const major = Number(version.split('.')[0]);
  if (!(major >= MIN_REDIS_SERVER_MAJOR)) {
    return {
      available: false,
      reason: `REDIS_CLUSTER_NODES is not set and ${executable} is version ${version}; the local cluster needs ${MIN_REDIS_SERVER_MAJOR}.0 or newer`,
    };
  }
  return { available: true, origin: 'spawned', executable, version };
}

let cached: Promise<RedisClusterTarget> | undefined;

/** {@link resolveRedisCluster} for the real environment, resolved once per process and cached. */
export function redisClusterTarget(): Promise<RedisClusterTarget> {
  cached ??= resolveRedisCluster();
  return cached;
}

/**
 * Forgets the cached {@link redisClusterTarget}, so the next call reads `process.env` again. For
 * tests of this module only; not exported from the package.
 */
export function resetRedisClusterTarget(): void {
  cached = undefined;
}

/** Whether Redis Cluster tests can run in this process, and if not, why. */
export type RedisClusterAvailability =
  | { readonly available: true; readonly origin: RedisClusterOrigin }
  | { readonly available: false; readonly reason: string };

/**
 * Whether {@link openRedisCluster} can give this process a Redis Cluster (resolved once per
 * process). When it cannot, the reason is also printed once, so skipped suites say why.
 *
 * @example
 * ```ts
 * const cluster = await redisClusterAvailability();
 * describe.skipIf(!cluster.available)('online store on a cluster', () => { ... });
 * ```
 */
export async function redisClusterAvailability(): Promise<RedisClusterAvailability> {
  const target = await redisClusterTarget();
  if (target.available) return { available: true, origin: target.origin };
  noticeOnce('redis-cluster-unavailable', `Redis Cluster tests are skipped: ${target.reason}.`);
  return { available: false, reason: target.reason };
}

/**
 * Why Redis Cluster tests must be skipped in this process, or `undefined` when a cluster can be
 * had. Made for vitest's `skipIf`, which skips on any truthy value.
 *
 * @example
 * ```ts
 * describe.skipIf(await redisClusterUnavailableReason())('online store on a cluster', () => { ... });
 * ```
 */
export async function redisClusterUnavailableReason(): Promise<string | undefined> {
  const availability = await redisClusterAvailability();
  return availability.available ? undefined : availability.reason;
}

/**
 * Parses `host:port,host:port,...` (IPv6 hosts in brackets: `[::1]:7000`).
 *
 * @returns the nodes, or `undefined` when any entry is malformed or the list is empty
 */
export function parseClusterNodes(text: string): RedisClusterNode[] | undefined {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return undefined;
  const nodes: RedisClusterNode[] = [];
  for (const entry of entries) {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
    const host = match?.[1] ?? match?.[2];
    const port = Number(match?.[3]);
    if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
      return undefined;
    }
    nodes.push({ host, port });
  }
  return nodes;
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatNode(node: RedisClusterNode): string {
  return node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
}

/**
 * Connects to one node and asks CLUSTER INFO within `timeoutMs`, without retries.
 *
 * @returns `undefined` when the node is in a cluster whose state is ok, else why not
 */
export async function probeClusterNode(
  node: RedisClusterNode,
  timeoutMs: number,
): Promise<string | undefined> {
  const client = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  // ioredis rejects with a bare "Connection is closed."; the cause comes as an 'error' event.
  let cause: unknown;
  client.on('error', (error) => {
    cause ??= error;
  });
  try {
    const info = await withTimeout(
      client.connect().then(() => client.call('CLUSTER', 'INFO') as Promise<string>),
      timeoutMs + 100,
    );
    const state = /^cluster_state:(\S+)/m.exec(info)?.[1];
    return state === 'ok' ? undefined : `cluster_state is ${state ?? 'missing'}`;
  } catch (error) {
    return describeError(cause ?? error);
  } finally {
    client.disconnect();
  }
}

/** The first executable file called `name` in the `PATH`-style list `path`. */
async function findOnPath(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** `7.0.15` from `redis-server --version` ("Redis server v=7.0.15 sha=..."). */
async function redisServerVersion(executable: string): Promise<string> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(executable, ['--version'], { timeout: 5000 }, (error, out) =>
      error === null ? resolve(out) : reject(error),
    );
  });
  const version = /v=(\d+\.\d+(?:\.\d+)?)/.exec(stdout)?.[1];
  if (version === undefined) throw new Error(`unexpected output ${JSON.stringify(stdout.trim())}`);
  return version;
}
