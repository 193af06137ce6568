import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisClusterUnavailableReason } from '../resolve.js';
import { pickFreePorts, startServer } from './server.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../../../', import.meta.url));
const SERVER_MODULE = fileURLToPath(new URL('./server.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `condition()` holds, for at most `ms`. */
async function eventually(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

/**
 * Runs a separate Node process that starts one server with `startServer`, prints its pid and
 * directory, then runs `then` (JavaScript).
 */
async function serverInChild(
  then: string,
): Promise<{ child: ChildProcess; pid: number; dir: string }> {
  const code = `
    import { startServer } from ${JSON.stringify(SERVER_MODULE)};
    const server = await startServer({ executable: 'redis-server', readyTimeoutMs: 10000 });
    process.stdout.write(JSON.stringify({ pid: server.pid, dir: server.dir }) + '\\n');
    ${then}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(out.slice(0, newline));
    });
    child.once('exit', (status) => reject(new Error(`child exited (${status}) before starting`)));
  });
  const { pid, dir } = JSON.parse(line) as { pid: number; dir: string };
  return { child, pid, dir };
}

describe('pickFreePorts', () => {
  it('gives distinct ports that can be listened on', async () => {
    const ports = await pickFreePorts(6);
    expect(new Set(ports).size).toBe(6);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });
});

describe('startServer failures', () => {
  let bin: string;
  beforeAll(async () => {
    bin = await mkdtemp(join(tmpdir(), 'tandem-fake-redis-'));
  });
  afterAll(async () => {
    await rm(bin, { recursive: true, force: true });
  });

  /** A fake `redis-server` that logs `message`, counts its runs in a file and exits 1. */
  async function fakeServer(name: string, message: string): Promise<string> {
    const path = join(bin, name);
    await writeFile(path, `#!/bin/sh\necho run >> "${path}.runs"\necho "${message}"\nexit 1\n`);
    await chmod(path, 0o755);
    return path;
  }
  const runs = async (path: string) =>
    (await readFile(`${path}.runs`, 'utf8')).trim().split('\n').length;

  it('retries with new ports when a port was taken in between, then gives up', async () => {
    const path = await fakeServer(
      'taken',
      'Could not create server TCP listening socket 127.0.0.1:1: bind: Address already in use',
    );
    await expect(
      startServer({ executable: path, readyTimeoutMs: 5000, attempts: 3 }),
    ).rejects.toThrow(/exited \(code 1\) before it was ready:\n.*Address already in use/);
    expect(await runs(path)).toBe(3);
  });

  it('does not retry other failures, and says what the server logged', async () => {
    const path = await fakeServer('broken', 'FATAL CONFIG FILE ERROR');
    await expect(startServer({ executable: path, readyTimeoutMs: 5000 })).rejects.toThrow(
      /exited \(code 1\) before it was ready:\nFATAL CONFIG FILE ERROR/,
    );
    expect(await runs(path)).toBe(1);
  });

  it('says when the executable cannot be run', async () => {
    await expect(
      startServer({ executable: join(bin, 'missing'), readyTimeoutMs: 5000 }),
    ).rejects.toThrow(/could not start .*missing: .*ENOENT/);
  });
});

describe.skipIf(await redisClusterUnavailableReason())('startServer', () => {
  it('starts a cluster-enabled server without persistence, and stop() removes every trace', async () => {
    const server = await startServer({ executable: 'redis-server', readyTimeoutMs: 10_000 });
    const client = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    try {
      await client.connect();
      const config = (await client.call('CONFIG', 'GET', '*')) as string[];
      const get = (name: string) => config[config.indexOf(name) + 1];
      expect(get('cluster-enabled')).toBe('yes');
      expect(get('appendonly')).toBe('no');
      expect(get('save')).toBe('');
      expect(get('bind')).toBe('127.0.0.1');
      expect(get('cluster-port')).toBe(String(server.busPort));
      expect(get('dir')).toBe(server.dir);
      expect(existsSync(join(server.dir, 'nodes.conf'))).toBe(true);
    } finally {
      client.disconnect();
      await Promise.all([server.stop(), server.stop()]);
    }
    expect(alive(server.pid)).toBe(false);
    expect(existsSync(server.dir)).toBe(false);
  });

  it('stops the server when the test process exits without stopping it', async () => {
    const { child, pid, dir } = await serverInChild('/* nothing keeps the process alive */');
    expect(await eventually(() => child.exitCode !== null)).toBe(true);
    expect(child.exitCode).toBe(0);
    expect(await eventually(() => !alive(pid) && !existsSync(dir))).toBe(true);
  });

  it('stops the server when the test process is killed (SIGKILL)', async () => {
    const { child, pid, dir } = await serverInChild('setInterval(() => {}, 1000);');
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    expect(await eventually(() => !alive(pid) && !existsSync(dir))).toBe(true);
  });
});
