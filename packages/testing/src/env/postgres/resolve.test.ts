import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { LOCAL_POSTGRES_URL, probePostgres, resolvePostgres } from './resolve.js';

const noDocker = async () => ({ available: false as const, reason: 'no Docker (test)' });
const withDocker = async () => ({ available: true as const, endpoint: 'unix:///test.sock' });
const refused = 'postgres://postgres@127.0.0.1:1/postgres';

// A real server to point DATABASE_URL at, when this machine has one.
const realUrl =
  process.env.DATABASE_URL ??
  ((await probePostgres(LOCAL_POSTGRES_URL, 1000)) === undefined ? LOCAL_POSTGRES_URL : undefined);

let silent: Server;
let silentUrl: string;
beforeAll(async () => {
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  silentUrl = `postgres://postgres@127.0.0.1:${address.port}/postgres`;
});
afterAll(() => {
  silent.close();
});

describe('resolvePostgres', () => {
  it.skipIf(realUrl === undefined)('uses DATABASE_URL when it is set', async () => {
    const target = await resolvePostgres({
      env: { DATABASE_URL: realUrl },
      localUrl: refused,
      probeDocker: noDocker,
    });
    expect(target).toEqual({ origin: 'env', url: realUrl });
  });

  it('fails fast, without a password in the message, when DATABASE_URL does not answer', async () => {
    const started = performance.now();
    const resolution = resolvePostgres({
      env: { DATABASE_URL: 'postgres://me:s3cret@127.0.0.1:1/postgres' },
      probeDocker: withDocker,
    });
    await expect(resolution).rejects.toBeInstanceOf(TestServiceUnavailableError);
    await expect(resolution).rejects.toThrow(
      /DATABASE_URL \(postgres:\/\/me:\*\*\*@127\.0\.0\.1:1/,
    );
    await expect(resolution).rejects.not.toThrow(/s3cret/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('gives up on a server that accepts connections but never answers', async () => {
    const started = performance.now();
    await expect(
      resolvePostgres({ env: { DATABASE_URL: silentUrl }, timeoutMs: 300 }),
    ).rejects.toThrow(/timeout|timed out/);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it.skipIf(realUrl !== LOCAL_POSTGRES_URL)('uses the local server when it answers', async () => {
    expect(await resolvePostgres({ env: {}, probeDocker: noDocker })).toEqual({
      origin: 'local',
      url: LOCAL_POSTGRES_URL,
    });
  });

  it('uses a container when only Docker answers', async () => {
    expect(await resolvePostgres({ env: {}, localUrl: refused, probeDocker: withDocker })).toEqual({
      origin: 'container',
    });
  });

  it('falls back to PGlite, saying why, when no server can be had', async () => {
    const target = await resolvePostgres({ env: {}, localUrl: refused, probeDocker: noDocker });
    expect(target).toEqual({ origin: 'embedded', reason: expect.stringContaining('127.0.0.1:1') });
    expect(target).toEqual({ origin: 'embedded', reason: expect.stringContaining('no Docker') });
  });
});
