import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { TandemError } from '@tandem/core';
import { register } from 'tsx/esm/api';
import { pgliteExecutor, postgresExecutor, type SqlExecutor } from '../executor/executor.js';
import { assertConfig, type DatabaseConfig, type TandemConfig } from './config.js';

/** A loaded config: the config itself and the directory its relative paths start from. */
export interface LoadedConfig {
  /** Directory of the config file. */
  readonly directory: string;
  /** The checked config. */
  readonly config: TandemConfig;
}

let tsxRegistered = false;

/**
 * Loads a `tandem.config.ts` (or `.js`, `.mts`, ...) without a build step: TypeScript is
 * compiled on import by tsx's loader, registered once for the whole process. (tsx's `tsImport`
 * would load the config into a separate module namespace, giving it its own copies of
 * `@tandem/core`, zod and drizzle; then `instanceof` checks across the boundary fail.) The
 * default export must be a config (see `defineConfig`).
 * @throws {TandemError} `INVALID_ARGUMENT` (path `config`) when the file does not exist or its
 * default export is not a config.
 */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw new TandemError('INVALID_ARGUMENT', `config file ${absolute} does not exist`, {
      path: 'config',
    });
  }
  if (!tsxRegistered) {
    register();
    tsxRegistered = true;
  }
  const module = (await import(pathToFileURL(absolute).href)) as { default?: unknown };
  if (module.default === undefined) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `${absolute} has no default export: export default defineConfig({ ... })`,
      { path: 'config' },
    );
  }
  assertConfig(module.default);
  return { directory: dirname(absolute), config: module.default };
}

/**
 * Opens the database of a config: a pool on a Postgres URL, or PGlite on a data directory
 * (resolved against `directory`) or in memory. `close()` closes what was opened.
 */
export async function openDatabase(
  database: DatabaseConfig,
  directory: string,
): Promise<SqlExecutor> {
  if ('url' in database) return postgresExecutor(database.url);
  const db =
    database.pglite === 'memory' ? new PGlite() : new PGlite(resolve(directory, database.pglite));
  await db.waitReady;
  return { ...pgliteExecutor(db), close: () => db.close() };
}
