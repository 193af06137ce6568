import { describe, expect, it } from 'vitest';
import { fraudService } from '../../test/fixtures.js';
import { isServingError } from '../errors/errors.js';
import type { FeatureStatus, OnlineFeatureRow } from '../features/source.js';
import { judgeFeatures, rejection, resolveFeaturePolicy } from './fallback.js';

const stored = ['tx_count_7d', 'tx_sum_7d'];

function row(statuses: Record<string, FeatureStatus>): OnlineFeatureRow {
  const values: Record<string, { value: number; status: FeatureStatus; freshnessMs: null }> = {};
  for (const name of ['tx_count_7d', 'tx_sum_7d', 'amount_share']) {
    values[name] = { value: 0, status: statuses[name] ?? 'present', freshnessMs: null };
  }
  return { entity: { user_id: 'u' }, values };
}

describe('feature policy', () => {
  it('defaults: predict on partial problems; unknown entity and mismatch fall back or reject', () => {
    expect(resolveFeaturePolicy(undefined, 'options')).toEqual({
      unknownEntity: 'reject',
      missing: 'predict',
      stale: 'predict',
      definitionMismatch: 'reject',
    });
    expect(resolveFeaturePolicy({ prediction: 0 }, 'options')).toEqual({
      unknownEntity: 'fallback',
      missing: 'predict',
      stale: 'predict',
      definitionMismatch: 'fallback',
    });
    expect(() => resolveFeaturePolicy({ features: { stale: 'fallback' } }, 'perModel.m')).toThrow(
      /perModel\.m: fallback\.features\.stale is "fallback"/,
    );
  });

  it('judges mismatch first, then unknown entity, missing and stale', () => {
    const policy = resolveFeaturePolicy(
      { prediction: 0, features: { missing: 'reject', stale: 'fallback' } },
      'options',
    );
    const judge = (statuses: Record<string, FeatureStatus>) =>
      judgeFeatures(fraudService, stored, row(statuses), policy);
    expect(judge({})).toEqual({ reason: undefined, action: 'predict', features: [] });
    expect(judge({ tx_sum_7d: 'definition_mismatch', tx_count_7d: 'missing' })).toMatchObject({
      reason: 'definition_mismatch',
      action: 'fallback',
      features: ['tx_sum_7d'],
    });
    expect(
      judge({ tx_count_7d: 'missing', tx_sum_7d: 'missing', amount_share: 'missing' }),
    ).toMatchObject({ reason: 'unknown_entity', action: 'fallback' });
    expect(judge({ tx_count_7d: 'missing' })).toMatchObject({
      reason: 'features_missing',
      action: 'reject',
      features: ['tx_count_7d'],
    });
    expect(judge({ tx_sum_7d: 'outside_ttl' })).toMatchObject({
      reason: 'features_stale',
      action: 'fallback',
      features: ['tx_sum_7d'],
    });
  });

  it('rejects with 404 for an unknown entity and 422 otherwise, naming the features', () => {
    const unknown = rejection({ reason: 'unknown_entity', action: 'reject', features: ['a'] });
    expect(isServingError(unknown, 'UNKNOWN_ENTITY')).toBe(true);
    expect(unknown.status).toBe(404);
    const stale = rejection({ reason: 'features_stale', action: 'reject', features: ['a', 'b'] });
    expect(stale.status).toBe(422);
    expect(stale.message).toMatch(/older than their TTL: a, b/);
    expect(stale.issues).toEqual(['a', 'b']);
    const mismatch = rejection({
      reason: 'definition_mismatch',
      action: 'reject',
      features: ['a'],
    });
    expect(mismatch.message).toMatch(/another definition/);
  });
});
