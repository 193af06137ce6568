import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { describeError, type Env, withTimeout } from '../internal/util.js';
import { uniqueName } from '../naming/naming.js';
import { joinCluster } from './internal/bootstrap.js';
import { type ClusterServer, LOOPBACK, startServer } from './internal/server.js';
import {
  type RedisClusterNode,
  type RedisClusterOrigin,
  type RedisClusterTarget,
  redisClusterTarget,
  resolveRedisCluster,
} from './resolve.js';

/** The number of masters of a spawned cluster. */
export const SPAWNED_MASTERS = 3;

/** A `redis-server` process of a spawned {@link TestRedisCluster}. */
export interface RedisClusterProcess {
  /** The operating-system process id. */
  readonly pid: number;
  /** The client port on 127.0.0.1. */
  readonly port: number;
  /** The cluster bus port on 127.0.0.1. */
  readonly busPort: number;
  /** The process's temporary directory (holds its `nodes.conf`); removed by `close()`. */
  readonly dir: string;
}

/**
 * A Redis Cluster for one test file: an ioredis {@link Cluster} client connected to it and a key
 * prefix no other handle uses. Build keys with {@link TestRedisCluster.key} and put the entity
 * in a hash tag (`key('{user:42}', 'clicks')`) so that one entity's keys share a slot.
 */
export interface TestRedisCluster {
  /** Where the cluster came from: started by this handle, or `REDIS_CLUSTER_NODES`. */
  readonly origin: RedisClusterOrigin;
  /**
   * The cluster's nodes: the three masters (spawned), or the configured seed nodes (`env`). Give
   * them to `new Cluster(nodes)` when the code under test opens its own client.
   */
  readonly nodes: readonly RedisClusterNode[];
  /** An ioredis Cluster client, ready (slot map loaded). `close()` quits it. */
  readonly cluster: Cluster;
  /** `test_<label>_<random>:`; every key of this handle starts with it. Contains no `{`. */
  readonly keyPrefix: string;
  /** The `redis-server` processes started for this handle; empty for origin `env`. */
  readonly processes: readonly RedisClusterProcess[];
  /**
   * A key under {@link TestRedisCluster.keyPrefix}: the parts joined with `:`.
   *
   * @param parts - key segments, e.g. `key('{user:42}', 'clicks')`
   */
  key(...parts: string[]): string;
  /**
   * Quits the client(s). Spawned: stops the processes (SIGTERM, SIGKILL after a grace period)
   * and removes their temporary directories. `env`: deletes every key under
   * {@link TestRedisCluster.keyPrefix} on every master first, and leaves the cluster running.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** Options of {@link openRedisCluster}. */
export interface RedisClusterOptions {
  /** Makes the key prefix readable, e.g. the suite's name (default `redis cluster`). */
  readonly label?: string;
  /**
   * Environment to resolve the cluster from (`REDIS_CLUSTER_NODES`, `PATH`) instead of the
   * process's, resolved once and cached.
   */
  readonly env?: Env;
  /** Budget for starting and joining the spawned cluster (default 20 s). */
  readonly startTimeoutMs?: number;
  /** Extra ioredis Cluster options for {@link TestRedisCluster.cluster}. */
  readonly clusterOptions?: ClusterOptions;
}

/**
 * Opens a Redis Cluster with a fresh key prefix. With `REDIS_CLUSTER_NODES=host:port,...` it
 * connects to that existing cluster. Otherwise it starts three `redis-server` processes
 * (cluster-enabled, no persistence, each in its own temporary directory) on free 127.0.0.1
 * ports, assigns the 16384 slots in three even ranges, introduces the nodes to each other and
 * waits until every node reports `cluster_state:ok` with the same slot map (about 2 s: a new
 * master waits 2 s before it declares the cluster ok). The processes are stopped by `close()`,
 * at the latest when the test process exits — even when it is killed (a watchdog per process).
 * Guard suites with `redisClusterUnavailableReason()` so they are skipped, not failed, where no
 * cluster can be had.
 *
 * @param options - label, environment, start budget, ioredis options
 * @throws {@link TestServiceUnavailableError} (service `redis`) when no cluster can be had
 * @throws Error when the processes do not start or the cluster does not form within the budget
 *
 * @example
 * ```ts
 * describe.skipIf(await redisClusterUnavailableReason())('online store on a cluster', () => {
 *   let redis: TestRedisCluster;
 *   beforeAll(async () => { redis = await openRedisCluster({ label: 'online store' }); });
 *   afterAll(() => redis?.close());
 *   it('writes', async () => { await redis.cluster.set(redis.key('{user:42}', 'a'), '1'); });
 * });
 * ```
 */
export async function openRedisCluster(
  options: RedisClusterOptions = {},
): Promise<TestRedisCluster> {
  const target: RedisClusterTarget =
    options.env === undefined
      ? await redisClusterTarget()
      : await resolveRedisCluster({ env: options.env });
  if (!target.available) {
    throw new TestServiceUnavailableError('redis', `no Redis Cluster: ${target.reason}`);
  }
  const keyPrefix = `${uniqueName(options.label ?? 'redis cluster')}:`;
  const key = (...parts: string[]) => keyPrefix + parts.join(':');
  const timeoutMs = options.startTimeoutMs ?? 20_000;

  if (target.origin === 'env') {
    const cluster = await connectCluster(target.nodes, options.clusterOptions, timeoutMs);
    let closing: Promise<void> | undefined;
    return {
      origin: 'env',
      nodes: target.nodes,
      cluster,
      keyPrefix,
      processes: [],
      key,
      close: () => {
        closing ??= (async () => {
          try {
            await deleteByPrefix(cluster, keyPrefix);
          } finally {
            await quitCluster(cluster);
          }
        })();
        return closing;
      },
    };
  }

  const started = performance.now();
  const remaining = () => Math.max(1000, timeoutMs - (performance.now() - started));
  const servers = await startServers(target.executable, timeoutMs);
  let cluster: Cluster;
  try {
    await joinCluster(servers, remaining());
    cluster = await connectCluster(
      servers.map((server) => ({ host: LOOPBACK, port: server.port })),
      options.clusterOptions,
      remaining(),
    );
  } catch (error) {
    await stopServers(servers);
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    origin: 'spawned',
    nodes: servers.map((server) => ({ host: LOOPBACK, port: server.port })),
    cluster,
    keyPrefix,
    processes: servers.map(({ pid, port, busPort, dir }) => ({ pid, port, busPort, dir })),
    key,
    close: () => {
      closing ??= (async () => {
        try {
          await quitCluster(cluster);
        } finally {
          await stopServers(servers);
        }
      })();
      return closing;
    },
  };
}

async function startServers(executable: string, timeoutMs: number): Promise<ClusterServer[]> {
  const results = await Promise.allSettled(
    Array.from({ length: SPAWNED_MASTERS }, () =>
      startServer({ executable, readyTimeoutMs: timeoutMs }),
    ),
  );
  const servers = results.flatMap((result) =>
    result.status === 'fulfilled' ? [result.value] : [],
  );
  const failure = results.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await stopServers(servers);
    throw new Error(
      `could not start the local Redis Cluster: ${describeError((failure as PromiseRejectedResult).reason)}`,
    );
  }
  return servers;
}

async function stopServers(servers: readonly ClusterServer[]): Promise<void> {
  await Promise.all(servers.map((server) => server.stop()));
}

async function connectCluster(
  nodes: readonly RedisClusterNode[],
  clusterOptions: ClusterOptions | undefined,
  timeoutMs: number,
): Promise<Cluster> {
  const cluster = new Cluster(
    nodes.map((node) => ({ host: node.host, port: node.port })),
    {
      lazyConnect: true,
      enableReadyCheck: true,
      ...clusterOptions,
      redisOptions: { maxRetriesPerRequest: 2, ...clusterOptions?.redisOptions },
    },
  );
  try {
    await withTimeout(cluster.connect(), timeoutMs);
  } catch (error) {
    cluster.disconnect();
    throw new Error(`could not connect to the Redis Cluster: ${describeError(error)}`);
  }
  return cluster;
}

/**
 * Deletes every key starting with `prefix` on every master, in batches, without blocking the
 * servers. One UNLINK per key: a multi-key UNLINK would need all its keys in one slot.
 */
async function deleteByPrefix(cluster: Cluster, prefix: string): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  await Promise.all(
    cluster.nodes('master').map(async (node: Redis) => {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        if (keys.length > 0) {
          const pipeline = node.pipeline();
          for (const key of keys) pipeline.unlink(key);
          await pipeline.exec();
        }
        cursor = next;
      } while (cursor !== '0');
    }),
  );
}

/** QUIT, and wait until every connection is really closed. */
async function quitCluster(cluster: Cluster): Promise<void> {
  if (cluster.status === 'end') return;
  const ended = new Promise<void>((resolve) => cluster.once('end', () => resolve()));
  try {
    await cluster.quit();
  } catch {
    cluster.disconnect();
  }
  await withTimeout(ended, 5_000).catch(() => cluster.disconnect());
}
