/**
 * One `redis-server` process on a loopback port: spawn, wait for "Ready to accept connections",
 * stop, and make sure it never outlives the test process (an exit hook plus a watchdog per
 * process). Shared by the standalone server (`env/redis/server.ts`) and the Redis Cluster
 * (`env/redis-cluster/internal/server.ts`). Internal: not exported from the package.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants, rmSync } from 'node:fs';
import { access, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import { describeError } from './util.js';

/** The loopback address every spawned server binds to (and a cluster node announces). */
export const LOOPBACK = '127.0.0.1';

/** How one `redis-server` process is launched. */
export interface RedisProcessOptions {
  /** The `redis-server` executable (a path, or a name looked up on PATH). */
  readonly executable: string;
  /** Its command-line arguments (they must bind `port`). */
  readonly args: readonly string[];
  /** The client port the arguments bind, for messages. */
  readonly port: number;
  /** The process's working directory (`dir`), which the watchdog removes if the test process dies. */
  readonly dir: string;
  /** How long the start may take until "Ready to accept connections". */
  readonly readyTimeoutMs: number;
  /**
   * Whether {@link RedisProcess.stop} (and a failed start) remove {@link RedisProcessOptions.dir};
   * default true. False when the directory outlives the process (a server restarted in it).
   */
  readonly removeDir?: boolean;
}

/** A running `redis-server`. */
export interface RedisProcess {
  /** The client port, on {@link LOOPBACK}. */
  readonly port: number;
  /** The operating-system process id. */
  readonly pid: number;
  /** The process's directory. */
  readonly dir: string;
  /** The last lines the server logged, for error messages. */
  logTail(): string;
  /** Resolves when the process has exited (stopped, or died on its own). */
  readonly exited: Promise<void>;
  /**
   * SIGTERM, then SIGKILL when the process has not exited after `graceMs`; waits for the exit,
   * then removes the directory (unless `removeDir: false`). Idempotent.
   */
  stop(graceMs?: number): Promise<void>;
  /** Synchronous last resort (process exit): SIGKILL server and watchdog, remove the directory. */
  killNow(): void;
}

/** The server could not bind a port it was given ("Address already in use"). */
export class PortTakenError extends Error {}

const READY_LINE = /Ready to accept connections/;
const PORT_TAKEN = /Address already in use|EADDRINUSE/i;
const LOG_TAIL_CHARS = 4000;

/**
 * Shell script of the per-process watchdog: it blocks reading its stdin, a pipe whose writing end
 * only this (test) process holds. When the test process dies in any way, even by SIGKILL, the
 * pipe closes, `read` returns and the watchdog kills the server and removes its directory. On a
 * normal `stop()` the watchdog is killed first (SIGKILL). It ignores SIGINT, SIGTERM and SIGHUP:
 * those also reach it when they are sent to the whole process group (Ctrl-C in a terminal,
 * `timeout`), and it must outlive the test process to clean up after it.
 */
const WATCHDOG_SCRIPT =
  'trap "" INT TERM HUP; read -r _ || true; kill -9 "$1" 2>/dev/null; rm -rf -- "$2"';

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
 * binds it: callers retry on {@link PortTakenError}.
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

/** The first executable file called `name` in the `PATH`-style list `path`. */
export async function findOnPath(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * Spawns `redis-server` and resolves once it accepts connections. On failure the process is
 * stopped (and the directory removed unless `removeDir: false`) and the error carries the last
 * lines the server logged; a port that was taken in between gives a {@link PortTakenError}.
 */
export async function launchRedisProcess(options: RedisProcessOptions): Promise<RedisProcess> {
  const { executable, port, dir } = options;
  const removeDir = options.removeDir ?? true;
  const cleanDir = async () => {
    if (removeDir) await rm(dir, { recursive: true, force: true });
  };
  let child: ChildProcess;
  try {
    child = spawn(executable, [...options.args], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    await cleanDir();
    throw error;
  }
  if (child.pid === undefined) {
    // Spawning failed (e.g. ENOENT); the cause comes as an 'error' event.
    const cause = await new Promise<Error>((resolve) => child.once('error', resolve));
    await cleanDir();
    throw new Error(`could not start ${executable}: ${describeError(cause)}`);
  }
  let log = '';
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      hasExited = true;
      resolve();
    });
  });
  const watchdog = startWatchdog(child.pid, dir);

  let stopping: Promise<void> | undefined;
  const killNow = () => {
    if (!hasExited) child.kill('SIGKILL');
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
      if (!hasExited) {
        // Unreferenced after start; keep the process alive until the server has exited.
        child.ref();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await watchdog?.stop();
      await cleanDir();
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
    throw error instanceof PortTakenError
      ? new PortTakenError(`${reason}:\n${tail}`)
      : new Error(tail === '' ? reason : `${reason}:\n${tail}`);
  }

  // A forgotten stop() must not keep the test process alive; the exit hook and the watchdog
  // still stop the server.
  child.unref();
  unrefStream(child.stdout);
  unrefStream(child.stderr);

  return { port, pid: child.pid, dir, logTail: () => log, exited, stop, killNow };
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
