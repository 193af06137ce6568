import { TandemError } from '../errors/errors.js';
import { type DurationInput, formatDuration, MS_PER_UNIT, toMillis } from './duration.js';

/**
 * A resolved aggregation window. `length` is W and `hop` is h, both in milliseconds; a lifetime
 * window has neither. See docs/semantics.md.
 */
export type WindowSpec =
  | { readonly kind: 'sliding'; readonly length: number; readonly hop: number }
  | { readonly kind: 'ttl'; readonly length: number }
  | { readonly kind: 'lifetime' };

/** The lifetime window: every event with `ts < q`. */
export const LIFETIME: WindowSpec = Object.freeze({ kind: 'lifetime' });

/**
 * The default hop for a window of length `length` (DESIGN §3): 1 day from 12 days up, 1 hour from
 * 12 hours up, else 5 minutes.
 */
export function defaultHop(length: number): number {
  if (length >= 12 * MS_PER_UNIT.d) return MS_PER_UNIT.d;
  if (length >= 12 * MS_PER_UNIT.h) return MS_PER_UNIT.h;
  return 5 * MS_PER_UNIT.m;
}

/**
 * Resolves and validates a sliding window.
 * @throws {TandemError} `INVALID_DURATION` or `INVALID_WINDOW` (hop does not divide the length).
 */
export function slidingWindow(
  length: DurationInput,
  hop: DurationInput | undefined,
  path: string,
): WindowSpec {
  const w = toMillis(length, `${path}.window`);
  const h = hop === undefined ? defaultHop(w) : toMillis(hop, `${path}.hop`);
  if (w % h !== 0) {
    const hint =
      hop === undefined
        ? `the default hop for this length is ${formatDuration(h)}; pass { hop } explicitly with a hop that divides the window`
        : 'choose a hop that divides the window length';
    throw new TandemError(
      'INVALID_WINDOW',
      `window ${formatDuration(w)} is not a multiple of hop ${formatDuration(h)}: ${hint}`,
      { path },
    );
  }
  return Object.freeze({ kind: 'sliding', length: w, hop: h });
}

/** Floor modulo: the result has the sign of `divisor` (here always positive). */
export function floorMod(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

/**
 * The window's inclusive start for a query at `q`: `T(q) = floor((q - W) / h) * h` for sliding
 * windows, with floor division for negative times too; `q - ttl` for attribute ttls; `-Infinity`
 * for lifetime windows.
 */
export function windowStart(window: WindowSpec, q: number): number {
  if (window.kind === 'lifetime') return Number.NEGATIVE_INFINITY;
  if (window.kind === 'ttl') return q - window.length;
  const start = q - window.length;
  return start - floorMod(start, window.hop);
}

/** True when an event at `ts` counts in `window` as of `q`: `T(q) <= ts < q`. */
export function inWindow(window: WindowSpec, q: number, ts: number): boolean {
  return ts < q && ts >= windowStart(window, q);
}
