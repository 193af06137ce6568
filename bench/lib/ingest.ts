import { eventSource } from '@tandem/core';
import type { OfflineStore } from '@tandem/feature-store';
import type pg from 'pg';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { DATA_SPAN, DATA_START } from './data.js';
import { user } from './features.js';
import { type Summary, summarize } from './measure.js';

/** Events per `ingest` call and per raw INSERT statement. */
export const INGEST_BATCH = 10_000;

/** What the ingestion benchmark measured. */
export interface IngestionResult {
  /** Events written per run. */
  readonly events: number;
  /** Events per call / statement. */
  readonly batch: number;
  /** `store.ingest`: zod validation, multi-row `unnest` insert, dedupe by eventId. */
  readonly store: Summary & { readonly eventsPerSecond: number };
  /** Baseline: parameterized multi-row `INSERT ... VALUES` into an identical table. */
  readonly rawInsert: Summary & { readonly eventsPerSecond: number };
  /** `rawInsert.ms / store.ms`. */
  readonly storeSpeedupOverRaw: number;
}

const storeSource = eventSource({
  name: 'ingest_store',
  entity: user,
  fields: { amount: 'float' },
});
const rawSource = eventSource({ name: 'ingest_raw', entity: user, fields: { amount: 'float' } });

function events(n: number, users: number, seed: number) {
  const rng = xoroshiro128plus(seed);
  return Array.from({ length: n }, (_, i) => ({
    user_id: uniformInt(rng, 1, users),
    ts: DATA_START + uniformInt(rng, 0, DATA_SPAN - 1),
    eventId: `i${i}`,
    amount: uniformInt(rng, 0, 99_999) / 100,
  }));
}

/**
 * Ingests the same `n` events into two fresh managed tables with the same DDL, `runs` times
 * each (the tables truncated before every run, the two paths interleaved): through
 * `store.ingest` and through a plain multi-row INSERT, both `INGEST_BATCH` events per statement.
 */
export async function benchIngestion(
  pool: pg.Pool,
  store: OfflineStore,
  options: { events: number; users: number; seed: number; runs: number; log: (s: string) => void },
): Promise<IngestionResult> {
  await store.apply([storeSource, rawSource]);
  const batch = events(options.events, options.users, options.seed);
  const table = (name: string) => `"${store.schema}"."events_${name}"`;
  const timeIt = async (work: () => Promise<void>) => {
    const start = performance.now();
    await work();
    const ms = performance.now() - start;
    return { ms, rows: options.events, rssStart: 0, rssPeak: 0, rssByTenth: [] };
  };
  const storeRuns = [];
  const rawRuns = [];
  const ingestedAt = DATA_START + DATA_SPAN;
  for (let run = 0; run < options.runs; run++) {
    await pool.query(`TRUNCATE ${table('ingest_store')}, ${table('ingest_raw')} RESTART IDENTITY`);
    storeRuns.push(
      await timeIt(async () => {
        for (let i = 0; i < batch.length; i += INGEST_BATCH) {
          await store.ingest(storeSource, batch.slice(i, i + INGEST_BATCH));
        }
      }),
    );
    rawRuns.push(
      await timeIt(async () => {
        for (let i = 0; i < batch.length; i += INGEST_BATCH) {
          const chunk = batch.slice(i, i + INGEST_BATCH);
          const values: unknown[] = [];
          const tuples = chunk.map((e, j) => {
            values.push(e.user_id, e.ts, e.eventId, ingestedAt, e.amount);
            const p = j * 5;
            return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5})`;
          });
          await pool.query(
            `INSERT INTO ${table('ingest_raw')} (user_id, ts, event_id, ingested_at, amount) VALUES ${tuples.join(', ')}`,
            values,
          );
        }
      }),
    );
    options.log(
      `  ingest run ${run + 1}: store ${Math.round(storeRuns.at(-1)!.ms)} ms, raw INSERT ${Math.round(rawRuns.at(-1)!.ms)} ms`,
    );
  }
  const withRate = (s: Summary) => ({
    ...s,
    eventsPerSecond: Math.round((options.events / s.ms) * 1000),
  });
  const storeSummary = withRate(summarize(storeRuns));
  const rawSummary = withRate(summarize(rawRuns));
  return {
    events: options.events,
    batch: INGEST_BATCH,
    store: storeSummary,
    rawInsert: rawSummary,
    storeSpeedupOverRaw: Number((rawSummary.ms / storeSummary.ms).toFixed(2)),
  };
}
