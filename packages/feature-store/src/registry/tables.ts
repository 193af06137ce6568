import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../executor/executor.js';

/** Table of applied feature definitions, in Tandem's schema. */
const FEATURES = 'registry_features';
/** Table of materialization watermarks, in Tandem's schema. */
const WATERMARKS = 'registry_watermarks';

/** `"<schema>"."registry_features"` and `"<schema>"."registry_watermarks"`. */
export function registryTables(schema: string): { features: SQL; watermarks: SQL } {
  return {
    features: sql`${sql.identifier(schema)}.${sql.identifier(FEATURES)}`,
    watermarks: sql`${sql.identifier(schema)}.${sql.identifier(WATERMARKS)}`,
  };
}

/**
 * Idempotent migrations of the registry tables, run by `apply`. One row per feature name ever
 * applied: its current fingerprint, version (1 on creation, +1 on each fingerprint change), the
 * canonical IR, when that version was applied, whether it has been materialized, and when it was
 * removed from the definitions (null while it is defined). Watermarks: one row per materialized
 * feature, epoch ms.
 */
export function registryMigrations(schema: string): SQL[] {
  const { features, watermarks } = registryTables(schema);
  return [
    sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`,
    sql`CREATE TABLE IF NOT EXISTS ${features} (
      name text PRIMARY KEY,
      fingerprint text NOT NULL,
      version integer NOT NULL CHECK (version > 0),
      definition json NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(),
      materialized boolean NOT NULL DEFAULT false,
      removed_at timestamptz
    )`,
    sql`CREATE TABLE IF NOT EXISTS ${watermarks} (
      feature text PRIMARY KEY REFERENCES ${features} (name) ON DELETE CASCADE,
      watermark bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
  ];
}

/** A feature as the registry holds it. */
export interface RegisteredFeature {
  /** Feature name. */
  readonly name: string;
  /** Fingerprint of the registered definition. */
  readonly fingerprint: string;
  /** Version: 1 when first applied, incremented on every fingerprint change. */
  readonly version: number;
  /** The canonical IR of the registered definition (parsed JSON). */
  readonly definition: unknown;
  /** When this version was applied. */
  readonly appliedAt: Date;
  /** True once a materialization watermark has been written for this version. */
  readonly materialized: boolean;
  /** When the feature left the applied definitions; null while it is defined. */
  readonly removedAt: Date | null;
}

/** True when the registry tables exist in `schema` (`plan` never creates them). */
export async function registryExists(executor: SqlExecutor, schema: string): Promise<boolean> {
  const [row] = await executor.query<{ found: boolean }>(
    sql`SELECT to_regclass(format('%I.%I', CAST(${schema} AS text), CAST(${WATERMARKS} AS text))) IS NOT NULL AS found`,
  );
  return row?.found === true;
}

/**
 * Every feature the registry holds (also removed ones), sorted by name; empty before the first
 * `apply`.
 */
export async function readRegisteredFeatures(
  executor: SqlExecutor,
  schema: string,
): Promise<RegisteredFeature[]> {
  if (!(await registryExists(executor, schema))) return [];
  const rows = await executor.query<{
    name: string;
    fingerprint: string;
    version: number;
    definition: unknown;
    applied_at: Date;
    materialized: boolean;
    removed_at: Date | null;
  }>(
    sql`SELECT name, fingerprint, version, definition, applied_at, materialized, removed_at FROM ${registryTables(schema).features} ORDER BY name COLLATE "C"`,
  );
  return rows.map((row) => ({
    name: row.name,
    fingerprint: row.fingerprint,
    version: row.version,
    definition: row.definition,
    appliedAt: row.applied_at,
    materialized: row.materialized,
    removedAt: row.removed_at,
  }));
}
