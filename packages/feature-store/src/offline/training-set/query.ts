import {
  type AggregationSpec,
  aggregationSql,
  compareEventOrder,
  compileSql,
  decodeIntermediate,
  type Intermediate,
  isNumericType,
  type SourceIR,
  SYSTEM_COLUMNS,
  sourceRelationSql,
  TandemError,
  type TimedValue,
  type ValueType,
  type WindowSpec,
  windowStartSql,
} from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import { sourceTableSql } from '../managed-tables.js';
import type { AggregationFeature, TrainingPlan } from './plan.js';

/** What each feature's column of the point-in-time query holds. */
type Output = 'intermediates' | 'values';

/** The parts of a point-in-time query, for a page relation aliased `r`. */
interface PointInTimeParts {
  /** One column per aggregation feature, in `plan.bySource` order. */
  readonly columns: SQL[];
  /** The `LEFT JOIN LATERAL`s the columns read. */
  readonly joins: SQL[];
  /** Window starts to compute once per entity row (`, <expr of __q> AS __start<j>`). */
  readonly starts: SQL;
}

/**
 * The point-in-time query over a page of staged entity rows `(from, to]`, with the semantics of
 * `featureAggregateSql` (DESIGN §3), shaped for speed:
 * - The page's rows are visited sorted by entity key and time (consecutive index probes touch the
 *   same pages) and come out in input order (`__row`). Each distinct window start `T(q)` is
 *   computed once per row (`__start<j>`), so per event a window costs one comparison.
 * - Per source, one `LEFT JOIN LATERAL` reads the key's events in `[earliest start, q)` that pass
 *   the as-of rule, through the `(keys, ts)` index, and computes every windowed intermediate
 *   (count, sum, mean, min, max, variance, countDistinct, ...) with a `FILTER` on its own start
 *   and `where`.
 * - Each event-order feature (`last`, `latest`, `lastK`, `firstK`) reads only its candidates: the
 *   newest (oldest for `firstK`) `k` events by time that count (window, as-of rule, `where`, and a
 *   non-null value except for `latest`), with every event tied with the k-th on time. The index
 *   scan stops there and no per-row sort runs; {@link intermediateReader} orders the candidates
 *   with `compareEventOrder`.
 * - A float `last` whose window lies within the windowed aggregates' scan rides on that scan
 *   instead (one index probe per row and source, not two): `max(ARRAY[ts, value])` and
 *   `max(ARRAY[ts, -value])` give its value unless events tied on the newest time disagree (or the
 *   value is zero), and only then does the row read its candidates. Its intermediate then carries
 *   the event's time and value, not its id and sequence (the output needs only the value).
 *
 * One column per row, in input order: `__doc`, a json array of the entity row (its `__json`)
 * followed by each aggregation feature's intermediate in `plan.bySource` order (one value to parse
 * per row); decode the intermediates with {@link intermediateReader}.
 */
export function trainingPageSql(
  plan: TrainingPlan,
  schema: string,
  rows: SQL,
  from: number,
  to: number,
): SQL {
  const parts = pointInTimeParts(plan, schema, 'intermediates');
  // OFFSET 0 keeps the sorted page a subquery: its rows drive the joins in that order, and each
  // window start is computed once per row.
  const page = sql`(SELECT *${parts.starts} FROM ${rows} WHERE __row > ${from} AND __row <= ${to} ORDER BY ${sortOrder(plan)} OFFSET 0) r`;
  // An array constructor, not json_build_array: that takes at most 100 arguments.
  return sql`SELECT array_to_json(ARRAY[${sql.join([sql`r.__json`, ...parts.columns], sql`, `)}]) AS __doc FROM ${page} ${sql.join(parts.joins, sql` `)} ORDER BY r.__row`;
}

/** Aggregations whose value {@link trainingValuesSql} computes in SQL. */
const VALUE_FUNCTIONS: ReadonlySet<AggregationSpec['fn']> = new Set([
  'count',
  'sum',
  'mean',
  'min',
  'max',
  'last',
  'latest',
]);

/**
 * True when {@link trainingValuesSql} can compute every feature of the plan: only aggregations
 * (no derived or request feature), each a `count`, `sum`, `mean`, `min`, `max`, `last` or
 * `latest`.
 */
export function valuesInSql(plan: TrainingPlan): boolean {
  return plan.all.every(
    (f) => f.ir.kind === 'aggregation' && VALUE_FUNCTIONS.has(f.ir.aggregation.fn),
  );
}

/**
 * The point-in-time query of {@link trainingPageSql} over all the entity rows of `rows` (a table
 * or parenthesized query of `(__row, <keys>, __q, __json)`), computing each feature's value in SQL
 * rather than its intermediate: `__row`, `__json`, then one column per `columns` entry, of its
 * type, with the feature's default for a missing value: the same values as the intermediates
 * finalized by the TS engine. Rows come out sorted by key and time. The plan must pass
 * {@link valuesInSql}.
 */
export function trainingValuesSql(
  plan: TrainingPlan,
  schema: string,
  rows: SQL,
  columns: readonly { readonly name: string; readonly type: string }[],
): SQL {
  const parts = pointInTimeParts(plan, schema, 'values');
  const features = plan.bySource.flatMap((g) => g.features);
  const values = columns.map(({ name, type }) => {
    const at = features.findIndex((f) => f.name === name);
    const feature = features[at]!;
    const value = sql`CAST(${parts.columns[at]!} AS ${sql.raw(type)})`;
    const fallback = feature.ir.default;
    return fallback === null
      ? value
      : sql`coalesce(${value}, CAST(${fallback} AS ${sql.raw(type)}))`;
  });
  const page = sql`(SELECT *${parts.starts} FROM ${rows} x ORDER BY ${sortOrder(plan)} OFFSET 0) r`;
  return sql`SELECT r.__row, r.__json, ${sql.join(values, sql`, `)} FROM ${page} ${sql.join(parts.joins, sql` `)}`;
}

function sortOrder(plan: TrainingPlan): SQL {
  return sql.join([...plan.keys.map((k) => sql.identifier(k.name)), sql`__q`], sql`, `);
}

function pointInTimeParts(plan: TrainingPlan, schema: string, output: Output): PointInTimeParts {
  const q = sql`r.__q`;
  const starts = new Map<string, { column: SQL; value: SQL }>();
  /** The row's column holding the window's start, or null for a lifetime window. */
  const startOf = (window: WindowSpec): SQL | null => {
    if (window.kind === 'lifetime') return null;
    const key = JSON.stringify(window);
    let start = starts.get(key);
    if (start === undefined) {
      const name = sql.identifier(`__start${starts.size}`);
      start = {
        column: sql`r.${name}`,
        value: sql`${windowStartSql(window, sql`__q`)} AS ${name}`,
      };
      starts.set(key, start);
    }
    return start.column;
  };
  const columns: SQL[] = [];
  const joins: SQL[] = [];
  let column = 0;
  plan.bySource.forEach((group, g) => {
    const alias = sql.identifier(`s${g}`);
    const relation = sourceRelationSql(group.source, {
      table: sourceTableSql(schema, group.source),
      // Managed tables are deduplicated at ingestion by a unique (keys, event_id) index.
      dedupe: group.source.table !== null,
    });
    const e = (name: string) => sql`e.${sql.identifier(name)}`;
    const ts = e(SYSTEM_COLUMNS.ts);
    const asOf = [
      ...Object.keys(group.source.keyColumns).map(
        (key) => sql`${e(key)} = r.${sql.identifier(key)}`,
      ),
      sql`${ts} < ${q}`,
    ];
    if (group.source.ingestedAt !== null) {
      const ingestedAt = e(SYSTEM_COLUMNS.ingestedAt);
      // A managed table's ingested_at is NOT NULL; a user's column may hold nulls (unknown).
      asOf.push(
        group.source.table === null
          ? sql`${ingestedAt} <= ${q}`
          : sql`(${ingestedAt} IS NULL OR ${ingestedAt} <= ${q})`,
      );
    }
    const aggregates: SQL[] = [];
    const windowStarts: (SQL | null)[] = [];
    // How far back the windowed aggregates' scan reaches (-Infinity: there is none).
    const scanSpan = Math.max(
      -Number.POSITIVE_INFINITY,
      ...group.features
        .filter((f) => !isEventOrder(f.ir.aggregation))
        .map((f) => windowSpan(f.ir.window)),
    );
    for (const feature of group.features) {
      const name = sql.identifier(`f${column++}`);
      const ir = feature.ir;
      const scope = fieldScope(ir.source, feature.name, e);
      const value = ir.value === null ? null : compileSql(ir.value, scope);
      const start = startOf(ir.window);
      const filter = [
        ...(start === null ? [] : [sql`${ts} >= ${start}`]),
        ...(ir.where === null ? [] : [sql`(${compileSql(ir.where, scope)}) IS TRUE`]),
      ];
      if (isEventOrder(ir.aggregation)) {
        const conditions = [...asOf, ...filter];
        if (ir.aggregation.fn !== 'latest') conditions.push(sql`${value} IS NOT NULL`);
        const direction = ir.aggregation.fn === 'first_k' ? sql`ASC` : sql`DESC`;
        const k = sql.raw(String(candidateCount(ir.aggregation)));
        const newest = sql`SELECT ${ts} AS ts, ${e(SYSTEM_COLUMNS.eventId)} AS event_id, ${e(SYSTEM_COLUMNS.seq)} AS seq, ${value} AS v FROM ${relation} e WHERE ${sql.join(conditions, sql` AND `)} ORDER BY ${ts} ${direction} FETCH FIRST ${k} ROWS WITH TIES`;
        const candidates =
          output === 'intermediates'
            ? sql`to_json(ARRAY(SELECT json_build_array(c.ts, c.event_id, c.seq, c.v) FROM (${newest}) c))`
            : candidateValue(ir.aggregation, ir.value?.type ?? null, newest);
        if (
          ir.aggregation.fn === 'last' &&
          ir.value?.type === 'float' &&
          windowSpan(ir.window) <= scanSpan
        ) {
          // Rides on the windowed scan, which already reads this window's events: the greatest
          // (ts, value) and (ts, -value) of the events that count. When both have the same ts and
          // value, every event tied on the newest ts has that value, so the tie-break cannot
          // change it (the output needs only the value). Otherwise (values differ on the newest
          // ts, or a zero, whose sign the comparison ignores) the row reads its candidates.
          const present = sql.join([...filter, sql`${value} IS NOT NULL`], sql` AND `);
          const hi = sql.identifier(`f${column - 1}_hi`);
          const lo = sql.identifier(`f${column - 1}_lo`);
          aggregates.push(
            sql`max(ARRAY[CAST(${ts} AS double precision), ${value}]) FILTER (WHERE ${present}) AS ${hi}`,
            sql`max(ARRAY[CAST(${ts} AS double precision), -(${value})]) FILTER (WHERE ${present}) AS ${lo}`,
          );
          if (!windowStarts.includes(start)) windowStarts.push(start);
          const h = sql`${alias}.${hi}`;
          const l = sql`${alias}.${lo}`;
          const known =
            output === 'intermediates'
              ? sql`json_build_array(json_build_array(CAST(${h}[1] AS bigint), NULL, NULL, ${h}[2]))`
              : sql`${h}[2]`;
          const none = output === 'intermediates' ? sql`json_build_array()` : sql`NULL`;
          columns.push(
            sql`CASE WHEN ${h} IS NULL THEN ${none} WHEN ${h}[1] = ${l}[1] AND ${h}[2] = -${l}[2] AND ${h}[2] <> 0 THEN ${known} ELSE ${candidates} END`,
          );
          continue;
        }
        columns.push(candidates);
        continue;
      }
      if (!windowStarts.includes(start)) windowStarts.push(start);
      const where = filter.length === 0 ? sql`true` : sql.join(filter, sql` AND `);
      const aggregate =
        output === 'intermediates'
          ? aggregationSql({
              spec: ir.aggregation,
              value,
              valueType: ir.value?.type ?? null,
              filter: where,
              ts,
              eventId: e(SYSTEM_COLUMNS.eventId),
              seq: e(SYSTEM_COLUMNS.seq),
            })
          : valueAggregateSql(ir.aggregation, value, where);
      aggregates.push(sql`${aggregate} AS ${name}`);
      columns.push(sql`${alias}.${name}`);
    }
    if (aggregates.length === 0) return;
    const range = windowStarts.includes(null)
      ? []
      : windowStarts.length === 1
        ? [sql`${ts} >= ${windowStarts[0]!}`]
        : [sql`${ts} >= LEAST(${sql.join(windowStarts as SQL[], sql`, `)})`];
    joins.push(
      sql`LEFT JOIN LATERAL (SELECT ${sql.join(aggregates, sql`, `)} FROM ${relation} e WHERE ${sql.join([...asOf, ...range], sql` AND `)}) ${alias} ON true`,
    );
  });
  return { columns, joins, starts: sql.join([...starts.values()].map((s) => sql`, ${s.value}`)) };
}

/**
 * A windowed aggregation's value (not its intermediate) over the rows passing `filter`: what
 * `featureValue` gives for the intermediate of `aggregationSql`, before the default (a `sum` of
 * no value is 0, a `mean` of none is null).
 */
function valueAggregateSql(spec: AggregationSpec, value: SQL | null, filter: SQL): SQL {
  switch (spec.fn) {
    case 'count':
      return sql`count(${value ?? sql`*`}) FILTER (WHERE ${filter})`;
    case 'sum':
      return sql`coalesce(sum(${value}) FILTER (WHERE ${filter}), 0)`;
    case 'mean':
      return sql`sum(${value}) FILTER (WHERE ${filter}) / NULLIF(count(${value}) FILTER (WHERE ${filter}), 0)`;
    case 'min':
      return sql`min(${value}) FILTER (WHERE ${filter})`;
    case 'max':
      return sql`max(${value}) FILTER (WHERE ${filter})`;
    default:
      throw new TandemError('INVALID_ARGUMENT', `${spec.fn} has no value computed in SQL`);
  }
}

/**
 * The value of `last` or `latest` among the candidates `newest` (columns `ts`, `event_id`, `seq`,
 * `v`): the first in core's event order (`aggregationSql`), its value read back from json.
 */
function candidateValue(spec: AggregationSpec, type: ValueType | null, newest: SQL): SQL {
  const c = (name: string) => sql`c.${sql.identifier(name)}`;
  const event = aggregationSql({
    spec,
    value: c('v'),
    valueType: type,
    filter: sql`true`,
    ts: c('ts'),
    eventId: c('event_id'),
    seq: c('seq'),
  });
  const text = sql`(SELECT ${event} FROM (${newest}) c) ->> 3`;
  switch (type) {
    case 'int':
    case 'float':
      return sql`CAST(${text} AS double precision)`;
    case 'bool':
      return sql`CAST(${text} AS boolean)`;
    default:
      return text;
  }
}

/**
 * Decodes the `f<i>` column of {@link trainingPageSql} for one aggregation feature into its
 * intermediate, in the exact shape the TS fold produces.
 */
export function intermediateReader(feature: AggregationFeature): (value: unknown) => Intermediate {
  const spec = feature.ir.aggregation;
  if (!isEventOrder(spec)) return (value) => decodeIntermediate(spec, value);
  const k = candidateCount(spec);
  const list = { fn: 'last_k', k } as const;
  const newestFirst = (a: TimedValue, b: TimedValue) => compareEventOrder(b, a);
  switch (spec.fn) {
    case 'last':
    case 'latest':
      return (value) => {
        const candidates = decodeIntermediate(list, value);
        if (candidates.length < 2) return candidates[0] ?? null;
        return [...candidates].sort(newestFirst)[0]!;
      };
    case 'last_k':
      return (value) => [...decodeIntermediate(list, value)].sort(newestFirst).slice(0, k);
    case 'first_k':
      // The k oldest, newest first (the intermediate's order).
      return (value) =>
        [...decodeIntermediate(list, value)].sort(compareEventOrder).slice(0, k).reverse();
  }
}

type EventOrderSpec = Extract<AggregationSpec, { fn: 'last' | 'latest' | 'last_k' | 'first_k' }>;

function isEventOrder(spec: AggregationSpec): spec is EventOrderSpec {
  return (
    spec.fn === 'last' || spec.fn === 'latest' || spec.fn === 'last_k' || spec.fn === 'first_k'
  );
}

/** How far before `q` a window can reach, ms (infinite for a lifetime window). */
function windowSpan(window: WindowSpec): number {
  if (window.kind === 'lifetime') return Number.POSITIVE_INFINITY;
  return window.kind === 'ttl' ? window.length : window.length + window.hop;
}

function candidateCount(spec: EventOrderSpec): number {
  return spec.fn === 'last' || spec.fn === 'latest' ? 1 : spec.k;
}

/**
 * Field references of a source's expressions (an aggregation's value and `where`), numbers as
 * double precision, as in core's `featureAggregateSql`.
 */
function fieldScope(source: SourceIR, feature: string, col: (name: string) => SQL) {
  return {
    column: (name: string) => {
      const field = source.fields[name];
      if (field === undefined) {
        throw new TandemError('UNKNOWN_COLUMN', `unknown field ${name}`, {
          path: `feature ${feature}`,
        });
      }
      return isNumericType(field.type) ? sql`CAST(${col(name)} AS double precision)` : col(name);
    },
    feature: (name: string): SQL => {
      throw new TandemError('INVALID_DEFINITION', `aggregations cannot read feature ${name}`, {
        path: `feature ${feature}`,
      });
    },
  };
}
