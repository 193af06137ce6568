import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../../executor/executor.js';
import type { EntityKey } from './sql.js';

/**
 * The plan of one materialization run of one source, stored in the registry while the run is in
 * progress so that a killed run resumes exactly where it stopped. Infinite bounds are `null`.
 */
export interface RunPlan {
  /** Random run id; also written to the online store when the run starts (see `runMarker`). */
  readonly id: number;
  /** The source. */
  readonly source: string;
  /** The batch watermark the run moves the source to, epoch ms. */
  readonly target: number;
  /** When the run started (the clock), epoch ms. */
  readonly start: number;
  /** True for a full run (every reachable tile). */
  readonly full: boolean;
  /** The watermark before the run; null for a full run. */
  readonly previous: number | null;
  /** Events ingested after this are checked for late arrivals; null: no late check. */
  readonly lateSince: number | null;
  /** Fingerprint (16 hex digits) of every feature of the source, by name. */
  readonly fingerprints: Readonly<Record<string, string>>;
  /** One entry per grain: one query per page. */
  readonly groups: readonly GroupPlan[];
}

/** The part of a run for the features of one grain. */
export interface GroupPlan {
  readonly grain: number;
  /** Per feature (in group order): rebuild the tiles ending in `(lo, hi]`; `floor` bounds late ranges. */
  readonly features: readonly {
    readonly name: string;
    readonly lo: number | null;
    readonly hi: number;
    readonly floor: number | null;
    /** True when the feature is materialized incrementally (late arrivals lower `lo`). */
    readonly incremental: boolean;
  }[];
  /** Earliest event time read for the non-late part; null: from the start of time. */
  readonly from: number | null;
  /** Events at or after this are never read. */
  readonly to: number;
  /** The late check of this group, or null. */
  readonly late: {
    /**
     * The distinct floors of the group's incremental features, ascending (null: no bound): late
     * events have `ts >= floors[0]` and `ts < before`; each feature takes the earliest late event
     * at or after its own floor.
     */
    readonly floors: readonly (number | null)[];
    readonly before: number;
    /** Most levels among the group's incremental features. */
    readonly levels: number;
  } | null;
  /** Entities are picked among events in `[scanFrom, to)`; null: from the start of time. */
  readonly scanFrom: number | null;
}

/** The checkpoint of a run: every entity up to `key` of group `group` is written. */
export interface Checkpoint {
  readonly group: number;
  readonly key: EntityKey;
}

/** What the registry holds about one source of one online store namespace. */
export interface SourceState {
  /** Batch watermark of the last complete run. */
  readonly watermark: number | null;
  /** When the last complete run started. */
  readonly lastRunStart: number | null;
  /** Fingerprints of the features the last complete run materialized, by name. */
  readonly fingerprints: Readonly<Record<string, string>>;
  /** The run in progress, if any, and its checkpoint. */
  readonly pending: RunPlan | null;
  readonly checkpoint: Checkpoint | null;
}

/** `"<schema>"."materialize_runs"`. */
function runsTable(schema: string): SQL {
  return sql`${sql.identifier(schema)}.${sql.identifier('materialize_runs')}`;
}

/**
 * Creates the runs table if needed: one row per online store namespace and source with the last
 * complete run (watermark, start, fingerprints) and the run in progress (plan, checkpoint).
 */
export async function ensureRunsTable(executor: SqlExecutor, schema: string): Promise<void> {
  await executor.transaction(async (tx) => {
    await tx.query(sql`SELECT pg_advisory_xact_lock(hashtext(${`tandem registry ${schema}`}))`);
    await tx.query(sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`);
    await tx.query(sql`CREATE TABLE IF NOT EXISTS ${runsTable(schema)} (
      namespace text NOT NULL,
      source text NOT NULL,
      watermark bigint,
      last_run_start bigint,
      fingerprints jsonb NOT NULL DEFAULT '{}',
      pending jsonb,
      checkpoint jsonb,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (namespace, source)
    )`);
  });
}

/** The state of a source, or an empty one. */
export async function readSourceState(
  executor: SqlExecutor,
  schema: string,
  namespace: string,
  source: string,
): Promise<SourceState> {
  const [row] = await executor.query<{
    watermark: string | null;
    last_run_start: string | null;
    fingerprints: Record<string, string>;
    pending: RunPlan | null;
    checkpoint: Checkpoint | null;
  }>(sql`
    SELECT CAST(watermark AS text) AS watermark, CAST(last_run_start AS text) AS last_run_start,
      fingerprints, pending, checkpoint
    FROM ${runsTable(schema)} WHERE namespace = ${namespace} AND source = ${source}`);
  if (row === undefined) {
    return {
      watermark: null,
      lastRunStart: null,
      fingerprints: {},
      pending: null,
      checkpoint: null,
    };
  }
  return {
    watermark: row.watermark === null ? null : Number(row.watermark),
    lastRunStart: row.last_run_start === null ? null : Number(row.last_run_start),
    fingerprints: row.fingerprints ?? {},
    pending: row.pending,
    checkpoint: row.checkpoint,
  };
}

/** Records a run as started (replacing any run in progress), with no checkpoint. */
export async function startRun(
  executor: SqlExecutor,
  schema: string,
  namespace: string,
  plan: RunPlan,
): Promise<void> {
  const pending = JSON.stringify(plan);
  await executor.query(sql`
    INSERT INTO ${runsTable(schema)} AS r (namespace, source, pending, checkpoint)
    VALUES (${namespace}, ${plan.source}, CAST(${pending} AS jsonb), NULL)
    ON CONFLICT (namespace, source) DO UPDATE SET
      pending = EXCLUDED.pending, checkpoint = NULL, updated_at = now()`);
}

/** Saves a run's checkpoint (only while that run is the one in progress). */
export async function saveCheckpoint(
  executor: SqlExecutor,
  schema: string,
  namespace: string,
  plan: RunPlan,
  checkpoint: Checkpoint,
): Promise<void> {
  await executor.query(sql`
    UPDATE ${runsTable(schema)} SET checkpoint = CAST(${JSON.stringify(checkpoint)} AS jsonb), updated_at = now()
    WHERE namespace = ${namespace} AND source = ${plan.source}
      AND CAST(pending ->> 'id' AS double precision) = ${plan.id}`);
}

/**
 * Records a run as complete: its target becomes the source's watermark, its start the late-check
 * bound of the next run. `extra` runs in the same transaction (the registry's feature watermarks).
 */
export async function finishRun(
  executor: SqlExecutor,
  schema: string,
  namespace: string,
  plan: RunPlan,
  extra: (tx: SqlExecutor) => Promise<void>,
): Promise<void> {
  await executor.transaction(async (tx) => {
    await tx.query(sql`
      UPDATE ${runsTable(schema)} SET watermark = ${plan.target}, last_run_start = ${plan.start},
        fingerprints = CAST(${JSON.stringify(plan.fingerprints)} AS jsonb),
        pending = NULL, checkpoint = NULL, updated_at = now()
      WHERE namespace = ${namespace} AND source = ${plan.source}`);
    await extra(tx);
  });
}

/** Forgets everything about the given sources of a namespace (before a repair). */
export async function forgetSources(
  executor: SqlExecutor,
  schema: string,
  namespace: string,
  sources: readonly string[],
): Promise<void> {
  for (const name of sources) {
    await executor.query(
      sql`DELETE FROM ${runsTable(schema)} WHERE namespace = ${namespace} AND source = ${name}`,
    );
  }
}
