import type { PGlite, Transaction as PGliteTransaction } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';

/**
 * The one way the offline store talks to a database: Postgres through a `pg` pool, or embedded
 * PGlite. Queries are drizzle `sql` objects; values are always bound parameters.
 */
export interface SqlExecutor {
  /** Which engine runs the queries. */
  readonly engine: 'postgres' | 'pglite';
  /** Runs a query and returns its rows. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(query: SQL): Promise<T[]>;
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Releases what the executor opened itself (a pool made from a connection string). */
  close(): Promise<void>;
}

const dialect = new PgDialect();

/** Turns a drizzle `sql` object into query text and parameters. */
function toQuery(query: SQL): { text: string; params: unknown[] } {
  const { sql, params } = dialect.sqlToQuery(query);
  return { text: sql, params };
}

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * An executor over node-postgres: a `pg.Pool` you own (not closed by `close()`), or a connection
 * string (a pool is created and closed by `close()`).
 */
export function postgresExecutor(connection: pg.Pool | string): SqlExecutor {
  const owned = typeof connection === 'string';
  const pool = owned ? new pg.Pool({ connectionString: connection }) : connection;
  return {
    ...queryOnly(pool),
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(inTransaction(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      if (owned) await pool.end();
    },
  };
}

/** An executor bound to a client inside an open transaction; nested calls join it. */
function inTransaction(client: pg.PoolClient): SqlExecutor {
  const executor: SqlExecutor = {
    ...queryOnly(client),
    transaction: (work) => work(executor),
    async close() {},
  };
  return executor;
}

function queryOnly(target: Queryable): Pick<SqlExecutor, 'engine' | 'query'> {
  return {
    engine: 'postgres',
    async query<T>(query: SQL) {
      const { text, params } = toQuery(query);
      const result = await target.query(text, params);
      return result.rows as T[];
    },
  };
}

/** An executor over an embedded PGlite database you own (not closed by `close()`). */
export function pgliteExecutor(db: PGlite): SqlExecutor {
  const over = (target: PGlite | PGliteTransaction): SqlExecutor => ({
    engine: 'pglite',
    async query<T>(query: SQL) {
      const { text, params } = toQuery(query);
      const result = await target.query(text, params);
      return result.rows as T[];
    },
    transaction: (work) =>
      'transaction' in target ? target.transaction((tx) => work(over(tx))) : work(over(target)),
    async close() {},
  });
  return over(db);
}
