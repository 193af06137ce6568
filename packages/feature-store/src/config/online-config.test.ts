import { TandemError } from '@tandem/core';
import { describe, expect, it } from 'vitest';
import { defineConfig } from './config.js';

describe('the online section of the config', () => {
  it('takes a Redis URL, ioredis options or cluster nodes, a namespace and a lateness', () => {
    for (const redis of [
      'redis://127.0.0.1:6379',
      { host: '127.0.0.1', port: 6379, db: 2 },
      { cluster: [{ host: '127.0.0.1', port: 7000 }] },
    ]) {
      const config = {
        database: { pglite: 'memory' },
        online: { redis, namespace: 'shop', allowedLateness: '2h' as const },
      };
      expect(defineConfig(config)).toBe(config);
    }
    expect(defineConfig({ database: { pglite: 'memory' }, online: {} }).online).toEqual({});
  });

  it.each([
    ['not an object', 'redis://x', 'config.online', /must be an object/],
    [
      'an unknown option',
      { redis: 'redis://x', lateness: '1h' },
      'config.online.lateness',
      /unknown option/,
    ],
    ['an empty url', { redis: '' }, 'config.online.redis', /give a URL/],
    [
      'cluster nodes that are no array',
      { redis: { cluster: 'x' } },
      'config.online.redis.cluster',
      /array/,
    ],
    ['a namespace with braces', { namespace: 'a{b}' }, 'config.online.namespace', /without braces/],
    ['a bad lateness', { allowedLateness: 'soon' }, 'config.online.allowedLateness', /./],
  ])('rejects %s', (_what, online, path, message) => {
    try {
      defineConfig({ database: { pglite: 'memory' }, online } as never);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TandemError);
      expect((error as TandemError).path).toBe(path);
      expect((error as TandemError).message).toMatch(message);
    }
  });
});
