import { sql } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Client } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TestServiceUnavailableError } from '../errors/errors.js';
import { overrideResolution, resetTestEnvironment } from '../internal/state.js';
import { openPglite, openPostgres, openSqlEngines, type TestDatabase } from './open.js';
import { postgresTarget } from './resolve.js';

// Resolved once for this file: which kind of real server (if any) the environment provides.
const target = await postgresTarget();
const serverUrl = target.origin === 'env' || target.origin === 'local' ? target.url : undefined;

const items = pgTable('items', { id: integer('id').primaryKey(), name: text('name').notNull() });

async function schemaExists(on: TestDatabase, schema: string): Promise<boolean> {
  const rows = await on.execute<{ n: number }>(
    sql`select count(*)::int as n from information_schema.schemata where schema_name = ${schema}`,
  );
  return rows[0]?.n === 1;
}

describe('openSqlEngines', () => {
  let engines: TestDatabase[];
  beforeAll(async () => {
    engines = await openSqlEngines('open sql engines');
  });
  afterAll(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
  });

  it('opens PGlite, plus a real server whenever one can be had', () => {
    expect(engines.map((e) => [e.engine, e.origin])).toEqual(
      target.origin === 'embedded'
        ? [['pglite', 'embedded']]
        : [
            ['pglite', 'embedded'],
            ['postgres', target.origin],
          ],
    );
  });

  it('puts each handle in its own fresh schema, as the only search_path entry', async () => {
    for (const engine of engines) {
      expect(engine.schema).toMatch(/^test_open_sql_engines_[0-9a-f]{8}$/);
      expect(engine.connectionString === undefined).toBe(engine.engine === 'pglite');
      const rows = await engine.execute(
        sql`select current_schema() as s, current_setting('search_path') as p`,
      );
      expect(rows).toEqual([{ s: engine.schema, p: engine.schema }]);
    }
  });

  it("exposes the driver's own client, already in the schema", async () => {
    for (const engine of engines) {
      const rows =
        engine.engine === 'pglite'
          ? (await engine.pglite.query<{ s: string }>('select current_schema() as s')).rows
          : (await engine.pool.query<{ s: string }>('select current_schema() as s')).rows;
      expect(rows).toEqual([{ s: engine.schema }]);
    }
  });

  it('runs raw SQL and drizzle queries alike on both engines', async () => {
    for (const engine of engines) {
      await engine.execute(sql`create table items (id integer primary key, name text not null)`);
      await engine.db.insert(items).values([
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ]);
      expect(await engine.db.select().from(items).orderBy(items.id)).toEqual([
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ]);
      expect(
        await engine.execute(
          sql`select name from ${sql.identifier(engine.schema)}.items where id = ${2}`,
        ),
      ).toEqual([{ name: 'two' }]);
      // Statements without a result set give an empty array, not a driver result object.
      expect(await engine.execute(sql`delete from items where id = 1`)).toEqual([]);
    }
  });
});

describe('isolation and cleanup', () => {
  it('keeps schemas apart: a table created in one is invisible from another', async () => {
    // Two handles on one server. (Two open PGlite handles are two PGlite instances; the PGlite
    // case that matters, one instance serving handle after handle, is tested below.)
    const [a, b] = await Promise.all([openPostgres('iso a'), openPostgres('iso b')]);
    try {
      await a.execute(sql`create table secret (v int)`);
      expect(await a.execute(sql`select to_regclass('secret')::text as t`)).toEqual([
        { t: 'secret' },
      ]);
      expect(await b.execute(sql`select to_regclass('secret')::text as t`)).toEqual([{ t: null }]);
      await expect(b.execute(sql`select * from secret`)).rejects.toThrow(/secret/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('drops the schema on close (and close is idempotent)', async () => {
    const observer = await openPostgres('observer');
    const doomed = await openPostgres('doomed');
    try {
      await doomed.execute(sql`create table t (v int)`);
      expect(await schemaExists(observer, doomed.schema)).toBe(true);
      await Promise.all([doomed.close(), doomed.close()]);
      await doomed.close();
      expect(await schemaExists(observer, doomed.schema)).toBe(false);
    } finally {
      await observer.close();
    }
  });

  it('hands a reused PGlite instance over clean: schema dropped, session reset', async () => {
    const first = await openPglite('first');
    await first.execute(sql`create table t (v int)`);
    await first.execute(sql`set statement_timeout = '123s'`);
    await first.close();
    // The instance goes back to the pool and serves the next handle of this process.
    const second = await openPglite('second');
    try {
      expect(await schemaExists(second, first.schema)).toBe(false);
      expect(await second.execute(sql`select to_regclass('t')::text as t`)).toEqual([{ t: null }]);
      expect(await second.execute(sql`show statement_timeout`)).toEqual([
        { statement_timeout: '0' },
      ]);
      expect(await second.execute(sql`select current_schema() as s`)).toEqual([
        { s: second.schema },
      ]);
    } finally {
      await second.close();
    }
  });

  it.skipIf(target.origin === 'embedded')(
    'gives a connection string that lands in the schema',
    async () => {
      const database = await openPostgres('connection string');
      try {
        await database.execute(sql`create table mine (v int)`);
        const client = new Client({ connectionString: database.connectionString });
        await client.connect();
        try {
          const result = await client.query(
            'select current_schema() as s, count(*)::int as n from mine',
          );
          expect(result.rows).toEqual([{ s: database.schema, n: 0 }]);
        } finally {
          await client.end();
        }
      } finally {
        await database.close();
      }
    },
  );
});

describe('DATABASE_URL', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    resetTestEnvironment();
  });

  it.skipIf(serverUrl === undefined)('takes precedence over everything else', async () => {
    const url = new URL(serverUrl!);
    url.searchParams.set('application_name', 'tandem-env-override');
    vi.stubEnv('DATABASE_URL', url.href);
    resetTestEnvironment();
    const database = await openPostgres('env override');
    try {
      expect([database.engine, database.origin]).toEqual(['postgres', 'env']);
      expect(await database.execute(sql`select current_setting('application_name') as a`)).toEqual([
        { a: 'tandem-env-override' },
      ]);
    } finally {
      await database.close();
    }
  });

  it('is never silently replaced: openPostgres fails when it does not answer', async () => {
    vi.stubEnv('DATABASE_URL', 'postgres://postgres@127.0.0.1:1/postgres');
    resetTestEnvironment();
    await expect(openPostgres('unreachable')).rejects.toBeInstanceOf(TestServiceUnavailableError);
    await expect(openSqlEngines('unreachable')).rejects.toThrow(/DATABASE_URL/);
  });
});

describe('without any real PostgreSQL server', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    resetTestEnvironment();
  });

  it('openPostgres falls back to PGlite and openSqlEngines runs on PGlite only, saying why once', async () => {
    overrideResolution('postgres', { origin: 'embedded', reason: 'nothing answers (test)' });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    // One after the other, so that they all reuse the process's idle PGlite instance.
    for (const open of [openPostgres, openPostgres, openSqlEngines, openSqlEngines]) {
      const opened = [await open('fallback')].flat();
      await Promise.all(opened.map((d) => d.close()));
      expect(opened.map((d) => `${d.engine}/${d.origin}`)).toEqual(['pglite/embedded']);
    }
    expect(warn.mock.calls.map((call) => String(call[0]))).toEqual([
      expect.stringMatching(/openPostgres\(\), using PGlite: nothing answers \(test\)/),
      expect.stringMatching(/openSqlEngines\(\) runs on PGlite only.*nothing answers \(test\)/),
    ]);
  });
});
