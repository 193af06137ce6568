/**
 * One `redis-server` process in cluster mode on loopback ports, with its own temporary directory.
 * Internal to the Redis Cluster test environment: not exported from the package. The process
 * handling (ready detection, exit hook, watchdog) lives in `env/internal/redis-process.ts`.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LOOPBACK,
  launchRedisProcess,
  PortTakenError,
  pickFreePorts,
} from '../../internal/redis-process.js';

export { LOOPBACK, pickFreePorts };

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
      const server = await launchRedisProcess({
        executable: options.executable,
        args: serverArgs(port, busPort, dir),
        port,
        dir,
        readyTimeoutMs: options.readyTimeoutMs,
      });
      const { pid, logTail, stop, killNow } = server;
      return { port, busPort, pid, dir, logTail, stop, killNow };
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) break;
    }
  }
  throw lastError;
}

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
