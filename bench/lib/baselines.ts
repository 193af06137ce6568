import { DAY } from './features.js';

/**
 * The point-in-time join Feast's Postgres offline store generates (its
 * `MULTIPLE_FEATURE_VIEW_POINT_IN_TIME_JOIN` template) for one feature view `tx` with entity
 * `user_id`, feature `amount`, ttl 30 days and no created-timestamp column, on `bigint` epoch-ms
 * timestamps: the entity rows, a row id built from key and time, a range join on key and
 * `ts - ttl <= event_timestamp <= ts` (inclusive at the head), the newest event per row id by
 * `ROW_NUMBER()`, joined back to the base and then to the entity rows.
 */
export function feastSql(entityTable: string, eventTable: string): string {
  const ttl = 30 * DAY;
  return `
WITH entity_dataframe AS (
  SELECT *, ts AS entity_timestamp,
    (CAST(user_id AS VARCHAR) || CAST(ts AS VARCHAR)) AS tx__entity_row_unique_id
  FROM ${entityTable}
),
tx__entity_dataframe AS (
  SELECT user_id, entity_timestamp, tx__entity_row_unique_id
  FROM entity_dataframe
  GROUP BY user_id, entity_timestamp, tx__entity_row_unique_id
),
tx__subquery AS (
  SELECT ts AS event_timestamp, user_id, amount
  FROM ${eventTable} AS sub
  WHERE ts <= (SELECT MAX(entity_timestamp) FROM entity_dataframe)
    AND ts >= (SELECT MIN(entity_timestamp) FROM entity_dataframe) - ${ttl}
),
tx__base AS (
  SELECT subquery.*, entity_dataframe.entity_timestamp, entity_dataframe.tx__entity_row_unique_id
  FROM tx__subquery AS subquery
  INNER JOIN tx__entity_dataframe AS entity_dataframe
  ON TRUE
    AND subquery.event_timestamp <= entity_dataframe.entity_timestamp
    AND subquery.event_timestamp >= entity_dataframe.entity_timestamp - ${ttl}
    AND subquery.user_id = entity_dataframe.user_id
),
tx__latest AS (
  SELECT event_timestamp, tx__entity_row_unique_id
  FROM (
    SELECT *, ROW_NUMBER() OVER (
      PARTITION BY tx__entity_row_unique_id ORDER BY event_timestamp DESC
    ) AS row_number
    FROM tx__base
  ) AS sub
  WHERE row_number = 1
),
tx__cleaned AS (
  SELECT base.*
  FROM tx__base AS base
  INNER JOIN tx__latest USING (tx__entity_row_unique_id, event_timestamp)
)
SELECT row_id, user_id, ts, label, amount
FROM entity_dataframe
LEFT JOIN (
  SELECT tx__entity_row_unique_id, amount FROM tx__cleaned
) AS tx USING (tx__entity_row_unique_id)`;
}

/** `T(q)` of a sliding window of `length` and `hop` ms in SQL, as DESIGN §3 defines it. */
function windowStart(q: string, length: number, hop: number): string {
  return `((${q} - ${length}) - (((${q} - ${length}) % ${hop}) + ${hop}) % ${hop})`;
}

/**
 * The plain exact reference for the windowed features: one `LEFT JOIN LATERAL` per entity row
 * over the key's events in `[T30d(q), q)` with `ingested_at <= q`, plain aggregates with FILTERs
 * at the same window edges as Tandem (7d and 24h with a 1h hop, 30d with a 1d hop), rows in input
 * order.
 */
export function lateralSql(entityTable: string, eventTable: string): string {
  const HOUR = 3_600_000;
  const w7 = windowStart('r.ts', 7 * DAY, HOUR);
  const w24 = windowStart('r.ts', DAY, HOUR);
  const w30 = windowStart('r.ts', 30 * DAY, DAY);
  return `
SELECT r.row_id, r.user_id, r.ts, r.label, a.sum_7d, a.count_7d, a.mean_24h, a.max_30d
FROM ${entityTable} r
LEFT JOIN LATERAL (
  SELECT
    sum(e.amount) FILTER (WHERE e.ts >= ${w7}) AS sum_7d,
    count(*) FILTER (WHERE e.ts >= ${w7}) AS count_7d,
    avg(e.amount) FILTER (WHERE e.ts >= ${w24}) AS mean_24h,
    max(e.amount) AS max_30d
  FROM ${eventTable} e
  WHERE e.user_id = r.user_id AND e.ts < r.ts AND e.ingested_at <= r.ts AND e.ts >= ${w30}
) a ON true
ORDER BY r.row_id`;
}

/**
 * The floor: the entity rows alone, in input order, one `json` value per row (which pg parses into
 * an object), with no feature computed. Any method that hands the rows to JS costs at least this.
 */
export function floorSql(entityTable: string): string {
  return `SELECT to_json(r) AS doc FROM ${entityTable} r ORDER BY r.row_id`;
}
