import { TandemError } from '../errors/errors.js';
import type { ExprNode, ExprOp } from './ir.js';
import { isNumericType, type NumericType, type ValueType } from './types.js';

/** Anything usable where an expression of type `T` is expected: an {@link Expr} or a literal. */
export type ExprLike<T extends ValueType> =
  | Expr<T>
  | (T extends NumericType
      ? number
      : T extends 'string'
        ? string
        : T extends 'bool'
          ? boolean
          : never);

/** Result type of arithmetic on `A` and `B`: `int` only when both are `int`. */
export type ArithmeticResult<A extends ValueType, B extends ValueType> = A extends 'int'
  ? B extends 'int'
    ? 'int'
    : 'float'
  : 'float';

/** Value types an expression can be cast to. */
export type CastTarget = 'int' | 'float' | 'string';

/**
 * A typed expression. Build one from a source column (`source.fields.amount`), a feature
 * reference ({@link ref}) or a literal ({@link lit}), then combine with the methods below. The
 * IR in {@link Expr.node} is what both compilers (SQL and JS) evaluate.
 */
export class Expr<T extends ValueType = ValueType> {
  /** Phantom marker of the value type, for inference only. */
  declare readonly $type: T;
  /** The IR node. */
  readonly node: ExprNode;

  /** @internal Use {@link lit}, {@link ref} or a source's `fields` instead. */
  constructor(node: ExprNode) {
    this.node = node;
  }

  /** The value type. */
  get type(): T {
    return this.node.type as T;
  }

  /** `this + other`. */
  add<U extends NumericType>(other: ExprLike<U>): Expr<ArithmeticResult<T, U>> {
    return arithmetic('add', this, other);
  }
  /** `this - other`. */
  sub<U extends NumericType>(other: ExprLike<U>): Expr<ArithmeticResult<T, U>> {
    return arithmetic('sub', this, other);
  }
  /** `this * other`. */
  mul<U extends NumericType>(other: ExprLike<U>): Expr<ArithmeticResult<T, U>> {
    return arithmetic('mul', this, other);
  }
  /** Safe division: `this / other`, null when `other` is zero. */
  div(other: ExprLike<NumericType>): Expr<'float'> {
    const right = toExpr(other);
    requireNumeric('div', [this, right]);
    return call('div', [this, right], 'float');
  }
  /** `-this`. */
  neg(): Expr<T> {
    requireNumeric('neg', [this]);
    return call('neg', [this], this.type);
  }
  /** Absolute value. */
  abs(): Expr<T> {
    requireNumeric('abs', [this]);
    return call('abs', [this], this.type);
  }
  /** Natural logarithm; null when `this <= 0`. */
  log(): Expr<'float'> {
    requireNumeric('log', [this]);
    return call('log', [this], 'float');
  }
  /** `e ** this`. */
  exp(): Expr<'float'> {
    requireNumeric('exp', [this]);
    return call('exp', [this], 'float');
  }
  /** Clamps into `[min, max]`; null stays null. Bounds are finite number literals, `min <= max`. */
  clip(min: number, max: number): Expr<T extends 'int' ? 'float' | 'int' : 'float'> {
    requireNumeric('clip', [this]);
    if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
      throw new TandemError(
        'INVALID_ARGUMENT',
        `clip bounds must be finite numbers with min <= max, got [${min}, ${max}]`,
        { path: describeExpr(this.node) },
      );
    }
    const type =
      this.type === 'int' && Number.isInteger(min) && Number.isInteger(max) ? 'int' : 'float';
    return call('clip', [this, numberLiteral(min), numberLiteral(max)], type) as never;
  }
  /** `this = other` (null when either is null). */
  eq(other: ExprLike<ComparableWith<T>>): Expr<'bool'> {
    return comparison('eq', this, other);
  }
  /** `this <> other`. */
  ne(other: ExprLike<ComparableWith<T>>): Expr<'bool'> {
    return comparison('ne', this, other);
  }
  /** `this < other`; strings compare by Unicode code point (bytewise UTF-8, SQL `COLLATE "C"`). */
  lt(other: ExprLike<ComparableWith<T>>): Expr<'bool'> {
    return comparison('lt', this, other);
  }
  /** `this <= other`. */
  lte(other: ExprLike<ComparableWith<T>>): Expr<'bool'> {
    return comparison('le', this, other);
  }
  /** `this > other`. */
  gt(other: ExprLike<ComparableWith<T>>): Expr<'bool'> {
    return comparison('gt', this, other);
  }
  /** `this >= other`. */
  gte(other: ExprLike<ComparableWith<T>>): Expr<'bool'> {
    return comparison('ge', this, other);
  }
  /** Three-valued `AND`. */
  and(other: ExprLike<'bool'>): Expr<'bool'> {
    return logical('and', this, other);
  }
  /** Three-valued `OR`. */
  or(other: ExprLike<'bool'>): Expr<'bool'> {
    return logical('or', this, other);
  }
  /** Three-valued `NOT`. */
  not(): Expr<'bool'> {
    requireType('not', [this], 'bool');
    return call('not', [this], 'bool');
  }
  /** True when the value is null; never null itself. */
  isNull(): Expr<'bool'> {
    return call('is_null', [this], 'bool');
  }
  /** True when the value is not null. */
  isNotNull(): Expr<'bool'> {
    return this.isNull().not();
  }
  /** This value, or `fallback` when it is null. */
  ifNull<U extends ValueType>(fallback: ExprLike<U>): Expr<CommonType<T, U>> {
    return coalesce(this, fallback as never) as never;
  }
  /**
   * Casts: `int` truncates a float toward zero and maps `true/false` to `1/0`; `float` widens an
   * int or maps a bool; `string` renders an int or bool (`'true'`, `'false'`).
   */
  cast<C extends CastTarget>(target: C): Expr<C> {
    const allowed: Record<CastTarget, readonly ValueType[]> = {
      int: ['int', 'float', 'bool'],
      float: ['int', 'float', 'bool'],
      string: ['int', 'string', 'bool'],
    };
    if (!allowed[target].includes(this.type)) {
      throw new TandemError(
        'TYPE_MISMATCH',
        `cannot cast ${this.type} to ${target} (allowed from: ${allowed[target].join(', ')})`,
        { path: describeExpr(this.node) },
      );
    }
    const op: ExprOp = target === 'int' ? 'to_int' : target === 'float' ? 'to_float' : 'to_string';
    return call(op, [this], target);
  }
}

/** Types comparable with `T`: numbers with numbers, otherwise the same type. */
export type ComparableWith<T extends ValueType> = T extends NumericType ? NumericType : T;

/** The common type of two expression types (numbers widen to float). */
export type CommonType<A extends ValueType, B extends ValueType> = A extends NumericType
  ? B extends NumericType
    ? ArithmeticResult<A, B>
    : never
  : A;

/** A literal expression. Integers are `int`, other numbers `float`. */
export function lit(value: number): Expr<'int' | 'float'>;
/** A string literal. */
export function lit(value: string): Expr<'string'>;
/** A boolean literal. */
export function lit(value: boolean): Expr<'bool'>;
export function lit(value: number | string | boolean): Expr {
  if (typeof value === 'number') return numberLiteral(value);
  return new Expr({ kind: 'literal', value, type: typeof value === 'string' ? 'string' : 'bool' });
}

/** A typed null literal. */
export function nullOf<T extends ValueType>(type: T): Expr<T> {
  return new Expr({ kind: 'literal', value: null, type });
}

/** The first non-null argument. All arguments share a type (numbers widen to float). */
export function coalesce<T extends ValueType>(...args: ExprLike<T>[]): Expr<T> {
  if (args.length === 0) {
    throw new TandemError('INVALID_ARGUMENT', 'coalesce needs at least one argument');
  }
  const exprs = args.map(toExpr);
  return call('coalesce', exprs, commonType('coalesce', exprs)) as Expr<T>;
}

/** Begins a `CASE WHEN ... THEN ... ELSE ... END`; a null condition counts as false. */
export function when<T extends ValueType>(
  condition: ExprLike<'bool'>,
  result: ExprLike<T>,
): CaseBuilder<T> {
  return new CaseBuilder<T>([]).when(condition, result);
}

/** Builder of a case expression; finish it with {@link CaseBuilder.otherwise}. */
export class CaseBuilder<T extends ValueType> {
  readonly #branches: readonly { readonly when: Expr; readonly result: Expr }[];

  /** @internal Use {@link when}. */
  constructor(branches: readonly { readonly when: Expr; readonly result: Expr }[]) {
    this.#branches = branches;
  }

  /** Adds a branch. */
  when(condition: ExprLike<'bool'>, result: ExprLike<T>): CaseBuilder<T> {
    const cond = toExpr(condition);
    requireType('case', [cond], 'bool');
    return new CaseBuilder([...this.#branches, { when: cond, result: toExpr(result) }]);
  }

  /** The value when no branch matches; use {@link nullOf} for null. */
  otherwise(value: ExprLike<T>): Expr<T> {
    const otherwise = toExpr(value);
    const type = commonType('case', [...this.#branches.map((b) => b.result), otherwise]);
    return new Expr({
      kind: 'case',
      branches: this.#branches.map((b) => ({ when: b.when.node, result: b.result.node })),
      otherwise: otherwise.node,
      type,
    });
  }
}

/** Wraps a literal into an expression; passes expressions through. */
export function toExpr<T extends ValueType>(value: ExprLike<T>): Expr<T> {
  if (value instanceof Expr) return value;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
    return lit(value as never) as Expr<T>;
  }
  throw new TandemError(
    'INVALID_ARGUMENT',
    `expected an expression or a literal, got ${String(value)}`,
  );
}

/** A short human rendering of an expression, for error messages. */
export function describeExpr(node: ExprNode): string {
  switch (node.kind) {
    case 'column':
    case 'feature':
      return node.name;
    case 'literal':
      return JSON.stringify(node.value);
    case 'call':
      return `${node.op}(${node.args.map(describeExpr).join(', ')})`;
    case 'case':
      return `case(${node.branches.map((b) => `${describeExpr(b.when)} -> ${describeExpr(b.result)}`).join(', ')}, else ${describeExpr(node.otherwise)})`;
  }
}

function numberLiteral(value: number): Expr<'int' | 'float'> {
  if (!Number.isFinite(value)) {
    throw new TandemError('INVALID_ARGUMENT', `number literals must be finite, got ${value}`);
  }
  return new Expr({
    kind: 'literal',
    value,
    type: Number.isSafeInteger(value) ? 'int' : 'float',
  });
}

function call<T extends ValueType>(op: ExprOp, args: readonly Expr[], type: T): Expr<T> {
  return new Expr({ kind: 'call', op, args: args.map((a) => a.node), type });
}

function arithmetic(op: ExprOp, left: Expr, rightLike: ExprLike<NumericType>): Expr<never> {
  const right = toExpr(rightLike);
  requireNumeric(op, [left, right]);
  return call(
    op,
    [left, right],
    left.type === 'int' && right.type === 'int' ? 'int' : 'float',
  ) as never;
}

function comparison(op: ExprOp, left: Expr, rightLike: ExprLike<ValueType>): Expr<'bool'> {
  const right = toExpr(rightLike as ExprLike<ValueType>);
  commonType(op, [left, right]);
  return call(op, [left, right], 'bool');
}

function logical(op: ExprOp, left: Expr, rightLike: ExprLike<'bool'>): Expr<'bool'> {
  const right = toExpr(rightLike);
  requireType(op, [left, right], 'bool');
  return call(op, [left, right], 'bool');
}

function requireNumeric(op: string, args: readonly Expr[]): void {
  for (const arg of args) {
    if (!isNumericType(arg.type)) {
      throw new TandemError('TYPE_MISMATCH', `${op} expects numbers, got ${arg.type}`, {
        path: describeExpr(arg.node),
      });
    }
  }
}

function requireType(op: string, args: readonly Expr[], type: ValueType): void {
  for (const arg of args) {
    if (arg.type !== type) {
      throw new TandemError('TYPE_MISMATCH', `${op} expects ${type}, got ${arg.type}`, {
        path: describeExpr(arg.node),
      });
    }
  }
}

function commonType(op: string, args: readonly Expr[]): ValueType {
  const first = args[0]!;
  if (args.every((a) => isNumericType(a.type))) {
    return args.every((a) => a.type === 'int') ? 'int' : 'float';
  }
  const mismatch = args.find((a) => a.type !== first.type);
  if (mismatch !== undefined) {
    throw new TandemError(
      'TYPE_MISMATCH',
      `${op} needs operands of one type, got ${first.type} and ${mismatch.type}`,
      { path: describeExpr(mismatch.node) },
    );
  }
  return first.type;
}
