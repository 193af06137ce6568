import { describe, expect, it } from 'vitest';
import { MAX_IDENTIFIER_BYTES, sanitizeLabel, uniqueName } from './naming.js';

describe('sanitizeLabel', () => {
  it('keeps [a-z0-9_] and folds everything else into single underscores', () => {
    expect(sanitizeLabel('Feature Store: offline/online (v2)')).toBe(
      'feature_store_offline_online_v2',
    );
    expect(sanitizeLabel('__a--b__')).toBe('a_b');
    expect(sanitizeLabel('ÄÖÜ 日本')).toBe('');
  });
});

describe('uniqueName', () => {
  it('is a safe identifier that starts with a letter and contains the label', () => {
    const name = uniqueName('My Suite');
    expect(name).toMatch(/^test_my_suite_[0-9a-f]{8}$/);
  });

  it('is unique per call', () => {
    const names = new Set(Array.from({ length: 200 }, () => uniqueName('same')));
    expect(names.size).toBe(200);
  });

  it('never exceeds the 63-byte PostgreSQL identifier limit', () => {
    const name = uniqueName('x'.repeat(500));
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
    expect(name).toMatch(/^test_x+_[0-9a-f]{8}$/);
  });

  it('copes with labels that sanitize to nothing', () => {
    expect(uniqueName('***')).toMatch(/^test_[0-9a-f]{8}$/);
  });
});
