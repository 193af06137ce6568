import type { ScalarValue } from '@tandem/core';
import type { EntityKey, FeatureParity } from '../types.js';

/** A feature value as text: JSON for lists and strings, `null`, numbers in shortest round-trip form. */
export function formatValue(value: ScalarValue | readonly ScalarValue[]): string {
  if (value === null) return 'null';
  if (typeof value === 'string' || Array.isArray(value)) return JSON.stringify(value);
  return String(value);
}

/** An epoch-ms time as ISO text plus the raw number: `2026-03-01T10:00:00.000Z (1772359200000)`. */
export function formatTime(ms: number | null): string {
  if (ms === null) return '-inf';
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : `${date.toISOString()} (${ms})`;
}

/** Entity keys as `key=value` pairs. */
export function formatEntity(entity: EntityKey): string {
  return Object.entries(entity)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`)
    .join(' ');
}

/** A sMAPE percentage, or `-` when there were no numeric pairs. */
export function formatSmape(smape: number | null): string {
  if (smape === null) return '-';
  if (smape === 0) return '0';
  return smape < 0.0001 ? smape.toExponential(2) : smape.toFixed(4);
}

/** A difference: `0`, or three significant digits. */
export function formatDifference(value: number | null): string {
  if (value === null) return '-';
  if (value === 0) return '0';
  if (!Number.isFinite(value)) return String(value);
  return value.toPrecision(3);
}

/** Values that disagree for a feature (`mismatch + offlineNull + onlineNull`). */
export function disagreements(feature: FeatureParity): number {
  return feature.mismatch + feature.offlineNull + feature.onlineNull;
}
