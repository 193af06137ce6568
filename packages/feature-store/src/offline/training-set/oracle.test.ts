import { type AnyFeature, attributeSource, entity, eventSource } from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchesArb,
  entityRowsArb,
  eventArb,
  type GeneratedEvent,
  ownedEventsArb,
  profileArb,
} from '../../../test/arbitraries.js';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import {
  type Expected,
  expectTrainingSet,
  matches,
  type OracleEvent,
  type OracleFeature,
  type OracleWindow,
} from '../../../test/oracle.js';
import { arrayLiteral } from '../../internal/array-literal.js';
import { sourceTableSql } from '../managed-tables.js';
import { createOfflineStore, type OfflineStore } from '../store.js';
import type { EntityRowsInput } from './entity-rows.js';

const NUM_RUNS = 300;

const user = entity({ name: 'user', keys: { user_id: 'string' } });
/** Managed: deduped at ingestion, `ingestedAt` stamped by the store's clock. */
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', qty: 'int', merchant: 'string' },
});
/** User-owned, read in place: timestamptz times, its own ids, sequence and ingestion times. */
const owned = eventSource({
  name: 'owned_tx',
  entity: user,
  table: 'owned_tx',
  keyColumns: { user_id: 'uid' },
  timestamp: { column: 'happened_at', unit: 'timestamp' },
  eventId: 'event_id',
  sequence: 'seq',
  ingestedAt: 'loaded_at',
  fields: {
    amount: { type: 'float', column: 'amt' },
    qty: 'int',
    merchant: { type: 'string', column: 'shop' },
  },
});
const profiles = attributeSource({
  name: 'profiles',
  entity: user,
  fields: { country: 'string', score: 'float' },
});

const HOUR: OracleWindow = { kind: 'sliding', length: 3_600_000, hop: 300_000 };
const TEN_MINUTES: OracleWindow = { kind: 'sliding', length: 600_000, hop: 120_000 };
const LIFETIME: OracleWindow = { kind: 'lifetime' };

type Pair = readonly [AnyFeature, Omit<OracleFeature, 'name' | 'knowsIngestion'>];

/** The same features over a managed and a user-owned source, each with its oracle description. */
function eventFeatures(source: typeof tx | typeof owned, p: string): Pair[] {
  // Both sources have the same field names and types.
  const s = source as typeof tx;
  return [
    [s.count().window('1h').as(`${p}_n_1h`), { fn: 'count', field: null, window: HOUR }],
    [
      s
        .count()
        .where((f) => f.amount.gt(0))
        .window(600_000, { hop: 120_000 })
        .as(`${p}_n_pos_10m`),
      {
        fn: 'count',
        field: null,
        window: TEN_MINUTES,
        where: (v) => typeof v.amount === 'number' && v.amount > 0,
      },
    ],
    [s.count('amount').as(`${p}_n_amount`), { fn: 'count', field: 'amount', window: LIFETIME }],
    [
      s.sum('amount').window(600_000, { hop: 120_000 }).as(`${p}_sum_10m`),
      { fn: 'sum', field: 'amount', window: TEN_MINUTES },
    ],
    [s.sum('qty').as(`${p}_sum_qty`), { fn: 'sum', field: 'qty', window: LIFETIME }],
    [
      s.mean('amount').window('1h').as(`${p}_mean_1h`),
      { fn: 'mean', field: 'amount', window: HOUR },
    ],
    [
      s.mean('qty').window(600_000, { hop: 120_000 }).default(-1).as(`${p}_mean_qty_10m`),
      { fn: 'mean', field: 'qty', window: TEN_MINUTES, default: -1 },
    ],
    [s.min('amount').as(`${p}_min`), { fn: 'min', field: 'amount', window: LIFETIME }],
    [s.max('qty').window('1h').as(`${p}_max_qty_1h`), { fn: 'max', field: 'qty', window: HOUR }],
    [
      s.last('merchant').as(`${p}_last_merchant`),
      { fn: 'last', field: 'merchant', window: LIFETIME },
    ],
    [
      s.last('amount').window(600_000, { hop: 120_000 }).as(`${p}_last_amount_10m`),
      { fn: 'last', field: 'amount', window: TEN_MINUTES },
    ],
    [
      s.lastK('amount', 3).window('1h').as(`${p}_last3`),
      { fn: 'last_k', field: 'amount', k: 3, window: HOUR },
    ],
    [s.variance('qty').as(`${p}_var_qty`), { fn: 'variance', field: 'qty', window: LIFETIME }],
    [
      s.variance('amount').window('1h').as(`${p}_var_amount_1h`),
      { fn: 'variance', field: 'amount', window: HOUR },
    ],
  ];
}

const profileFeatures: Pair[] = [
  [
    profiles.latest('country', { ttl: '30m' }).as('country_30m'),
    { fn: 'latest', field: 'country', window: { kind: 'ttl', length: 1_800_000 } },
  ],
  [profiles.latest('country').as('country'), { fn: 'latest', field: 'country', window: LIFETIME }],
  [
    profiles.latest('score').default(0.5).as('score'),
    { fn: 'latest', field: 'score', window: LIFETIME, default: 0.5 },
  ],
];

const groups = [
  { source: tx, pairs: eventFeatures(tx, 'tx') },
  { source: owned, pairs: eventFeatures(owned, 'own') },
  { source: profiles, pairs: profileFeatures },
] as const;
const features = groups.flatMap((g) => g.pairs.map(([f]) => f));

const dataArb = fc
  .record({
    tx: batchesArb(eventArb, { maxBatches: 6, maxPerBatch: 25 }),
    owned: ownedEventsArb,
    profiles: batchesArb(profileArb, { maxBatches: 4, maxPerBatch: 15 }),
  })
  .chain((data) => {
    const times = [
      ...data.tx.flatMap((b) => b.events.map((e) => e.ts)),
      ...data.owned.map((e) => e.ts),
      ...data.profiles.flatMap((b) => b.events.map((e) => e.ts)),
    ];
    // Offsets from event times to q at the windows' edges: W, W + h - 1, W + h; ttl, ttl + 1.
    const offsets = [
      600_000, 719_999, 720_000, 3_600_000, 3_899_999, 3_900_000, 1_800_000, 1_800_001,
    ];
    return entityRowsArb(times, 60, offsets).map((rows) => ({ ...data, rows }));
  });

type Data = typeof dataArb extends fc.Arbitrary<infer T> ? T : never;

const valuesOf = (e: object, names: readonly string[]) =>
  Object.fromEntries(names.map((n) => [n, (e as Record<string, unknown>)[n] ?? null])) as Record<
    string,
    string | number | null
  >;

/** What the tables hold, as the oracle sees it: every copy, with its ingestion time and order. */
function storedEvents(data: Data): Map<object, OracleEvent[]> {
  let seq = 0;
  const ingested = <T extends { user_id: string; ts: number; eventId: string | null }>(
    batches: readonly { clock: number; events: readonly T[] }[],
    fields: readonly string[],
  ) =>
    batches.flatMap((batch) =>
      batch.events.map(
        (e): OracleEvent => ({
          keys: { user_id: e.user_id },
          ts: e.ts,
          eventId: e.eventId,
          seq: seq++,
          ingestedAt: batch.clock,
          values: valuesOf(e, fields),
        }),
      ),
    );
  return new Map<object, OracleEvent[]>([
    [tx, ingested(data.tx, ['amount', 'qty', 'merchant'])],
    [
      owned,
      data.owned.map((e) => ({
        keys: { user_id: e.user_id },
        ts: e.ts,
        eventId: e.eventId,
        seq: e.seq,
        ingestedAt: e.ingestedAt,
        values: valuesOf(e, ['amount', 'qty', 'merchant']),
      })),
    ],
    [profiles, ingested(data.profiles, ['country', 'score'])],
  ]);
}

const engines: TestDatabase[] = await openSqlEngines('fs_ts_oracle');
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

describe.each(engines.map((e) => [e.engine, e] as const))('training sets on %s', (_n, database) => {
  let store: OfflineStore;
  let now = 0;
  beforeAll(async () => {
    store = createOfflineStore({
      executor: pgliteOrPostgresExecutor(database),
      schema: database.schema,
      clock: () => now,
    });
    await store.apply([tx, profiles]);
    await store.executor.query(sql`CREATE TABLE owned_tx (
      uid text NOT NULL, happened_at timestamptz NOT NULL, event_id text, seq bigint,
      loaded_at timestamptz, amt double precision, qty integer, shop text)`);
  });
  afterAll(() => store.executor.close());

  const load = async (data: Data) => {
    await store.executor.query(
      sql`TRUNCATE ${sourceTableSql(store.schema, tx.ir)}, ${sourceTableSql(store.schema, profiles.ir)}, owned_tx`,
    );
    for (const batch of data.tx) {
      now = batch.clock;
      await store.ingest(tx, batch.events as readonly GeneratedEvent[] as never);
    }
    for (const batch of data.profiles) {
      now = batch.clock;
      await store.ingest(profiles, batch.events as never);
    }
    const column = (pick: (e: Data['owned'][number]) => unknown, type: string) =>
      sql`CAST(${arrayLiteral(data.owned.map(pick))} AS ${sql.raw(type)})`;
    const epoch = (ms: unknown) => sql`timestamptz 'epoch' + ${ms} * interval '1 millisecond'`;
    await store.executor.query(sql`
      INSERT INTO owned_tx (uid, happened_at, event_id, seq, loaded_at, amt, qty, shop)
      SELECT uid, ${epoch(sql`ts`)}, event_id, seq, ${epoch(sql`loaded_at`)}, amt, qty, shop
      FROM unnest(${column((e) => e.user_id, 'text[]')}, ${column((e) => e.ts, 'bigint[]')},
        ${column((e) => e.eventId, 'text[]')}, ${column((e) => e.seq, 'bigint[]')},
        ${column((e) => e.ingestedAt, 'bigint[]')}, ${column((e) => e.amount, 'float8[]')},
        ${column((e) => e.qty, 'integer[]')}, ${column((e) => e.merchant, 'text[]')})
        AS t(uid, ts, event_id, seq, loaded_at, amt, qty, shop)`);
  };

  /** Fails listing every value of `actual` (rows in input order) that the oracle disagrees with. */
  const expectOracle = (
    data: Data,
    actual: readonly Record<string, unknown>[],
    computed: ReadonlySet<string>,
  ) => {
    const stored = storedEvents(data);
    const oracleSources = new Map<OracleFeature, OracleEvent[]>();
    for (const group of groups) {
      for (const [feature, description] of group.pairs) {
        if (!computed.has(feature.name)) continue;
        oracleSources.set(
          { ...description, name: feature.name, knowsIngestion: true },
          stored.get(group.source)!,
        );
      }
    }
    const expected = expectTrainingSet(
      oracleSources,
      data.rows.map((r) => ({ keys: { user_id: r.user_id }, q: r.ts })),
    );
    expect(actual).toHaveLength(data.rows.length);
    const wrong: string[] = [];
    actual.forEach((row, i) => {
      const input = data.rows[i]!;
      expect([row.user_id, row.ts, row.label]).toEqual([input.user_id, input.ts, input.label]);
      for (const [name, want] of Object.entries(expected[i]!) as [string, Expected][]) {
        if (!matches(want, row[name])) {
          wrong.push(
            `row ${i} (${input.user_id} @ ${input.ts}) ${name}: got ${JSON.stringify(row[name])}, want ${JSON.stringify(want)}`,
          );
        }
      }
    });
    expect(wrong).toEqual([]);
  };

  it(`equals the brute-force oracle on random events and entity rows (${NUM_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(dataArb, async (data) => {
        await load(data);
        const actual: Record<string, unknown>[] = [];
        for await (const row of store.getTrainingSet({
          features,
          entityRows: data.rows,
          pageSize: 17,
        })) {
          actual.push(row);
        }
        expectOracle(data, actual, new Set(features.map((f) => f.name)));
      }),
      { numRuns: NUM_RUNS },
    );
  }, 600_000);

  // writeTrainingSet computes these features' values in SQL, the rows never leaving Postgres.
  const inSql = features.filter((f) =>
    ['count', 'sum', 'mean', 'min', 'max', 'last', 'latest'].includes(
      (f.ir as { aggregation: { fn: string } }).aggregation.fn,
    ),
  );
  it(`writes the same values into a table in SQL, from an array or a query (${NUM_RUNS / 3} runs)`, async () => {
    const names = new Set(inSql.map((f) => f.name));
    const ints = new Set(inSql.filter((f) => f.valueType === 'int').map((f) => f.name));
    await fc.assert(
      fc.asyncProperty(dataArb, fc.boolean(), async (data, fromQuery) => {
        await load(data);
        let entityRows: EntityRowsInput = data.rows;
        if (fromQuery) {
          await store.executor.query(sql`DROP TABLE IF EXISTS oracle_rows`);
          await store.executor.query(sql`CREATE TABLE oracle_rows AS
            SELECT i, user_id, ts, label FROM unnest(
              ${arrayLiteral(data.rows.map((_, i) => i))}::integer[],
              ${arrayLiteral(data.rows.map((r) => r.user_id))}::text[],
              ${arrayLiteral(data.rows.map((r) => r.ts))}::bigint[],
              ${arrayLiteral(data.rows.map((r) => r.label))}::integer[]) AS t(i, user_id, ts, label)`);
          entityRows = { query: sql`SELECT user_id, ts, label FROM oracle_rows ORDER BY i` };
        }
        const written = await store.writeTrainingSet({
          features: inSql,
          entityRows,
          into: { table: 'oracle_values', replace: true },
        });
        expect(written.rows).toBe(data.rows.length);
        const rows = await store.executor.query<Record<string, unknown>>(
          sql`SELECT * FROM ${sql.identifier(store.schema)}.oracle_values ORDER BY row_number`,
        );
        const actual = rows.map((row, i) => {
          expect(Number(row.row_number)).toBe(i + 1);
          const entity = (
            typeof row.entity_row === 'string' ? JSON.parse(row.entity_row) : row.entity_row
          ) as Record<string, unknown>;
          const out: Record<string, unknown> = { ...entity };
          for (const name of names) {
            const value = row[name];
            out[name] = ints.has(name) && value !== null ? Number(value) : value;
          }
          return out;
        });
        expectOracle(data, actual, names);
      }),
      { numRuns: NUM_RUNS / 3 },
    );
  }, 600_000);
});
