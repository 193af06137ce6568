import { canonicalJson, TandemError } from '@tandem/core';
import { sql } from 'drizzle-orm';
import type { SqlExecutor } from '../executor/executor.js';
import { assertSchemaName } from '../internal/names.js';
import { managedTableDdl } from '../offline/managed-tables.js';
import { type CollectedDefinitions, collectDefinitions, type Definitions } from './definitions.js';
import {
  type IndexRecommendation,
  inspectSourceTables,
  type PlanIssue,
  type PlannedTable,
} from './source-tables.js';
import {
  type RegisteredFeature,
  readRegisteredFeatures,
  registryMigrations,
  registryTables,
} from './tables.js';
import {
  readWatermark,
  type Watermark,
  type WatermarkWrite,
  writeWatermark,
} from './watermarks.js';

/** A feature as `apply` registers it. */
export interface PlannedFeature {
  /** Feature name. */
  readonly name: string;
  /** Fingerprint of the definition. */
  readonly fingerprint: string;
  /** Version it is (or will be) registered as. */
  readonly version: number;
}

/** A feature whose fingerprint differs from the registered one. */
export interface ChangedFeature extends PlannedFeature {
  /** Registered fingerprint. */
  readonly previousFingerprint: string;
  /** Registered version. */
  readonly previousVersion: number;
  /** True when the registered version has been materialized: `apply` needs `force`. */
  readonly materialized: boolean;
}

/** What `apply` does (or did) with a set of definitions. */
export interface RegistryPlan {
  /** Tandem's schema. */
  readonly schema: string;
  /**
   * Features not registered, or removed earlier and defined again (registered with the next
   * version when their fingerprint differs from the last registered one).
   */
  readonly added: readonly PlannedFeature[];
  /** Registered features whose fingerprint changes; their version is incremented. */
  readonly changed: readonly ChangedFeature[];
  /** Registered features the definitions no longer contain. */
  readonly removed: readonly RegisteredFeature[];
  /** Registered features with the same fingerprint. */
  readonly unchanged: readonly PlannedFeature[];
  /**
   * Features whose materialized definition would change (changed ones, or removed ones defined
   * again differently): `apply` refuses them unless forced.
   */
  readonly needsForce: readonly string[];
  /** The table of every source. Managed ones that do not exist are created by `apply`. */
  readonly tables: readonly PlannedTable[];
  /** Indexes to create on user-owned tables (Tandem never alters an app's tables). */
  readonly indexes: readonly IndexRecommendation[];
  /** Problems with source tables; `apply` refuses until they are fixed. */
  readonly issues: readonly PlanIssue[];
}

/** Options of {@link applyDefinitions}. */
export interface ApplyOptions {
  /**
   * Registers changes to materialized features anyway. Their materialized flag and watermark are
   * reset, so the next materialization recomputes them under the new definition.
   */
  readonly force?: boolean;
}

/**
 * Compares `definitions` with the registry in `schema` and inspects the sources' tables; reads
 * only (creates nothing, not even the registry).
 * @throws {TandemError} for malformed definitions (see `collectDefinitions`).
 */
export async function planDefinitions(
  executor: SqlExecutor,
  schema: string,
  definitions: Definitions,
): Promise<RegistryPlan> {
  assertSchemaName(schema);
  return computePlan(executor, schema, collectDefinitions(definitions));
}

/**
 * Applies `definitions` in one transaction: runs the registry migrations, creates the managed
 * tables (with their indexes), registers added and changed features (version + 1 on change) and
 * marks removed ones. Concurrent applies on one schema are serialized. Idempotent: applying the
 * same definitions again changes nothing.
 * @returns the plan that was applied.
 * @throws {TandemError} `MATERIALIZED_FEATURE_CHANGED` when a materialized feature's fingerprint
 * would change and `force` is not set; the first issue's code (`UNKNOWN_TABLE`,
 * `UNKNOWN_COLUMN`, `TYPE_MISMATCH`) when a source's table does not fit its definition. Nothing
 * is written then.
 */
export async function applyDefinitions(
  executor: SqlExecutor,
  schema: string,
  definitions: Definitions,
  options: ApplyOptions = {},
): Promise<RegistryPlan> {
  assertSchemaName(schema);
  const collected = collectDefinitions(definitions);
  return executor.transaction(async (tx) => {
    await tx.query(sql`SELECT pg_advisory_xact_lock(hashtext(${`tandem registry ${schema}`}))`);
    for (const statement of registryMigrations(schema)) await tx.query(statement);
    const plan = await computePlan(tx, schema, collected);
    assertApplicable(plan, options);
    for (const source of collected.sources) {
      if (source.table !== null) continue;
      for (const statement of managedTableDdl(schema, source)) await tx.query(statement);
    }
    const { features, watermarks } = registryTables(schema);
    const byName = new Map(collected.features.map((f) => [f.feature.name, f]));
    for (const entry of [...plan.added, ...plan.changed]) {
      const definition = canonicalJson(byName.get(entry.name)!.feature.ir);
      // A new fingerprint starts unmaterialized; re-adding the registered one keeps its state.
      await tx.query(sql`
        INSERT INTO ${features} AS f (name, fingerprint, version, definition)
        VALUES (${entry.name}, ${entry.fingerprint}, ${entry.version}, CAST(${definition} AS json))
        ON CONFLICT (name) DO UPDATE SET
          materialized = f.materialized AND f.fingerprint = EXCLUDED.fingerprint,
          fingerprint = EXCLUDED.fingerprint, version = EXCLUDED.version,
          definition = EXCLUDED.definition, applied_at = now(), removed_at = NULL`);
      await tx.query(
        sql`DELETE FROM ${watermarks} w USING ${features} f WHERE w.feature = ${entry.name} AND f.name = w.feature AND NOT f.materialized`,
      );
    }
    for (const entry of plan.removed) {
      await tx.query(sql`UPDATE ${features} SET removed_at = now() WHERE name = ${entry.name}`);
    }
    return plan;
  });
}

function assertApplicable(plan: RegistryPlan, options: ApplyOptions): void {
  const [first, ...others] = plan.issues;
  if (first !== undefined) {
    const more = others.map((issue) => `${issue.path}: ${issue.message}`);
    throw new TandemError(
      first.code,
      `${first.message}${more.length === 0 ? '' : `; also ${more.join('; ')}`} (fix the tables or the source definitions, then apply again)`,
      { path: first.path },
    );
  }
  if (plan.needsForce.length > 0 && options.force !== true) {
    const names = plan.needsForce;
    throw new TandemError(
      'MATERIALIZED_FEATURE_CHANGED',
      `apply refuses to change the definition of materialized ${names.length === 1 ? 'feature' : 'features'} ${names.join(', ')}: the online store holds values computed by the registered version, which the new definition would not reproduce. Keep the definition (or give the new one another name), or apply with force (tandem apply --force) to register the new version; force resets ${names.length === 1 ? 'its' : 'their'} materialization so ${names.length === 1 ? 'it is' : 'they are'} materialized again from scratch`,
      { path: `${names.length === 1 ? 'feature' : 'features'} ${names.join(', ')}` },
    );
  }
}

async function computePlan(
  executor: SqlExecutor,
  schema: string,
  collected: CollectedDefinitions,
): Promise<RegistryPlan> {
  const registered = new Map(
    (await readRegisteredFeatures(executor, schema)).map((row) => [row.name, row]),
  );
  const added: PlannedFeature[] = [];
  const changed: ChangedFeature[] = [];
  const unchanged: PlannedFeature[] = [];
  const needsForce: string[] = [];
  for (const { feature, fingerprint } of collected.features) {
    const row = registered.get(feature.name);
    registered.delete(feature.name);
    const same = row?.fingerprint === fingerprint;
    const version = row === undefined ? 1 : same ? row.version : row.version + 1;
    if (row !== undefined && !same && row.materialized) needsForce.push(feature.name);
    if (row === undefined || row.removedAt !== null) {
      added.push({ name: feature.name, fingerprint, version });
    } else if (same) {
      unchanged.push({ name: feature.name, fingerprint, version });
    } else {
      changed.push({
        name: feature.name,
        fingerprint,
        version,
        previousFingerprint: row.fingerprint,
        previousVersion: row.version,
        materialized: row.materialized,
      });
    }
  }
  const removed = [...registered.values()].filter((row) => row.removedAt === null);
  const tables = await inspectSourceTables(executor, schema, collected.sources);
  return { schema, added, changed, removed, unchanged, needsForce, ...tables };
}

/** The registry of one schema: plan/apply definitions, read registered features, watermarks. */
export interface Registry {
  /** The executor queries run on. */
  readonly executor: SqlExecutor;
  /** Tandem's schema. */
  readonly schema: string;
  /** See {@link planDefinitions}. */
  plan(definitions: Definitions): Promise<RegistryPlan>;
  /** See {@link applyDefinitions}. */
  apply(definitions: Definitions, options?: ApplyOptions): Promise<RegistryPlan>;
  /** Every registered feature (also removed ones), sorted by name. */
  features(): Promise<RegisteredFeature[]>;
  /** See {@link readWatermark}. */
  readWatermark(feature: string): Promise<Watermark | null>;
  /** See {@link writeWatermark}. */
  writeWatermark(write: WatermarkWrite): Promise<void>;
}

/** The registry in `schema` (default `tandem`) over a Postgres or PGlite executor. */
export function createRegistry(options: {
  readonly executor: SqlExecutor;
  readonly schema?: string;
}): Registry {
  const schema = options.schema ?? 'tandem';
  assertSchemaName(schema);
  const { executor } = options;
  return {
    executor,
    schema,
    plan: (definitions) => planDefinitions(executor, schema, definitions),
    apply: (definitions, applyOptions) =>
      applyDefinitions(executor, schema, definitions, applyOptions),
    features: () => readRegisteredFeatures(executor, schema),
    readWatermark: (feature) => readWatermark(executor, schema, feature),
    writeWatermark: (write) => writeWatermark(executor, schema, write),
  };
}
