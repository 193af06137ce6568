import {
  openRedis,
  openSqlEngines,
  redisUnavailableReason,
  type TestDatabase,
  type TestRedis,
} from '@tandem/testing';
import { afterAll } from 'vitest';

/** What {@link openTestServices} opened for one test file. */
export interface TestServices {
  /** Postgres (a schema of its own) and PGlite. */
  readonly databases: TestDatabase[];
  /** Why Redis is not reachable, or undefined when it is. */
  readonly redisReason: string | undefined;
  /** Redis with a key prefix of its own, when reachable. */
  readonly redis: TestRedis | undefined;
}

/**
 * Opens the SQL engines and, when reachable, Redis for one test file, and closes them after the
 * file's tests (`afterAll`).
 */
export async function openTestServices(
  sqlLabel: string,
  redisLabel: string,
): Promise<TestServices> {
  const databases = await openSqlEngines(sqlLabel);
  const redisReason = await redisUnavailableReason();
  const redis = redisReason === undefined ? await openRedis(redisLabel) : undefined;
  afterAll(async () => {
    await redis?.close();
    for (const database of databases) await database.close();
  });
  return { databases, redisReason, redis };
}
