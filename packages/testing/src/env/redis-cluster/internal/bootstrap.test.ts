import { describe, expect, it } from 'vitest';
import { redisClusterUnavailableReason } from '../resolve.js';
import { joinCluster, SLOT_COUNT, slotRange } from './bootstrap.js';
import { startServer } from './server.js';

describe('slotRange', () => {
  it.each([1, 2, 3, 5, 7])('splits the slots over %i masters, contiguous and even', (count) => {
    const ranges = Array.from({ length: count }, (_, index) => slotRange(index, count));
    expect(ranges[0]?.[0]).toBe(0);
    expect(ranges.at(-1)?.[1]).toBe(SLOT_COUNT - 1);
    for (let i = 1; i < count; i++) expect(ranges[i]?.[0]).toBe((ranges[i - 1]?.[1] ?? 0) + 1);
    const sizes = ranges.map(([first, last]) => last - first + 1);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('gives three masters 5461, 5461 and 5462 slots', () => {
    expect([0, 1, 2].map((index) => slotRange(index, 3))).toEqual([
      [0, 5460],
      [5461, 10921],
      [10922, 16383],
    ]);
  });
});

describe.skipIf(await redisClusterUnavailableReason())('joinCluster', () => {
  it('gives up after its budget with what each node last reported', async () => {
    const servers = await Promise.all(
      [0, 1, 2].map(() => startServer({ executable: 'redis-server', readyTimeoutMs: 10_000 })),
    );
    try {
      // A new master waits 2 s before it declares the cluster ok: 300 ms cannot be enough.
      await expect(joinCluster(servers, 300)).rejects.toThrow(
        /^the Redis Cluster did not form within 300 ms .*last seen: node \d+: cluster_state:fail/,
      );
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  });
});
