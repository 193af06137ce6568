import {
  derived,
  entity,
  eventSource,
  featureService,
  fingerprint,
  TandemError,
} from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import type { SqlExecutor } from '../executor/executor.js';
import { collectDefinitions } from './definitions.js';
import { createRegistry, type Registry } from './registry.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const transactions = eventSource({
  name: 'transactions',
  entity: user,
  fields: { amount: 'float', merchant: 'string' },
});
const clicks = eventSource({ name: 'clicks', entity: user, fields: { page: 'string' } });
const txCount = transactions.count().window('7d').as('tx_count_7d');
const txSum = transactions.sum('amount').window('7d').as('tx_sum_7d');
const txSum30 = transactions.sum('amount').window('30d').as('tx_sum_7d');
const avgTicket = derived('avg_ticket', { n: txCount, s: txSum }, (f) => f.s.div(f.n));
const service = featureService('fraud', [txCount, avgTicket]);

const engines: TestDatabase[] = await openSqlEngines('fs_registry');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

async function failure(promise: Promise<unknown>): Promise<TandemError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TandemError)) throw new Error(`expected a TandemError, got ${error}`);
  return error;
}

describe('collectDefinitions', () => {
  it('derives sources from features and services, each feature once, sorted', () => {
    const collected = collectDefinitions({ services: [service], features: [txCount] });
    expect(collected.features.map((f) => f.feature.name)).toEqual([
      'avg_ticket',
      'tx_count_7d',
      'tx_sum_7d',
    ]);
    expect(collected.features[1]!.fingerprint).toBe(fingerprint(txCount));
    expect(collected.sources.map((s) => s.name)).toEqual(['transactions']);
    expect(collectDefinitions({ sources: [clicks] }).sources.map((s) => s.name)).toEqual([
      'clicks',
    ]);
  });

  it('rejects two different features of one name and entries of the wrong kind', () => {
    const clash = () => collectDefinitions({ features: [txSum, txSum30] });
    expect(clash).toThrow(TandemError);
    expect(clash).toThrow(/two different features are named tx_sum_7d/);
    const wrong = () => collectDefinitions({ sources: [txCount as never] });
    expect(wrong).toThrow(/sources\[0\]: not a source/);
    expect(() => collectDefinitions({ services: [txCount as never] })).toThrow(
      /services\[0\]: not a feature service/,
    );
  });
});

describe.each(engines.map((e) => [e.engine, e] as const))('registry on %s', (_name, database) => {
  let executor: SqlExecutor;
  let registry: Registry;
  beforeAll(() => {
    executor = pgliteOrPostgresExecutor(database);
    registry = createRegistry({ executor, schema: database.schema });
  });
  afterAll(() => executor.close());

  const tableExists = async (name: string) =>
    (
      await executor.query<{ found: boolean }>(
        sql`SELECT to_regclass(${`${database.schema}.${name}`}) IS NOT NULL AS found`,
      )
    )[0]!.found;

  it('plans everything as added without writing anything', async () => {
    const plan = await registry.plan({ services: [service] });
    expect(plan.added.map((f) => [f.name, f.version])).toEqual([
      ['avg_ticket', 1],
      ['tx_count_7d', 1],
      ['tx_sum_7d', 1],
    ]);
    expect(plan.changed).toEqual([]);
    expect(plan.removed).toEqual([]);
    expect(plan.tables).toEqual([
      {
        source: 'transactions',
        managed: true,
        table: `${database.schema}.events_transactions`,
        exists: false,
      },
    ]);
    expect(await tableExists('registry_features')).toBe(false);
    expect(await registry.features()).toEqual([]);
  });

  it('applies: creates managed tables, registers version 1, and is idempotent', async () => {
    const applied = await registry.apply({ services: [service], sources: [clicks] });
    expect(applied.added).toHaveLength(3);
    expect(await tableExists('events_transactions')).toBe(true);
    expect(await tableExists('events_clicks')).toBe(true);
    const first = await registry.features();
    expect(first.map((f) => [f.name, f.version, f.fingerprint, f.materialized])).toEqual([
      ['avg_ticket', 1, fingerprint(avgTicket), false],
      ['tx_count_7d', 1, fingerprint(txCount), false],
      ['tx_sum_7d', 1, fingerprint(txSum), false],
    ]);
    expect(first[1]!.definition).toEqual(JSON.parse(JSON.stringify(txCount.ir)));
    expect(first[1]!.appliedAt).toBeInstanceOf(Date);
    expect(first[1]!.removedAt).toBeNull();

    const again = await registry.apply({ services: [service], sources: [clicks] });
    expect(again.added).toEqual([]);
    expect(again.unchanged.map((f) => f.name)).toEqual(['avg_ticket', 'tx_count_7d', 'tx_sum_7d']);
    expect(again.tables.every((t) => t.exists)).toBe(true);
    expect(await registry.features()).toEqual(first);
  });

  it('increments the version on a fingerprint change and lists old and new fingerprints', async () => {
    const plan = await registry.plan({ features: [txCount, txSum30] });
    expect(plan.changed).toEqual([
      {
        name: 'tx_sum_7d',
        fingerprint: fingerprint(txSum30),
        version: 2,
        previousFingerprint: fingerprint(txSum),
        previousVersion: 1,
        materialized: false,
      },
    ]);
    expect(plan.removed.map((f) => f.name)).toEqual(['avg_ticket']);
    expect(plan.unchanged.map((f) => f.name)).toEqual(['tx_count_7d']);
    expect(plan.needsForce).toEqual([]);
    await registry.apply({ features: [txCount, txSum30] });
    const rows = await registry.features();
    expect(rows.map((f) => [f.name, f.version, f.removedAt === null])).toEqual([
      ['avg_ticket', 1, false],
      ['tx_count_7d', 1, true],
      ['tx_sum_7d', 2, true],
    ]);
    expect(rows[2]!.fingerprint).toBe(fingerprint(txSum30));
    const settled = await registry.plan({ features: [txCount, txSum30] });
    expect([settled.added, settled.changed, settled.removed]).toEqual([[], [], []]);
  });

  it('re-adds a removed feature: same version when unchanged, next version when not', async () => {
    const plan = await registry.plan({ services: [service] });
    // avg_ticket comes back as it was; tx_sum_7d goes back to the 7d window: a third version.
    expect(plan.added).toEqual([
      { name: 'avg_ticket', fingerprint: fingerprint(avgTicket), version: 1 },
    ]);
    expect(plan.changed.map((f) => [f.name, f.previousVersion, f.version])).toEqual([
      ['tx_sum_7d', 2, 3],
    ]);
    await registry.apply({ services: [service] });
    expect((await registry.features()).map((f) => [f.name, f.version, f.removedAt])).toEqual([
      ['avg_ticket', 1, null],
      ['tx_count_7d', 1, null],
      ['tx_sum_7d', 3, null],
    ]);
  });

  it('reads and writes watermarks, which mark a feature materialized', async () => {
    expect(await registry.readWatermark('tx_count_7d')).toBeNull();
    await registry.writeWatermark({
      feature: 'tx_count_7d',
      fingerprint: fingerprint(txCount),
      watermark: 1_700_000_000_000,
    });
    const mark = await registry.readWatermark('tx_count_7d');
    expect(mark).toMatchObject({ feature: 'tx_count_7d', watermark: 1_700_000_000_000 });
    expect(mark!.updatedAt).toBeInstanceOf(Date);
    await registry.writeWatermark({
      feature: 'tx_count_7d',
      fingerprint: fingerprint(txCount),
      watermark: 1_700_000_060_000,
    });
    expect((await registry.readWatermark('tx_count_7d'))!.watermark).toBe(1_700_000_060_000);
    expect((await registry.features()).find((f) => f.name === 'tx_count_7d')!.materialized).toBe(
      true,
    );

    const stale = await failure(
      registry.writeWatermark({
        feature: 'tx_sum_7d',
        fingerprint: fingerprint(txSum30),
        watermark: 1,
      }),
    );
    expect([stale.code, stale.path]).toEqual(['FINGERPRINT_MISMATCH', 'feature tx_sum_7d']);
    const unknown = await failure(
      registry.writeWatermark({ feature: 'nope', fingerprint: 'x', watermark: 1 }),
    );
    expect([unknown.code, unknown.path]).toEqual(['UNKNOWN_FEATURE', 'feature nope']);
    const bad = await failure(
      registry.writeWatermark({ feature: 'tx_count_7d', fingerprint: 'x', watermark: 1.5 }),
    );
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(await registry.readWatermark('tx_sum_7d')).toBeNull();
  });

  it('refuses to change a materialized feature unless forced, writing nothing', async () => {
    const txCount30 = transactions.count().window('30d').as('tx_count_7d');
    const avgTicket30 = derived('avg_ticket', { n: txCount30, s: txSum }, (f) => f.s.div(f.n));
    const changedService = featureService('fraud', [txCount30, avgTicket30]);
    const plan = await registry.plan({ services: [changedService], sources: [clicks] });
    expect(plan.needsForce).toEqual(['tx_count_7d']);
    expect(plan.changed.find((f) => f.name === 'avg_ticket')).toBeDefined();
    const before = await registry.features();
    const visits = eventSource({ name: 'visits', entity: user, fields: { url: 'string' } });
    const refused = await failure(
      registry.apply({ services: [changedService], sources: [visits] }),
    );
    expect(refused.code).toBe('MATERIALIZED_FEATURE_CHANGED');
    expect(refused.path).toBe('feature tx_count_7d');
    expect(refused.message).toMatch(/materialized feature tx_count_7d/);
    expect(refused.message).toMatch(/--force/);
    expect(await registry.features()).toEqual(before);
    expect(await tableExists('events_visits')).toBe(false);

    const forced = await registry.apply({ services: [changedService] }, { force: true });
    expect(forced.needsForce).toEqual(['tx_count_7d']);
    const after = await registry.features();
    const count = after.find((f) => f.name === 'tx_count_7d')!;
    expect([count.version, count.fingerprint, count.materialized]).toEqual([
      2,
      fingerprint(txCount30),
      false,
    ]);
    expect(await registry.readWatermark('tx_count_7d')).toBeNull();
    expect(after.find((f) => f.name === 'avg_ticket')!.version).toBe(2);
  });

  it('keeps materialization when a removed feature comes back unchanged', async () => {
    const txCount30 = transactions.count().window('30d').as('tx_count_7d');
    await registry.writeWatermark({
      feature: 'tx_count_7d',
      fingerprint: fingerprint(txCount30),
      watermark: 5,
    });
    await registry.apply({ features: [txSum] });
    expect((await registry.plan({ features: [txCount] })).needsForce).toEqual(['tx_count_7d']);
    await registry.apply({ features: [txCount30, txSum] });
    const row = (await registry.features()).find((f) => f.name === 'tx_count_7d')!;
    expect([row.version, row.materialized, row.removedAt]).toEqual([2, true, null]);
    expect((await registry.readWatermark('tx_count_7d'))!.watermark).toBe(5);
  });

  describe('user-owned tables', () => {
    const appEvents = eventSource({
      name: 'app_events',
      entity: user,
      table: 'app_events',
      keyColumns: { user_id: 'uid' },
      timestamp: 'event_ms',
      eventId: 'event_key',
      fields: { amount: 'float', kind: { type: 'string', column: 'event_kind' } },
    });
    const spend = appEvents.sum('amount').window('7d').as('app_spend_7d');
    beforeAll(async () => {
      await database.execute(
        sql`CREATE TABLE app_events (uid text NOT NULL, event_ms bigint NOT NULL, event_key uuid, amount numeric, event_kind varchar(20))`,
      );
    });

    it('recommends the (keys, ts) index, and stops once it exists', async () => {
      const plan = await registry.plan({ features: [spend] });
      expect(plan.issues).toEqual([]);
      expect(plan.tables).toContainEqual({
        source: 'app_events',
        managed: false,
        table: `${database.schema}.app_events`,
        exists: true,
      });
      expect(plan.indexes).toEqual([
        {
          source: 'app_events',
          table: `${database.schema}.app_events`,
          columns: ['uid', 'event_ms'],
          statement: `CREATE INDEX CONCURRENTLY IF NOT EXISTS "app_events_tandem_pit" ON "${database.schema}"."app_events" ("uid", "event_ms");`,
        },
      ]);
      // An index that does not lead with the keys, or a partial one, does not count.
      await database.execute(sql`CREATE INDEX app_events_ts ON app_events (event_ms, uid)`);
      await database.execute(
        sql`CREATE INDEX app_events_partial ON app_events (uid, event_ms) WHERE amount > 0`,
      );
      expect((await registry.plan({ features: [spend] })).indexes).toHaveLength(1);
      // CONCURRENTLY would wait for every open transaction of the server (other test files).
      await database.execute(sql.raw(plan.indexes[0]!.statement.replace(' CONCURRENTLY', '')));
      expect((await registry.plan({ features: [spend] })).indexes).toEqual([]);
      const applied = await registry.apply({ features: [spend] });
      expect(applied.added.map((f) => f.name)).toEqual(['app_spend_7d']);
      expect(await tableExists('events_app_events')).toBe(false);
    });

    it('accepts an index with the keys in another order and extra trailing columns', async () => {
      const shardUser = entity({ name: 'shard_user', keys: { user_id: 'string', shard: 'int' } });
      const sharded = eventSource({
        name: 'sharded',
        entity: shardUser,
        table: `${database.schema}.sharded`,
        fields: { amount: 'float' },
      });
      await database.execute(
        sql`CREATE TABLE sharded (user_id text, shard integer, ts bigint, amount double precision)`,
      );
      const feature = sharded.count().window('1d').as('sharded_count');
      expect((await registry.plan({ features: [feature] })).indexes[0]!.columns).toEqual([
        'user_id',
        'shard',
        'ts',
      ]);
      await database.execute(sql`CREATE INDEX sharded_idx ON sharded (shard, user_id, ts, amount)`);
      expect((await registry.plan({ features: [feature] })).indexes).toEqual([]);
    });

    it('reports missing tables, missing columns and incompatible types; apply refuses', async () => {
      const broken = eventSource({
        name: 'broken',
        entity: user,
        table: 'app_events',
        keyColumns: { user_id: 'uid' },
        timestamp: { column: 'event_ms', unit: 'timestamp' },
        fields: { amount: 'int', score: 'float', kind: { type: 'bool', column: 'event_kind' } },
      });
      const missing = eventSource({
        name: 'missing',
        entity: user,
        table: 'no_such_table',
        fields: { amount: 'float' },
      });
      const features = [
        broken.count().window('1d').as('broken_count'),
        missing.count().window('1d').as('missing_count'),
      ];
      const plan = await registry.plan({ features });
      expect(plan.issues.map((i) => [i.code, i.path])).toEqual([
        ['TYPE_MISMATCH', 'source broken.timestamp'],
        ['TYPE_MISMATCH', 'source broken.fields.amount'],
        ['UNKNOWN_COLUMN', 'source broken.fields.score'],
        ['TYPE_MISMATCH', 'source broken.fields.kind'],
        ['UNKNOWN_TABLE', 'source missing.table'],
      ]);
      expect(plan.issues[0]!.message).toMatch(
        /event_ms is bigint; event time \(timestamp\) needs timestamp/,
      );
      expect(plan.issues[2]!.message).toMatch(/has no column score/);
      const refused = await failure(registry.apply({ features }));
      expect([refused.code, refused.path]).toEqual(['TYPE_MISMATCH', 'source broken.timestamp']);
      expect(refused.message).toMatch(/source missing\.table: table no_such_table does not exist/);
      expect((await registry.features()).some((f) => f.name === 'broken_count')).toBe(false);
    });

    it('checks an existing managed table against its (changed) source', async () => {
      const widened = eventSource({
        name: 'clicks',
        entity: user,
        fields: { page: 'string', duration: 'float' },
      });
      const plan = await registry.plan({ sources: [widened] });
      expect(plan.issues.map((i) => [i.code, i.path])).toEqual([
        ['UNKNOWN_COLUMN', 'source clicks.fields.duration'],
      ]);
    });
  });

  it('serializes concurrent applies', async () => {
    const other = createRegistry({ executor, schema: `${database.schema}_conc` });
    try {
      const results = await Promise.all([
        other.apply({ services: [service] }),
        other.apply({ services: [service] }),
      ]);
      expect(results.map((r) => r.added.length).sort()).toEqual([0, 3]);
      expect((await other.features()).map((f) => f.version)).toEqual([1, 1, 1]);
    } finally {
      await executor.query(sql`DROP SCHEMA IF EXISTS ${sql.identifier(other.schema)} CASCADE`);
    }
  });

  it('rejects a bad schema name', () => {
    expect(() => createRegistry({ executor, schema: 'Bad-Name' })).toThrow(
      expect.objectContaining({ code: 'INVALID_IDENTIFIER' }),
    );
  });
});
