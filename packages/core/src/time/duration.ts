import { TandemError } from '../errors/errors.js';

/** A duration: integer milliseconds, or a string such as `'500ms'`, `'30s'`, `'5m'`, `'24h'`, `'7d'`, `'2w'`. */
export type DurationInput = number | `${number}${DurationUnit}`;

/** Units accepted in duration strings. Fixed lengths only: no months, no calendars. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w';

/** Milliseconds per unit. */
export const MS_PER_UNIT: Readonly<Record<DurationUnit, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d|w)$/;

/**
 * Converts a duration to positive integer milliseconds.
 * @throws {TandemError} `INVALID_DURATION` naming `path` when the input is not a positive whole
 * number of milliseconds.
 */
export function toMillis(input: DurationInput, path: string): number {
  let ms: number;
  if (typeof input === 'number') {
    ms = input;
  } else {
    const match = DURATION_PATTERN.exec(input);
    if (match === null) {
      throw new TandemError(
        'INVALID_DURATION',
        `'${input}' is not a duration; use an integer followed by one of ms, s, m, h, d, w (e.g. '7d')`,
        { path },
      );
    }
    ms = Number(match[1]) * MS_PER_UNIT[match[2] as DurationUnit];
  }
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new TandemError(
      'INVALID_DURATION',
      `duration must be a positive whole number of milliseconds, got ${String(input)}`,
      { path },
    );
  }
  return ms;
}

/** Formats milliseconds with the largest unit that divides them exactly, e.g. `604800000 -> '7d'`. */
export function formatDuration(ms: number): string {
  const units: DurationUnit[] = ['w', 'd', 'h', 'm', 's'];
  for (const unit of units) {
    if (ms % MS_PER_UNIT[unit] === 0) return `${ms / MS_PER_UNIT[unit]}${unit}`;
  }
  return `${ms}ms`;
}
