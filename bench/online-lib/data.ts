import type { OnlineEvent } from '@tandem/feature-store';

/** A small seeded generator (mulberry32): uniform in [0, 1). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@link generateHistory}. */
export interface HistoryOptions {
  readonly users: number;
  /** Events per user, drawn uniformly in [min, max]. */
  readonly perUser: readonly [number, number];
  /** The history covers [end - span, end). */
  readonly end: number;
  readonly span: number;
  readonly seed: number;
}

/**
 * Payments of `users` users (ids 1..users), `perUser` events each spread uniformly over the
 * span, returned in time order (as a stream delivers them): amount a multiple of 0.01 in
 * [0, 500), one of 200 merchants, 1-5 items, event ids `u<user>e<n>`.
 */
export function generateHistory(options: HistoryOptions): OnlineEvent[] {
  const next = random(options.seed);
  const [min, max] = options.perUser;
  const events: OnlineEvent[] = [];
  for (let user = 1; user <= options.users; user++) {
    const n = min + Math.floor(next() * (max - min + 1));
    for (let i = 0; i < n; i++) {
      events.push({
        key: { user_id: user },
        ts: options.end - 1 - Math.floor(next() * options.span),
        eventId: `u${user}e${i}`,
        seq: null,
        ingestedAt: null,
        values: {
          amount: Math.floor(next() * 50_000) / 100,
          merchant: `m${Math.floor(next() * 200)}`,
          items: 1 + Math.floor(next() * 5),
        },
      });
    }
  }
  return events.sort((a, b) => a.ts - b.ts);
}

/** `items` cut into batches of `size`. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let at = 0; at < items.length; at += size) out.push(items.slice(at, at + size));
  return out;
}
