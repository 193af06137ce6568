/**
 * The quickstart's end-to-end demo on PostgreSQL and Redis: the offline store's tables (and the
 * app's own `user_profiles` table) in one Postgres schema, the online store's keys under one Redis
 * namespace, the model served over HTTP by the Express middleware reading features from Redis.
 */
import { type DemoOptions, type DemoResult, runDemo } from '@tandem/example-quickstart';
import { postgresExecutor, redisAdapter } from '@tandem/feature-store';
import { Redis } from 'ioredis';
import pg from 'pg';

/** Where and how to run. */
export interface FraudRedisOptions extends DemoOptions {
  /** PostgreSQL connection URL. */
  readonly databaseUrl: string;
  /** Redis URL. */
  readonly redisUrl: string;
  /** Schema of every table of the demo; default `fraud_redis_demo`. */
  readonly schema?: string;
  /** Prefix of every Redis key of the demo; default `fraud-redis-demo`. */
  readonly namespace?: string;
  /**
   * Drop the schema and delete the namespace's keys before the run (default true), so each run
   * starts from nothing. Set false when the schema is fresh already (tests).
   */
  readonly reset?: boolean;
  /** Drop the schema and the keys after the run (default true); false keeps them to look at. */
  readonly cleanup?: boolean;
}

/** Runs the demo on Postgres and Redis. */
export async function runFraudRedis(options: FraudRedisOptions): Promise<DemoResult> {
  const schema = options.schema ?? 'fraud_redis_demo';
  const namespace = options.namespace ?? 'fraud-redis-demo';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw new Error(`schema must be a lower-case SQL identifier, not ${JSON.stringify(schema)}`);
  }
  // Every connection starts in the demo's schema: the app's user_profiles table lands there.
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    options: `-c search_path=${schema}`,
    max: 4,
  });
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  const adapter = redisAdapter({ client: redis });
  try {
    await redis.connect();
    const dropAll = async () => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await adapter.clear(`${namespace}:`);
    };
    if (options.reset ?? true) await dropAll();
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const { rows } = await pool.query<{ version: string }>(
      'SELECT current_setting($$server_version$$) AS version',
    );
    const info = await redis.info('server');
    const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    try {
      return await runDemo(
        {
          executor: postgresExecutor(pool),
          schema,
          adapter,
          namespace,
          offlineLabel: `PostgreSQL ${rows[0]?.version.split(' ')[0] ?? '?'} (schema ${schema})`,
          onlineLabel: `Redis ${redisVersion} (keys ${namespace}:*)`,
        },
        options,
      );
    } finally {
      if (options.cleanup ?? true) await dropAll();
    }
  } finally {
    redis.disconnect();
    await pool.end();
  }
}
