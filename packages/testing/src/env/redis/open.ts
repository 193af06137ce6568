import { Redis } from 'ioredis';
import { type ContainerLease, redisContainer } from '../docker/containers.js';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { describeError, withTimeout } from '../internal/util.js';
import { uniqueName } from '../naming/naming.js';
import { type RedisOrigin, redisTarget } from './resolve.js';

/**
 * A Redis connection plus a key prefix that no other handle uses. Redis has no schemas: isolation
 * holds as long as the test (and the code under test) builds every key with
 * {@link TestRedis.key} or {@link TestRedis.prefix}.
 */
export interface TestRedis {
  /** An ioredis client, connected. */
  readonly client: Redis;
  /** `test_<label>_<random>:`; every key of this handle starts with it. */
  readonly prefix: string;
  /** Where the server came from. */
  readonly origin: RedisOrigin;
  /** The server's URL, for code under test that opens its own connection. */
  readonly url: string;
  /**
   * A key under {@link TestRedis.prefix}: the parts joined with `:`.
   *
   * @param parts - key segments, e.g. `key('features', 'user', '42')`
   */
  key(...parts: string[]): string;
  /**
   * Deletes every key under {@link TestRedis.prefix} (SCAN + UNLINK), quits the client and
   * releases the shared container if any. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Opens a Redis connection with a fresh key prefix: `REDIS_URL` when set, else 127.0.0.1:6379
 * when it answers PING, else a testcontainers `redis:7-alpine` when Docker answers. Resolution
 * happens once per process. Guard Redis-backed suites with `redisUnavailableReason()` /
 * `redisAvailability()` so they are skipped, not failed, where no Redis can be had.
 *
 * @param label - makes the key prefix readable, e.g. the suite's name
 * @throws {@link TestServiceUnavailableError} when no Redis can be had (with the reason)
 *
 * @example
 * ```ts
 * describe.skipIf(await redisUnavailableReason())('online store', () => {
 *   let redis: TestRedis;
 *   beforeAll(async () => { redis = await openRedis('online store'); });
 *   afterAll(() => redis.close());
 *   it('writes', async () => { await redis.client.set(redis.key('a'), '1'); });
 * });
 * ```
 */
export async function openRedis(label: string): Promise<TestRedis> {
  const target = await redisTarget();
  if (!target.available) throw new TestServiceUnavailableError('redis', target.reason);
  let lease: ContainerLease | undefined;
  let url: string;
  if (target.origin === 'container') {
    try {
      lease = await redisContainer.acquire();
    } catch (error) {
      throw new TestServiceUnavailableError(
        'redis',
        `a Docker engine answers but the redis:7-alpine container did not start: ${describeError(error)}`,
      );
    }
    url = lease.url;
  } else {
    url = target.url;
  }
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    await lease?.release();
    throw error;
  }
  const prefix = `${uniqueName(label)}:`;
  let closing: Promise<void> | undefined;
  return {
    client,
    prefix,
    origin: target.origin,
    url,
    key: (...parts) => prefix + parts.join(':'),
    close: () => {
      closing ??= (async () => {
        try {
          await deleteByPrefix(client, prefix);
        } finally {
          await quit(client);
          await lease?.release();
        }
      })();
      return closing;
    },
  };
}

/** Deletes every key starting with `prefix`, in batches, without blocking the server. */
async function deleteByPrefix(client: Redis, prefix: string): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** QUIT, and wait until the connection is really closed (ioredis answers QUIT before that). */
async function quit(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
  await withTimeout(ended, 5_000).catch(() => client.disconnect());
}
