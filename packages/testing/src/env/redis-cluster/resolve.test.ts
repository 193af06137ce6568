import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { LOCAL_REDIS_URL, probeRedis } from '../redis/resolve.js';
import { openRedisCluster } from './open.js';
import {
  formatNode,
  parseClusterNodes,
  redisClusterAvailability,
  redisClusterUnavailableReason,
  resetRedisClusterTarget,
  resolveRedisCluster,
} from './resolve.js';

const hasRedisServer = (await resolveRedisCluster({ env: { PATH: process.env.PATH } })).available;
const standaloneRedis = (await probeRedis(LOCAL_REDIS_URL, 1000)) === undefined;

let bin: string;
beforeAll(async () => {
  bin = await mkdtemp(join(tmpdir(), 'tandem-fake-redis-'));
});
afterAll(async () => {
  await rm(bin, { recursive: true, force: true });
});

describe('parseClusterNodes', () => {
  it('reads host:port lists, with spaces, empty entries and bracketed IPv6', () => {
    expect(parseClusterNodes('127.0.0.1:7000, redis-b:7001,,[::1]:7002')).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
  });

  it.each([
    '',
    ' , ',
    'localhost',
    'localhost:',
    'localhost:0',
    'localhost:70000',
    ':7000',
    '::1:7000',
  ])('rejects %j', (text) => {
    expect(parseClusterNodes(text)).toBeUndefined();
  });

  it('formats nodes back', () => {
    expect(formatNode({ host: '127.0.0.1', port: 7000 })).toBe('127.0.0.1:7000');
    expect(formatNode({ host: '::1', port: 7000 })).toBe('[::1]:7000');
  });
});

describe('resolveRedisCluster', () => {
  it('is unavailable, saying why, when redis-server is not on PATH', async () => {
    const target = await resolveRedisCluster({ env: { PATH: bin } });
    expect(target).toEqual({
      available: false,
      reason: expect.stringMatching(
        /REDIS_CLUSTER_NODES is not set and redis-server is not on PATH/,
      ),
    });
  });

  it('refuses a redis-server older than 7.0', async () => {
    const dir = join(bin, 'old');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    const path = join(dir, 'redis-server');
    await writeFile(path, '#!/bin/sh\necho "Redis server v=6.2.14 sha=00000000:0 malloc=libc"\n');
    await chmod(path, 0o755);
    expect(await resolveRedisCluster({ env: { PATH: dir } })).toEqual({
      available: false,
      reason: expect.stringMatching(/version 6\.2\.14; the local cluster needs 7\.0 or newer/),
    });
  });

  it.skipIf(!hasRedisServer)('spawns a cluster when redis-server 7+ is on PATH', async () => {
    expect(await resolveRedisCluster({ env: { PATH: process.env.PATH } })).toEqual({
      available: true,
      origin: 'spawned',
      executable: expect.stringMatching(/redis-server$/),
      version: expect.stringMatching(/^\d+\.\d+/),
    });
  });

  it('reports a malformed REDIS_CLUSTER_NODES', async () => {
    expect(await resolveRedisCluster({ env: { REDIS_CLUSTER_NODES: 'nope' } })).toEqual({
      available: false,
      reason: expect.stringMatching(/REDIS_CLUSTER_NODES \("nope"\) is not a comma-separated list/),
    });
  });

  it('reports an unreachable REDIS_CLUSTER_NODES at once, and never falls back to spawning', async () => {
    const started = performance.now();
    const target = await resolveRedisCluster({
      env: { REDIS_CLUSTER_NODES: '127.0.0.1:1', PATH: process.env.PATH },
    });
    expect(target).toEqual({
      available: false,
      reason: expect.stringMatching(
        /^REDIS_CLUSTER_NODES \(127\.0\.0\.1:1\) .*127\.0\.0\.1:1: .*ECONNREFUSED/,
      ),
    });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it.skipIf(!standaloneRedis)('reports a REDIS_CLUSTER_NODES that is not a cluster', async () => {
    expect(
      await resolveRedisCluster({
        env: { REDIS_CLUSTER_NODES: '127.0.0.1:6379' },
        timeoutMs: 1000,
      }),
    ).toEqual({
      available: false,
      reason: expect.stringMatching(/127\.0\.0\.1:6379: .*cluster support disabled/),
    });
  });
});

describe('the skip path', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    resetRedisClusterTarget();
  });

  it('skips, with the reason printed once, and openRedisCluster throws a typed error', async () => {
    vi.stubEnv('REDIS_CLUSTER_NODES', '');
    vi.stubEnv('PATH', bin);
    resetRedisClusterTarget();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(await redisClusterAvailability()).toEqual({
        available: false,
        reason: expect.stringContaining('redis-server is not on PATH'),
      });
      expect(await redisClusterUnavailableReason()).toMatch(/redis-server is not on PATH/);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(
        /Redis Cluster tests are skipped: REDIS_CLUSTER_NODES/,
      );
      const opening = openRedisCluster({ label: 'unavailable' });
      await expect(opening).rejects.toBeInstanceOf(TestServiceUnavailableError);
      await expect(opening).rejects.toMatchObject({
        service: 'redis',
        reason: expect.stringMatching(/^no Redis Cluster: .*redis-server is not on PATH/),
      });
    } finally {
      warn.mockRestore();
    }
  });

  it('accepts an explicit environment instead of the cached one', async () => {
    await expect(openRedisCluster({ env: { PATH: bin } })).rejects.toBeInstanceOf(
      TestServiceUnavailableError,
    );
  });
});
