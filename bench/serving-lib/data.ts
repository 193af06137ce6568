/**
 * The benchmark's data, the same for both servers: payments of `entities` accounts over the last
 * 30 days streamed into Tandem's online store on Redis, then every account's 20 feature values
 * (read back from that store) written to one plain Redis hash per account, which the hand-written
 * handler reads with HMGET. Both servers therefore see the same feature values.
 */
import { createOnlineStore, type OnlineEvent, redisAdapter } from '@tandem/feature-store';
import { logisticRegressionOnnx } from '@tandem/testing';
import type { Redis } from 'ioredis';
import { FEATURE_NAMES, payments, servingBenchService } from './features.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** mulberry32: a tiny deterministic PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the benchmark's keys live. */
export interface BenchKeys {
  /** Namespace of Tandem's online store. */
  readonly namespace: string;
  /** Prefix of the hand-written handler's hashes: `<prefix><account_id>`. */
  readonly hashPrefix: string;
}

/** What {@link loadData} wrote. */
export interface LoadedData {
  /**
   * The time the data is read as of (epoch ms). The middleware's store reads as of this time
   * (a frozen clock), so its values stay equal to the hashes' however long the benchmark runs.
   */
  readonly now: number;
  readonly accounts: readonly string[];
  readonly events: number;
  readonly writeMs: number;
  readonly hashMs: number;
}

/** Account ids: `acct-000001`, ... */
export function accountIds(entities: number): string[] {
  return Array.from({ length: entities }, (_, i) => `acct-${String(i + 1).padStart(6, '0')}`);
}

/**
 * Streams about `perEntity` payments per account (some in the last hour) into the online store,
 * then copies every account's feature values into its plain hash.
 */
export async function loadData(
  client: Redis,
  keys: BenchKeys,
  entities: number,
  perEntity: number,
  seed: number,
): Promise<LoadedData> {
  // Not in the first seconds of a minute (hence of a grain: every grain here is a whole number of
  // minutes): reads then find their window bodies in the cache, as reads at a live clock do except
  // in the first WINDOW_CACHE_SETTLE_MS (10 s) after a grain boundary (docs/online.md). A frozen
  // time in that span would make every read of the run take the tiles.
  const clock = Date.now();
  const now = clock % MINUTE < 15_000 ? clock + 15_000 : clock;
  const online = createOnlineStore({
    adapter: redisAdapter({ client }),
    features: [servingBenchService],
    namespace: keys.namespace,
    allowedLateness: '31d',
    clock: () => now,
  });
  const random = prng(seed);
  const accounts = accountIds(entities);
  let batch: OnlineEvent[] = [];
  let events = 0;
  let id = 0;
  const started = performance.now();
  const flush = async () => {
    if (batch.length === 0) return;
    await online.writeEvents(payments.name, batch);
    batch = [];
  };
  for (const account of accounts) {
    const n = Math.max(1, Math.round(perEntity * (0.25 + 1.5 * random())));
    for (let i = 0; i < n; i++) {
      // Mostly spread over 30 days, one in ten within the last hour.
      const age = random() < 0.1 ? random() * HOUR : random() * 30 * DAY;
      batch.push({
        key: { account_id: account },
        ts: Math.floor(now - age - 1),
        eventId: `e${++id}`,
        values: {
          amount: Math.round(Math.exp(1 + 4 * random()) * 100) / 100,
          items: 1 + Math.floor(random() * 5),
          is_refund: random() < 0.04,
          is_online: random() < 0.5,
        },
      });
      events++;
    }
    if (batch.length >= 2000) await flush();
  }
  await flush();
  const writeMs = performance.now() - started;

  const hashStarted = performance.now();
  for (let i = 0; i < accounts.length; i += 500) {
    const slice = accounts.slice(i, i + 500);
    const rows = await online.getOnlineFeatures({
      service: servingBenchService,
      entities: slice.map((account_id) => ({ account_id })),
    });
    const pipeline = client.pipeline();
    rows.forEach((row, j) => {
      const fields: string[] = [];
      for (const name of FEATURE_NAMES) {
        fields.push(
          name,
          String((row.values as Record<string, { value: unknown }>)[name]?.value ?? ''),
        );
      }
      pipeline.hset(`${keys.hashPrefix}${slice[j]}`, ...fields);
    });
    await pipeline.exec();
  }
  return { now, accounts, events, writeMs, hashMs: performance.now() - hashStarted };
}

/** The benchmark's model: a logistic regression over the 20 features, fixed weights. */
export function benchModel(): Uint8Array {
  const scale: Record<string, number> = {
    count: 0.02,
    amount: 0.0005,
    refunds: 0.3,
    online: 0.01,
    items: 0.005,
  };
  const weights = FEATURE_NAMES.map((name, j) => {
    const kind = name.split('_')[0]!;
    return (scale[kind] ?? 0.01) * (j % 2 === 0 ? 1 : -0.5);
  });
  return logisticRegressionOnnx({ weights, bias: -2, outputs: ['probability'] });
}
