import { type DurationInput, TandemError, toMillis } from '@tandem/core';
import type { ClusterNode, RedisOptions } from 'ioredis';
import { assertSchemaName } from '../internal/names.js';
import type { Definitions } from '../registry/definitions.js';

/**
 * Where Tandem's tables live: a Postgres connection string, or an embedded PGlite database in a
 * data directory (relative paths are relative to the config file) or in memory (`'memory'`).
 */
export type DatabaseConfig = { readonly url: string } | { readonly pglite: string };

/**
 * The online store of the project, for `tandem materialize` and `tandem repair`: Redis (a URL,
 * ioredis options, or the nodes of a Cluster), the key namespace and the allowed lateness, which
 * must match the online store the application serves from.
 */
export interface OnlineConfig {
  /** Redis: `redis://...`, ioredis options, or `{ cluster: [nodes] }`. The CLI requires it. */
  readonly redis?: string | RedisOptions | { readonly cluster: readonly ClusterNode[] };
  /** Key namespace (project name); default `tandem`. */
  readonly namespace?: string;
  /** Allowed lateness of streamed events; default 1h. */
  readonly allowedLateness?: DurationInput;
}

/**
 * The project configuration read by the `tandem` CLI from `tandem.config.ts`: the database,
 * Tandem's schema and the definitions (sources are derived from the features and services; list
 * a source only to create its managed table before any feature reads it).
 */
export interface TandemConfig extends Definitions {
  /** The database of the offline store and the registry. */
  readonly database: DatabaseConfig;
  /** Postgres schema of Tandem's tables; default `tandem`. */
  readonly schema?: string;
  /** The online store materialization fills (features: the config's services and features). */
  readonly online?: OnlineConfig;
}

const KEYS = new Set(['database', 'schema', 'sources', 'features', 'services', 'online']);
const ONLINE_KEYS = new Set(['redis', 'namespace', 'allowedLateness']);

/**
 * Declares the configuration of `tandem.config.ts` (its default export), checking its shape.
 * @example
 * export default defineConfig({
 *   database: { url: process.env.DATABASE_URL ?? 'postgres://localhost/app' },
 *   services: [fraudV1],
 * });
 * @throws {TandemError} `INVALID_ARGUMENT` naming the offending field (`config.database.url`, ...).
 */
export function defineConfig<const T extends TandemConfig>(config: T): T {
  assertConfig(config);
  return config;
}

/**
 * Checks that `value` is a {@link TandemConfig}: an object with a `database` of one kind, a valid
 * schema name, array-valued definitions and no unknown keys (catches typos). The definitions'
 * contents are checked by `plan` / `apply`.
 * @throws {TandemError} `INVALID_ARGUMENT` (`INVALID_IDENTIFIER` for the schema) naming the field.
 */
export function assertConfig(value: unknown): asserts value is TandemConfig {
  const fail = (path: string, message: string) =>
    new TandemError('INVALID_ARGUMENT', message, { path });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail('config', 'the config must be an object: export default defineConfig({ ... })');
  }
  const config = value as Record<string, unknown>;
  for (const key of Object.keys(config)) {
    if (!KEYS.has(key)) {
      throw fail(`config.${key}`, `unknown option; expected one of ${[...KEYS].join(', ')}`);
    }
  }
  const database = config.database;
  if (typeof database !== 'object' || database === null) {
    throw fail(
      'config.database',
      "missing: give { url: 'postgres://...' } or { pglite: './data-dir' | 'memory' }",
    );
  }
  const kinds = Object.keys(database);
  if (kinds.length !== 1 || (kinds[0] !== 'url' && kinds[0] !== 'pglite')) {
    throw fail('config.database', 'give exactly one of url or pglite');
  }
  const target = (database as Record<string, unknown>)[kinds[0]];
  if (typeof target !== 'string' || target.length === 0) {
    throw fail(`config.database.${kinds[0]}`, 'must be a non-empty string');
  }
  if (config.schema !== undefined) {
    if (typeof config.schema !== 'string') throw fail('config.schema', 'must be a string');
    assertSchemaName(config.schema);
  }
  for (const key of ['sources', 'features', 'services'] as const) {
    if (config[key] !== undefined && !Array.isArray(config[key])) {
      throw fail(`config.${key}`, 'must be an array');
    }
  }
  if (config.online !== undefined) assertOnlineConfig(config.online, fail);
}

function assertOnlineConfig(
  value: unknown,
  fail: (path: string, message: string) => TandemError,
): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail('config.online', 'must be an object: { redis, namespace?, allowedLateness? }');
  }
  const online = value as Record<string, unknown>;
  for (const key of Object.keys(online)) {
    if (!ONLINE_KEYS.has(key)) {
      throw fail(
        `config.online.${key}`,
        `unknown option; expected one of ${[...ONLINE_KEYS].join(', ')}`,
      );
    }
  }
  const { redis, namespace, allowedLateness } = online;
  if (redis !== undefined) {
    const valid =
      (typeof redis === 'string' && redis.length > 0) ||
      (typeof redis === 'object' && redis !== null && !Array.isArray(redis));
    if (!valid) {
      throw fail(
        'config.online.redis',
        "give a URL ('redis://...'), ioredis options or { cluster }",
      );
    }
    const cluster = (redis as { cluster?: unknown }).cluster;
    if (typeof redis === 'object' && cluster !== undefined && !Array.isArray(cluster)) {
      throw fail('config.online.redis.cluster', 'must be an array of nodes');
    }
  }
  if (namespace !== undefined && (typeof namespace !== 'string' || !/^[^{}\s]+$/.test(namespace))) {
    throw fail('config.online.namespace', 'must be a non-empty string without braces or spaces');
  }
  if (allowedLateness !== undefined) {
    try {
      toMillis(allowedLateness as DurationInput, 'config.online.allowedLateness');
    } catch (error) {
      throw fail('config.online.allowedLateness', (error as Error).message);
    }
  }
}
