import { createHash } from 'node:crypto';
import {
  type AnyFeature,
  canonicalJson,
  fingerprint,
  type ScalarValue,
  TandemError,
} from '@tandem/core';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import { assertSchemaName } from '../../internal/names.js';

/** Table of logged online reads, in the store's schema. */
export const CONSISTENCY_LOG_TABLE = 'consistency_log';
/** Table of the feature lists (definitions) that logged reads were made with. */
export const CONSISTENCY_DEFINITIONS_TABLE = 'consistency_definitions';

/** A feature of a logged definition: its name and definition fingerprint. */
export interface LoggedFeature {
  readonly name: string;
  readonly fingerprint: string;
}

/** The definition a read was logged under: the ordered features read, and their fingerprint. */
export interface LoggedDefinition {
  /** sha256 of the ordered `(name, feature fingerprint)` list. */
  readonly fingerprint: string;
  /** The service read, or null for a feature list. */
  readonly service: string | null;
  readonly features: readonly LoggedFeature[];
}

/** One logged online value set: what an entity's read returned as of `q`. */
export interface ConsistencyRecord {
  /** The definition fingerprint (see {@link LoggedDefinition}). */
  readonly fingerprint: string;
  /** Entity keys as requested. */
  readonly entity: Readonly<Record<string, string | number>>;
  /** The read's as-of time, epoch ms. */
  readonly q: number;
  /** Values by feature name. */
  readonly values: Readonly<Record<string, ScalarValue | readonly ScalarValue[]>>;
  /** Online statuses by feature name (`present`, `missing`, ...). */
  readonly statuses: Readonly<Record<string, string>>;
  /** When the record was taken (wall clock), epoch ms. */
  readonly loggedAt: number;
}

/** A logged record read back, with its row id. */
export interface StoredConsistencyRecord extends ConsistencyRecord {
  readonly id: number;
}

/** The definition of a feature list as logged: its features' fingerprints, in order. */
export function loggedDefinition(
  features: readonly AnyFeature[],
  service: string | null,
): LoggedDefinition {
  const list = features.map((f) => ({ name: f.name, fingerprint: fingerprint(f) }));
  return {
    fingerprint: createHash('sha256')
      .update(canonicalJson(list.map((f) => [f.name, f.fingerprint])))
      .digest('hex'),
    service,
    features: list,
  };
}

function tableOf(schema: string, name: string): SQL {
  assertSchemaName(schema);
  return sql`${sql.identifier(schema)}.${sql.identifier(name)}`;
}

/** Idempotent DDL of the consistency tables (the log, indexed by `q`, and the definitions). */
export function consistencyLogDdl(schema: string): SQL[] {
  const log = tableOf(schema, CONSISTENCY_LOG_TABLE);
  const definitions = tableOf(schema, CONSISTENCY_DEFINITIONS_TABLE);
  return [
    sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`,
    sql`CREATE TABLE IF NOT EXISTS ${log} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      logged_at bigint NOT NULL,
      fingerprint text NOT NULL,
      q bigint NOT NULL,
      entity jsonb NOT NULL,
      "values" jsonb NOT NULL,
      statuses jsonb NOT NULL)`,
    sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(`${CONSISTENCY_LOG_TABLE}_q`)} ON ${log} (q)`,
    sql`CREATE TABLE IF NOT EXISTS ${definitions} (
      fingerprint text PRIMARY KEY,
      service text,
      features jsonb NOT NULL,
      first_logged_at bigint NOT NULL)`,
  ];
}

/** Creates the consistency tables (idempotent). */
export async function applyConsistencyLog(executor: SqlExecutor, schema: string): Promise<void> {
  await executor.transaction(async (tx) => {
    for (const statement of consistencyLogDdl(schema)) await tx.query(statement);
  });
}

/** Writes records (and their definitions, once each) in one transaction of two statements. */
export async function insertConsistencyRecords(
  executor: SqlExecutor,
  schema: string,
  records: readonly ConsistencyRecord[],
  definitions: readonly LoggedDefinition[],
): Promise<void> {
  if (records.length === 0 && definitions.length === 0) return;
  const log = tableOf(schema, CONSISTENCY_LOG_TABLE);
  const defs = tableOf(schema, CONSISTENCY_DEFINITIONS_TABLE);
  const json = (value: unknown) => JSON.stringify(value);
  const now = records[0]?.loggedAt ?? Date.now();
  await executor.transaction(async (tx) => {
    if (definitions.length > 0) {
      await tx.query(sql`
        INSERT INTO ${defs} (fingerprint, service, features, first_logged_at)
        SELECT d->>'fingerprint', d->>'service', d->'features', ${now}
        FROM jsonb_array_elements(CAST(${json(definitions)} AS jsonb)) AS d
        ON CONFLICT (fingerprint) DO NOTHING`);
    }
    if (records.length > 0) {
      const rows = records.map((r) => ({
        t: r.loggedAt,
        f: r.fingerprint,
        q: r.q,
        e: r.entity,
        v: r.values,
        s: r.statuses,
      }));
      await tx.query(sql`
        INSERT INTO ${log} (logged_at, fingerprint, q, entity, "values", statuses)
        SELECT CAST(r->>'t' AS bigint), r->>'f', CAST(r->>'q' AS bigint), r->'e', r->'v', r->'s'
        FROM jsonb_array_elements(CAST(${json(rows)} AS jsonb)) WITH ORDINALITY AS x(r, n)
        ORDER BY n`);
    }
  });
}

/** Which logged records to read back. */
export interface ConsistencyLogRange {
  /** Earliest `q`, inclusive, epoch ms. */
  readonly from?: number;
  /** Latest `q`, exclusive, epoch ms. */
  readonly to?: number;
  /** At most this many records, the most recent first (by id); default all. */
  readonly limit?: number;
}

/** Reads logged records (in id order) and the definitions they reference. */
export async function readConsistencyLog(
  executor: SqlExecutor,
  schema: string,
  range: ConsistencyLogRange = {},
): Promise<{ records: StoredConsistencyRecord[]; definitions: Map<string, LoggedDefinition> }> {
  const log = tableOf(schema, CONSISTENCY_LOG_TABLE);
  const defs = tableOf(schema, CONSISTENCY_DEFINITIONS_TABLE);
  const exists = await executor.query<{ n: number }>(sql`
    SELECT CAST(count(*) AS integer) AS n FROM information_schema.tables
    WHERE table_schema = ${schema} AND table_name IN (${CONSISTENCY_LOG_TABLE}, ${CONSISTENCY_DEFINITIONS_TABLE})`);
  if (Number(exists[0]?.n ?? 0) < 2) {
    throw new TandemError(
      'UNKNOWN_TABLE',
      `no consistency log in schema ${schema}: log online reads with withConsistencyLog first`,
      { path: `${schema}.${CONSISTENCY_LOG_TABLE}` },
    );
  }
  if (range.limit !== undefined && (!Number.isSafeInteger(range.limit) || range.limit < 1)) {
    throw new TandemError('INVALID_ARGUMENT', 'limit must be a positive integer', {
      path: 'limit',
    });
  }
  const where: SQL[] = [sql`TRUE`];
  if (range.from !== undefined) where.push(sql`q >= ${range.from}`);
  if (range.to !== undefined) where.push(sql`q < ${range.to}`);
  const rows = await executor.query<{
    id: string;
    logged_at: string;
    fingerprint: string;
    q: string;
    entity: unknown;
    values: unknown;
    statuses: unknown;
  }>(sql`
    SELECT * FROM (
      SELECT CAST(id AS text) AS id, CAST(logged_at AS text) AS logged_at, fingerprint,
        CAST(q AS text) AS q, CAST(entity AS text) AS entity, CAST("values" AS text) AS "values",
        CAST(statuses AS text) AS statuses
      FROM ${log} WHERE ${sql.join(where, sql` AND `)}
      ORDER BY id DESC ${range.limit === undefined ? sql`` : sql`LIMIT ${range.limit}`}) AS r
    ORDER BY CAST(id AS bigint)`);
  const parse = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value);
  const records = rows.map(
    (row): StoredConsistencyRecord => ({
      id: Number(row.id),
      loggedAt: Number(row.logged_at),
      fingerprint: row.fingerprint,
      q: Number(row.q),
      entity: parse(row.entity),
      values: parse(row.values),
      statuses: parse(row.statuses),
    }),
  );
  const definitions = new Map<string, LoggedDefinition>();
  const used = [...new Set(records.map((r) => r.fingerprint))];
  if (used.length > 0) {
    const defRows = await executor.query<{
      fingerprint: string;
      service: string | null;
      features: unknown;
    }>(
      sql`SELECT fingerprint, service, CAST(features AS text) AS features FROM ${defs}
          WHERE fingerprint IN (${sql.join(
            used.map((f) => sql`${f}`),
            sql`, `,
          )})`,
    );
    for (const row of defRows) {
      definitions.set(row.fingerprint, {
        fingerprint: row.fingerprint,
        service: row.service,
        features: parse(row.features),
      });
    }
  }
  return { records, definitions };
}
