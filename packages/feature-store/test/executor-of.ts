import type { PGlite } from '@electric-sql/pglite';
import type { TestDatabase } from '@tandem/testing';
import { pgliteExecutor, postgresExecutor, type SqlExecutor } from '../src/index.js';

/** An executor on a test database's schema (a pool of its own for real Postgres; close it). */
export function pgliteOrPostgresExecutor(database: TestDatabase): SqlExecutor {
  if (database.engine === 'pglite') {
    return pgliteExecutor((database.db as unknown as { $client: PGlite }).$client);
  }
  return postgresExecutor(database.connectionString!);
}
