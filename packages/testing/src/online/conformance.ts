import type { OnlineAdapter } from '@tandem/feature-store';
import type { Cluster } from 'ioredis';
import { describe } from 'vitest';
import { describeAdapterSuite } from './internal/adapter-suite.js';
import { describeClusterSuite } from './internal/cluster-suite.js';
import { describeStoreSuite } from './internal/store-suite.js';

/** Options of {@link describeOnlineAdapterConformance}. */
export interface OnlineAdapterConformanceOptions {
  /**
   * The key prefix of everything the suite writes, read when each test starts (so after the
   * file's `beforeAll` hooks, e.g. `() => redis.prefix` of an `openRedis` handle). Every test
   * adds a random segment of its own and clears it afterwards. Must contain no `{`. Default
   * `conformance:`.
   */
  readonly prefix?: () => string;
  /** Runs of each fast-check property (default 40). */
  readonly numRuns?: number;
  /**
   * The Redis Cluster client under the adapter, read when each test starts: adds the cluster
   * checks (one slot per entity, entities spread over every master, N entities read in one call).
   */
  readonly cluster?: () => Cluster;
  /** A reason to skip the whole suite (e.g. from `redisUnavailableReason()`); falsy runs it. */
  readonly skip?: string | false | null | undefined;
}

/**
 * Registers the online-store conformance suite for one {@link OnlineAdapter} (vitest `describe`
 * blocks): the semantics of every tile op kind (exact float sums, sticky overflow, min/max, event
 * order with its ties, newest/oldest lists, HyperLogLog registers, poison), write groups (dedupe
 * within and across calls, late events, puts and deletes, meta, trimming), key expiry, range and
 * field reads, globals, `clear(prefix)`; random write sequences compared with the in-process
 * reference (`memoryAdapter`, whose ops are `applyTileOp`); and `createOnlineStore` over the
 * adapter: values equal the TS fold, out-of-order events, duplicates, late events, `latest` ttl
 * expiry, `missing` vs `definition_mismatch`, bad events. With `cluster`, the Redis Cluster
 * checks too.
 *
 * @param name - the engine's name in the test report, e.g. `redis cluster`
 * @param makeAdapter - a fresh adapter over the engine; called once per test (and closed after)
 * @param options - key prefix, property runs, cluster client, skip reason
 *
 * @example
 * ```ts
 * const reason = await redisUnavailableReason();
 * let redis: TestRedis | undefined;
 * beforeAll(async () => { if (!reason) redis = await openRedis('conformance'); });
 * afterAll(() => redis?.close());
 * describeOnlineAdapterConformance('redis', () => redisAdapter({ client: redis!.client }), {
 *   prefix: () => redis!.prefix,
 *   skip: reason,
 * });
 * ```
 */
export function describeOnlineAdapterConformance(
  name: string,
  makeAdapter: () => OnlineAdapter | Promise<OnlineAdapter>,
  options: OnlineAdapterConformanceOptions = {},
): void {
  const prefix = options.prefix ?? (() => 'conformance:');
  const numRuns = options.numRuns ?? 40;
  const suite = options.skip ? describe.skip : describe;
  suite(`online adapter conformance: ${name}`, () => {
    describeAdapterSuite({ makeAdapter, prefix, numRuns });
    describeStoreSuite({ makeAdapter, prefix, numRuns });
    const cluster = options.cluster;
    if (cluster !== undefined) describeClusterSuite({ makeAdapter, prefix, cluster });
  });
}
