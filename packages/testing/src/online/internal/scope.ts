import { randomBytes } from 'node:crypto';
import type { OnlineAdapter, WriteGroup } from '@tandem/feature-store';

/** What every conformance test gets: a fresh adapter and a key prefix of its own. */
export interface Scope {
  readonly adapter: OnlineAdapter;
  /** `<suite prefix><random>:`; every key the test writes starts with it. Contains no `{`. */
  readonly prefix: string;
}

/**
 * Runs `body` with a fresh adapter and a fresh prefix, then deletes the prefix's keys and closes
 * the adapter, whatever `body` did.
 */
export async function withScope<T>(
  makeAdapter: () => OnlineAdapter | Promise<OnlineAdapter>,
  basePrefix: () => string,
  body: (scope: Scope) => Promise<T>,
): Promise<T> {
  const adapter = await makeAdapter();
  const prefix = `${basePrefix()}${randomBytes(4).toString('hex')}:`;
  try {
    return await body({ adapter, prefix });
  } finally {
    try {
      await adapter.clear(prefix);
    } finally {
      await adapter.close();
    }
  }
}

/** The keys of one entity in a scope, all under one hash tag (one Redis Cluster slot). */
export interface EntityKeySet {
  /** `[dedupe set, raw head, meta hash, tile hash 0, tile hash 1]`. */
  readonly keys: readonly [string, string, string, string, string];
  readonly seen: string;
  readonly raw: string;
  readonly meta: string;
  readonly tiles: readonly [string, string];
}

/** The five keys of entity `name` under `prefix`. */
export function entityKeySet(prefix: string, name: string): EntityKeySet {
  const base = `${prefix}{${name}}`;
  const keys = [`${base}:d`, `${base}:r`, `${base}:m`, `${base}:t:0`, `${base}:t:1`] as const;
  return { keys, seen: keys[0], raw: keys[1], meta: keys[2], tiles: [keys[3], keys[4]] };
}

/** A write group with defaults: no events, no puts or deletes, no meta, nothing late or trimmed. */
export function writeGroup(
  keys: readonly string[],
  parts: Partial<Omit<WriteGroup, 'keys'>> = {},
): WriteGroup {
  return {
    keys,
    events: [],
    lateBefore: Number.NEGATIVE_INFINITY,
    trimBefore: Number.NEGATIVE_INFINITY,
    puts: [],
    deletes: [],
    meta: {},
    ttls: keys.map(() => Number.POSITIVE_INFINITY),
    ...parts,
  };
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
