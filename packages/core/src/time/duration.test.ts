import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DurationInput,
  formatDuration,
  isTandemError,
  MS_PER_UNIT,
  toMillis,
} from '../index.js';

const NUM_RUNS = 1000;

function expectInvalidDuration(input: unknown, path = 'feature clicks_7d.window'): void {
  let caught: unknown;
  try {
    toMillis(input as DurationInput, path);
  } catch (error) {
    caught = error;
  }
  expect(isTandemError(caught, 'INVALID_DURATION'), `${String(input)}: ${String(caught)}`).toBe(
    true,
  );
  expect((caught as { path?: string }).path).toBe(path);
  expect((caught as Error).message).toContain(path);
}

describe('toMillis', () => {
  it('converts every unit', () => {
    expect(toMillis('500ms', 'p')).toBe(500);
    expect(toMillis('30s', 'p')).toBe(30_000);
    expect(toMillis('5m', 'p')).toBe(300_000);
    expect(toMillis('24h', 'p')).toBe(86_400_000);
    expect(toMillis('7d', 'p')).toBe(604_800_000);
    expect(toMillis('2w', 'p')).toBe(1_209_600_000);
    expect(toMillis('1ms', 'p')).toBe(1);
    expect(MS_PER_UNIT).toEqual({
      ms: 1,
      s: 1_000,
      m: 60_000,
      h: 3_600_000,
      d: 86_400_000,
      w: 604_800_000,
    });
  });

  it('accepts positive whole milliseconds as numbers', () => {
    expect(toMillis(1, 'p')).toBe(1);
    expect(toMillis(86_400_000, 'p')).toBe(86_400_000);
    expect(toMillis(Number.MAX_SAFE_INTEGER, 'p')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('accepts the largest safe number of milliseconds as a string, not one more', () => {
    expect(toMillis('9007199254740991ms', 'p')).toBe(Number.MAX_SAFE_INTEGER);
    expectInvalidDuration('9007199254740992ms');
    expectInvalidDuration('104249991375d'); // * 86_400_000 > 2^53
    expectInvalidDuration('99999999999999999999999w');
  });

  it.each([
    '',
    '7',
    'd',
    'ms',
    '7 d',
    ' 7d',
    '7d ',
    '7D',
    '7Ms',
    '1.5h',
    '.5h',
    '-1h',
    '+1h',
    '1e3ms',
    '7mo',
    '1y',
    '1h30m',
    '7dd',
    '0d',
    '0ms',
    '00s',
    'NaN',
    'Infinity',
    '٣d', // Arabic-Indic digit three: not an ASCII digit
  ])('rejects the string %j with INVALID_DURATION naming the path', (input) => {
    expectInvalidDuration(input);
  });

  it.each([
    0,
    -0,
    -1,
    1.5,
    0.999,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2 ** 53,
    1e300,
  ])('rejects the number %d with INVALID_DURATION', (input) => {
    expectInvalidDuration(input);
  });

  it('rejects values that are neither numbers nor strings', () => {
    expectInvalidDuration(null);
    expectInvalidDuration(undefined);
    expectInvalidDuration({});
  });

  it('parses every "<n><unit>" string to n times the unit (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(...(Object.keys(MS_PER_UNIT) as (keyof typeof MS_PER_UNIT)[])),
        (n, unit) => {
          expect(toMillis(`${n}${unit}`, 'p')).toBe(n * MS_PER_UNIT[unit]);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('formatDuration', () => {
  it('uses the largest unit that divides exactly', () => {
    expect(formatDuration(604_800_000)).toBe('1w');
    expect(formatDuration(518_400_000)).toBe('6d');
    expect(formatDuration(90_000_000)).toBe('25h');
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(90_061_000)).toBe('90061s');
    expect(formatDuration(1_500)).toBe('1500ms');
    expect(formatDuration(1)).toBe('1ms');
  });

  it('round-trips through toMillis, with the largest exact unit (property)', () => {
    const units = ['w', 'd', 'h', 'm', 's', 'ms'] as const;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (ms) => {
        const text = formatDuration(ms);
        expect(toMillis(text as DurationInput, 'p')).toBe(ms);
        const unit = units.find((u) => text.endsWith(u) && /^\d+$/.test(text.slice(0, -u.length)));
        expect(unit, text).toBeDefined();
        // No larger unit divides ms.
        for (const larger of units.slice(0, units.indexOf(unit!))) {
          expect(ms % MS_PER_UNIT[larger], `${text} / ${larger}`).not.toBe(0);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
