import { TandemError } from '@tandem/core';
import { sql } from 'drizzle-orm';
import type { SqlExecutor } from '../executor/executor.js';
import { registryExists, registryTables } from './tables.js';

/** How far a feature has been materialized into the online store. */
export interface Watermark {
  /** Feature name. */
  readonly feature: string;
  /** Events with `ts` below this (epoch ms) are materialized. */
  readonly watermark: number;
  /** When it was last written. */
  readonly updatedAt: Date;
}

/** The materialization watermark of a feature, or null when it has none (or is not registered). */
export async function readWatermark(
  executor: SqlExecutor,
  schema: string,
  feature: string,
): Promise<Watermark | null> {
  if (!(await registryExists(executor, schema))) return null;
  const [row] = await executor.query<{ watermark: string | number; updated_at: Date }>(
    sql`SELECT watermark, updated_at FROM ${registryTables(schema).watermarks} WHERE feature = ${feature}`,
  );
  return row === undefined
    ? null
    : { feature, watermark: Number(row.watermark), updatedAt: row.updated_at };
}

/** Arguments of {@link writeWatermark}. */
export interface WatermarkWrite {
  /** Feature name. */
  readonly feature: string;
  /** Fingerprint of the definition that computed the materialized values. */
  readonly fingerprint: string;
  /** New watermark, integer epoch ms. */
  readonly watermark: number;
}

/**
 * Records how far a feature has been materialized and marks it materialized, so `apply` refuses
 * to change its definition unless forced. The write is tied to the definition that computed the
 * values: it is refused when the registry holds another fingerprint (the definition changed
 * while materializing).
 * @throws {TandemError} `INVALID_ARGUMENT` for a watermark that is not a safe integer;
 * `UNKNOWN_FEATURE` when the feature is not applied; `FINGERPRINT_MISMATCH` when its registered
 * fingerprint differs.
 */
export async function writeWatermark(
  executor: SqlExecutor,
  schema: string,
  write: WatermarkWrite,
): Promise<void> {
  const path = `feature ${write.feature}`;
  if (!Number.isSafeInteger(write.watermark)) {
    throw new TandemError('INVALID_ARGUMENT', 'watermark must be integer epoch milliseconds', {
      path,
    });
  }
  const unknown = () =>
    new TandemError('UNKNOWN_FEATURE', 'the feature is not applied: run apply first', { path });
  if (!(await registryExists(executor, schema))) throw unknown();
  const { features, watermarks } = registryTables(schema);
  await executor.transaction(async (tx) => {
    const [row] = await tx.query<{ fingerprint: string; removed: boolean }>(
      sql`SELECT fingerprint, removed_at IS NOT NULL AS removed FROM ${features} WHERE name = ${write.feature} FOR UPDATE`,
    );
    if (row === undefined || row.removed) throw unknown();
    if (row.fingerprint !== write.fingerprint) {
      throw new TandemError(
        'FINGERPRINT_MISMATCH',
        `the registry holds fingerprint ${row.fingerprint}, not ${write.fingerprint}: the definition changed; materialize it again`,
        { path },
      );
    }
    await tx.query(sql`UPDATE ${features} SET materialized = true WHERE name = ${write.feature}`);
    await tx.query(
      sql`INSERT INTO ${watermarks} (feature, watermark) VALUES (${write.feature}, ${write.watermark}) ON CONFLICT (feature) DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()`,
    );
  });
}
