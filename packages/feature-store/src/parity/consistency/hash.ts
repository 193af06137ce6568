import { createHash } from 'node:crypto';
import { canonicalJson } from '@tandem/core';

/**
 * A stable position of an entity in [0, 1): the first 48 bits of the sha256 of `salt` and the
 * canonical JSON of its keys (sorted by name), over 2^48. The same keys always get the same
 * position, in every process and version, so a key-hash sample keeps or drops an entity for good.
 */
export function entityHash(key: Readonly<Record<string, string | number>>, salt = ''): number {
  const digest = createHash('sha256').update(salt).update('\u0000').update(canonicalJson(key));
  return Number.parseInt(digest.digest('hex').slice(0, 12), 16) / 2 ** 48;
}

/** True when the entity is in a key-hash sample of the given rate (0 to 1). */
export function entitySampled(
  key: Readonly<Record<string, string | number>>,
  rate: number,
  salt = '',
): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  return entityHash(key, salt) < rate;
}
