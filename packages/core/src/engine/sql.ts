import { type SQL, sql } from 'drizzle-orm';
import { aggregationSql } from '../aggregations/sql.js';
import type { FeatureIR } from '../definitions/feature.js';
import type { SourceIR } from '../definitions/source.js';
import { TandemError } from '../errors/errors.js';
import { compileSql } from '../expr/sql.js';
import { isNumericType } from '../expr/types.js';
import type { WindowSpec } from '../time/window.js';

/** Names of the system columns of the canonical event relation of {@link sourceRelationSql}. */
export const SYSTEM_COLUMNS = {
  ts: '__ts',
  eventId: '__event_id',
  seq: '__seq',
  ingestedAt: '__ingested_at',
} as const;

/**
 * A subquery that reads a source's table into the canonical shape every compiled query uses:
 * one column per entity key and field (named as in the definition), plus `__ts`, `__event_id`,
 * `__seq` and `__ingested_at` (epoch ms `bigint`, `text`, `bigint`, `bigint`; NULL when the source
 * lacks them). With `dedupe`, rows sharing an entity and an event id count once: the earliest
 * ingested copy (by ingestion time, then sequence, then event time) is kept.
 */
export function sourceRelationSql(
  source: SourceIR,
  options: { table?: SQL; dedupe: boolean },
): SQL {
  const table = options.table ?? (source.table === null ? undefined : tableSql(source.table));
  if (table === undefined) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      'a managed source needs the table the offline store created',
      {
        path: `source ${source.name}`,
      },
    );
  }
  const time = (column: string) =>
    source.timestamp.unit === 'epoch_ms'
      ? sql`CAST(${sql.identifier(column)} AS bigint)`
      : sql`CAST(floor(extract(epoch from ${sql.identifier(column)}) * 1000) AS bigint)`;
  const optional = (column: string | null, type: 'text' | 'bigint', asTime = false) =>
    column === null
      ? sql`CAST(NULL AS ${sql.raw(type)})`
      : asTime
        ? time(column)
        : sql`CAST(${sql.identifier(column)} AS ${sql.raw(type)})`;
  const columns: SQL[] = [
    ...Object.entries(source.keyColumns).map(
      ([key, column]) => sql`${sql.identifier(column)} AS ${sql.identifier(key)}`,
    ),
    ...Object.entries(source.fields).map(
      ([name, field]) => sql`${sql.identifier(field.column)} AS ${sql.identifier(name)}`,
    ),
    sql`${time(source.timestamp.column)} AS ${sql.identifier(SYSTEM_COLUMNS.ts)}`,
    sql`${optional(source.eventId, 'text')} AS ${sql.identifier(SYSTEM_COLUMNS.eventId)}`,
    sql`${optional(source.sequence, 'bigint')} AS ${sql.identifier(SYSTEM_COLUMNS.seq)}`,
    sql`${optional(source.ingestedAt, 'bigint', true)} AS ${sql.identifier(SYSTEM_COLUMNS.ingestedAt)}`,
  ];
  const select = sql`SELECT ${sql.join(columns, sql`, `)} FROM ${table}`;
  if (!options.dedupe || source.eventId === null) return sql`(${select})`;
  const keys = Object.keys(source.keyColumns).map((k) => sql.identifier(k));
  const c = (name: string) => sql.identifier(name);
  return sql`(SELECT * FROM (SELECT r.*, row_number() OVER (PARTITION BY ${sql.join(keys, sql`, `)}, ${c(SYSTEM_COLUMNS.eventId)} ORDER BY ${c(SYSTEM_COLUMNS.ingestedAt)} ASC NULLS LAST, ${c(SYSTEM_COLUMNS.seq)} ASC NULLS LAST, ${c(SYSTEM_COLUMNS.ts)} ASC) AS __copy FROM ${sql`(${select})`} r) d WHERE ${c(SYSTEM_COLUMNS.eventId)} IS NULL OR __copy = 1)`;
}

/** `"schema"."table"` or `"table"`. */
export function tableSql(table: NonNullable<SourceIR['table']>): SQL {
  return table.schema === null
    ? sql`${sql.identifier(table.name)}`
    : sql`${sql.identifier(table.schema)}.${sql.identifier(table.name)}`;
}

/**
 * `T(q)` in SQL (`q` a `bigint`): `floor((q - W) / h) * h` with floor division for a sliding
 * window, `q - ttl` for a ttl. The SQL twin of `windowStart`.
 */
export function windowStartSql(window: Exclude<WindowSpec, { kind: 'lifetime' }>, q: SQL): SQL {
  const start = sql`(${q} - CAST(${window.length} AS bigint))`;
  if (window.kind === 'ttl') return start;
  const hop = sql`CAST(${window.hop} AS bigint)`;
  return sql`${start} - ((${start} % ${hop}) + ${hop}) % ${hop}`;
}

/**
 * SQL predicate of DESIGN §3 for an event at `ts` as of `q` (both epoch ms `bigint`):
 * `T(q) <= ts < q` with `T(q) = floor((q - W) / h) * h` (floor division), `q - ttl <= ts < q`, or
 * `ts < q` for lifetime windows.
 */
export function windowPredicateSql(window: WindowSpec, ts: SQL, q: SQL): SQL {
  if (window.kind === 'lifetime') return sql`(${ts} < ${q})`;
  return sql`(${ts} < ${q} AND ${ts} >= ${windowStartSql(window, q)})`;
}

/**
 * The aggregate expression (valid in a `GROUP BY` over a {@link sourceRelationSql} relation
 * aliased `alias`) whose `json` value is the feature's intermediate as of `q`: window, as-of rule
 * (`ingestedAt <= q`) and `where` filter applied. Decode it with `decodeIntermediate`.
 */
export function featureAggregateSql(feature: FeatureIR, alias: string, q: SQL): SQL {
  if (feature.kind !== 'aggregation') {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `feature ${feature.name} is ${feature.kind}, not an aggregation`,
    );
  }
  const col = (name: string) => sql`${sql.identifier(alias)}.${sql.identifier(name)}`;
  const scope = {
    column: (name: string) => {
      const field = feature.source.fields[name];
      if (field === undefined)
        throw new TandemError('UNKNOWN_COLUMN', `unknown field ${name}`, {
          path: `feature ${feature.name}`,
        });
      return isNumericType(field.type) ? sql`CAST(${col(name)} AS double precision)` : col(name);
    },
    feature: (name: string) => {
      throw new TandemError('INVALID_DEFINITION', `aggregations cannot read feature ${name}`, {
        path: `feature ${feature.name}`,
      });
    },
  };
  const ts = col(SYSTEM_COLUMNS.ts);
  const conditions: SQL[] = [windowPredicateSql(feature.window, ts, q)];
  if (feature.source.ingestedAt !== null) {
    const ingestedAt = col(SYSTEM_COLUMNS.ingestedAt);
    conditions.push(sql`(${ingestedAt} IS NULL OR ${ingestedAt} <= ${q})`);
  }
  if (feature.where !== null) conditions.push(sql`(${compileSql(feature.where, scope)}) IS TRUE`);
  return aggregationSql({
    spec: feature.aggregation,
    value: feature.value === null ? null : compileSql(feature.value, scope),
    valueType: feature.value?.type ?? null,
    filter: sql.join(conditions, sql` AND `),
    ts,
    eventId: col(SYSTEM_COLUMNS.eventId),
    seq: col(SYSTEM_COLUMNS.seq),
  });
}
