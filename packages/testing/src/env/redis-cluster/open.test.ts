import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLOT_COUNT } from './internal/bootstrap.js';
import { openRedisCluster, type TestRedisCluster } from './open.js';
import { formatNode, redisClusterUnavailableReason } from './resolve.js';

/** Whether process `pid` exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(await redisClusterUnavailableReason())('openRedisCluster', () => {
  let redis: TestRedisCluster;
  beforeAll(async () => {
    redis = await openRedisCluster({ label: 'Cluster test' });
  });
  afterAll(async () => {
    await redis?.close();
  });

  /** The client port of the master that holds `key`, asked of the cluster itself. */
  async function masterOf(key: string): Promise<number> {
    const slot = (await redis.cluster.call('CLUSTER', 'KEYSLOT', key)) as number;
    const ranges = (await redis.cluster.call('CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number],
    ][];
    const range = ranges.find(([first, last]) => first <= slot && slot <= last);
    if (range === undefined) throw new Error(`slot ${slot} is not served`);
    return range[2][1];
  }

  it('builds keys under a readable prefix without braces', () => {
    expect(redis.keyPrefix).toMatch(/^test_cluster_test_[0-9a-f]{8}:$/);
    expect(redis.key('{user:42}', 'clicks')).toBe(`${redis.keyPrefix}{user:42}:clicks`);
  });

  it('is a cluster of three masters on loopback ports, all agreeing on the slot map', async () => {
    if (redis.origin === 'spawned') {
      expect(redis.processes).toHaveLength(3);
      expect(redis.nodes.map((node) => node.host)).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    }
    const masters = redis.cluster.nodes('master');
    expect(masters.length).toBeGreaterThanOrEqual(3);
    const views = await Promise.all(
      masters.map(async (node) => {
        const info = (await node.call('CLUSTER', 'INFO')) as string;
        const slots = (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        return {
          state: /^cluster_state:(\S+)/m.exec(info)?.[1],
          map: slots
            .map(([first, last, [, port]]) => `${first}-${last}@${port}`)
            .sort()
            .join(' '),
          served: slots.reduce((sum, [first, last]) => sum + last - first + 1, 0),
        };
      }),
    );
    for (const view of views) {
      expect(view.state).toBe('ok');
      expect(view.served).toBe(SLOT_COUNT);
      expect(view.map).toBe(views[0]?.map);
    }
  });

  it('puts keys with the same hash tag in one slot, where MULTI and Lua span them', async () => {
    const keys = ['clicks', 'views', 'last_seen'].map((name) => redis.key('{user:42}', name));
    const slots = await Promise.all(
      keys.map((key) => redis.cluster.call('CLUSTER', 'KEYSLOT', key)),
    );
    expect(new Set(slots).size).toBe(1);

    const [clicks, views, lastSeen] = keys as [string, string, string];
    const results = await redis.cluster
      .multi()
      .set(clicks, '1')
      .incrby(views, 5)
      .set(lastSeen, '2026-01-01')
      .exec();
    expect(results).toEqual([
      [null, 'OK'],
      [null, 5],
      [null, 'OK'],
    ]);

    const script = `
      redis.call('INCR', KEYS[1])
      redis.call('INCRBY', KEYS[2], ARGV[1])
      return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}`;
    expect(await redis.cluster.eval(script, 3, clicks, views, lastSeen, '10')).toEqual([
      '2',
      '15',
      '2026-01-01',
    ]);
  });

  it('really is a cluster: one script over keys of different slots is refused', async () => {
    const a = redis.key('{user:1}', 'clicks');
    const b = redis.key('{user:2}', 'clicks');
    expect(await redis.cluster.call('CLUSTER', 'KEYSLOT', a)).not.toBe(
      await redis.cluster.call('CLUSTER', 'KEYSLOT', b),
    );
    await expect(redis.cluster.eval("return redis.call('GET', KEYS[1])", 2, a, b)).rejects.toThrow(
      /CROSSSLOT/,
    );
  });

  it('spreads keys with different hash tags over the three masters', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => redis.key(`{spread:${i}}`, 'clicks'));
    // An ioredis Cluster pipeline must stay on one node: plain commands, sent concurrently.
    await Promise.all(keys.map((key) => redis.cluster.set(key, '1')));

    const owners = await Promise.all(keys.map(masterOf));
    const perMaster = new Map<number, number>();
    for (const port of owners) perMaster.set(port, (perMaster.get(port) ?? 0) + 1);
    expect(perMaster.size).toBe(3);
    // Every key physically lives on the master that owns its slot, and only there.
    for (const [port, count] of perMaster) {
      const node = new Redis({ host: redis.nodes[0]?.host ?? '127.0.0.1', port });
      try {
        const [, found] = await node.scan(
          '0',
          'MATCH',
          `${redis.keyPrefix}{spread:*`,
          'COUNT',
          10_000,
        );
        expect(found).toHaveLength(count);
      } finally {
        node.disconnect();
      }
    }
  });

  it('opens the same cluster as an existing one through REDIS_CLUSTER_NODES', async () => {
    const seeds = redis.nodes.map(formatNode).join(',');
    const guest = await openRedisCluster({ label: 'guest', env: { REDIS_CLUSTER_NODES: seeds } });
    try {
      expect(guest.origin).toBe('env');
      expect(guest.processes).toEqual([]);
      expect(guest.keyPrefix).not.toBe(redis.keyPrefix);
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          guest.cluster.set(guest.key(`{item:${i}}`, 'v'), `${i}`),
        ),
      );
      await redis.cluster.set(redis.key('{host}', 'survivor'), 'still here');
      expect(await redis.cluster.get(guest.key('{item:7}', 'v'))).toBe('7');
    } finally {
      await Promise.all([guest.close(), guest.close()]);
    }
    expect(guest.cluster.status).toBe('end');
    // Its keys are gone from every master; the host's keys and the cluster are not.
    for (const node of redis.cluster.nodes('master')) {
      const [, left] = await node.scan('0', 'MATCH', `${guest.keyPrefix}*`, 'COUNT', 10_000);
      expect(left).toEqual([]);
    }
    expect(await redis.cluster.get(redis.key('{host}', 'survivor'))).toBe('still here');
    for (const { pid } of redis.processes) expect(alive(pid)).toBe(true);
  });

  it('close() quits the client, stops every process and removes every temporary directory', async () => {
    const { processes } = redis;
    if (redis.origin === 'spawned') {
      for (const { pid, dir } of processes) {
        expect(alive(pid)).toBe(true);
        expect(existsSync(dir)).toBe(true);
      }
    }
    await Promise.all([redis.close(), redis.close()]);
    expect(redis.cluster.status).toBe('end');
    for (const { pid, dir } of processes) {
      expect(alive(pid)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    }
  });
});
