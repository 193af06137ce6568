import {
  aggregationSql,
  compileSql,
  isNumericType,
  type SourceIR,
  SYSTEM_COLUMNS,
  sourceRelationSql,
  TandemError,
} from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import { sourceTableSql } from '../../offline/managed-tables.js';
import type { AggregationIR, OnlineFeature } from '../layout.js';
import { levelSize } from './ranges.js';

/** Entity key values in key order, as JS values (int keys are numbers). */
export type EntityKey = readonly (string | number)[];

/**
 * The canonical relation of a source for materialization, aliased `alias`. Managed tables have a
 * unique index on `(keys, event_id)`, so they hold no duplicates and are read without the dedupe
 * window (which lets Postgres push time and key ranges down to the table's index); user-owned
 * tables are deduped as the canonical relation does.
 */
export function relationSql(schema: string, source: SourceIR, alias: string): SQL {
  const relation =
    source.table === null
      ? sourceRelationSql(source, { table: sourceTableSql(schema, source), dedupe: false })
      : sourceRelationSql(source, { dedupe: true });
  return sql`${relation} AS ${sql.identifier(alias)}`;
}

/** `alias.column`. */
export function col(alias: string, column: string): SQL {
  return sql`${sql.identifier(alias)}.${sql.identifier(column)}`;
}

/** The entity key columns of a source, in key order. */
export function keyNames(source: SourceIR): string[] {
  return Object.keys(source.entity.keys);
}

/** `alias.k1, alias.k2`. */
export function keyList(source: SourceIR, alias: string): SQL {
  return sql.join(
    keyNames(source).map((k) => col(alias, k)),
    sql`, `,
  );
}

/** The key columns as text (`k_<key>`), for exact int keys on both engines. */
export function keySelect(source: SourceIR, alias: string): SQL {
  return sql.join(
    keyNames(source).map((k) => sql`CAST(${col(alias, k)} AS text) AS ${sql.identifier(`k_${k}`)}`),
    sql`, `,
  );
}

/** Reads the `k_<key>` columns of a row back into an {@link EntityKey}. */
export function keyOfRow(source: SourceIR, row: Record<string, unknown>): EntityKey {
  return keyNames(source).map((k) => {
    const value = row[`k_${k}`];
    return source.entity.keys[k] === 'int' ? Number(value) : String(value);
  });
}

/** An entity key as the `{ name: value }` record the online store takes. */
export function keyRecord(source: SourceIR, key: EntityKey): Record<string, string | number> {
  return Object.fromEntries(keyNames(source).map((k, i) => [k, key[i]!]));
}

/**
 * `(keys) > after AND (keys) <= upTo` in the database's own key order (the order of the source's
 * index), either bound optional. Parameters take the key columns' types.
 */
export function keyRangeSql(
  source: SourceIR,
  alias: string,
  after: EntityKey | null,
  upTo: EntityKey | null,
): SQL[] {
  const names = keyNames(source);
  const row = (values: EntityKey) =>
    names.length === 1
      ? sql`${values[0]!}`
      : sql`(${sql.join(
          values.map((v) => sql`${v}`),
          sql`, `,
        )})`;
  const columns = names.length === 1 ? col(alias, names[0]!) : sql`(${keyList(source, alias)})`;
  const conditions: SQL[] = [];
  if (after !== null) conditions.push(sql`${columns} > ${row(after)}`);
  if (upTo !== null) conditions.push(sql`${columns} <= ${row(upTo)}`);
  return conditions;
}

/**
 * `floor(x / size) * size` for a bigint SQL expression. The size is an integer literal, not a
 * parameter, so the same expression in `SELECT`, `GROUP BY` and `ORDER BY` is recognized as one.
 */
export function alignDownSql(x: SQL, size: number): SQL {
  const s = bigintLiteral(size);
  return sql`(${x} - ((${x} % ${s}) + ${s}) % ${s})`;
}

/** A safe integer as a bigint literal. */
export function bigintLiteral(n: number): SQL {
  if (!Number.isSafeInteger(n)) {
    throw new TandemError('INVALID_ARGUMENT', `${n} is not a safe integer`);
  }
  return sql.raw(`CAST(${n} AS bigint)`);
}

/**
 * The aggregate expression (in a `GROUP BY` over the relation aliased `alias`) whose `json` value
 * is a feature's intermediate over the group's rows: the feature's `where` filter, no window and
 * no as-of rule (a tile holds every event of its time range).
 */
export function tileAggregateSql(ir: AggregationIR, alias: string): SQL {
  const scope = {
    column: (name: string) => {
      const field = ir.source.fields[name];
      if (field === undefined) {
        throw new TandemError('UNKNOWN_COLUMN', `unknown field ${name}`, {
          path: `feature ${ir.name}`,
        });
      }
      return isNumericType(field.type)
        ? sql`CAST(${col(alias, name)} AS double precision)`
        : col(alias, name);
    },
    feature: (name: string): SQL => {
      throw new TandemError('INVALID_DEFINITION', `aggregations cannot read feature ${name}`, {
        path: `feature ${ir.name}`,
      });
    },
  };
  return aggregationSql({
    spec: ir.aggregation,
    value: ir.value === null ? null : compileSql(ir.value, scope),
    valueType: ir.value?.type ?? null,
    filter: ir.where === null ? sql`TRUE` : sql`(${compileSql(ir.where, scope)}) IS TRUE`,
    ts: col(alias, SYSTEM_COLUMNS.ts),
    eventId: col(alias, SYSTEM_COLUMNS.eventId),
    seq: col(alias, SYSTEM_COLUMNS.seq),
  });
}

/**
 * SQL of {@link need} for a bigint expression `lo`: the earliest event time a run must read to
 * rebuild every tile (levels `0..levels-1` of `grain`) whose end is in `(lo, hi]`.
 */
export function needSql(lo: SQL, grain: number, levels: number, hi: number): SQL {
  const cases: SQL[] = [];
  for (let level = 0; level < levels; level++) {
    const size = levelSize(grain, level);
    const start = alignDownSql(lo, size);
    cases.push(sql`CASE WHEN ${start} + ${bigintLiteral(size)} <= ${hi} THEN ${start} END`);
  }
  return sql`LEAST(${sql.join(cases, sql`, `)})`;
}

/** Time conditions, skipping infinite bounds. */
export function timeRangeSql(ts: SQL, from: number, to: number): SQL[] {
  const conditions: SQL[] = [];
  if (Number.isFinite(from)) conditions.push(sql`${ts} >= ${from}`);
  if (Number.isFinite(to)) conditions.push(sql`${ts} < ${to}`);
  return conditions;
}

/** `WHERE a AND b ...`, or nothing. */
export function whereSql(conditions: readonly SQL[]): SQL {
  return conditions.length === 0 ? sql`` : sql`WHERE ${sql.join([...conditions], sql` AND `)}`;
}

/** The features of one grain of a source: one SQL groups their events by level-0 tile. */
export interface GrainGroupSql {
  readonly source: SourceIR;
  readonly grain: number;
  readonly features: readonly OnlineFeature[];
}
