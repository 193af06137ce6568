import type { PGlite } from '@electric-sql/pglite';
import { entity, eventSource } from '@tandem/core';
import {
  createOfflineStore,
  pgliteExecutor,
  postgresExecutor,
  type SqlExecutor,
} from '@tandem/feature-store';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlEngines, type TestDatabase } from '../env/postgres/open.js';
import { loadParityStream, parityPoints } from './load.js';
import { keyId, parityStreamArb } from './streams.js';

const customer = entity({ name: 'customer', keys: { customer_id: 'string' } });
const fields = {
  amount: 'float',
  items: 'int',
  channel: { type: 'string', nullable: true },
  gift: { type: 'bool', nullable: true },
} as const;
const loaded = eventSource({ name: 'loaded', entity: customer, fields });
const ingested = eventSource({ name: 'ingested', entity: customer, fields });
const windows = [loaded.sum('amount').window('1h').as('amount_1h')];

const engines: TestDatabase[] = await openSqlEngines('parity_load');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

function executorOf(database: TestDatabase): SqlExecutor {
  return database.engine === 'pglite'
    ? pgliteExecutor((database.db as unknown as { $client: PGlite }).$client)
    : postgresExecutor(database.connectionString);
}

type Row = {
  customer_id: string;
  ts: string;
  event_id: string | null;
  ingested_at: string;
  amount: number;
  items: string;
  channel: string | null;
  gift: boolean | null;
};

describe.each(engines.map((e) => [e.engine, e] as const))('loadParityStream on %s', (_n, db) => {
  it('stores exactly what ingestion at each arrival would have stored, in arrival order', async () => {
    const executor = executorOf(db);
    try {
      await fc.assert(
        fc.asyncProperty(
          parityStreamArb({
            source: loaded,
            windows,
            allowedLateness: '10m',
            queries: { max: 5 },
            background: 15,
          }),
          async (stream) => {
            let clock = 0;
            const offline = createOfflineStore({ executor, schema: db.schema, clock: () => clock });
            await offline.apply([loaded, ingested]);
            await db.execute(sql`TRUNCATE events_loaded, events_ingested RESTART IDENTITY`);
            const result = await loadParityStream(offline, loaded, stream, { chunk: 7 });
            // The same events through the ingestion API, one batch per arrival time.
            let dup = 0;
            for (let i = 0; i < stream.events.length; ) {
              const at = stream.events[i]!.arrival;
              const batch = [];
              for (; i < stream.events.length && stream.events[i]!.arrival === at; i++) {
                const e = stream.events[i]!;
                batch.push({ ...e.key, ts: e.ts, eventId: e.eventId, ...e.values });
              }
              clock = at;
              dup += (await offline.ingest(ingested, batch)).duplicates;
            }
            expect(result.duplicates).toBe(dup);
            const read = (table: string) =>
              db.execute<Row>(
                sql`SELECT customer_id, CAST(ts AS text) AS ts, event_id, CAST(ingested_at AS text) AS ingested_at, amount, CAST(items AS text) AS items, channel, gift FROM ${sql.identifier(table)} ORDER BY seq`,
              );
            const a = await read('events_loaded');
            const b = await read('events_ingested');
            expect(a.length).toBe(result.inserted);
            // Same rows in the same sequence order; -0 survives only the loader (see below).
            expect(a.map((r) => ({ ...r, amount: r.amount === 0 ? 0 : r.amount }))).toEqual(
              b.map((r) => ({ ...r, amount: r.amount === 0 ? 0 : r.amount })),
            );
            // A -0 event that is a duplicate of an earlier (keys, eventId) is never stored.
            const seen = new Set<string>();
            const storedMinusZero = stream.events.filter((e) => {
              if (e.eventId !== null) {
                const id = `${keyId(e.key)}\u0000${e.eventId}`;
                if (seen.has(id)) return false;
                seen.add(id);
              }
              return Object.is(e.values.amount, -0);
            }).length;
            if (storedMinusZero > 0 && db.engine === 'postgres') {
              expect(a.some((r) => Object.is(r.amount, -0))).toBe(true);
            }
          },
        ),
        { numRuns: 8 },
      );
    } finally {
      await executor.close();
    }
  }, 240_000);

  it('gives the reads as parity points', () => {
    const [stream] = fc.sample(
      parityStreamArb({ source: loaded, windows, allowedLateness: '1h' }),
      {
        numRuns: 1,
        seed: 3,
      },
    );
    const points = parityPoints(stream!);
    expect(points.map((p) => [keyId(p.entity), p.q])).toEqual(
      stream!.queries.map((q) => [keyId(q.key), q.q]),
    );
  });
});
