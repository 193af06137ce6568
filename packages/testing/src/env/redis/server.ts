import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import {
  findOnPath,
  LOOPBACK,
  launchRedisProcess,
  PortTakenError,
  pickFreePorts,
  type RedisProcess,
} from '../internal/redis-process.js';
import { describeError, noticeOnce, withTimeout } from '../internal/util.js';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** The `redis-server` executable (a path, or a name looked up on PATH); default the one on PATH. */
  readonly executable?: string;
  /** How long one start (or restart) may take until the server accepts connections; default 15 s. */
  readonly readyTimeoutMs?: number;
}

/** Options of {@link TestRedisServer.stop}. */
export interface RedisServerStopOptions {
  /**
   * Save the dataset on the way down (`SHUTDOWN SAVE`, to the server's own directory), so that
   * the next {@link TestRedisServer.start} comes back with the same keys, like a Redis with
   * persistence. Default false: the server is stopped with SIGTERM and, having no persistence,
   * comes back empty, like a cache node that lost its memory.
   */
  readonly keepData?: boolean;
}

/**
 * A standalone `redis-server` of this test process, which a test can stop and start again on the
 * same port to simulate an outage. Nothing else uses it, so keys need no prefix.
 */
export interface TestRedisServer {
  /** `127.0.0.1`. */
  readonly host: string;
  /** The client port; the same across {@link TestRedisServer.start | restarts}. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Whether the server process is up (false after `stop()`, or when it died on its own). */
  readonly running: boolean;
  /** The current server process id; `undefined` while stopped. */
  readonly pid: number | undefined;
  /**
   * A new ioredis client of this server, with settings that fail fast while the server is down
   * and reconnect quickly when it is back:
   * - `maxRetriesPerRequest: 0`: a command issued or in flight while the connection is down is
   *   rejected at the next failed reconnection attempt (`MaxRetriesPerRequestError`) instead of
   *   waiting for 20 of them (about 10 s with ioredis's defaults);
   * - `retryStrategy`: reconnect every 50 ms, for ever, so the client is back within ~50 ms of a
   *   restart (and a queued command waits at most that long before it fails);
   * - `connectTimeout: 2000`.
   *
   * The offline queue stays on, so commands sent before the first connection are not refused.
   * An `error` listener is attached (ioredis would print every refused reconnection otherwise).
   * `close()` disconnects every client made here.
   *
   * @param overrides - ioredis options that replace the defaults above
   */
  client(overrides?: RedisOptions): Redis;
  /** Stops the server (an outage); the port stays reserved for `start()`. Idempotent. */
  stop(options?: RedisServerStopOptions): Promise<void>;
  /**
   * Starts the server again on the same port and directory, resolving once it accepts
   * connections. No-op while running.
   * @throws Error when the port was taken by another process meanwhile, or the start fails
   */
  start(): Promise<void>;
  /** Disconnects the clients, stops the server and removes its directory. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DUMP_FILE = 'dump.rdb';
const START_ATTEMPTS = 5;

/** Delay between reconnection attempts of {@link TestRedisServer.client}, ms. */
const RECONNECT_DELAY_MS = 50;

function serverArgs(port: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    LOOPBACK,
    '--appendonly',
    'no',
    '--save',
    '',
    '--dir',
    dir,
    '--dbfilename',
    DUMP_FILE,
    '--daemonize',
    'no',
    '--logfile',
    '',
    '--loglevel',
    'notice',
  ];
}

/**
 * Starts a standalone `redis-server` (no persistence, bound to 127.0.0.1, a free port, its own
 * temporary directory) for outage tests: {@link TestRedisServer.stop} takes it down,
 * {@link TestRedisServer.start} brings it back on the same port, and
 * {@link TestRedisServer.client} makes clients that fail fast meanwhile. The process is stopped by
 * `close()`, at the latest when the test process exits, even when it is killed (a watchdog per
 * process). Guard suites with {@link redisServerUnavailableReason} so they are skipped, not
 * failed, where `redis-server` is not installed.
 *
 * @param options - the executable and the start budget
 * @throws Error when `redis-server` cannot be run or does not start within the budget
 *
 * @example
 * ```ts
 * describe.skipIf(await redisServerUnavailableReason())('Redis outage', () => {
 *   let server: TestRedisServer;
 *   beforeAll(async () => { server = await startRedisServer(); });
 *   afterAll(() => server?.close());
 *   it('recovers', async () => {
 *     const client = server.client();
 *     await server.stop();
 *     await expect(client.ping()).rejects.toThrow();
 *     await server.start();
 *     expect(await client.ping()).toBe('PONG');
 *   });
 * });
 * ```
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const executable = options.executable ?? (await redisServerExecutable()) ?? 'redis-server';
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const dir = await mkdtemp(join(tmpdir(), 'tandem-redis-server-'));
  const launch = (port: number) =>
    launchRedisProcess({
      executable,
      args: serverArgs(port, dir),
      port,
      dir,
      readyTimeoutMs,
      removeDir: false,
    });

  let first: RedisProcess | undefined;
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS && first === undefined; attempt++) {
    const [port] = (await pickFreePorts(1)) as [number];
    try {
      first = await launch(port);
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) break;
    }
  }
  if (first === undefined) {
    await rm(dir, { recursive: true, force: true });
    throw lastError;
  }

  const port = first.port;
  const url = `redis://${LOOPBACK}:${port}`;
  /** The server process of the handle, with whether it has exited (stopped, or died). */
  interface Current {
    readonly proc: RedisProcess;
    gone: boolean;
  }
  const track = (proc: RedisProcess): Current => {
    const entry: Current = { proc, gone: false };
    void proc.exited.then(() => {
      entry.gone = true;
    });
    return entry;
  };
  let current: Current | undefined = track(first);
  const clients = new Set<Redis>();
  let closed = false;
  // stop/start/close run one at a time, in call order.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  };

  const stopCurrent = async (keepData: boolean) => {
    const entry = current;
    if (entry === undefined) return;
    if (keepData && !entry.gone) await shutdownSave(port, entry.proc);
    await entry.proc.stop();
    current = undefined;
    // A dataset saved by an earlier `stop({ keepData: true })` must not come back.
    if (!keepData) await rm(join(dir, DUMP_FILE), { force: true });
  };

  return {
    host: LOOPBACK,
    port,
    url,
    get running() {
      return current !== undefined && !current.gone;
    },
    get pid() {
      return current === undefined || current.gone ? undefined : current.proc.pid;
    },
    client(overrides = {}) {
      const client = new Redis({
        host: LOOPBACK,
        port,
        maxRetriesPerRequest: 0,
        retryStrategy: () => RECONNECT_DELAY_MS,
        connectTimeout: 2000,
        ...overrides,
      });
      client.on('error', () => {});
      clients.add(client);
      client.once('end', () => clients.delete(client));
      return client;
    },
    stop: (stopOptions = {}) =>
      serial(async () => {
        if (closed) return;
        await stopCurrent(stopOptions.keepData ?? false);
      }),
    start: () =>
      serial(async () => {
        if (closed) throw new Error(`the Redis server on port ${port} is closed`);
        if (current !== undefined && !current.gone) return;
        await stopCurrent(false);
        current = track(await restart(() => launch(port), port));
      }),
    close: () =>
      serial(async () => {
        if (closed) return;
        closed = true;
        for (const client of clients) client.disconnect();
        clients.clear();
        try {
          await stopCurrent(false);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
  };
}

/**
 * Starts the server on its old port. The port was free a moment ago and Redis binds with
 * SO_REUSEADDR, so "Address already in use" means another process took it: retried briefly (it
 * may be a connection attempt in flight), then reported.
 */
async function restart(launch: () => Promise<RedisProcess>, port: number): Promise<RedisProcess> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await launch();
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) break;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
  throw new Error(`could not restart redis-server on port ${port}: ${describeError(lastError)}`);
}

/**
 * `SHUTDOWN SAVE` over a connection of its own: the server writes its dataset to `dump.rdb` in
 * its directory (also without save points) and exits. Falls back to a plain stop when the command
 * cannot be sent.
 */
async function shutdownSave(port: number, proc: RedisProcess): Promise<void> {
  const admin = new Redis({
    host: LOOPBACK,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectTimeout: 2000,
  });
  admin.on('error', () => {});
  try {
    await admin.connect();
    // The server closes the connection instead of answering when the shutdown succeeds.
    await admin.call('SHUTDOWN', 'SAVE').catch(() => {});
    await withTimeout(proc.exited, 10_000);
  } catch (error) {
    throw new Error(
      `SHUTDOWN SAVE of redis-server on port ${port} failed (${describeError(error)}):\n${proc
        .logTail()
        .trim()
        .split('\n')
        .slice(-5)
        .join('\n')}`,
    );
  } finally {
    admin.disconnect();
  }
}

let executableOnPath: Promise<string | undefined> | undefined;

/** `redis-server` on PATH, looked up once per process. */
function redisServerExecutable(): Promise<string | undefined> {
  executableOnPath ??= findOnPath('redis-server', process.env.PATH ?? '');
  return executableOnPath;
}

/**
 * Why {@link startRedisServer} cannot run in this process (`redis-server` is not on PATH), or
 * `undefined` when it can. The reason is also printed once. Made for vitest's `skipIf`, which
 * skips on any truthy value.
 *
 * @example
 * ```ts
 * describe.skipIf(await redisServerUnavailableReason())('Redis outage', () => { ... });
 * ```
 */
export async function redisServerUnavailableReason(): Promise<string | undefined> {
  if ((await redisServerExecutable()) !== undefined) return undefined;
  const reason =
    'redis-server is not on PATH (install Redis to run the outage tests, which stop and restart a server of their own)';
  noticeOnce('redis-server-unavailable', `Redis outage tests are skipped: ${reason}.`);
  return reason;
}
