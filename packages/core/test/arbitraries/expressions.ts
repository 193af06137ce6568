/**
 * fast-check arbitraries for typed expression trees (built through the public builder, so every
 * generated tree is one a user could write) and for rows of every value type, plus the analysis of
 * Postgres plan-time constant folding that the SQL/JS parity property needs.
 */
import {
  coalesce,
  compileJs,
  Expr,
  type ExprNode,
  isTandemError,
  lit,
  type NumericType,
  nullOf,
  type ScalarValue,
  type ValueType,
  walkExpr,
  when,
} from '@tandem/core';
import fc from 'fast-check';

/** The columns every generated row has: two of each value type. */
export const EXPR_COLUMNS: readonly { readonly name: string; readonly type: ValueType }[] = [
  { name: 'i1', type: 'int' },
  { name: 'i2', type: 'int' },
  { name: 'f1', type: 'float' },
  { name: 'f2', type: 'float' },
  { name: 's1', type: 'string' },
  { name: 's2', type: 'string' },
  { name: 'b1', type: 'bool' },
  { name: 'b2', type: 'bool' },
];

/** One input row: column name -> value (null is SQL NULL). */
export type ExprRow = Readonly<Record<string, ScalarValue>>;

type NumExpr = Expr<NumericType>;
type StrExpr = Expr<'string'>;
type BoolExpr = Expr<'bool'>;

/** A column reference; the builder has no public column constructor outside sources. */
export function column<T extends ValueType>(name: string, type: T): Expr<T> {
  return new Expr<T>({ kind: 'column', name, type });
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** Integer-valued doubles: small, 32-bit, up to 1e15, up to 2^62 (exact only as doubles), huge. */
export const intValueArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -10, max: 10 }) },
  { weight: 3, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }).map(Number) },
  { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }).map(Number) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      0,
      -0,
      1,
      -1,
      2 ** 53,
      2 ** 53 + 2,
      2 ** 60,
      2 ** 63 - 1024, // the largest double below 2^63
      2 ** 63,
      -(2 ** 63),
      1e15,
      -1e15,
      1e100,
      -1e100,
    ),
  },
);

/** Doubles: fractional, -0, tiny, subnormal, huge (1e100, 1e308) and exp's overflow edges. */
export const floatValueArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 5, arbitrary: fc.double({ min: -100, max: 100, noNaN: true }) },
  { weight: 3, arbitrary: fc.integer({ min: -2000, max: 2000 }).map((i) => i / 8) },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.double({ min: -1e15, max: 1e15, noNaN: true }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      0,
      -0,
      0.5,
      -0.5,
      1.5,
      -2.5,
      0.1,
      Math.E,
      1e-300,
      -1e-300,
      Number.MIN_VALUE,
      1e15 + 0.5,
      1e100,
      -1e100,
      1e308,
      Number.MAX_VALUE,
      709.5,
      710,
      -740,
      -746,
    ),
  },
);

/**
 * Characters chosen around the UTF-16 / code point disagreement: BMP characters above the
 * surrogate range (U+E000..U+FFFF) sort after astral characters in UTF-16 but before them by code
 * point. U+0000 is excluded: Postgres text cannot hold it.
 */
const charArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'a',
      'b',
      'B',
      'z',
      '0',
      '1',
      '-',
      ' ',
      'é',
      'ß',
      '\u00ff',
      '\u0100',
      '\u07ff',
      '\u0800',
      '\ud7ff',
      '\ue000',
      '\uff5e',
      '\ufffd',
      '\uffff',
      '\u{10000}',
      '😀',
      '😁',
      '𝔸',
      '\u{10ffff}',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      .filter((c) => c !== '\u0000'),
  },
);

export const stringValueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: charArb, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'true', 'false', '0', '1', '-1', '10', '9') },
);

export const boolValueArb: fc.Arbitrary<boolean> = fc.boolean();

function nullable<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(null) });
}

const VALUE_ARB: Readonly<Record<ValueType, fc.Arbitrary<ScalarValue>>> = {
  int: intValueArb,
  float: floatValueArb,
  string: stringValueArb,
  bool: boolValueArb,
};

/** A row with a value (or null) for every column of {@link EXPR_COLUMNS}. */
export const exprRowArb: fc.Arbitrary<ExprRow> = fc.record(
  Object.fromEntries(EXPR_COLUMNS.map((c) => [c.name, nullable(VALUE_ARB[c.type])])),
);

// ---------------------------------------------------------------------------------------------
// Expression trees
// ---------------------------------------------------------------------------------------------

interface Gens {
  readonly num: fc.Arbitrary<NumExpr>;
  readonly string: fc.Arbitrary<StrExpr>;
  readonly bool: fc.Arbitrary<BoolExpr>;
}

const numLeaf: fc.Arbitrary<NumExpr> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      column('i1', 'int'),
      column('i2', 'int'),
      column('f1', 'float'),
      column('f2', 'float'),
    ) as fc.Arbitrary<NumExpr>,
  },
  { weight: 2, arbitrary: fc.oneof(intValueArb, floatValueArb).map((v) => lit(v)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('int', 'float').map((t) => nullOf(t) as NumExpr),
  },
);

const stringLeaf: fc.Arbitrary<StrExpr> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(column('s1', 'string'), column('s2', 'string')) },
  { weight: 2, arbitrary: stringValueArb.map((v) => lit(v)) },
  { weight: 1, arbitrary: fc.constant(nullOf('string')) },
);

const boolLeaf: fc.Arbitrary<BoolExpr> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(column('b1', 'bool'), column('b2', 'bool')) },
  { weight: 2, arbitrary: boolValueArb.map((v) => lit(v)) },
  { weight: 1, arbitrary: fc.constant(nullOf('bool')) },
);

/** Clip bounds: integers (an int input stays int) or fractions, `min <= max`. */
const clipBoundsArb: fc.Arbitrary<readonly [number, number]> = fc
  .tuple(
    fc.oneof(fc.integer({ min: -100, max: 100 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
    fc.oneof(fc.integer({ min: -100, max: 100 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
  )
  .map(([a, b]): readonly [number, number] => (a <= b ? [a, b] : [b, a]));

type Comparison = 'eq' | 'ne' | 'lt' | 'lte' | 'gt' | 'gte';
const comparisonArb = fc.constantFrom<Comparison>('eq', 'ne', 'lt', 'lte', 'gt', 'gte');

function caseOf<T extends ValueType>(
  cond: fc.Arbitrary<BoolExpr>,
  result: fc.Arbitrary<Expr<T>>,
): fc.Arbitrary<Expr<T>> {
  return fc
    .tuple(fc.array(fc.tuple(cond, result), { minLength: 1, maxLength: 3 }), result)
    .map(([branches, otherwise]) => {
      const [first, ...rest] = branches;
      let builder = when<T>(first![0], first![1]);
      for (const [c, r] of rest) builder = builder.when(c, r);
      return builder.otherwise(otherwise);
    });
}

function coalesceOf<T extends ValueType>(arb: fc.Arbitrary<Expr<T>>): fc.Arbitrary<Expr<T>> {
  return fc.oneof(
    fc.array(arb, { minLength: 1, maxLength: 3 }).map((args) => coalesce<T>(...args)),
    fc.tuple(arb, arb).map(([a, b]) => a.ifNull(b as never) as unknown as Expr<T>),
  );
}

/**
 * One level of operators over the arbitraries of the level below (`sub`) and two below
 * (`subsub`, for the builder calls that make two IR nodes: `isNotNull` is `not(is_null(x))`, and a
 * float renders to text as `to_string(to_int(x))`), so that a level-d tree has depth <= d.
 */
function level(sub: Gens, subsub: Gens | undefined): Gens {
  const anyExpr: fc.Arbitrary<Expr> = fc.oneof(
    sub.num as fc.Arbitrary<Expr>,
    sub.string as fc.Arbitrary<Expr>,
    sub.bool as fc.Arbitrary<Expr>,
  );
  const num: fc.Arbitrary<NumExpr> = fc.oneof(
    { weight: 6, arbitrary: numLeaf },
    { weight: 1, arbitrary: fc.tuple(sub.num, sub.num).map(([a, b]) => a.add(b)) },
    { weight: 1, arbitrary: fc.tuple(sub.num, sub.num).map(([a, b]) => a.sub(b)) },
    { weight: 1, arbitrary: fc.tuple(sub.num, sub.num).map(([a, b]) => a.mul(b)) },
    { weight: 1, arbitrary: fc.tuple(sub.num, sub.num).map(([a, b]) => a.div(b) as NumExpr) },
    { weight: 1, arbitrary: sub.num.map((a) => a.neg()) },
    { weight: 1, arbitrary: sub.num.map((a) => a.abs()) },
    { weight: 1, arbitrary: sub.num.map((a) => a.log() as NumExpr) },
    { weight: 1, arbitrary: sub.num.map((a) => a.exp() as NumExpr) },
    {
      weight: 1,
      arbitrary: fc.tuple(sub.num, clipBoundsArb).map(([a, [lo, hi]]) => a.clip(lo, hi) as NumExpr),
    },
    { weight: 1, arbitrary: coalesceOf(sub.num) },
    { weight: 1, arbitrary: caseOf(sub.bool, sub.num) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(sub.num as fc.Arbitrary<Expr<NumericType | 'bool'>>, sub.bool),
          fc.constantFrom('int', 'float'),
        )
        .map(([a, target]) => a.cast(target) as NumExpr),
    },
  );
  const string: fc.Arbitrary<StrExpr> = fc.oneof(
    { weight: 3, arbitrary: stringLeaf },
    { weight: 1, arbitrary: coalesceOf(sub.string) },
    { weight: 1, arbitrary: caseOf(sub.bool, sub.string) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          // Only ints render to strings: an int of this level, or a float two levels down cast.
          ...(subsub === undefined
            ? []
            : [
                subsub.num.map((a) => (a.type === 'int' ? a : a.cast('int'))) as fc.Arbitrary<
                  Expr<'int'>
                >,
              ]),
          sub.num.filter((a) => a.type === 'int') as fc.Arbitrary<Expr<'int'>>,
          sub.bool as fc.Arbitrary<Expr<'int' | 'bool' | 'string'>>,
          sub.string as fc.Arbitrary<Expr<'int' | 'bool' | 'string'>>,
        )
        .map((a) => a.cast('string')),
    },
  );
  const bool: fc.Arbitrary<BoolExpr> = fc.oneof(
    { weight: 5, arbitrary: boolLeaf },
    {
      weight: 2,
      arbitrary: fc.tuple(sub.num, comparisonArb, sub.num).map(([a, op, b]) => a[op](b)),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(sub.string, comparisonArb, sub.string).map(([a, op, b]) => a[op](b)),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(sub.bool, comparisonArb, sub.bool).map(([a, op, b]) => a[op](b)),
    },
    { weight: 1, arbitrary: fc.tuple(sub.bool, sub.bool).map(([a, b]) => a.and(b)) },
    { weight: 1, arbitrary: fc.tuple(sub.bool, sub.bool).map(([a, b]) => a.or(b)) },
    { weight: 1, arbitrary: sub.bool.map((a) => a.not()) },
    { weight: 1, arbitrary: anyExpr.map((a) => a.isNull()) },
    ...(subsub === undefined
      ? []
      : [
          {
            weight: 1,
            arbitrary: fc
              .oneof(
                subsub.num as fc.Arbitrary<Expr>,
                subsub.string as fc.Arbitrary<Expr>,
                subsub.bool as fc.Arbitrary<Expr>,
              )
              .map((a) => a.isNotNull()),
          },
        ]),
    { weight: 1, arbitrary: coalesceOf(sub.bool) },
    { weight: 1, arbitrary: caseOf(sub.bool, sub.bool) },
  );
  return { num, string, bool };
}

const LEAVES: Gens = { num: numLeaf, string: stringLeaf, bool: boolLeaf };

/** Expression arbitraries of each kind with at most `maxDepth` levels of operators. */
export function exprArbs(maxDepth: number): Gens {
  const levels: Gens[] = [LEAVES];
  for (let d = 1; d <= maxDepth; d++) levels.push(level(levels[d - 1]!, levels[d - 2]));
  return levels[maxDepth]!;
}

/**
 * Expressions of depth <= 3 that raise "value out of range" on many rows (exp of a column, a
 * product or sum of columns, an int rendered to text): the operand that lazy operators must not
 * evaluate when they do not need it.
 */
function riskyArbs(): {
  readonly num: fc.Arbitrary<NumExpr>;
  readonly bool: fc.Arbitrary<BoolExpr>;
} {
  const cols = fc.constantFrom(
    column('i1', 'int'),
    column('i2', 'int'),
    column('f1', 'float'),
    column('f2', 'float'),
  ) as fc.Arbitrary<NumExpr>;
  const num: fc.Arbitrary<NumExpr> = fc.oneof(
    cols.map((a) => a.exp() as NumExpr),
    fc.tuple(cols, cols).map(([a, b]) => a.mul(b)),
    fc.tuple(cols, cols).map(([a, b]) => a.add(b)),
    fc.tuple(cols, cols).map(([a, b]) => a.div(b) as NumExpr),
  );
  const bool: fc.Arbitrary<BoolExpr> = fc.oneof(
    fc.tuple(num, comparisonArb, numLeaf).map(([a, op, b]) => a[op](b)),
    fc
      .tuple(fc.constant(column('i1', 'int').mul(column('i2', 'int')).cast('string')), stringLeaf)
      .map(([a, b]) => a.lt(b)),
  );
  return { num, bool };
}

/**
 * A lazy operator (AND, OR, CASE, COALESCE) whose later operand is risky (see {@link riskyArbs}):
 * both engines must skip it exactly when the earlier operands decide the result.
 */
export function guardedExprArb(): fc.Arbitrary<Expr> {
  const sub = exprArbs(2);
  const risky = riskyArbs();
  return fc.oneof(
    fc.tuple(sub.bool, risky.bool).map(([a, b]) => a.and(b) as Expr),
    fc.tuple(sub.bool, risky.bool).map(([a, b]) => a.or(b) as Expr),
    fc.tuple(sub.bool, risky.num, sub.num).map(([c, r, o]) => when(c, r).otherwise(o) as Expr),
    fc
      .tuple(sub.bool, sub.num, sub.bool, risky.num, sub.num)
      .map(([c1, r1, c2, r2, o]) => when(c1, r1).when(c2, r2).otherwise(o) as Expr),
    fc.tuple(sub.num, risky.num).map(([a, b]) => coalesce<NumericType>(a, b) as Expr),
    fc.tuple(sub.bool, risky.bool).map(([a, b]) => coalesce<'bool'>(a, b) as Expr),
  );
}

/**
 * Any expression (number, string or bool valued) with at most `maxDepth` (>= 3) operator
 * levels; one in six is a {@link guardedExprArb}.
 */
export function exprArb(maxDepth = 4): fc.Arbitrary<Expr> {
  const gens = exprArbs(maxDepth);
  return fc.oneof(
    { weight: 4, arbitrary: gens.num as fc.Arbitrary<Expr> },
    { weight: 2, arbitrary: gens.string as fc.Arbitrary<Expr> },
    { weight: 4, arbitrary: gens.bool as fc.Arbitrary<Expr> },
    { weight: 2, arbitrary: guardedExprArb() },
  );
}

/** Operator levels of a tree (a leaf has depth 0). */
export function exprDepth(node: ExprNode): number {
  switch (node.kind) {
    case 'column':
    case 'feature':
    case 'literal':
      return 0;
    case 'call':
      return 1 + Math.max(0, ...node.args.map(exprDepth));
    case 'case':
      return (
        1 +
        Math.max(
          exprDepth(node.otherwise),
          ...node.branches.flatMap((b) => [exprDepth(b.when), exprDepth(b.result)]),
        )
      );
  }
}

/** True when the tree applies `log` or `exp` (libm results may differ in the last ulp). */
export function usesLibm(node: ExprNode): boolean {
  let found = false;
  walkExpr(node, (n) => {
    if (n.kind === 'call' && (n.op === 'log' || n.op === 'exp')) found = true;
  });
  return found;
}

/** Every operator (and `case`) that occurs in the tree. */
export function operatorsOf(node: ExprNode): Set<string> {
  const ops = new Set<string>();
  walkExpr(node, (n) => {
    if (n.kind === 'call') ops.add(n.op);
    if (n.kind === 'case') ops.add('case');
  });
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Postgres plan-time constant folding
// ---------------------------------------------------------------------------------------------

/**
 * Postgres' planner (`eval_const_expressions`) rewrites a compiled expression before any row is
 * read: literal-only subtrees become constants, and some constants make a non-constant sibling
 * irrelevant, which is then dropped unevaluated:
 *
 * - a strict operator with a constant-NULL argument is NULL (a constant zero divisor counts: the
 *   compiled `a / NULLIF(b, 0)` turns it into NULL);
 * - `x AND <false>` is false, `x OR <true>` is true (whatever side the constant is on);
 * - a CASE branch whose condition is constant false or null is dropped, a constant true one ends
 *   the CASE; COALESCE drops constant NULLs and ends at the first constant non-null.
 *
 * {@link foldLikePlanner} applies exactly these rewrites to the IR. Evaluating the folded IR in JS
 * gives what Postgres computes, errors included; the original IR gives the same values, but may
 * raise where the planner dropped a raising subexpression (the JS evaluator cannot drop it: for a
 * NULL that comes from a row, Postgres evaluates it too).
 *
 * `constantThrows` marks a literal-only subtree that raises "value out of range". The planner
 * evaluates such a subtree once at plan time wherever it is, e.g. in a CASE branch no row takes,
 * so the whole statement fails although no row needs it. The parity property leaves these trees
 * out: an overflowing constant is a definition mistake, not data-dependent behaviour, and a
 * row-by-row evaluator cannot mirror a plan-time failure.
 */
export interface PlannerFolding {
  /** The IR as the planner leaves it. */
  readonly node: ExprNode;
  /** Some literal-only subtree raises (see above). */
  readonly constantThrows: boolean;
  /** The planner dropped a non-constant subexpression that rows would have evaluated. */
  readonly hidesErrors: boolean;
}

interface FoldState {
  constantThrows: boolean;
  hidesErrors: boolean;
}

/** A folded subtree: its IR and, when it is a constant, the value. */
type Folded =
  | { readonly node: ExprNode; readonly constant: true; readonly value: ScalarValue }
  | { readonly node: ExprNode; readonly constant: false };

const NO_SCOPE = {
  column: (): never => {
    throw new Error('a constant subtree read a column');
  },
  feature: (): never => {
    throw new Error('a constant subtree read a feature');
  },
};

/** Folds `node` as Postgres' planner does; see {@link PlannerFolding}. */
export function foldLikePlanner(node: ExprNode): PlannerFolding {
  const state: FoldState = { constantThrows: false, hidesErrors: false };
  const folded = fold(node, state);
  return { node: folded.node, ...state };
}

function constant(value: ScalarValue, type: ValueType): Folded {
  return { node: { kind: 'literal', value, type }, constant: true, value };
}

function variable(node: ExprNode): Folded {
  return { node, constant: false };
}

/** Evaluates a call whose arguments are all constants (already folded to literals). */
function evaluateConstant(node: Extract<ExprNode, { kind: 'call' }>, state: FoldState): Folded {
  try {
    return constant(compileJs(node)(NO_SCOPE), node.type);
  } catch (error) {
    if (!isTandemError(error, 'VALUE_OUT_OF_RANGE')) throw error;
    state.constantThrows = true;
    return variable(node);
  }
}

function fold(node: ExprNode, state: FoldState): Folded {
  switch (node.kind) {
    case 'column':
    case 'feature':
      return variable(node);
    case 'literal':
      return constant(node.value, node.type);
    case 'case':
      return foldCase(node, state);
    case 'call':
      return foldCall(node, state);
  }
}

function foldCase(node: Extract<ExprNode, { kind: 'case' }>, state: FoldState): Folded {
  const kept: { when: ExprNode; result: ExprNode }[] = [];
  let otherwise: Folded | undefined;
  for (const branch of node.branches) {
    const condition = fold(branch.when, state);
    if (condition.constant) {
      // False or null: dropped, its result never folded. True: the CASE ends here.
      if (condition.value !== true) continue;
      otherwise = fold(branch.result, state);
      break;
    }
    kept.push({ when: condition.node, result: fold(branch.result, state).node });
  }
  otherwise ??= fold(node.otherwise, state);
  if (kept.length === 0) return otherwise;
  return variable({ kind: 'case', branches: kept, otherwise: otherwise.node, type: node.type });
}

function foldCall(node: Extract<ExprNode, { kind: 'call' }>, state: FoldState): Folded {
  const withArgs = (args: readonly Folded[]): Extract<ExprNode, { kind: 'call' }> => ({
    ...node,
    args: args.map((a) => a.node),
  });
  switch (node.op) {
    case 'and':
    case 'or': {
      const dominant = node.op === 'or';
      const left = fold(node.args[0]!, state);
      // A deciding left operand: rows stop there too, nothing is hidden.
      if (left.constant && left.value === dominant) return constant(dominant, 'bool');
      const right = fold(node.args[1]!, state);
      if (right.constant && right.value === dominant) {
        if (!left.constant) state.hidesErrors = true;
        return constant(dominant, 'bool');
      }
      const call = withArgs([left, right]);
      return left.constant && right.constant ? evaluateConstant(call, state) : variable(call);
    }
    case 'coalesce': {
      // Rows also stop at the first non-null, so nothing is hidden.
      const kept: Folded[] = [];
      for (const arg of node.args) {
        const folded = fold(arg, state);
        if (folded.constant && folded.value === null) continue;
        if (folded.constant && kept.length === 0) return folded;
        kept.push(folded);
        if (folded.constant) break;
      }
      return kept.length === 0 ? constant(null, node.type) : variable(withArgs(kept));
    }
    case 'clip': {
      // `CASE WHEN a IS NULL THEN NULL ELSE LEAST(GREATEST(a, lo), hi) END`; the bounds are
      // literals.
      const arg = fold(node.args[0]!, state);
      const call: Extract<ExprNode, { kind: 'call' }> = {
        ...node,
        args: [arg.node, ...node.args.slice(1)],
      };
      return arg.constant ? evaluateConstant(call, state) : variable(call);
    }
    default: {
      // Strict operators (`is_null` and `not` have one argument, so strictness never hides).
      const args = node.args.map((arg) => fold(arg, state));
      const divisor = args[1];
      const nullDivisor =
        node.op === 'div' &&
        divisor?.constant === true &&
        (divisor.value === null || divisor.value === 0);
      if (args.every((a) => a.constant)) return evaluateConstant(withArgs(args), state);
      if (nullDivisor || args.some((a) => a.constant && a.value === null)) {
        state.hidesErrors = true;
        return constant(null, node.type);
      }
      return variable(withArgs(args));
    }
  }
}
