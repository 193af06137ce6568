/** How two methods' values compare on the rows where their semantics agree. */
export interface Agreement {
  /** Rows compared. */
  readonly compared: number;
  /** Rows left out because the two semantics differ there (see `excludedBecause`). */
  readonly excluded: number;
  /** Why rows were left out. */
  readonly excludedBecause: string;
  /** Compared rows whose values differ (beyond the float-sum tolerance where one applies). */
  readonly mismatches: number;
  /** A few mismatching rows: `[row_id, a, b]` (null for NaN). */
  readonly examples: readonly (readonly [number, number | null, number | null])[];
}

/** How two values of one feature compare. */
export type Comparison = 'exact' | 'float-sum' | 'float-mean';

const EPSILON = 2 ** -53;

function agree(a: number, b: number, how: Comparison, n: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b || how === 'exact') return a === b;
  // DESIGN §3: float sums may differ by summation order within 2 (n - 1) 2^-53 sum|x|; the
  // amounts are non-negative, so sum|x| is the sum itself. A mean is that sum over n.
  const scale = Math.max(Math.abs(a), Math.abs(b));
  const bound = 2 * Math.max(n - 1, 0) * EPSILON * scale;
  return Math.abs(a - b) <= bound + (how === 'float-mean' ? 2 * EPSILON * scale : 0);
}

/**
 * Compares two columns of values by row (NaN is null). `skip(i)` leaves row `i` out; `count(i)`
 * gives the number of summed values for the float tolerance.
 */
export function compareColumns(
  a: Float64Array,
  b: Float64Array,
  options: {
    how: Comparison;
    skip?: (i: number) => boolean;
    count?: (i: number) => number;
    excludedBecause?: string;
  },
): Agreement {
  let compared = 0;
  let excluded = 0;
  let mismatches = 0;
  const examples: [number, number | null, number | null][] = [];
  for (let i = 0; i < a.length; i++) {
    if (options.skip?.(i)) {
      excluded += 1;
      continue;
    }
    compared += 1;
    const x = a[i]!;
    const y = b[i]!;
    if (!agree(x, y, options.how, options.count?.(i) ?? 0)) {
      mismatches += 1;
      if (examples.length < 5) {
        examples.push([i + 1, Number.isNaN(x) ? null : x, Number.isNaN(y) ? null : y]);
      }
    }
  }
  return {
    compared,
    excluded,
    excludedBecause: options.excludedBecause ?? 'none',
    mismatches,
    examples,
  };
}

/** A column of `n` nulls (NaN). */
export function nullColumn(n: number): Float64Array {
  return new Float64Array(n).fill(Number.NaN);
}

/** A number or NaN for null (pg returns bigint and numeric as strings). */
export function toNumber(value: unknown): number {
  return value === null || value === undefined ? Number.NaN : Number(value);
}
