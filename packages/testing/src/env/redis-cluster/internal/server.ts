/**
 * One `redis-server` process in cluster mode on loopback ports, with its own temporary directory.
 * Internal to the Redis Cluster test environment: not exported from the package.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../../internal/util.js';

/** The loopback address every spawned node binds to and announces. */
export const LOOPBACK = '127.0.0.1';

/** How a node is started. */
export interface ServerOptions {
  /** The `redis-server` executable (a path, or a name looked up on PATH). */
  readonly executable: string;
  /** How long one start attempt may take until "Ready to accept connections". */
  readonly readyTimeoutMs: number;
  /** Start attempts when a picked port turns out to be taken (another process won the race). */
  readonly attempts?: number;
}

/** A running `redis-server` of the cluster. */
export interface ClusterServer {
  /** The client port, on {@link LOOPBACK}. */
  readonly port: number;
  /** The cluster bus port (`cluster-port`), on {@link LOOPBACK}. */
  readonly busPort: number;
  /** The operating-system process id. */
  readonly pid: number;
  /** The node's temporary directory (`dir` and its `nodes.conf`), removed by {@link stop}. */
  readonly dir: string;
  /** The last lines the server logged, for error messages. */
  logTail(): string;
  /**
   * SIGTERM, then SIGKILL when the process has not exited after `graceMs`; waits for the exit,
   * then removes {@link ClusterServer.dir}. Idempotent.
   */
  stop(graceMs?: number): Promise<void>;
  /** Synchronous last resort (process exit): SIGKILL server and watchdog, remove the directory. */
  killNow(): void;
}

const READY_LINE = /Ready to accept connections/;
const PORT_TAKEN = /Address already in use|EADDRINUSE/i;
const LOG_TAIL_CHARS = 4000;

/**
 * Shell script of the per-node watchdog: it blocks reading its stdin, a pipe whose writing end
 * only this (test) process holds. When the test process dies in any way, even by SIGKILL, the
 * pipe closes, `read` returns and the watchdog kills the server and removes its directory. On a
 * normal `stop()` the watchdog is killed first.
 */
const WATCHDOG_SCRIPT = 'read -r _ || true; kill -9 "$1" 2>/dev/null; rm -rf -- "$2"';

/**
 * Kill switches of the servers of this process that are not stopped yet: pulled when the process
 * exits (normally, or by `process.exit`). A killed process is covered by the watchdogs.
 */
const live = new Set<() => void>();
let exitHookInstalled = false;

function track(killNow: () => void): void {
  live.add(killNow);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const kill of live) kill();
    live.clear();
  });
}

/**
 * Picks `count` distinct free TCP ports on {@link LOOPBACK} by listening on port 0 with all of
 * them open at once, then closing them. Another process may still take one before the server
 * binds it: {@link startServer} retries on "Address already in use".
 */
export async function pickFreePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, LOOPBACK, () => resolve());
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  }
}

/**
 * Starts one cluster-enabled `redis-server` on free loopback ports in a fresh temporary
 * directory, and resolves once it accepts connections. Retries with new ports when a port was
 * taken in between; cleans up (process and directory) when it fails.
 */
export async function startServer(options: ServerOptions): Promise<ClusterServer> {
  const attempts = options.attempts ?? 5;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const [port, busPort] = (await pickFreePorts(2)) as [number, number];
    const dir = await mkdtemp(join(tmpdir(), 'tandem-redis-cluster-'));
    try {
      return await launch(options, port, busPort, dir);
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) break;
    }
  }
  throw lastError;
}

/** The server could not bind a port it was given. */
class PortTakenError extends Error {}

function serverArgs(port: number, busPort: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    LOOPBACK,
    '--cluster-enabled',
    'yes',
    '--cluster-port',
    String(busPort),
    '--cluster-config-file',
    join(dir, 'nodes.conf'),
    '--cluster-announce-ip',
    LOOPBACK,
    // Redis's default, spelled out: a shorter timeout would make nodes of a busy machine flag
    // each other as failing (and the cluster CLUSTERDOWN) in the middle of a test.
    '--cluster-node-timeout',
    '15000',
    '--appendonly',
    'no',
    '--save',
    '',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
    '--loglevel',
    'notice',
  ];
}

async function launch(
  options: ServerOptions,
  port: number,
  busPort: number,
  dir: string,
): Promise<ClusterServer> {
  let child: ChildProcess;
  try {
    child = spawn(options.executable, serverArgs(port, busPort, dir), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  if (child.pid === undefined) {
    // Spawning failed (e.g. ENOENT); the cause comes as an 'error' event.
    const cause = await new Promise<Error>((resolve) => child.once('error', resolve));
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start ${options.executable}: ${describeError(cause)}`);
  }
  let log = '';
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const watchdog = startWatchdog(child.pid, dir);

  let stopping: Promise<void> | undefined;
  const killNow = () => {
    if (!exited) child.kill('SIGKILL');
    watchdog?.killNow();
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort at exit.
    }
  };
  track(killNow);
  const stop = (graceMs = 3000): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        // Unreferenced after start; keep the process alive until the server has exited.
        child.ref();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exit;
        clearTimeout(timer);
      }
      await watchdog?.stop();
      await rm(dir, { recursive: true, force: true });
      live.delete(killNow);
    })();
    return stopping;
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start within ${options.readyTimeoutMs} ms`)),
        options.readyTimeoutMs,
      );
      const onData = () => {
        if (READY_LINE.test(log)) done(undefined);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        const how = signal === null ? `code ${code}` : signal;
        const message = `redis-server on port ${port} exited (${how}) before it was ready`;
        done(PORT_TAKEN.test(log) ? new PortTakenError(message) : new Error(message));
      };
      const onError = (error: Error) => done(error);
      const done = (error: Error | undefined) => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
        if (error === undefined) resolve();
        else reject(error);
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
      onData();
    });
  } catch (error) {
    await stop(500);
    const tail = log.trim().split('\n').slice(-5).join('\n');
    const reason = describeError(error);
    const wrapped =
      error instanceof PortTakenError
        ? new PortTakenError(`${reason}:\n${tail}`)
        : new Error(tail === '' ? reason : `${reason}:\n${tail}`);
    throw wrapped;
  }

  // A forgotten close() must not keep the test process alive; the exit hook and the watchdog
  // still stop the server.
  child.unref();
  unrefStream(child.stdout);
  unrefStream(child.stderr);

  const server: ClusterServer = {
    port,
    busPort,
    pid: child.pid,
    dir,
    logTail: () => log,
    stop,
    killNow,
  };
  return server;
}

/** The watchdog of one server: {@link WATCHDOG_SCRIPT} in `sh`. */
interface Watchdog {
  /** Kills the watchdog (before it could act) and waits for its exit. */
  stop(): Promise<void>;
  /** Kills the watchdog, without waiting. */
  killNow(): void;
}

function startWatchdog(pid: number, dir: string): Watchdog | undefined {
  let child: ChildProcess;
  try {
    child = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'tandem-redis-watchdog', String(pid), dir], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  } catch {
    return undefined;
  }
  let gone = false;
  const exit = new Promise<void>((resolve) => {
    const settle = () => {
      gone = true;
      resolve();
    };
    child.once('exit', settle);
    // No `sh` (e.g. Windows): the exit hook is the only safety net.
    child.once('error', settle);
  });
  child.unref();
  unrefStream(child.stdin);
  return {
    stop: async () => {
      if (gone) return;
      child.ref();
      child.kill('SIGKILL');
      await exit;
    },
    killNow: () => {
      if (!gone) child.kill('SIGKILL');
    },
  };
}

function unrefStream(stream: unknown): void {
  (stream as { unref?: () => void } | null)?.unref?.();
}
