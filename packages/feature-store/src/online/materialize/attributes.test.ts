import { attributeSource, compileFolder, featureValue, type SourceEvent } from '@tandem/core';
import type { TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { customer } from '../../../test/online-model.js';
import { openTestServices } from '../../../test/services.js';
import type { SqlExecutor } from '../../executor/executor.js';
import { applyDefinitions } from '../../registry/registry.js';
import type { OnlineAdapter } from '../adapter.js';
import { memoryAdapter } from '../memory/adapter.js';
import { redisAdapter } from '../redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../store.js';
import { DAY, HOUR, MINUTE } from './harness.js';
import { materialize } from './materialize.js';

const NOW = Date.UTC(2026, 10, 20, 8, 41, 3, 250);
const LATER = NOW + 5 * HOUR;
const CUSTOMERS = ['a', 'b', 'c', 'nobody'];

const { databases, redisReason, redis } = await openTestServices(
  'fs_mat_attributes',
  'materialize attributes',
);

/** A profile table the application owns (read in place; no event ids, no ingestion time). */
function model(schema: string) {
  const profiles = attributeSource({
    name: 'profiles',
    entity: customer,
    table: `${schema}.app_profiles`,
    keyColumns: { customer_id: 'customer' },
    timestamp: { column: 'updated_at', unit: 'timestamp' },
    fields: {
      country: { type: 'string', nullable: true },
      score: 'float',
      vip: 'bool',
    },
  });
  return [
    profiles.latest('country', { ttl: '30d' }).as('country'),
    profiles.latest('score').as('score'),
    profiles.latest('vip', { ttl: '7d' }).as('vip_7d'),
    profiles.latest('country', { ttl: '36h' }).as('country_36h'),
  ] as const;
}

interface Row {
  readonly customer: string;
  readonly ts: number;
  readonly country: string | null;
  readonly score: number;
  readonly vip: boolean;
}

const rowArb = (from: number, to: number) =>
  fc.record({
    customer: fc.constantFrom('a', 'b', 'c'),
    ts: fc.oneof(
      fc.integer({ min: from, max: to }),
      // Ties on the same instant.
      fc.constantFrom(from, to, Math.floor((from + to) / 2)),
    ),
    country: fc.constantFrom(null, 'DE', 'FR', 'jp'),
    score: fc.integer({ min: -1000, max: 1000 }).map((x) => x / 8),
    vip: fc.boolean(),
  });

interface Combo {
  readonly name: string;
  readonly database: TestDatabase;
  readonly adapter: () => OnlineAdapter;
}

const combos: Combo[] = databases.flatMap((database): Combo[] => {
  const memory = {
    name: `${database.engine} + in-process`,
    database,
    adapter: () => memoryAdapter(),
  };
  if (database.engine !== 'postgres' || redisReason) return [memory];
  return [
    memory,
    {
      name: `${database.engine} + redis`,
      database,
      adapter: () => redisAdapter({ client: redis!.client }),
    },
  ];
});

describe.each(combos)('attribute features on $name', ({ database, adapter }) => {
  let executor: SqlExecutor;
  const schema = database.schema;
  const features = model(schema);
  const table = sql`${sql.identifier(schema)}.app_profiles`;
  beforeAll(async () => {
    executor = pgliteOrPostgresExecutor(database);
    await executor.query(sql`CREATE TABLE IF NOT EXISTS ${table} (
      customer text NOT NULL, updated_at timestamptz NOT NULL,
      country text, score double precision NOT NULL, vip boolean NOT NULL)`);
    await applyDefinitions(executor, schema, { features: [...features] });
  });
  afterAll(() => executor.close());

  const insert = async (rows: readonly Row[]) => {
    for (const row of rows) {
      await executor.query(sql`INSERT INTO ${table} VALUES (${row.customer},
        TIMESTAMPTZ 'epoch' + ${row.ts} * INTERVAL '1 millisecond', ${row.country}, ${row.score}, ${row.vip})`);
    }
  };
  const check = async (online: OnlineStore, rows: readonly Row[], q: number) => {
    const read = await online.getOnlineFeatures({
      service: [...features],
      entities: CUSTOMERS.map((c) => ({ customer_id: c })),
      at: q,
    });
    for (const row of read) {
      const mine: SourceEvent[] = rows
        .filter((r) => r.customer === row.entity.customer_id)
        .map((r) => ({ ts: r.ts, values: { country: r.country, score: r.score, vip: r.vip } }));
      const expected = Object.fromEntries(
        features.map((f) => [f.name, featureValue(f.ir, compileFolder(f.ir).fold(mine, q))]),
      );
      const actual = Object.fromEntries(Object.entries(row.values).map(([k, v]) => [k, v.value]));
      expect({ entity: row.entity, actual }).toEqual({ entity: row.entity, actual: expected });
      for (const value of Object.values(row.values)) {
        if (mine.length === 0) expect(value.status).toBe('missing');
        else expect(value.status).not.toBe('missing');
      }
    }
  };

  it('serves the latest row (with ttl) as the TS fold does, after full and incremental runs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rowArb(NOW - 60 * DAY, NOW - 3 * HOUR), { maxLength: 25 }),
        fc.array(rowArb(NOW - HOUR, LATER - 3 * HOUR), { maxLength: 10 }),
        async (first, second) => {
          await executor.query(sql`TRUNCATE ${table}`);
          let now = NOW;
          const online = createOnlineStore({
            adapter: adapter(),
            features: [...features],
            namespace: `${redis?.prefix ?? 'test:'}p${Math.random().toString(36).slice(2, 8)}`,
            allowedLateness: '1h',
            clock: () => now,
          });
          try {
            await insert(first);
            const one = await materialize({ executor, schema, online, clock: () => NOW });
            expect(one.runs.map((r) => r.mode)).toEqual(['full']);
            await check(online, first, NOW);
            await check(online, first, NOW + 20 * MINUTE);

            // Rows the app writes later, above the watermark: the next incremental run.
            await insert(second);
            now = LATER;
            const two = await materialize({ executor, schema, online, clock: () => LATER });
            expect(two.runs.map((r) => r.mode)).toEqual(['incremental']);
            await check(online, [...first, ...second], LATER);

            // A row written later with an old time: a user table has no ingestion time, so only
            // a full run sees it.
            const old: Row = {
              customer: 'a',
              ts: NOW - 2 * DAY,
              country: 'zz',
              score: 0.5,
              vip: true,
            };
            await insert([old]);
            await materialize({ executor, schema, online, clock: () => LATER, full: true });
            await check(online, [...first, ...second, old], LATER);
          } finally {
            await online.clear();
          }
        },
      ),
      { numRuns: database.engine === 'postgres' ? 15 : 5 },
    );
  }, 600_000);
});
