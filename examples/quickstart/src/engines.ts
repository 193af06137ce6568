/**
 * The two engines of the demo, both driven by the same feature IR:
 * - SQL: `sourceRelationSql` + `featureAggregateSql` in one GROUP BY query over all (user, q)
 *   pairs, decoded with `decodeIntermediate` and finalized with `featureValue`;
 * - TypeScript: `compileFolder(ir).fold(events, q)` and the same `featureValue`.
 * Derived features are evaluated with `compileJs` over the finalized inputs, request features
 * with their `compute` function, identically for both paths.
 */
import type { PGlite } from '@electric-sql/pglite';
import {
  type AnyFeature,
  compileFolder,
  compileJs,
  decodeIntermediate,
  type FeatureService,
  featureAggregateSql,
  featureValue,
  type Intermediate,
  type ScalarValue,
  type SourceEvent,
  type SourceIR,
  sourceRelationSql,
} from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';

/** A feature value: a scalar, or a list for `lastK` / `firstK`. */
export type Value = ScalarValue | readonly ScalarValue[];

/** One feature computed for one (entity, q) pair. */
export interface Computed {
  /** The aggregation intermediate (aggregation features only). */
  readonly intermediate?: Intermediate;
  /** The finalized value, default applied. */
  readonly value: Value;
}

/** One point-in-time question: entity keys, the time q, and the request data. */
export interface Question {
  readonly keys: Readonly<Record<string, string | number>>;
  readonly q: number;
  readonly request: Readonly<Record<string, unknown>>;
}

const dialect = new PgDialect();

/** Renders a drizzle `sql` object to text and parameters. */
export function toQuery(query: SQL): { sql: string; params: unknown[] } {
  const { sql: text, params } = dialect.sqlToQuery(query);
  return { sql: text, params };
}

/** The aggregation features a service needs, grouped by source. */
function aggregationsBySource(
  service: FeatureService,
): Map<string, { source: SourceIR; features: AnyFeature[] }> {
  const groups = new Map<string, { source: SourceIR; features: AnyFeature[] }>();
  for (const feature of service.dependencies) {
    if (feature.ir.kind !== 'aggregation') continue;
    const source = feature.ir.source;
    const group = groups.get(source.name) ?? { source, features: [] };
    group.features.push(feature);
    groups.set(source.name, group);
  }
  return groups;
}

/**
 * The one SQL query that computes every aggregation feature of `service` for every question:
 * a `pairs` CTE (index, entity keys, q), then one `GROUP BY` subquery per source, joined on the
 * pair index. `tables` names the physical table of each managed source.
 */
export function serviceQuery(
  service: FeatureService,
  questions: readonly Question[],
  tables: Readonly<Record<string, SQL>>,
): SQL {
  const entity = service.entities[0];
  if (entity === undefined || service.entities.length > 1) {
    throw new Error('the demo handles services over exactly one entity');
  }
  const keys = Object.entries(entity.keys);
  const id = (name: string) => sql.identifier(name);
  const rows = questions.map(
    (question, index) =>
      sql`(CAST(${index} AS integer), ${sql.join(
        keys.map(
          ([key, type]) =>
            sql`CAST(${question.keys[key]} AS ${sql.raw(type === 'int' ? 'bigint' : 'text')})`,
        ),
        sql`, `,
      )}, CAST(${question.q} AS bigint))`,
  );
  const columns = sql.join([id('idx'), ...keys.map(([key]) => id(key)), id('q')], sql`, `);
  const q = sql`${id('p')}.${id('q')}`;
  const parts = [...aggregationsBySource(service).values()].map(({ source, features }, i) => {
    const table = tables[source.name];
    const relation = sourceRelationSql(
      source,
      table === undefined ? { dedupe: true } : { table, dedupe: true },
    );
    const aggregates = features.map(
      (f) => sql`${featureAggregateSql(f.ir, 'r', q)} AS ${id(f.name)}`,
    );
    const join = sql.join(
      keys.map(([key]) => sql`${id('r')}.${id(key)} = ${id('p')}.${id(key)}`),
      sql` AND `,
    );
    return {
      alias: `s${i}`,
      query: sql`(SELECT ${id('p')}.${id('idx')}, ${sql.join(aggregates, sql`, `)} FROM ${id('pairs')} ${id('p')} LEFT JOIN ${relation} ${id('r')} ON ${join} GROUP BY ${id('p')}.${id('idx')})`,
    };
  });
  const from = parts.map((part, i) =>
    i === 0
      ? sql`${part.query} ${id(part.alias)}`
      : sql` JOIN ${part.query} ${id(part.alias)} USING (${id('idx')})`,
  );
  return sql`WITH ${id('pairs')} (${columns}) AS (VALUES ${sql.join(rows, sql`, `)}) SELECT * FROM ${sql.join(from)} ORDER BY ${id('idx')}`;
}

/** The SQL path: one query, then decode, finalize, and the derived and request features. */
export async function computeWithSql(
  db: PGlite,
  service: FeatureService,
  questions: readonly Question[],
  tables: Readonly<Record<string, SQL>>,
): Promise<Map<string, Computed>[]> {
  const query = toQuery(serviceQuery(service, questions, tables));
  const { rows } = await db.query<Record<string, unknown>>(query.sql, query.params);
  return questions.map((question, index) => {
    const row = rows[index];
    if (row === undefined || row.idx !== index) throw new Error(`missing result row ${index}`);
    const computed = new Map<string, Computed>();
    for (const feature of service.dependencies) {
      if (feature.ir.kind !== 'aggregation') continue;
      const intermediate = decodeIntermediate(feature.ir.aggregation, row[feature.name]);
      computed.set(feature.name, { intermediate, value: featureValue(feature.ir, intermediate) });
    }
    return completeRow(service, computed, question);
  });
}

/** The TypeScript path: the reference fold over the events of each entity. */
export function computeWithFold(
  service: FeatureService,
  questions: readonly Question[],
  eventsOf: (source: string, keys: Question['keys']) => readonly SourceEvent[],
): Map<string, Computed>[] {
  const folders = new Map(
    service.dependencies
      .filter((f) => f.ir.kind === 'aggregation')
      .map((f) => [f.name, compileFolder(f.ir)] as const),
  );
  return questions.map((question) => {
    const computed = new Map<string, Computed>();
    for (const feature of service.dependencies) {
      if (feature.ir.kind !== 'aggregation') continue;
      const events = eventsOf(feature.ir.source.name, question.keys);
      const intermediate = folders.get(feature.name)!.fold(events, question.q);
      computed.set(feature.name, { intermediate, value: featureValue(feature.ir, intermediate) });
    }
    return completeRow(service, computed, question);
  });
}

/**
 * Adds derived and request features, in dependency order, to the aggregation values of one
 * question. The request is validated by the service's zod request schema first.
 */
function completeRow(
  service: FeatureService,
  computed: Map<string, Computed>,
  question: Question,
): Map<string, Computed> {
  const request = service.requestSchema.parse({ ...question.keys, ...question.request });
  const scalar = (name: string): ScalarValue => {
    const value = computed.get(name)?.value;
    if (value === undefined || Array.isArray(value)) throw new Error(`no scalar value for ${name}`);
    return value as ScalarValue;
  };
  for (const feature of service.dependencies) {
    const ir = feature.ir;
    if (ir.kind === 'derived') {
      const value = compileJs(ir.expr)({ column: () => null, feature: scalar });
      computed.set(feature.name, { value });
    } else if (ir.kind === 'request') {
      const inputs = Object.fromEntries(feature.inputs.map((f) => [f.name, scalar(f.name)]));
      const value = feature.compute!(request as never, inputs as never);
      computed.set(feature.name, { value });
    }
  }
  return computed;
}
