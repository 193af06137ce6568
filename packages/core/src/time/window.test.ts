import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DurationInput,
  defaultHop,
  floorMod,
  inWindow,
  isTandemError,
  LIFETIME,
  slidingWindow,
  type TandemErrorCode,
  type WindowSpec,
  windowStart,
} from '../index.js';

const NUM_RUNS = 1000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function expectError(f: () => unknown, code: TandemErrorCode, path: string): Error {
  const error = caught(f);
  expect(isTandemError(error, code), String(error)).toBe(true);
  expect((error as { path?: string }).path).toBe(path);
  return error as Error;
}

type Sliding = Extract<WindowSpec, { kind: 'sliding' }>;

/** {@link slidingWindow}, narrowed to the sliding variant. */
function sliding(length: DurationInput, hop: DurationInput | undefined, path: string): Sliding {
  const spec = slidingWindow(length, hop, path);
  if (spec.kind !== 'sliding') throw new Error(`expected a sliding window, got ${spec.kind}`);
  return spec;
}

/** `floor(a / b)` on BigInt. */
function floorDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? quotient - 1n : quotient;
}

describe('defaultHop (DESIGN §3: W >= 12d -> 1d, W >= 12h -> 1h, else 5m)', () => {
  it('switches exactly at 12 hours and 12 days', () => {
    expect(defaultHop(1)).toBe(5 * MINUTE);
    expect(defaultHop(HOUR)).toBe(5 * MINUTE);
    expect(defaultHop(12 * HOUR - 1)).toBe(5 * MINUTE);
    expect(defaultHop(12 * HOUR)).toBe(HOUR);
    expect(defaultHop(7 * DAY)).toBe(HOUR);
    expect(defaultHop(12 * DAY - 1)).toBe(HOUR);
    expect(defaultHop(12 * DAY)).toBe(DAY);
    expect(defaultHop(365 * DAY)).toBe(DAY);
  });
});

describe('slidingWindow', () => {
  it('uses the default hop when none is given', () => {
    expect(sliding('7d', undefined, 'f')).toEqual({
      kind: 'sliding',
      length: 7 * DAY,
      hop: HOUR,
    });
    expect(sliding('30d', undefined, 'f')).toEqual({
      kind: 'sliding',
      length: 30 * DAY,
      hop: DAY,
    });
    expect(sliding('12d', undefined, 'f').hop).toBe(DAY);
    expect(sliding('12h', undefined, 'f').hop).toBe(HOUR);
    expect(sliding('11h', undefined, 'f').hop).toBe(5 * MINUTE);
    expect(sliding('1h', undefined, 'f').hop).toBe(5 * MINUTE);
    expect(sliding('5m', undefined, 'f').hop).toBe(5 * MINUTE);
    expect(sliding(2 * DAY, undefined, 'f').hop).toBe(HOUR);
  });

  it('takes an explicit hop that divides the length, as a string or in ms', () => {
    expect(sliding('7d', '1d', 'f')).toEqual({ kind: 'sliding', length: 7 * DAY, hop: DAY });
    expect(sliding('1h', 1, 'f')).toEqual({ kind: 'sliding', length: HOUR, hop: 1 });
    expect(sliding(10, 10, 'f')).toEqual({ kind: 'sliding', length: 10, hop: 10 });
    expect(Object.isFrozen(sliding('1h', '1m', 'f'))).toBe(true);
  });

  it('is INVALID_WINDOW when the explicit hop does not divide the length', () => {
    expectError(() => sliding('1h', '7m', 'feature f'), 'INVALID_WINDOW', 'feature f');
    expectError(() => sliding('1h', '2h', 'feature f'), 'INVALID_WINDOW', 'feature f');
    expectError(() => sliding(10, 3, 'feature f'), 'INVALID_WINDOW', 'feature f');
  });

  it('is INVALID_WINDOW when the default hop does not divide the length, and says so', () => {
    // 7m < 12h: default hop 5m.
    const e1 = expectError(() => sliding('7m', undefined, 'f'), 'INVALID_WINDOW', 'f');
    expect(e1.message).toContain('default hop');
    expect(e1.message).toContain('5m');
    // Shorter than the default hop.
    expectError(() => sliding('2m', undefined, 'f'), 'INVALID_WINDOW', 'f');
    expectError(() => sliding('90s', undefined, 'f'), 'INVALID_WINDOW', 'f');
    // 12d + 1h >= 12d: default hop 1d.
    const e2 = expectError(() => sliding('289h', undefined, 'f'), 'INVALID_WINDOW', 'f');
    expect(e2.message).toContain('1d');
    // 12h + 30m >= 12h: default hop 1h.
    expectError(() => sliding('750m', undefined, 'f'), 'INVALID_WINDOW', 'f');
  });

  it('reports bad durations as INVALID_DURATION on the window or the hop', () => {
    expectError(
      () => sliding('7 days' as DurationInput, undefined, 'f'),
      'INVALID_DURATION',
      'f.window',
    );
    expectError(() => sliding(0, undefined, 'f'), 'INVALID_DURATION', 'f.window');
    expectError(() => sliding('7d', '1.5h' as DurationInput, 'f'), 'INVALID_DURATION', 'f.hop');
    expectError(() => sliding('7d', -1, 'f'), 'INVALID_DURATION', 'f.hop');
  });

  it('accepts exactly the hops that divide the length (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        (length, hop) => {
          if (length % hop === 0) {
            expect(sliding(length, hop, 'f')).toEqual({ kind: 'sliding', length, hop });
          } else {
            expectError(() => sliding(length, hop, 'f'), 'INVALID_WINDOW', 'f');
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('floorMod', () => {
  it('has the sign of the divisor', () => {
    expect(floorMod(7, 3)).toBe(1);
    expect(floorMod(-7, 3)).toBe(2);
    expect(floorMod(-6, 3)).toBe(0);
    expect(floorMod(0, 3)).toBe(0);
    expect(floorMod(-1, DAY)).toBe(DAY - 1);
  });

  it('matches BigInt floor division on safe integers (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.bigInt({ min: 1n, max: 10n ** 10n }),
        (value, divisor) => {
          const expected = value - floorDiv(value, divisor) * divisor;
          expect(floorMod(Number(value), Number(divisor))).toBe(Number(expected));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('windowStart and inWindow', () => {
  it('examples: floor division for negative times', () => {
    const w = sliding(9, 3, 'f');
    expect(windowStart(w, 1)).toBe(-9); // floor(-8 / 3) = -3, not -2
    expect(windowStart(w, 0)).toBe(-9);
    expect(windowStart(w, -1)).toBe(-12);
    expect(windowStart(w, 9)).toBe(0);
    expect(windowStart(w, 11)).toBe(0);
    expect(windowStart(w, 12)).toBe(3);
    expect(inWindow(w, 1, -9)).toBe(true);
    expect(inWindow(w, 1, -10)).toBe(false);
    expect(inWindow(w, 1, 1)).toBe(false);
    expect(inWindow(w, 1, 0)).toBe(true);
  });

  it('ttl and lifetime windows', () => {
    const ttl: WindowSpec = { kind: 'ttl', length: 10 };
    expect(windowStart(ttl, 5)).toBe(-5);
    expect(inWindow(ttl, 5, -5)).toBe(true);
    expect(inWindow(ttl, 5, -6)).toBe(false);
    expect(inWindow(ttl, 5, 4)).toBe(true);
    expect(inWindow(ttl, 5, 5)).toBe(false);
    expect(windowStart(LIFETIME, 5)).toBe(Number.NEGATIVE_INFINITY);
    expect(inWindow(LIFETIME, 5, -(10 ** 15))).toBe(true);
    expect(inWindow(LIFETIME, 5, 4)).toBe(true);
    expect(inWindow(LIFETIME, 5, 5)).toBe(false);
    expect(Object.isFrozen(LIFETIME)).toBe(true);
  });

  const windowArb = fc
    .tuple(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 500 }))
    .map(([hop, k]) => sliding(k * hop, hop, 'f') as Extract<WindowSpec, { kind: 'sliding' }>);
  const timeArb = fc.oneof(
    fc.integer({ min: -1000, max: 1000 }),
    fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }).map(Number),
  );

  it('T(q) = floor((q - W) / h) * h, and membership is T(q) <= ts < q (property)', () => {
    fc.assert(
      fc.property(windowArb, timeArb, fc.integer({ min: -3, max: 3 }), (w, q, offset) => {
        const start = floorDiv(BigInt(q) - BigInt(w.length), BigInt(w.hop)) * BigInt(w.hop);
        expect(windowStart(w, q)).toBe(Number(start));
        for (const ts of [q, q - 1, Number(start), Number(start) - 1, Number(start) + offset]) {
          const expected = start <= BigInt(ts) && BigInt(ts) < BigInt(q);
          expect(inWindow(w, q, ts), `q=${q} ts=${ts}`).toBe(expected);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('the effective window is [W, W + h) and starts on a hop boundary (property)', () => {
    fc.assert(
      fc.property(windowArb, timeArb, (w, q) => {
        const start = windowStart(w, q);
        expect(q - start).toBeGreaterThanOrEqual(w.length);
        expect(q - start).toBeLessThan(w.length + w.hop);
        expect(floorMod(start, w.hop)).toBe(0);
        // Monotone: a later query never starts earlier.
        expect(windowStart(w, q + 1)).toBeGreaterThanOrEqual(start);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
