import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerAvailability, probeDocker } from './docker.js';

// A home directory without .testcontainers.properties, so the developer's settings do not leak in.
const home = mkdtempSync(join(tmpdir(), 'tandem-docker-probe-'));
const servers: Server[] = [];

afterAll(() => {
  for (const server of servers) server.close();
  rmSync(home, { recursive: true, force: true });
});

async function listenOnSocket(server: Server, name: string): Promise<string> {
  const path = join(home, name);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return path;
}

describe('probeDocker', () => {
  it('reports a missing socket at once, with the reason', async () => {
    const started = performance.now();
    const result = await probeDocker({
      env: { DOCKER_HOST: `unix://${join(home, 'missing.sock')}` },
      homeDir: home,
    });
    expect(result).toEqual({ available: false, reason: expect.stringContaining('missing.sock') });
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('does not hang on an engine that accepts the connection but never answers', async () => {
    const path = await listenOnSocket(
      createTcpServer(() => {}),
      'silent.sock',
    );
    const started = performance.now();
    const result = await probeDocker({
      env: { DOCKER_HOST: `unix://${path}` },
      homeDir: home,
      timeoutMs: 200,
    });
    expect(result).toEqual({ available: false, reason: expect.stringContaining('timed out') });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('recognises an engine that answers GET /_ping', async () => {
    const engine = createHttpServer((req, res) => {
      res.writeHead(req.url === '/_ping' ? 200 : 404).end('OK');
    });
    const path = await listenOnSocket(engine, 'engine.sock');
    const result = await probeDocker({ env: { DOCKER_HOST: `unix://${path}` }, homeDir: home });
    expect(result).toEqual({ available: true, endpoint: `unix://${path}` });
  });

  it('reports an unusable DOCKER_HOST instead of throwing', async () => {
    const result = await probeDocker({ env: { DOCKER_HOST: 'ssh://somewhere' }, homeDir: home });
    expect(result).toEqual({ available: false, reason: expect.stringContaining('ssh://') });
  });

  it('answers quickly for the real environment, and caches the answer', async () => {
    const started = performance.now();
    const first = await dockerAvailability();
    expect(performance.now() - started).toBeLessThan(2500);
    expect(await dockerAvailability()).toBe(first);
  });
});
