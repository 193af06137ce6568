/** The external services the test environment can provide. */
export type TestService = 'postgres' | 'redis';

/**
 * Thrown when a test asks for a service (a real PostgreSQL server, a Redis server) that this
 * environment cannot provide, or that was configured explicitly (`DATABASE_URL`, `REDIS_URL`)
 * but does not answer.
 *
 * @example
 * ```ts
 * try { await openRedis('cache'); } catch (e) { if (e instanceof TestServiceUnavailableError) ... }
 * ```
 */
export class TestServiceUnavailableError extends Error {
  /** The service that could not be had. */
  readonly service: TestService;
  /** Why, in one human-readable sentence (connection URLs are redacted). */
  readonly reason: string;

  /**
   * @param service - the service that could not be had
   * @param reason - why, in one human-readable sentence
   */
  constructor(service: TestService, reason: string) {
    super(`${service} is unavailable for tests: ${reason}`);
    this.name = 'TestServiceUnavailableError';
    this.service = service;
    this.reason = reason;
  }
}
