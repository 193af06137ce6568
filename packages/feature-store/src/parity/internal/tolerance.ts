import type { AggregationFn, Moments } from '@tandem/core';

/** The unit roundoff of doubles, 2^-53. */
export const UNIT_ROUNDOFF = 2 ** -53;

/** Aggregations whose intermediate is a float sum ({@link Moments}). */
export const MOMENT_AGGREGATIONS: ReadonlySet<AggregationFn> = new Set([
  'sum',
  'mean',
  'variance',
  'stddev',
]);

/**
 * DESIGN §3: two float sums of the same `n` values, added in different orders, differ by at most
 * `2 (n - 1) 2^-53 * sum|x|` (each is within `(n - 1) 2^-53 * sum|x|` of the exact sum).
 */
export function sumBound(n: number, sumAbs: number): number {
  return 2 * Math.max(n - 1, 0) * UNIT_ROUNDOFF * sumAbs;
}

/**
 * How far the offline and online values of a moment aggregation (`sum`, `mean`, `variance`,
 * `stddev`) may be apart, given the window's moments (`n`, `sum`, `sum|x|`, `sum x^2` from the
 * reference fold) and the two values `a` and `b`. Integer sums below 2^53 are exact: 0.
 *
 * - sum: the DESIGN §3 bound `B = 2 (n - 1) u sum|x|` (u = 2^-53);
 * - mean `s / n`: `B / n`, plus 2 ulps for the two divisions;
 * - variance `max(0, (s2 - s^2/n) / (n - 1))`: the bounds of `s2` (`2 (n - 1) u s2`) and of
 *   `s^2 / n` (`(2 |s| B + B^2) / n`) over `n - 1`, plus `8 u (s2 + s^2/n) / (n - 1)` for the
 *   rounding of the formula on each side (`max(0, .)` does not widen differences);
 * - stddev: `|sqrt a - sqrt b| = |a - b| / (sqrt a + sqrt b)` with the variance's bound, plus
 *   2 ulps for the square roots.
 */
export function momentTolerance(
  fn: AggregationFn,
  moments: Moments,
  integer: boolean,
  a: number,
  b: number,
): number {
  const { n, sum, sumAbs } = moments;
  if (n === 0) return 0;
  // A little slack for the bound's own rounding.
  const slack = 1 + 2 ** -20;
  const bound = sumBound(n, sumAbs) * slack;
  const ulps = (k: number) => k * UNIT_ROUNDOFF * Math.max(Math.abs(a), Math.abs(b));
  switch (fn) {
    case 'sum':
      return integer && sumAbs < 2 ** 53 ? 0 : bound;
    case 'mean':
      return integer && sumAbs < 2 ** 53 ? 0 : bound / n + ulps(4);
    case 'variance':
    case 'stddev': {
      if (n < 2) return 0;
      const sumSq = moments.sumSq ?? 0;
      if (integer && sumSq < 2 ** 53) return 0;
      const boundSq = sumBound(n, sumSq) * slack;
      const squareOfSum = (sum * sum) / n;
      const variance =
        (boundSq + (2 * Math.abs(sum) * bound + bound * bound) / n) / (n - 1) +
        (8 * UNIT_ROUNDOFF * (sumSq + squareOfSum)) / (n - 1);
      if (fn === 'variance') return variance + ulps(2);
      const roots = Math.abs(a) + Math.abs(b);
      return (roots > 0 ? variance / roots : Math.sqrt(variance)) + ulps(4);
    }
    default:
      return 0;
  }
}

/** One input of a derived feature: its reference value and the bound on its two engines' difference. */
export interface InputBound {
  readonly value: number | null;
  readonly bound: number;
}

/**
 * How far the two values `a`, `b` of a derived feature may be apart when its float inputs differ
 * within their bounds. To first order, `|Δd| <= Σ |∂d/∂x_i| δ_i`, and for an expression of sums,
 * differences, products and quotients of its inputs (each used once) `|∂d/∂x_i| <= 1 + |d| / |x_i|`,
 * so the tolerance is `2 Σ δ_i (1 + max(|a|, |b|) / |x_i|)` (the factor 2 covers second-order
 * terms). An input indistinguishable from zero (`|x_i| <= δ_i`) makes the value unbounded
 * (Infinity: not compared). Inputs with `δ_i = 0` (exact) contribute nothing: derived features
 * run the same TypeScript evaluator on both paths, so equal inputs give equal values.
 */
export function derivedTolerance(inputs: readonly InputBound[], a: number, b: number): number {
  let total = 0;
  const magnitude = Math.max(Math.abs(a), Math.abs(b));
  for (const input of inputs) {
    if (input.bound === 0) continue;
    if (input.value === null || Math.abs(input.value) <= input.bound) return Infinity;
    total += input.bound * (1 + magnitude / Math.abs(input.value));
  }
  return 2 * total;
}
