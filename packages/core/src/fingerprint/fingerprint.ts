import { createHash } from 'node:crypto';
import type { AnyFeature, FeatureIR } from '../definitions/feature.js';
import { TandemError } from '../errors/errors.js';

/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, `undefined` members dropped.
 * The same value gives the same text in every process and on every machine.
 * @throws {TandemError} `INVALID_DEFINITION` for non-finite numbers, functions and other values
 * JSON cannot carry.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string')
    return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new TandemError('INVALID_DEFINITION', `cannot serialize ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value))
    return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TandemError('INVALID_DEFINITION', `cannot serialize a ${typeof value}`);
}

/** Version of the fingerprint scheme; bump it when the meaning of the IR changes. */
export const FINGERPRINT_VERSION = 1;

/**
 * The fingerprint of a feature: sha256 (hex) of the canonical JSON of its IR. It changes with
 * anything that changes values (source table and columns, types, aggregation, window, filter,
 * default, inputs, request code) and ignores descriptions.
 */
export function fingerprint(feature: AnyFeature | FeatureIR): string {
  const ir = 'ir' in feature ? feature.ir : feature;
  return createHash('sha256')
    .update(canonicalJson({ v: FINGERPRINT_VERSION, feature: ir }))
    .digest('hex');
}
