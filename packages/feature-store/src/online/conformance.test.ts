import {
  describeOnlineAdapterConformance,
  openRedis,
  openRedisCluster,
  redisClusterUnavailableReason,
  redisUnavailableReason,
  type TestRedis,
  type TestRedisCluster,
} from '@tandem/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { memoryAdapter } from './memory/adapter.js';
import { redisAdapter } from './redis/adapter.js';

// The shared conformance suite (@tandem/testing) on every engine: in process, the machine's
// Redis (REDIS_URL), the same with ioredis's auto-pipelining on (it defers plain commands to the
// next tick, but not MULTI), and a real local three-master Redis Cluster started for this file.
const redisReason = await redisUnavailableReason();
const clusterReason = await redisClusterUnavailableReason();
let redis: TestRedis | undefined;
let cluster: TestRedisCluster | undefined;
let autoPipelined: Redis | undefined;
beforeAll(async () => {
  [redis, cluster] = await Promise.all([
    redisReason ? undefined : openRedis('online conformance'),
    clusterReason ? undefined : openRedisCluster({ label: 'online conformance' }),
  ]);
  autoPipelined = redis?.client.duplicate({ enableAutoPipelining: true });
});
afterAll(async () => {
  autoPipelined?.disconnect();
  await Promise.all([redis?.close(), cluster?.close()]);
});

describeOnlineAdapterConformance('in-process', () => memoryAdapter());

describeOnlineAdapterConformance('redis', () => redisAdapter({ client: redis!.client }), {
  prefix: () => redis!.prefix,
  skip: redisReason,
});

describeOnlineAdapterConformance(
  'redis, auto-pipelining',
  () => redisAdapter({ client: autoPipelined! }),
  { prefix: () => `${redis!.prefix}auto:`, skip: redisReason },
);

describeOnlineAdapterConformance(
  'redis cluster',
  () => redisAdapter({ client: cluster!.cluster }),
  {
    prefix: () => cluster!.keyPrefix,
    cluster: () => cluster!.cluster,
    skip: clusterReason,
  },
);
