import { TandemError } from '@tandem/core';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { defineConfig } from './config.js';
import { openDatabase } from './load.js';

describe('defineConfig', () => {
  it('returns a valid config as it is', () => {
    const config = { database: { pglite: 'memory' }, schema: 'app_features', services: [] };
    expect(defineConfig(config)).toBe(config);
    expect(defineConfig({ database: { url: 'postgres://localhost/db' } }).database).toEqual({
      url: 'postgres://localhost/db',
    });
  });

  it.each([
    ['not an object', [], 'config', /must be an object/],
    [
      'an unknown option',
      { database: { pglite: 'memory' }, servics: [] },
      'config.servics',
      /unknown option/,
    ],
    ['no database', {}, 'config.database', /missing/],
    ['two databases', { database: { url: 'x', pglite: 'y' } }, 'config.database', /exactly one/],
    ['another kind of database', { database: { host: 'x' } }, 'config.database', /exactly one/],
    ['an empty url', { database: { url: '' } }, 'config.database.url', /non-empty string/],
    [
      'a pglite dir that is no string',
      { database: { pglite: 1 } },
      'config.database.pglite',
      /non-empty/,
    ],
    [
      'a bad schema',
      { database: { url: 'x' }, schema: 'Features!' },
      'schema',
      /not a valid schema name/,
    ],
    [
      'a schema that is no string',
      { database: { url: 'x' }, schema: 1 },
      'config.schema',
      /must be a string/,
    ],
    [
      'features that are no array',
      { database: { url: 'x' }, features: {} },
      'config.features',
      /array/,
    ],
  ])('rejects %s, naming the field', (_case, config, path, message) => {
    let error: unknown;
    try {
      defineConfig(config as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TandemError);
    expect((error as TandemError).path).toBe(path);
    expect((error as TandemError).message).toMatch(message);
  });
});

describe('openDatabase', () => {
  it("opens an in-memory PGlite for { pglite: 'memory' } and closes it", async () => {
    const executor = await openDatabase({ pglite: 'memory' }, process.cwd());
    expect(executor.engine).toBe('pglite');
    expect(await executor.query(sql`SELECT CAST(1 + 1 AS integer) AS two`)).toEqual([{ two: 2 }]);
    await executor.close();
    await expect(executor.query(sql`SELECT 1`)).rejects.toThrow();
  });
});
