import { type SQL, sql } from 'drizzle-orm';
import { TandemError } from '../errors/errors.js';
import type { ValueType } from '../expr/types.js';
import { hllFromItems } from './hll.js';
import type { AggregationSpec, IntermediateOf, Moments, TimedValue } from './spec.js';

/** What {@link aggregationSql} needs about the rows it aggregates. */
export interface AggregationSqlInput {
  /** The aggregation. */
  readonly spec: AggregationSpec;
  /** The aggregated value (expression representation), or null for `count()` of events. */
  readonly value: SQL | null;
  /** Type of `value`. */
  readonly valueType: ValueType | null;
  /** Which rows count: window, as-of and `where` filter, combined by the caller. */
  readonly filter: SQL;
  /** Event time in epoch ms (`bigint`). */
  readonly ts: SQL;
  /** Event id (`text`) or `NULL`. */
  readonly eventId: SQL;
  /** Ingestion sequence (`bigint`) or `NULL`. */
  readonly seq: SQL;
}

/**
 * An aggregate SQL expression, valid in a `GROUP BY` query, whose `json` value is the
 * aggregation's intermediate over the rows that pass `filter`. Decode it with
 * {@link decodeIntermediate}.
 */
export function aggregationSql(input: AggregationSqlInput): SQL {
  const { spec, filter } = input;
  const v = input.value;
  if (v === null) {
    if (spec.fn !== 'count') {
      throw new TandemError('INVALID_AGGREGATION', `${spec.fn} needs a value to aggregate`);
    }
    return sql`to_json(count(*) FILTER (WHERE ${filter}))`;
  }
  const present = sql`${filter} AND ${v} IS NOT NULL`;
  const collate = input.valueType === 'string' ? sql` COLLATE "C"` : sql``;
  const row = sql`json_build_array(${input.ts}, ${input.eventId}, ${input.seq}, ${v})`;
  // Null values (kept only by `latest`) sort first, as in `compareEventOrder`: Postgres' default
  // would put them first in DESC order, making a tied null the latest.
  const newestFirst = sql`${input.ts} DESC, ${input.eventId} COLLATE "C" DESC NULLS LAST, ${input.seq} DESC NULLS LAST, ${v}${collate} DESC NULLS LAST`;
  const oldestFirst = sql`${input.ts} ASC, ${input.eventId} COLLATE "C" ASC NULLS FIRST, ${input.seq} ASC NULLS FIRST, ${v}${collate} ASC NULLS FIRST`;
  switch (spec.fn) {
    case 'count':
      return sql`to_json(count(${v}) FILTER (WHERE ${filter}))`;
    case 'sum':
    case 'mean':
      return sql`json_build_array(count(${v}) FILTER (WHERE ${filter}), sum(${v}) FILTER (WHERE ${filter}), sum(abs(${v})) FILTER (WHERE ${filter}))`;
    case 'variance':
    case 'stddev':
      return sql`json_build_array(count(${v}) FILTER (WHERE ${filter}), sum(${v}) FILTER (WHERE ${filter}), sum(abs(${v})) FILTER (WHERE ${filter}), sum(${v} * ${v}) FILTER (WHERE ${filter}))`;
    case 'min':
      return sql`to_json(min(${v}) FILTER (WHERE ${filter}))`;
    case 'max':
      return sql`to_json(max(${v}) FILTER (WHERE ${filter}))`;
    case 'last':
      return sql`(array_agg(${row} ORDER BY ${newestFirst}) FILTER (WHERE ${present}))[1]`;
    case 'latest':
      return sql`(array_agg(${row} ORDER BY ${newestFirst}) FILTER (WHERE ${filter}))[1]`;
    case 'last_k':
      return sql`to_json((array_agg(${row} ORDER BY ${newestFirst}) FILTER (WHERE ${present}))[1:${sql.raw(String(spec.k))}])`;
    case 'first_k':
      return sql`to_json((array_agg(${row} ORDER BY ${oldestFirst}) FILTER (WHERE ${present}))[1:${sql.raw(String(spec.k))}])`;
    case 'count_distinct':
      return sql`to_json(array_agg(DISTINCT ${hllItemSql(canonicalTextSql(v, input.valueType))}) FILTER (WHERE ${present}))`;
  }
}

/** SQL of the text `countDistinct` hashes; mirrors `canonicalText`. */
function canonicalTextSql(v: SQL, type: ValueType | null): SQL {
  if (type === 'string') return v;
  if (type === 'int') return sql`CAST(CAST(${v} AS bigint) AS text)`;
  if (type === 'bool') return sql`CAST(${v} AS text)`;
  throw new TandemError('INVALID_AGGREGATION', `countDistinct cannot hash ${String(type)} values`);
}

/** SQL of `hllItem`: register from the first 12 bits of md5, rank of the first 1 in the next 52. */
function hllItemSql(text: SQL): SQL {
  return sql`(CAST(('x' || substr(md5(${text}), 1, 3)) AS bit(12))::integer * 64 + coalesce(nullif(position(B'1' in CAST(('x' || substr(md5(${text}), 4, 13)) AS bit(52))), 0), 53))`;
}

/**
 * Turns the `json` value of {@link aggregationSql} (already parsed by the driver) into the
 * intermediate, in the exact shape the TS fold produces.
 */
export function decodeIntermediate<S extends AggregationSpec>(
  spec: S,
  json: unknown,
): IntermediateOf[S['fn']] {
  return decode(spec, json) as IntermediateOf[S['fn']];
}

function decode(spec: AggregationSpec, json: unknown): unknown {
  switch (spec.fn) {
    case 'count':
      return Number(json ?? 0);
    case 'sum':
    case 'mean':
    case 'variance':
    case 'stddev': {
      const [n, sum, sumAbs, sumSq] = json as [number, number | null, number | null, number | null];
      const moments: Moments = { n: Number(n), sum: sum ?? 0, sumAbs: sumAbs ?? 0 };
      return spec.fn === 'variance' || spec.fn === 'stddev'
        ? { ...moments, sumSq: sumSq ?? 0 }
        : moments;
    }
    case 'min':
    case 'max':
      return json ?? null;
    case 'last':
    case 'latest':
      return json === null || json === undefined ? null : timedValue(json);
    case 'last_k':
      return ((json as unknown[] | null) ?? []).map(timedValue);
    case 'first_k':
      return ((json as unknown[] | null) ?? []).map(timedValue).reverse();
    case 'count_distinct':
      return hllFromItems((json as number[] | null) ?? []);
  }
}

function timedValue(json: unknown): TimedValue {
  const [ts, eventId, seq, value] = json as [
    number,
    string | null,
    number | null,
    TimedValue['value'],
  ];
  return { ts: Number(ts), eventId, seq: seq === null ? null : Number(seq), value };
}
