import { derived, entity, eventSource, featureService, requestFeature } from '@tandem/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import { onlineFeatures, orders } from '../../test/online-model.js';
import { openTestServices } from '../../test/services.js';
import { createOfflineStore, type OfflineStore } from '../offline/store.js';
import type { OnlineAdapter } from '../online/adapter.js';
import { memoryAdapter } from '../online/memory/adapter.js';
import { redisAdapter } from '../online/redis/adapter.js';
import { checkParity } from './check.js';
import { seededRandom, uniformInt } from './internal/random.js';
import type { ParityReport } from './types.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2026, 2, 1);

const { databases, redisReason, redis } = await openTestServices('fs_parity', 'parity check');

/** Derived features over the online model: a ratio of a float sum, and of counts. */
const avgAmount7d = derived(
  'avg_amount_7d',
  { sum: onlineFeatures[2], n: onlineFeatures[1] },
  (f) => f.sum.div(f.n),
);
const share1h = derived('share_1h', { a: onlineFeatures[0], b: onlineFeatures[1] }, (f) =>
  f.a.div(f.b),
);
const withRequest = requestFeature({
  name: 'amount_over_mean',
  input: z.object({ amount: z.number() }),
  uses: { mean: onlineFeatures[3] },
  type: 'float',
  compute: ({ amount }, { mean }) => (mean === null ? null : amount / mean),
});
const service = featureService('parity_model', [
  ...onlineFeatures,
  avgAmount7d,
  share1h,
  withRequest,
]);

/**
 * Random events of a few customers over 40 days, ingested once a day (each batch stamped a few
 * minutes after the end of its day): most events fall in their day, on the hour give or take
 * 1 ms for a third of them; a fifth arrive out of order, up to 6 hours older than their day.
 * Lateness (arrival minus event time) stays below 31 hours. Some customers have few events.
 */
export async function ingestRandom(store: OfflineStore, seed: number, days = 40): Promise<void> {
  const random = seededRandom(seed);
  const customers = ['a', 'b', 'c', 'd', 'é', '😀'];
  for (let day = 0; day < days; day++) {
    const start = BASE + day * DAY;
    const size = uniformInt(random, 0, 14);
    const events: Record<string, unknown>[] = [];
    for (let i = 0; i < size; i++) {
      const onGrid = random() < 0.35;
      let ts = onGrid
        ? start + uniformInt(random, 0, 23) * HOUR + uniformInt(random, -1, 1)
        : start + uniformInt(random, 0, DAY - 1);
      if (random() < 0.2) ts -= uniformInt(random, 0, 6 * HOUR);
      const rare = random() < 0.1;
      events.push({
        customer_id: customers[uniformInt(random, 0, rare ? 5 : 3)]!,
        ts,
        eventId: `e${day}-${uniformInt(random, 0, 40)}`,
        amount:
          random() < 0.3
            ? uniformInt(random, -100, 100)
            : (random() - 0.3) * 10 ** uniformInt(random, -3, 6),
        items: uniformInt(random, 0, 9),
        channel: random() < 0.2 ? null : ['web', 'app', 'shop'][uniformInt(random, 0, 2)]!,
      });
    }
    if (events.length === 0) continue;
    const stamped = start + DAY + uniformInt(random, 0, 10 * MINUTE);
    const batchStore = createOfflineStore({
      executor: store.executor,
      schema: store.schema,
      clock: () => stamped,
    });
    await batchStore.ingest(orders, events);
  }
}

function expectZeroMismatches(report: ParityReport): void {
  const bad = report.features.filter((f) => f.mismatch + f.offlineNull + f.onlineNull > 0);
  expect(
    bad.map((f) => ({ feature: f.name, example: f.examples[0] })),
    JSON.stringify(report.replay.notes),
  ).toEqual([]);
  expect(report.ok).toBe(true);
}

const engines: [string, () => OnlineAdapter | undefined][] = [
  ['in-process (default)', () => undefined],
  ['in-process adapter', () => memoryAdapter()],
  ...(redisReason
    ? []
    : [['redis', () => redisAdapter({ client: redis!.client })] as [string, () => OnlineAdapter]]),
];

describe.each(databases.map((d) => [d.engine, d] as const))(
  'checkParity on %s',
  (_name, database) => {
    let offline: OfflineStore;
    beforeAll(async () => {
      const executor = pgliteOrPostgresExecutor(database);
      offline = createOfflineStore({ executor, schema: database.schema });
      await offline.apply([orders]);
      await ingestRandom(offline, 7);
    });
    afterAll(() => offline.executor.close());

    it.each(engines)('finds zero mismatches on random data through %s', async (_engine, make) => {
      const adapter = make();
      const report = await checkParity({
        offline,
        ...(adapter === undefined ? {} : { online: adapter }),
        service,
        sample: { entities: 6, perEntity: 60, seed: 3 },
        allowedLateness: '2d',
        namespace: redis?.prefix ?? 'test',
      });
      expectZeroMismatches(report);
      expect(report.sample).toMatchObject({ mode: 'sampled', points: 360, entities: 6, seed: 3 });
      expect(report.features.map((f) => f.name)).toEqual(
        [...onlineFeatures, avgAmount7d, share1h].map((f) => f.name),
      );
      expect(report.skipped).toEqual([
        {
          feature: 'amount_over_mean',
          reason: 'request-time feature: the same TypeScript function runs on both paths',
        },
      ]);
      for (const f of report.features) {
        expect(f.total).toBe(360);
        expect(f.agree + f.bothNull).toBe(360);
      }
      expect(report.replay.events).toBeGreaterThan(0);
      expect(report.replay.late).toBe(0);
      // Reads after the median q combine batch tiles (below the watermark) with stream tiles.
      expect(report.replay.materializations).toHaveLength(1);
      if (redis !== undefined && adapter !== undefined && _engine === 'redis') {
        const left = await redis.client.keys(`${report.replay.namespace}*`);
        expect(left).toEqual([]);
      }
    });

    it.each(engines.filter(([name]) => name !== 'in-process adapter'))(
      'explains late events by the stream layer skipping them, until materialization repairs them (%s)',
      async (_engine, make) => {
        const run = (materialize: false | { at: readonly number[] }) => {
          const adapter = make();
          return checkParity({
            offline,
            ...(adapter === undefined ? {} : { online: adapter }),
            features: [...onlineFeatures],
            sample: { entities: 4, perEntity: 40, seed: 11 },
            allowedLateness: '1h',
            namespace: redis?.prefix ?? 'test',
            materialize,
          });
        };
        const streamOnly = await run(false);
        // Daily batches, 1 h of allowed lateness: most events are late for the stream layer.
        expect(streamOnly.replay.late).toBeGreaterThan(streamOnly.replay.events / 2);
        expect(streamOnly.ok).toBe(false);
        expect(streamOnly.totals.unrepairedLate).toBe(streamOnly.totals.disagreements);
        const example = streamOnly.features.find((f) => f.examples.length > 0)!.examples[0]!;
        expect(example.unrepairedLate).toBe(true);
        expect(example.windows.some((w) => w.events.some((e) => e.late && e.counts))).toBe(true);

        // Materialize twice a day: the batch layer repairs what arrived before each run.
        const every = Array.from({ length: 45 * 2 }, (_, i) => BASE + i * 12 * HOUR);
        const batched = await run({ at: every });
        expect(batched.replay.materializations.length).toBeGreaterThan(50);
        expect(batched.totals.unrepairedLate).toBe(batched.totals.disagreements);
        expect(batched.totals.disagreements).toBeLessThan(streamOnly.totals.disagreements / 2);
      },
    );
  },
);

describe('checkParity on explicit points', () => {
  let offline: OfflineStore;
  beforeAll(async () => {
    const database = databases[0]!;
    offline = createOfflineStore({
      executor: pgliteOrPostgresExecutor(database),
      schema: `${database.schema}_explicit`,
    });
    await offline.apply([orders]);
    await ingestRandom(offline, 21, 10);
  });
  afterAll(() => offline.executor.close());

  it('checks the given points, an entity without events included; the report is plain JSON', async () => {
    const q = BASE + 5 * DAY + 17;
    const report = await checkParity({
      offline,
      features: [onlineFeatures[0], onlineFeatures[3], onlineFeatures[9], avgAmount7d],
      sample: [
        { entity: { customer_id: 'a' }, q },
        { entity: { customer_id: 'a' }, q: q + HOUR },
        { entity: { customer_id: 'nobody' }, q },
      ],
      examples: 2,
    });
    expect(report).toMatchObject({
      version: 1,
      ok: true,
      service: null,
      sample: { mode: 'explicit', points: 3, entities: 2, seed: null, from: q, to: q + HOUR },
      replay: { engine: 'memory', materializations: [{ at: q, end: q - HOUR }] },
      totals: { values: 12, disagreements: 0, unrepairedLate: 0 },
      skipped: [],
    });
    expect(report.replay.namespace).toMatch(/^tandem:parity:[a-z0-9]+$/);
    expect(report.features.map((f) => [f.name, f.comparison, f.total])).toEqual([
      ['orders_1h', 'exact', 3],
      ['amount_mean_24h', 'float-sum-bound', 3],
      ['items_last3_1d', 'exact', 3],
      ['avg_amount_7d', 'derived-tolerance', 3],
    ]);
    // Nobody has no events: a count of 0 (its default) agrees, a mean is null on both sides.
    expect(report.features[1]!.bothNull).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('rejects a bad selection or sample, naming the field', async () => {
    const cases: [Parameters<typeof checkParity>[0], RegExp, string][] = [
      [{ offline, sample: [] }, /exactly one of service or features/, 'features'],
      [{ offline, features: [], sample: [] }, /no features to check/, 'features'],
      [
        { offline, features: [withRequest], sample: [] },
        /every feature is request-time/,
        'features',
      ],
      [
        {
          offline,
          features: [onlineFeatures[0]],
          sample: [{ entity: { customer_id: 'a' }, q: 1.5 }],
        },
        /q must be integer epoch milliseconds/,
        'sample[0].q',
      ],
      [
        { offline, features: [onlineFeatures[0]], sample: [{ entity: { customer_id: 7 }, q: 1 }] },
        /entity key customer_id must be a non-empty string/,
        'sample[0].entity.customer_id',
      ],
      [
        { offline, features: [onlineFeatures[0]], sample: { entities: 0, perEntity: 3 } },
        /sample.entities must be a positive integer/,
        'sample.entities',
      ],
    ];
    for (const [options, message, path] of cases) {
      await expect(checkParity(options)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(message),
        path,
      });
    }
  });
});

describe('checkParity over two entities', () => {
  const user = entity({ name: 'user', keys: { user_id: 'string' } });
  const merchant = entity({ name: 'merchant', keys: { merchant_id: 'int' } });
  const clicks = eventSource({ name: 'clicks', entity: user, fields: { ms: 'int' } });
  const sales = eventSource({ name: 'sales', entity: merchant, fields: { total: 'float' } });
  const twoEntities = featureService('two_entities', [
    clicks.count().window('1h').as('clicks_1h'),
    clicks.max('ms').window('2h', { hop: '10m' }).as('slowest_click_2h'),
    sales.sum('total').window('1d').as('sales_1d'),
  ]);

  it('samples rows combining a key of each entity, and agrees', async () => {
    const database = databases[0]!;
    const offline = createOfflineStore({
      executor: pgliteOrPostgresExecutor(database),
      schema: `${database.schema}_two`,
      clock: () => BASE + 3 * DAY,
    });
    try {
      await offline.apply([clicks, sales]);
      const random = seededRandom(5);
      await offline.ingest(
        clicks,
        Array.from({ length: 80 }, (_, i) => ({
          user_id: `u${i % 4}`,
          ts: BASE + uniformInt(random, 0, 2 * DAY),
          eventId: `c${i}`,
          ms: uniformInt(random, 1, 900),
        })),
      );
      await offline.ingest(
        sales,
        Array.from({ length: 60 }, (_, i) => ({
          merchant_id: i % 3,
          ts: BASE + uniformInt(random, 0, 2 * DAY),
          eventId: `s${i}`,
          total: (random() - 0.5) * 1e4,
        })),
      );
      const report = await checkParity({
        offline,
        service: twoEntities,
        sample: { entities: 5, perEntity: 30, seed: 2 },
        allowedLateness: '7d',
      });
      expectZeroMismatches(report);
      // Four users and three merchants: four rows, each a user with a merchant.
      expect(report.sample).toMatchObject({ entities: 4, points: 120 });
      expect(report.features.map((f) => f.total)).toEqual([120, 120, 120]);
      expect(report.features.map((f) => f.agree + f.bothNull)).toEqual([120, 120, 120]);

      const none = await checkParity({ offline, service: twoEntities, sample: [] });
      expect(none).toMatchObject({ ok: true, sample: { points: 0, from: null, to: null } });
      expect(none.totals.values).toBe(0);
    } finally {
      await offline.executor.close();
    }
  });
});
