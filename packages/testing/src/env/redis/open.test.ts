import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedis, type TestRedis } from './open.js';
import { redisUnavailableReason } from './resolve.js';

describe.skipIf(await redisUnavailableReason())('openRedis', () => {
  let a: TestRedis;
  let b: TestRedis;
  beforeAll(async () => {
    [a, b] = await Promise.all([openRedis('Redis A'), openRedis('Redis B')]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('builds keys under a readable prefix that is unique per handle', () => {
    expect(a.prefix).toMatch(/^test_redis_a_[0-9a-f]{8}:$/);
    expect(b.prefix).toMatch(/^test_redis_b_[0-9a-f]{8}:$/);
    expect(a.key('features', 'user', '42')).toBe(`${a.prefix}features:user:42`);
  });

  it('isolates handles: the same logical key holds different values', async () => {
    await a.client.set(a.key('shared'), 'from a');
    await b.client.set(b.key('shared'), 'from b');
    expect(await a.client.get(a.key('shared'))).toBe('from a');
    expect(await b.client.get(b.key('shared'))).toBe('from b');
  });

  it('deletes every key under its prefix on close, and nothing else', async () => {
    const doomed = await openRedis('doomed');
    // More keys than one SCAN batch, of several types.
    const pipeline = doomed.client.pipeline();
    for (let i = 0; i < 2500; i++) pipeline.set(doomed.key('k', String(i)), String(i));
    pipeline.hset(doomed.key('hash'), { f: 'v' });
    pipeline.zadd(doomed.key('zset'), 1, 'm');
    await pipeline.exec();
    await b.client.set(b.key('survivor'), 'still here');

    const observer = new Redis(doomed.url);
    try {
      expect(await observer.exists(doomed.key('k', '0'), doomed.key('hash'))).toBe(2);
      await Promise.all([doomed.close(), doomed.close()]);
      expect(doomed.client.status).toBe('end');
      const [, leftover] = await observer.scan('0', 'MATCH', `${doomed.prefix}*`, 'COUNT', 10_000);
      expect(leftover).toEqual([]);
      expect(await observer.dbsize()).toBeGreaterThanOrEqual(1);
      expect(await observer.get(b.key('survivor'))).toBe('still here');
    } finally {
      observer.disconnect();
    }
  });
});
