import type { ScalarValue, ValueType } from '@tandem/core';
import fc from 'fast-check';

/**
 * Bounds of generated values (docs/semantics.md, "Overflow and underflow are errors"). Both engines
 * reject what these bounds exclude, so a generated stream never makes a read fail:
 *
 * - floats are finite (NaN and ±Infinity are rejected at ingestion);
 * - nonzero float magnitudes lie in `[FLOAT_TINY, FLOAT_HUGE]`: the square of anything smaller
 *   underflows (variance and stddev raise `VALUE_OUT_OF_RANGE`) and sums of squares of anything
 *   much larger overflow;
 * - integers lie in `[-INT_HUGE, INT_HUGE]`, so integer sums of up to 2^12 events in a window stay
 *   within 2^53 and are exact in both engines;
 * - strings hold no NUL (Postgres `text` cannot) and no lone surrogate halves (not UTF-8).
 */
export const VALUE_BOUNDS = Object.freeze({
  /** Largest float magnitude generated: its square (1e300) and sums of them stay finite. */
  FLOAT_HUGE: 1e150,
  /** Smallest nonzero float magnitude generated: its square (1e-300) is a normal double. */
  FLOAT_TINY: 1e-150,
  /** Largest integer magnitude generated (2^40). */
  INT_HUGE: 2 ** 40,
});

/** Float magnitudes at or above this count as huge in coverage. */
export const HUGE_FLOAT = 1e100;
/** Nonzero float magnitudes at or below this count as tiny in coverage. */
export const TINY_FLOAT = 1e-100;

const signed = (magnitude: fc.Arbitrary<number>): fc.Arbitrary<number> =>
  fc.tuple(magnitude, fc.boolean()).map(([m, negative]) => (negative ? -m : m));

/**
 * Adversarial floats within {@link VALUE_BOUNDS}: ordinary doubles, small integers, negatives,
 * `-0`, the classic `0.1 + 0.2` trio, cancellation-prone `±1e16`, huge (`1e100..1e150`) and tiny
 * (`1e-150..1e-100`) magnitudes of both signs.
 */
export const floatValueArb: fc.Arbitrary<number> = fc
  .oneof(
    {
      arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }),
      weight: 6,
    },
    { arbitrary: fc.integer({ min: -100, max: 100 }), weight: 3 },
    { arbitrary: fc.constantFrom(0, -0, 0.1, 0.2, 0.3, -1, 1e16, -1e16, 1), weight: 2 },
    {
      arbitrary: signed(fc.double({ min: HUGE_FLOAT, max: VALUE_BOUNDS.FLOAT_HUGE, noNaN: true })),
      weight: 1,
    },
    {
      arbitrary: signed(fc.double({ min: VALUE_BOUNDS.FLOAT_TINY, max: TINY_FLOAT, noNaN: true })),
      weight: 1,
    },
  )
  .map((x) => (x !== 0 && Math.abs(x) < VALUE_BOUNDS.FLOAT_TINY ? 0 : x));

/** Adversarial integers within {@link VALUE_BOUNDS}: small, negative, zero and ±2^40. */
export const intValueArb: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: -1000, max: 1000 }), weight: 6 },
  {
    arbitrary: fc.integer({ min: -VALUE_BOUNDS.INT_HUGE, max: VALUE_BOUNDS.INT_HUGE }),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(0, -1, 1, VALUE_BOUNDS.INT_HUGE, -VALUE_BOUNDS.INT_HUGE),
    weight: 1,
  },
);

/**
 * Strings whose bytewise (code point) order differs from UTF-16 and locale order: empty, case,
 * accents, full-width and astral characters, spaces; sometimes any Unicode text without NUL.
 */
export const STRING_VALUES = ['', 'a', 'A', 'B', 'é', 'ｚ', '😀', 'a b', 'shop', '商店'] as const;

/** A string from {@link STRING_VALUES}, or arbitrary text (code points, no NUL, no lone surrogate). */
export const stringValueArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...STRING_VALUES), weight: 5 },
  {
    arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).map((s) => s.replaceAll('\u0000', '')),
    weight: 1,
  },
);

/** The adversarial value arbitrary of a field type. */
export function valueArb(type: ValueType): fc.Arbitrary<ScalarValue> {
  switch (type) {
    case 'float':
      return floatValueArb;
    case 'int':
      return intValueArb;
    case 'string':
      return stringValueArb;
    case 'bool':
      return fc.boolean();
  }
}

/** True when a value is within {@link VALUE_BOUNDS} for its type (what the generators promise). */
export function valueWithinBounds(type: ValueType, value: ScalarValue): boolean {
  if (value === null) return true;
  switch (type) {
    case 'float':
      return (
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (value === 0 ||
          (Math.abs(value) >= VALUE_BOUNDS.FLOAT_TINY &&
            Math.abs(value) <= VALUE_BOUNDS.FLOAT_HUGE))
      );
    case 'int':
      return Number.isSafeInteger(value) && Math.abs(value as number) <= VALUE_BOUNDS.INT_HUGE;
    case 'string':
      return typeof value === 'string' && !value.includes('\u0000') && !/\p{Cs}/u.test(value);
    case 'bool':
      return typeof value === 'boolean';
  }
}
