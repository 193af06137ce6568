import type { OfflineStore } from '@tandem/feature-store';
import type pg from 'pg';
import { transactions } from './features.js';

/** Start of the generated data: 2024-01-01T00:00:00Z. */
export const DATA_START = Date.UTC(2024, 0, 1);
/** Length of the generated data: 90 days. */
export const DATA_SPAN = 90 * 86_400_000;

/** A uniform draw in `[0, n)` for row `i` and stream `k`: Postgres' seeded 64-bit integer hash. */
function draw(i: string, seed: number, k: number, n: number): string {
  return `((hashint8extended(${i}, ${seed * 16 + k}) & 9223372036854775807) % ${n})`;
}

/** Name of the managed event table of the benchmark's source. */
export function eventTable(schema: string): string {
  return `"${schema}"."events_${transactions.ir.name}"`;
}

/**
 * Fills the source's managed table (created by `apply`) with `events` events over `users` users:
 * user and time uniform, amount a multiple of 0.01 in [0, 1000), `eventId` `e<i>`, ingested at
 * its event time. Rows are written in time order (as ingestion in real time would) with the
 * table's indexes dropped and then recreated by `apply` (the dedupe index and the covering
 * point-in-time index), then the table is vacuumed (as autovacuum would, which makes reads
 * index-only) and analyzed.
 */
export async function generateEvents(
  pool: pg.Pool,
  store: OfflineStore,
  options: { events: number; users: number; seed: number },
): Promise<void> {
  const { events, users, seed } = options;
  const table = eventTable(store.schema);
  const indexes = await pool.query<{ name: string }>(
    `SELECT indexname AS name FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`,
    [store.schema, `events_${transactions.ir.name}`],
  );
  for (const { name } of indexes.rows) await pool.query(`DROP INDEX "${store.schema}"."${name}"`);
  await pool.query(`
    INSERT INTO ${table} (user_id, ts, event_id, ingested_at, amount)
    SELECT user_id, ts, 'e' || i, ts, amount FROM (
      SELECT i,
        1 + ${draw('i', seed, 1, users)} AS user_id,
        ${DATA_START} + ${draw('i', seed, 2, DATA_SPAN)} AS ts,
        ${draw('i', seed, 3, 100_000)} / 100.0 AS amount
      FROM generate_series(1, ${events}) AS i) g
    ORDER BY ts, i`);
  await store.apply([transactions]);
  await pool.query(`VACUUM ANALYZE ${table}`);
}

/**
 * Creates the entity-row table `entity_rows_<n>` `(row_id, user_id, ts, label)`: `n` rows of a
 * uniform user and a uniform time within the data's range, written in `row_id` order.
 */
export async function generateEntityRows(
  pool: pg.Pool,
  schema: string,
  options: { rows: number; users: number; seed: number },
): Promise<string> {
  const name = `entity_rows_${options.rows}`;
  const table = `"${schema}"."${name}"`;
  await pool.query(`
    CREATE TABLE ${table} AS
    SELECT i AS row_id,
      1 + ${draw('i', options.seed, 5, options.users)} AS user_id,
      ${DATA_START} + ${draw('i', options.seed, 6, DATA_SPAN)} AS ts,
      CAST(${draw('i', options.seed, 7, 2)} AS integer) AS label
    FROM generate_series(1, ${options.rows}) AS i`);
  await pool.query(`ALTER TABLE ${table} ADD PRIMARY KEY (row_id)`);
  await pool.query(`VACUUM ANALYZE ${table}`);
  return `${schema}.${name}`;
}
