/**
 * `@tandem/testing`: shared test utilities of the tandem monorepo.
 *
 * The test environment (`./env`) is the one way integration tests get a PostgreSQL and a Redis:
 * {@link openPostgres}, {@link openPglite} and {@link openSqlEngines} give a fresh schema each,
 * {@link openRedis} a fresh key prefix; {@link redisAvailability} / {@link redisUnavailableReason}
 * let Redis-backed suites skip, with the reason, where no Redis can be had.
 *
 * @packageDocumentation
 */

export { type TestService, TestServiceUnavailableError } from './env/errors/errors.js';
export {
  type DatabaseOrigin,
  openPglite,
  openPostgres,
  openSqlEngines,
  type PgliteTestDatabase,
  type PostgresTestDatabase,
  type SqlEngine,
  type TestDatabase,
  type TestDatabaseBase,
  type TestDrizzle,
} from './env/postgres/open.js';
export { openRedis, type TestRedis } from './env/redis/open.js';
export {
  type RedisAvailability,
  type RedisOrigin,
  redisAvailability,
  redisUnavailableReason,
} from './env/redis/resolve.js';
