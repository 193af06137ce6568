import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { resolveOnce } from '../internal/state.js';
import { describeError, PROBE_TIMEOUT_MS, withTimeout } from '../internal/util.js';

/** Whether a Docker-compatible engine answers, i.e. whether testcontainers can be used. */
export type DockerAvailability =
  | { readonly available: true; readonly endpoint: string }
  | { readonly available: false; readonly reason: string };

/** Inputs of {@link probeDocker}; every field defaults to the real process environment. */
export interface DockerProbeOptions {
  /** Environment variables to read `DOCKER_HOST` / `DOCKER_TLS_VERIFY` from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long the engine may take to answer `GET /_ping`. */
  readonly timeoutMs?: number;
  /** Home directory holding `.testcontainers.properties` and `.docker/`. */
  readonly homeDir?: string;
}

type Endpoint =
  | { readonly label: string; readonly socketPath: string }
  | { readonly label: string; readonly host: string; readonly port: number; readonly tls: boolean };

/**
 * Cheaply checks whether a Docker engine answers, looking where testcontainers looks: the
 * `tc.host` / `docker.host` of `~/.testcontainers.properties`, `DOCKER_HOST`, then the usual
 * socket paths (`/var/run/docker.sock`, rootless and Docker Desktop sockets). A socket that does
 * not exist costs nothing; an engine that exists is asked `GET /_ping` with a short timeout, so
 * this never hangs. TLS endpoints are only checked for an open TCP port.
 *
 * @param options - overrides for the environment, timeout and home directory
 */
export async function probeDocker(options: DockerProbeOptions = {}): Promise<DockerAvailability> {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  let endpoint: Endpoint | undefined;
  try {
    endpoint = findEndpoint(env, options.homeDir ?? homedir());
  } catch (error) {
    return { available: false, reason: `bad Docker configuration: ${describeError(error)}` };
  }
  if (endpoint === undefined) {
    return { available: false, reason: 'no Docker engine found (no DOCKER_HOST, no docker.sock)' };
  }
  try {
    await withTimeout(ping(endpoint, timeoutMs), timeoutMs);
    return { available: true, endpoint: endpoint.label };
  } catch (error) {
    return {
      available: false,
      reason: `Docker engine at ${endpoint.label} did not answer: ${describeError(error)}`,
    };
  }
}

function findEndpoint(
  env: Readonly<Record<string, string | undefined>>,
  home: string,
): Endpoint | undefined {
  const properties = readProperties(join(home, '.testcontainers.properties'));
  const tlsVerify = (env.DOCKER_TLS_VERIFY ?? properties.get('docker.tls.verify')) === '1';
  const configured = properties.get('tc.host') ?? env.DOCKER_HOST ?? properties.get('docker.host');
  if (configured !== undefined && configured !== '') return parseDockerHost(configured, tlsVerify);
  const candidates = [
    '/var/run/docker.sock',
    env.XDG_RUNTIME_DIR === undefined ? undefined : join(env.XDG_RUNTIME_DIR, 'docker.sock'),
    join(home, '.docker', 'run', 'docker.sock'),
    join(home, '.docker', 'desktop', 'docker.sock'),
    join('/run', 'user', String(userInfo().uid), 'docker.sock'),
  ];
  const socketPath = candidates.find((path) => path !== undefined && existsSync(path));
  return socketPath === undefined ? undefined : { label: `unix://${socketPath}`, socketPath };
}

function parseDockerHost(value: string, tlsVerify: boolean): Endpoint {
  const url = new URL(value);
  switch (url.protocol) {
    case 'unix:':
      return { label: value, socketPath: url.pathname };
    case 'npipe:':
      return { label: value, socketPath: url.pathname.replace(/\//g, '\\') };
    case 'tcp:':
    case 'http:':
    case 'https:': {
      const tls = tlsVerify || url.protocol === 'https:';
      const port = url.port === '' ? (tls ? 2376 : 2375) : Number(url.port);
      return { label: value, host: url.hostname.replace(/^\[|\]$/g, ''), port, tls };
    }
    default:
      throw new Error(`unsupported Docker host ${value}`);
  }
}

function readProperties(path: string): Map<string, string> {
  const properties = new Map<string, string>();
  if (!existsSync(path)) return properties;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const match = /^\s*([\w.]+)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) properties.set(match[1], match[2]);
  }
  return properties;
}

function ping(endpoint: Endpoint, timeoutMs: number): Promise<void> {
  if ('host' in endpoint && endpoint.tls) {
    // Without the client certificates we can only check that something listens there.
    return new Promise((resolve, reject) => {
      const socket = connect({ host: endpoint.host, port: endpoint.port, timeout: timeoutMs });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('timeout', () => socket.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      socket.once('error', reject);
    });
  }
  return new Promise((resolve, reject) => {
    const target =
      'socketPath' in endpoint
        ? { socketPath: endpoint.socketPath }
        : { host: endpoint.host, port: endpoint.port };
    const req = request({ ...target, method: 'GET', path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => {
        if (res.statusCode === 200) resolve();
        else reject(new Error(`GET /_ping answered HTTP ${res.statusCode}`));
      });
    });
    req.once('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

/**
 * {@link probeDocker} for the real environment, probed once per process and cached (see
 * `resetTestEnvironment`).
 */
export function dockerAvailability(): Promise<DockerAvailability> {
  return resolveOnce('docker', () => probeDocker());
}
