import type { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { Pool } from 'pg';
import { type ContainerLease, postgresContainer } from '../docker/containers.js';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { describeError, noticeOnce } from '../internal/util.js';
import { uniqueName } from '../naming/naming.js';
import { acquirePglite, releasePglite } from './pglite-pool.js';
import { postgresTarget } from './resolve.js';

/** Which SQL engine a {@link TestDatabase} runs on: a real PostgreSQL server, or PGlite (WASM). */
export type SqlEngine = 'postgres' | 'pglite';

/**
 * Where a {@link TestDatabase} came from: `DATABASE_URL` (`env`), the local service on
 * 127.0.0.1:5432 (`local`), a testcontainers container (`container`) or in-process PGlite
 * (`embedded`).
 */
export type DatabaseOrigin = 'env' | 'local' | 'container' | 'embedded';

/**
 * The drizzle-orm database type shared by the node-postgres and the PGlite drivers. Query
 * builders, `transaction` and `execute` work the same on both; use {@link TestDatabase.execute}
 * for raw SQL with typed rows.
 */
export type TestDrizzle = PgDatabase<PgQueryResultHKT>;

/** What every {@link TestDatabase} has, whatever its engine. */
export interface TestDatabaseBase {
  /** The engine the schema lives on. */
  readonly engine: SqlEngine;
  /** Where the engine came from. */
  readonly origin: DatabaseOrigin;
  /** The schema's name: `test_<label>_<random>`, `[a-z0-9_]`, at most 63 bytes. */
  readonly schema: string;
  /** A drizzle-orm database on this handle's connection(s). */
  readonly db: TestDrizzle;
  /**
   * Runs one SQL statement and returns its rows as plain objects (an empty array for statements
   * without a result set).
   *
   * @param query - built with drizzle-orm's `sql` template tag
   */
  execute<T extends Record<string, unknown> = Record<string, unknown>>(query: SQL): Promise<T[]>;
  /**
   * `DROP SCHEMA ... CASCADE`, then closes the pool (real server), gives the PGlite instance back
   * for reuse, or releases the shared container. Idempotent.
   */
  close(): Promise<void>;
}

/** A {@link TestDatabase} on a real PostgreSQL server. */
export interface PostgresTestDatabase extends TestDatabaseBase {
  /** Always `postgres`. */
  readonly engine: 'postgres';
  /** `DATABASE_URL`, the local service or a container. */
  readonly origin: 'env' | 'local' | 'container';
  /**
   * The handle's node-postgres pool; every connection starts in {@link TestDatabaseBase.schema}.
   * Owned by the handle: `close()` ends it.
   */
  readonly pool: Pool;
  /**
   * A connection URL that lands in {@link TestDatabaseBase.schema} (its `options` parameter sets
   * `search_path`), for code under test that opens connections of its own.
   */
  readonly connectionString: string;
}

/** A {@link TestDatabase} on in-process PGlite. */
export interface PgliteTestDatabase extends TestDatabaseBase {
  /** Always `pglite`. */
  readonly engine: 'pglite';
  /** Always `embedded`. */
  readonly origin: 'embedded';
  /**
   * The PGlite instance, for this handle alone until `close()`, with `search_path` set to
   * {@link TestDatabaseBase.schema}. Owned by the handle: do not close it.
   */
  readonly pglite: PGlite;
  /** There is no URL to connect to PGlite: use {@link PgliteTestDatabase.pglite}. */
  readonly connectionString: undefined;
}

/**
 * A fresh, private PostgreSQL schema for one test (or suite), on a real server or on PGlite;
 * narrow on `engine` to reach the driver's own client (`pool` or `pglite`). Every connection of
 * the handle has `search_path` set to the schema only, so unqualified table names land in, and
 * are looked up in, that schema.
 */
export type TestDatabase = PostgresTestDatabase | PgliteTestDatabase;

/**
 * Opens a fresh schema on a real PostgreSQL server: `DATABASE_URL` when set (and it must answer),
 * else the local server on 127.0.0.1:5432, else a testcontainers `postgres:16-alpine` when Docker
 * answers. Only when none of these can be had does it fall back to PGlite (and says why, once per
 * process). Resolution happens once per process.
 *
 * @param label - makes the schema name readable, e.g. the suite's name
 * @throws {@link TestServiceUnavailableError} when `DATABASE_URL` is set but does not answer, or
 *   when Docker answers but the container cannot be started
 *
 * @example
 * ```ts
 * let pg: TestDatabase;
 * beforeAll(async () => { pg = await openPostgres('offline store'); });
 * afterAll(() => pg.close());
 * ```
 */
export async function openPostgres(label: string): Promise<TestDatabase> {
  const target = await postgresTarget();
  switch (target.origin) {
    case 'env':
    case 'local':
      return openServer(label, target.url, target.origin, undefined);
    case 'container': {
      let lease: ContainerLease;
      try {
        lease = await postgresContainer.acquire();
      } catch (error) {
        throw new TestServiceUnavailableError(
          'postgres',
          `a Docker engine answers but the postgres:16-alpine container did not start: ${describeError(error)}`,
        );
      }
      return openServer(label, lease.url, 'container', lease);
    }
    case 'embedded':
      noticeOnce(
        'postgres-embedded',
        `no real PostgreSQL server for openPostgres(), using PGlite: ${target.reason}.`,
      );
      return openPglite(label);
  }
}

/**
 * Opens a fresh schema on an in-memory PGlite (PostgreSQL compiled to WASM, in this process).
 * Always available, needs no service. The first call of a process boots PGlite (2-3 s); closed
 * handles give their instance back, so later calls are fast.
 *
 * @param label - makes the schema name readable, e.g. the suite's name
 */
export async function openPglite(label: string): Promise<PgliteTestDatabase> {
  const pglite = await acquirePglite();
  const schema = uniqueName(label);
  try {
    await pglite.exec(`CREATE SCHEMA ${schema}; SET search_path TO ${schema};`);
  } catch (error) {
    await releasePglite(pglite, false);
    throw error;
  }
  const db = drizzlePglite({ client: pglite });
  return withLifecycle<PgliteTestDatabase>(
    {
      engine: 'pglite',
      origin: 'embedded',
      schema,
      db,
      pglite,
      connectionString: undefined,
      execute: async <T extends Record<string, unknown>>(query: SQL) =>
        (await db.execute(query)).rows as T[],
    },
    () => disposePglite(pglite, schema),
  );
}

/**
 * Opens the same fresh-schema setup on every SQL engine available: PGlite always, plus a real
 * PostgreSQL server (as {@link openPostgres} finds it) when one can be had. When only PGlite is
 * available it says so once per process. Run the same assertions on each to keep the two
 * engines' behaviour in step.
 *
 * @param label - makes the schema names readable
 * @returns `[pglite]` or `[pglite, postgres]`; close every one of them
 * @throws {@link TestServiceUnavailableError} when `DATABASE_URL` is set but does not answer
 *
 * @example
 * ```ts
 * const engines = await openSqlEngines('migrations');
 * for (const e of engines) expect(await e.execute(sql`select 1 as one`)).toEqual([{ one: 1 }]);
 * await Promise.all(engines.map((e) => e.close()));
 * ```
 */
export async function openSqlEngines(label: string): Promise<TestDatabase[]> {
  const target = await postgresTarget();
  if (target.origin === 'embedded') {
    noticeOnce(
      'sql-engines-pglite-only',
      `openSqlEngines() runs on PGlite only, no real PostgreSQL server: ${target.reason}.`,
    );
    return [await openPglite(label)];
  }
  const opened = await Promise.allSettled([openPglite(label), openPostgres(label)]);
  const databases = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = opened.find((r) => r.status === 'rejected');
  if (failure !== undefined) {
    await Promise.allSettled(databases.map((database) => database.close()));
    throw failure.reason;
  }
  return databases;
}

/** Adds an idempotent `close()` that runs `dispose` once. */
function withLifecycle<D extends TestDatabase>(
  fields: Omit<D, 'close'>,
  dispose: () => Promise<void>,
): D {
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= dispose();
    return closing;
  };
  return { ...fields, close } as D;
}

async function disposePglite(pglite: PGlite, schema: string): Promise<void> {
  try {
    await pglite.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE;`);
  } catch (error) {
    await releasePglite(pglite, false);
    throw error;
  }
  await releasePglite(pglite, true);
}

async function openServer(
  label: string,
  baseUrl: string,
  origin: 'env' | 'local' | 'container',
  lease: ContainerLease | undefined,
): Promise<PostgresTestDatabase> {
  const schema = uniqueName(label);
  let pool: Pool | undefined;
  try {
    const connectionString = withSearchPath(baseUrl, schema);
    pool = new Pool({
      connectionString,
      max: 4,
      idleTimeoutMillis: 5_000,
      connectionTimeoutMillis: 10_000,
      // A handle that a test forgets to close must not keep the process alive.
      allowExitOnIdle: true,
    });
    pool.on('error', (error) => {
      console.warn(`[@tandem/testing] idle connection of schema ${schema} failed:`, error);
    });
    await pool.query(`CREATE SCHEMA ${schema}`);
    const db = drizzleNodePg({ client: pool });
    const opened = pool;
    return withLifecycle<PostgresTestDatabase>(
      {
        engine: 'postgres',
        origin,
        schema,
        db,
        pool,
        connectionString,
        execute: async <T extends Record<string, unknown>>(query: SQL) =>
          (await db.execute(query)).rows as T[],
      },
      async () => {
        try {
          await opened.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        } finally {
          await opened.end();
          await lease?.release();
        }
      },
    );
  } catch (error) {
    await pool?.end().catch(() => {});
    await lease?.release();
    throw error;
  }
}

/**
 * `url` with `-c search_path=<schema>` added to its `options` parameter, so that every connection
 * opened from it (by our pool or by code under test) starts in `schema`.
 */
function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  const existing = parsed.searchParams.get('options');
  const option = `-c search_path=${schema}`;
  parsed.searchParams.set('options', existing ? `${existing} ${option}` : option);
  return parsed.href;
}
