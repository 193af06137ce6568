import { Client } from 'pg';
import { type DockerAvailability, dockerAvailability } from '../docker/docker.js';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { resolveOnce } from '../internal/state.js';
import {
  CONFIGURED_PROBE_TIMEOUT_MS,
  describeError,
  type Env,
  PROBE_TIMEOUT_MS,
  redactUrl,
  withTimeout,
} from '../internal/util.js';

/** The PostgreSQL service this machine kind provides: 127.0.0.1:5432, user and db `postgres`. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Where real-Postgres tests of this process connect to, or why they fall back to PGlite. */
export type PostgresTarget =
  | { readonly origin: 'env' | 'local'; readonly url: string }
  | { readonly origin: 'container' }
  | { readonly origin: 'embedded'; readonly reason: string };

/** Inputs of {@link resolvePostgres}; every field defaults to the real environment. */
export interface PostgresResolveOptions {
  /** Environment variables to read `DATABASE_URL` from. */
  readonly env?: Env;
  /** The local server to try when `DATABASE_URL` is not set. */
  readonly localUrl?: string;
  /** Probe budget (default 1 s for the local server, 3 s for `DATABASE_URL`). */
  readonly timeoutMs?: number;
  /** Whether a Docker engine answers (default: the cached real probe). */
  readonly probeDocker?: () => Promise<DockerAvailability>;
}

/**
 * Decides where real-Postgres tests connect: `DATABASE_URL` when set (it must answer, otherwise
 * this rejects with {@link TestServiceUnavailableError} rather than silently using something
 * else); else the local server when it answers `SELECT 1` within ~1 s; else a testcontainers
 * `postgres:16-alpine` when a Docker engine answers; else `embedded` (PGlite) with the reason.
 *
 * @param options - overrides for the environment, local URL, timeouts and Docker probe
 */
export async function resolvePostgres(
  options: PostgresResolveOptions = {},
): Promise<PostgresTarget> {
  const env = options.env ?? process.env;
  const configured = env.DATABASE_URL;
  if (configured !== undefined && configured !== '') {
    const failure = await probePostgres(
      configured,
      options.timeoutMs ?? CONFIGURED_PROBE_TIMEOUT_MS,
    );
    if (failure !== undefined) {
      throw new TestServiceUnavailableError(
        'postgres',
        `DATABASE_URL (${redactUrl(configured)}) did not answer: ${failure}`,
      );
    }
    return { origin: 'env', url: configured };
  }
  const localUrl = options.localUrl ?? LOCAL_POSTGRES_URL;
  const localFailure = await probePostgres(localUrl, options.timeoutMs ?? PROBE_TIMEOUT_MS);
  if (localFailure === undefined) return { origin: 'local', url: localUrl };
  const docker = await (options.probeDocker ?? dockerAvailability)();
  if (docker.available) return { origin: 'container' };
  return {
    origin: 'embedded',
    reason: `DATABASE_URL is not set, ${redactUrl(localUrl)} did not answer (${localFailure}) and ${docker.reason}`,
  };
}

/** {@link resolvePostgres} for the real environment, resolved once per process and cached. */
export function postgresTarget(): Promise<PostgresTarget> {
  return resolveOnce('postgres', () => resolvePostgres());
}

/**
 * Connects to `url` and runs `SELECT 1` within `timeoutMs`.
 *
 * @returns `undefined` when the server answered, else why not
 */
export async function probePostgres(url: string, timeoutMs: number): Promise<string | undefined> {
  let client: Client;
  try {
    client = new Client({
      connectionString: url,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
    });
  } catch (error) {
    return describeError(error);
  }
  client.on('error', () => {});
  try {
    await withTimeout(
      client.connect().then(() => client.query('SELECT 1')),
      timeoutMs + 100,
    );
  } catch (error) {
    void client.end().catch(() => {});
    return describeError(error);
  }
  await client.end().catch(() => {});
  return undefined;
}
