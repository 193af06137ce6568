import {
  featureAggregateSql,
  SYSTEM_COLUMNS,
  sourceRelationSql,
  type WindowSpec,
} from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import { sourceTableSql } from '../managed-tables.js';
import type { TrainingPlan } from './plan.js';

/**
 * The point-in-time query over a page of staged entity rows: one `LEFT JOIN LATERAL` per source
 * computes every aggregation intermediate of that source as of the row's `__q`, reading only
 * the key's events in `[earliest window start, q)` through the `(keys, ts)` index.
 * Columns: `__row`, `__json` and `f<i>` (json intermediate) per aggregation feature, in
 * `plan.bySource` order.
 */
export function trainingPageSql(
  plan: TrainingPlan,
  schema: string,
  rows: SQL,
  from: number,
  to: number,
): SQL {
  const selects: SQL[] = [sql`r.__row`, sql`r.__json`];
  const joins: SQL[] = [];
  let column = 0;
  plan.bySource.forEach((group, g) => {
    const alias = `s${g}`;
    const q = sql`r.__q`;
    const aggregates = group.features.map((feature) => {
      const name = `f${column++}`;
      selects.push(sql`${sql.identifier(alias)}.${sql.identifier(name)}`);
      return sql`${featureAggregateSql(feature.ir, 'e', q)} AS ${sql.identifier(name)}`;
    });
    const relation = sourceRelationSql(group.source, {
      table: sourceTableSql(schema, group.source),
      // Managed tables are deduplicated at ingestion by a unique (keys, event_id) index.
      dedupe: group.source.table !== null,
    });
    const keyMatch = Object.keys(group.source.keyColumns).map(
      (key) => sql`e.${sql.identifier(key)} = r.${sql.identifier(key)}`,
    );
    const ts = sql`e.${sql.identifier(SYSTEM_COLUMNS.ts)}`;
    const lower = earliestStart(
      group.features.map((f) => f.ir.window),
      q,
    );
    const range = lower === null ? sql`${ts} < ${q}` : sql`${ts} < ${q} AND ${ts} >= ${lower}`;
    joins.push(
      sql`LEFT JOIN LATERAL (SELECT ${sql.join(aggregates, sql`, `)} FROM ${relation} e WHERE ${sql.join(keyMatch, sql` AND `)} AND ${range}) ${sql.identifier(alias)} ON true`,
    );
  });
  return sql`SELECT ${sql.join(selects, sql`, `)} FROM ${rows} r ${sql.join(joins, sql` `)} WHERE r.__row > ${from} AND r.__row <= ${to} ORDER BY r.__row`;
}

/**
 * A lower bound of every window start as of `q` (an index range condition), or null when a
 * lifetime window needs all history. A sliding window starts at or after `q - W - h`.
 */
function earliestStart(windows: readonly WindowSpec[], q: SQL): SQL | null {
  let reach = 0;
  for (const window of windows) {
    if (window.kind === 'lifetime') return null;
    reach = Math.max(reach, window.kind === 'sliding' ? window.length + window.hop : window.length);
  }
  return sql`${q} - CAST(${reach} AS bigint)`;
}
