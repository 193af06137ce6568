/**
 * Per-process memory of the test environment: which Postgres / Redis / Docker was resolved.
 * Internal: not exported from the package; tests import {@link resetTestEnvironment} from here.
 */
import { forgetNotices } from './util.js';

/** What is resolved once per process. */
export type ResolutionKey = 'docker' | 'postgres' | 'redis';

const resolutions = new Map<ResolutionKey, Promise<unknown>>();

/**
 * Runs `resolve` the first time `key` is asked for in this process and returns the same promise
 * (fulfilled or rejected) on every later call, until {@link resetTestEnvironment}.
 */
export function resolveOnce<T>(key: ResolutionKey, resolve: () => Promise<T>): Promise<T> {
  let resolution = resolutions.get(key) as Promise<T> | undefined;
  if (resolution === undefined) {
    resolution = resolve();
    resolutions.set(key, resolution);
  }
  return resolution;
}

/**
 * Forgets every cached resolution and logged notice, so the next `openPostgres` / `openRedis` /
 * `redisAvailability` reads `process.env` and probes again. For tests of this module only;
 * handles that are already open are not affected.
 */
export function resetTestEnvironment(): void {
  resolutions.clear();
  forgetNotices();
}

/**
 * Makes the next resolutions of `key` answer `value` without probing, to exercise a path this
 * machine does not have (e.g. "no PostgreSQL server at all"). For tests of this module only;
 * undo with {@link resetTestEnvironment}.
 */
export function overrideResolution(key: ResolutionKey, value: unknown): void {
  resolutions.set(key, Promise.resolve(value));
}
