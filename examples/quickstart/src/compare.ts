/**
 * Comparing a computed feature value with the TypeScript reference (DESIGN §3): exactly equal,
 * except float sums, which may differ by summation order within `2 (n - 1) 2^-53 * sum|x|`, and
 * the derived and request features made of them, which inherit that as last-digit rounding
 * (difference <= 1e-12 x max(|value|, 1)).
 * The demo holds both the offline store (SQL) and the online store (tiles) to this rule.
 */
import {
  type AnyFeature,
  describeExpr,
  type FeatureIR,
  featureValue,
  type Moments,
} from '@tandem/core';
import type { Computed, Value } from './reference.js';

/** How a value compares with the reference: equal, within the float-sum tolerance, or not. */
export type Parity = 'exact' | 'tolerance' | 'differs';

const FLOAT_SUMS = new Set(['sum', 'mean', 'variance', 'stddev']);

/**
 * Parity of the value of `feature` in `row` (SQL or online) with the reference: exactly equal,
 * except float-sum features, which may differ by summation order (DESIGN §3). Derived and request
 * features run the same code on both paths: they may differ only when they rest on a float sum,
 * and then only by last-digit rounding (difference <= 1e-12 x max(|value|, 1)).
 */
export function parity(
  feature: AnyFeature,
  row: Readonly<Record<string, unknown>>,
  reference: ReadonlyMap<string, Computed>,
): Parity {
  const a = row[feature.name] as Value;
  const { value: b, intermediate } = reference.get(feature.name)!;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => x === b[i]) ? 'exact' : 'differs';
  }
  if (a === b) return 'exact';
  if (typeof a !== 'number' || typeof b !== 'number') return 'differs';
  const ir = feature.ir;
  if (ir.kind === 'aggregation') {
    if (!FLOAT_SUMS.has(ir.aggregation.fn)) return 'differs';
    const [low, high] = toleranceRange(ir, intermediate as Moments);
    return low <= a && a <= high ? 'tolerance' : 'differs';
  }
  return restsOnFloatSums(feature) && Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(b), 1)
    ? 'tolerance'
    : 'differs';
}

/** True when a feature is a float sum, or is computed from one (directly or not). */
function restsOnFloatSums(feature: AnyFeature): boolean {
  const ir = feature.ir;
  if (ir.kind === 'aggregation') return FLOAT_SUMS.has(ir.aggregation.fn);
  return feature.inputs.some(restsOnFloatSums);
}

/**
 * The values a float-sum feature may take: those of the reference intermediate with its sums moved
 * by the most `intermediatesEqual` allows, `2 (n - 1) 2^-53 * sum|x|` (the same relative slack on
 * the sum of squares). Finalizing is monotone in each sum, so the corners bound the range.
 */
function toleranceRange(ir: FeatureIR, m: Moments): [number, number] {
  const slack = 2 * Math.max(m.n - 1, 0) * 2 ** -53;
  const corners = [-1, 1].flatMap((s) =>
    [-1, 1].map(
      (t) =>
        featureValue(ir, {
          ...m,
          sum: m.sum + s * slack * m.sumAbs,
          ...(m.sumSq === undefined ? {} : { sumSq: m.sumSq * (1 + t * slack) }),
        }) as number,
    ),
  );
  return [Math.min(...corners), Math.max(...corners)];
}

/** A short description of a feature definition. */
export function describeFeature(feature: AnyFeature): string {
  const ir = feature.ir;
  if (ir.kind === 'derived') return `derived: ${describeExpr(ir.expr)}`;
  if (ir.kind === 'request')
    return `request-time: (request, ${ir.inputs.map((i) => i.name).join(', ')})`;
  const value = ir.value === null ? '' : describeExpr(ir.value);
  const where = ir.where === null ? '' : ` where ${describeExpr(ir.where)}`;
  const window =
    ir.window.kind === 'lifetime'
      ? 'lifetime'
      : ir.window.kind === 'ttl'
        ? `ttl ${duration(ir.window.length)}`
        : `window ${duration(ir.window.length)}, hop ${duration(ir.window.hop)}`;
  const fallback = ir.default === null ? '' : `, default ${JSON.stringify(ir.default)}`;
  return `${ir.aggregation.fn}(${value})${where}, ${window}${fallback}`;
}

/** `7d`, `24h`, `5m`. */
function duration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Display form: floats to 2 decimals. */
export function formatValue(value: Value, type: string): string {
  if (Array.isArray(value)) return `[${value.map((v) => formatValue(v, type)).join(', ')}]`;
  if (typeof value === 'number') return type === 'float' ? value.toFixed(2) : String(value);
  return value === null ? 'null' : String(value);
}
