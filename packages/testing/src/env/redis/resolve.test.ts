import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { resetTestEnvironment } from '../internal/state.js';
import { openRedis } from './open.js';
import {
  LOCAL_REDIS_URL,
  probeRedis,
  redisAvailability,
  redisUnavailableReason,
  resolveRedis,
} from './resolve.js';

const noDocker = async () => ({ available: false as const, reason: 'no Docker (test)' });
const withDocker = async () => ({ available: true as const, endpoint: 'unix:///test.sock' });
const refused = 'redis://127.0.0.1:1';

// A real server to point REDIS_URL at, when this machine has one.
const realUrl =
  process.env.REDIS_URL ??
  ((await probeRedis(LOCAL_REDIS_URL, 1000)) === undefined ? LOCAL_REDIS_URL : undefined);

let silent: Server;
let silentUrl: string;
beforeAll(async () => {
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  silentUrl = `redis://127.0.0.1:${address.port}`;
});
afterAll(() => {
  silent.close();
});

describe('resolveRedis', () => {
  it.skipIf(realUrl === undefined)('uses REDIS_URL when it is set', async () => {
    expect(
      await resolveRedis({ env: { REDIS_URL: realUrl }, localUrl: refused, probeDocker: noDocker }),
    ).toEqual({ available: true, origin: 'env', url: realUrl });
  });

  it('reports an unreachable REDIS_URL as unavailable, with the reason, at once', async () => {
    const started = performance.now();
    const target = await resolveRedis({
      env: { REDIS_URL: 'redis://:s3cret@127.0.0.1:1' },
      probeDocker: withDocker,
    });
    expect(target).toEqual({
      available: false,
      reason: expect.stringMatching(
        /^REDIS_URL \(redis:\/\/:\*\*\*@127\.0\.0\.1:1\).*ECONNREFUSED/,
      ),
    });
    expect(JSON.stringify(target)).not.toContain('s3cret');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('does not hang on a server that accepts connections but never answers', async () => {
    const started = performance.now();
    const target = await resolveRedis({ env: { REDIS_URL: silentUrl }, timeoutMs: 300 });
    expect(target).toEqual({ available: false, reason: expect.stringMatching(/timed? ?out/i) });
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it.skipIf(realUrl !== LOCAL_REDIS_URL)('uses 127.0.0.1:6379 when it answers', async () => {
    expect(await resolveRedis({ env: {}, probeDocker: noDocker })).toEqual({
      available: true,
      origin: 'local',
      url: LOCAL_REDIS_URL,
    });
  });

  it('uses a container when only Docker answers', async () => {
    expect(await resolveRedis({ env: {}, localUrl: refused, probeDocker: withDocker })).toEqual({
      available: true,
      origin: 'container',
    });
  });

  it('is unavailable, saying why, when nothing answers', async () => {
    const target = await resolveRedis({ env: {}, localUrl: refused, probeDocker: noDocker });
    expect(target).toEqual({ available: false, reason: expect.stringContaining('127.0.0.1:1') });
    expect(target).toEqual({ available: false, reason: expect.stringContaining('no Docker') });
  });
});

describe('the skip path', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    resetTestEnvironment();
  });

  it('skips, with the reason, and openRedis throws a typed error', async () => {
    vi.stubEnv('REDIS_URL', refused);
    resetTestEnvironment();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(await redisAvailability()).toEqual({
        available: false,
        reason: expect.stringContaining('REDIS_URL'),
      });
      expect(await redisUnavailableReason()).toMatch(/^REDIS_URL .* did not answer PING/);
      // The reason is printed once per process, not once per suite.
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(/Redis-backed tests are skipped: REDIS_URL/);
      const opening = openRedis('unavailable');
      await expect(opening).rejects.toBeInstanceOf(TestServiceUnavailableError);
      await expect(opening).rejects.toMatchObject({ service: 'redis' });
    } finally {
      warn.mockRestore();
    }
  });
});
