import { Redis } from 'ioredis';
import { type DockerAvailability, dockerAvailability } from '../docker/docker.js';
import { resolveOnce } from '../internal/state.js';
import {
  CONFIGURED_PROBE_TIMEOUT_MS,
  describeError,
  type Env,
  noticeOnce,
  PROBE_TIMEOUT_MS,
  redactUrl,
  withTimeout,
} from '../internal/util.js';

/** The Redis service this machine kind provides. */
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/** Where a {@link TestRedis} came from: `REDIS_URL`, 127.0.0.1:6379, or a testcontainers container. */
export type RedisOrigin = 'env' | 'local' | 'container';

/** Where Redis-backed tests of this process connect to, or why they are skipped. */
export type RedisTarget =
  | { readonly available: true; readonly origin: 'env' | 'local'; readonly url: string }
  | { readonly available: true; readonly origin: 'container' }
  | { readonly available: false; readonly reason: string };

/** Inputs of {@link resolveRedis}; every field defaults to the real environment. */
export interface RedisResolveOptions {
  /** Environment variables to read `REDIS_URL` from. */
  readonly env?: Env;
  /** The local server to try when `REDIS_URL` is not set. */
  readonly localUrl?: string;
  /** Probe budget (default 1 s for the local server, 3 s for `REDIS_URL`). */
  readonly timeoutMs?: number;
  /** Whether a Docker engine answers (default: the cached real probe). */
  readonly probeDocker?: () => Promise<DockerAvailability>;
}

/**
 * Decides where Redis-backed tests connect: `REDIS_URL` when set (when it does not answer PING,
 * Redis is unavailable: an explicit setting is never silently replaced); else 127.0.0.1:6379 when
 * it answers PING within ~1 s; else a testcontainers `redis:7-alpine` when a Docker engine answers;
 * else unavailable, with the reason. Never hangs: every probe is bounded.
 *
 * @param options - overrides for the environment, local URL, timeouts and Docker probe
 */
export async function resolveRedis(options: RedisResolveOptions = {}): Promise<RedisTarget> {
  const env = options.env ?? process.env;
  const configured = env.REDIS_URL;
  if (configured !== undefined && configured !== '') {
    const failure = await probeRedis(configured, options.timeoutMs ?? CONFIGURED_PROBE_TIMEOUT_MS);
    return failure === undefined
      ? { available: true, origin: 'env', url: configured }
      : {
          available: false,
          reason: `REDIS_URL (${redactUrl(configured)}) did not answer PING: ${failure}`,
        };
  }
  const localUrl = options.localUrl ?? LOCAL_REDIS_URL;
  const localFailure = await probeRedis(localUrl, options.timeoutMs ?? PROBE_TIMEOUT_MS);
  if (localFailure === undefined) return { available: true, origin: 'local', url: localUrl };
  const docker = await (options.probeDocker ?? dockerAvailability)();
  if (docker.available) return { available: true, origin: 'container' };
  return {
    available: false,
    reason: `REDIS_URL is not set, ${redactUrl(localUrl)} did not answer PING (${localFailure}) and ${docker.reason}`,
  };
}

/** {@link resolveRedis} for the real environment, resolved once per process and cached. */
export function redisTarget(): Promise<RedisTarget> {
  return resolveOnce('redis', () => resolveRedis());
}

/** Whether Redis-backed tests can run in this process, and if not, why. */
export type RedisAvailability =
  | { readonly available: true; readonly origin: RedisOrigin }
  | { readonly available: false; readonly reason: string };

/**
 * Whether {@link openRedis} can give this process a Redis (resolved once per process). When it
 * cannot, the reason is also printed once, so skipped suites say why.
 *
 * @example
 * ```ts
 * const redis = await redisAvailability();
 * describe.skipIf(!redis.available)('online store', () => { ... });
 * ```
 */
export async function redisAvailability(): Promise<RedisAvailability> {
  const target = await redisTarget();
  if (target.available) return { available: true, origin: target.origin };
  noticeOnce('redis-unavailable', `Redis-backed tests are skipped: ${target.reason}.`);
  return { available: false, reason: target.reason };
}

/**
 * Why Redis-backed tests must be skipped in this process, or `undefined` when Redis is available.
 * Made for vitest's `skipIf`, which skips on any truthy value.
 *
 * @example
 * ```ts
 * describe.skipIf(await redisUnavailableReason())('online store', () => { ... });
 * ```
 */
export async function redisUnavailableReason(): Promise<string | undefined> {
  const availability = await redisAvailability();
  return availability.available ? undefined : availability.reason;
}

/**
 * Connects to `url` and sends PING within `timeoutMs`, without retries or an offline queue.
 *
 * @returns `undefined` when the server answered PONG, else why not
 */
export async function probeRedis(url: string, timeoutMs: number): Promise<string | undefined> {
  let client: Redis;
  try {
    client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      enableReadyCheck: false,
    });
  } catch (error) {
    return describeError(error);
  }
  // ioredis rejects with a bare "Connection is closed."; the cause comes as an 'error' event.
  let cause: unknown;
  client.on('error', (error) => {
    cause ??= error;
  });
  try {
    const answer = await withTimeout(
      client.connect().then(() => client.ping()),
      timeoutMs + 100,
    );
    return answer === 'PONG' ? undefined : `unexpected answer ${JSON.stringify(answer)}`;
  } catch (error) {
    return describeError(cause ?? error);
  } finally {
    client.disconnect();
  }
}
