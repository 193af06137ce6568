import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerUnavailableReason, startRedisServer, type TestRedisServer } from './server.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
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
async function eventually(condition: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

const answers = (client: Redis) => () =>
  client.ping().then(
    () => true,
    () => false,
  );

async function configOf(client: Redis): Promise<(name: string) => string | undefined> {
  const config = (await client.call('CONFIG', 'GET', '*')) as string[];
  return (name) => {
    const at = config.indexOf(name);
    return at < 0 ? undefined : config[at + 1];
  };
}

describe('startRedisServer failures', () => {
  it('says when the executable cannot be run', async () => {
    await expect(
      startRedisServer({ executable: '/nonexistent/redis-server', readyTimeoutMs: 5000 }),
    ).rejects.toThrow(/could not start .*redis-server: .*ENOENT/);
  });
});

describe.skipIf(await redisServerUnavailableReason())('startRedisServer', () => {
  let server: TestRedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    client = server.client();
  });
  afterAll(() => server?.close());

  it('is a standalone server on loopback, without persistence, in its own directory', async () => {
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(server.host).toBe('127.0.0.1');
    expect(server.running).toBe(true);
    expect(alive(server.pid!)).toBe(true);
    const get = await configOf(client);
    expect(get('port')).toBe(String(server.port));
    expect(get('bind')).toBe('127.0.0.1');
    expect(get('cluster-enabled')).toBe('no');
    expect(get('appendonly')).toBe('no');
    expect(get('save')).toBe('');
    expect(get('dir')).toMatch(/tandem-redis-server-/);
  });

  it('stops (commands fail instead of waiting) and starts again on the same port, empty', async () => {
    await client.set('outage:a', '1');
    const pid = server.pid!;
    await server.stop();
    expect(server.running).toBe(false);
    expect(server.pid).toBeUndefined();
    expect(alive(pid)).toBe(false);
    // Issued while reconnecting: rejected at the next failed attempt, not queued for ever.
    await expect(client.get('outage:a')).rejects.toThrow(/max retries per request/i);
    await server.stop(); // idempotent

    await server.start();
    expect(server.running).toBe(true);
    expect(server.pid).not.toBe(pid);
    // The same client reconnects by itself.
    expect(await eventually(answers(client))).toBe(true);
    expect((await configOf(client))('port')).toBe(String(server.port));
    expect(await client.get('outage:a')).toBeNull();
    await server.start(); // no-op while running
  });

  it('keeps the dataset across a restart with stop({ keepData: true }), and only then', async () => {
    await client.set('outage:b', 'kept');
    await server.stop({ keepData: true });
    await server.start();
    expect(await eventually(answers(client))).toBe(true);
    expect(await client.get('outage:b')).toBe('kept');

    await server.stop();
    await server.start();
    expect(await eventually(answers(client))).toBe(true);
    expect(await client.get('outage:b')).toBeNull();
  });

  it('notices a server that died on its own, and start() brings it back', async () => {
    process.kill(server.pid!, 'SIGKILL');
    expect(await eventually(() => !server.running)).toBe(true);
    await server.start();
    expect(await eventually(answers(client))).toBe(true);
  });

  it('client(overrides) replaces the fast-failure defaults', async () => {
    const noQueue = server.client({ enableOfflineQueue: false, lazyConnect: true });
    await noQueue.connect();
    await server.stop();
    // Without the offline queue a command fails at once while disconnected.
    await expect(noQueue.get('x')).rejects.toThrow(/enableOfflineQueue/);
    await server.start();
    expect(await eventually(answers(noQueue))).toBe(true);
  });
});

describe.skipIf(await redisServerUnavailableReason())('startRedisServer cleanup', () => {
  it('close() disconnects the clients, stops the server and removes its directory', async () => {
    const server = await startRedisServer();
    const client = server.client();
    const dir = (await configOf(client))('dir')!;
    const pid = server.pid!;
    expect(existsSync(dir)).toBe(true);
    await Promise.all([server.close(), server.close()]);
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(await eventually(() => client.status === 'end')).toBe(true);
    await expect(server.start()).rejects.toThrow(/closed/);
  });

  it('stops the server and removes its directory when the test process is killed', async () => {
    const code = `
      import { startRedisServer } from ${JSON.stringify(SERVER_MODULE)};
      const server = await startRedisServer();
      const client = server.client();
      const config = await client.call('CONFIG', 'GET', 'dir');
      await server.stop({ keepData: true });
      await server.start();
      process.stdout.write(JSON.stringify({ pid: server.pid, dir: config[1] }) + '\\n');
      setInterval(() => {}, 1000);`;
    const child: ChildProcess = spawn(
      process.execPath,
      ['--conditions=tandem-source', '--import', 'tsx', '--input-type=module', '-e', code],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
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
    expect(alive(pid)).toBe(true);
    // The restarted server's directory holds the saved dataset; it goes too.
    expect(existsSync(`${dir}/dump.rdb`)).toBe(true);
    child.kill('SIGKILL');
    expect(await eventually(() => !alive(pid) && !existsSync(dir))).toBe(true);
  });
});
