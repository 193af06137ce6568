import { describe, expect, it } from 'vitest';
import {
  coalesce,
  describeExpr,
  Expr,
  type ExprNode,
  isTandemError,
  lit,
  type NumericType,
  nullOf,
  type TandemErrorCode,
  toExpr,
  type ValueType,
  when,
} from '../index.js';

function column<T extends ValueType>(name: string, type: T): Expr<T> {
  return new Expr<T>({ kind: 'column', name, type });
}

const amount = column('amount', 'float');
const n = column('n', 'int');
const name = column('name', 'string');
const flag = column('flag', 'bool');

/** Runs `f`, expecting a TandemError with `code` and `path`; returns it. */
function expectError(f: () => unknown, code: TandemErrorCode, path?: string): Error {
  let caught: unknown;
  try {
    f();
  } catch (error) {
    caught = error;
  }
  expect(isTandemError(caught, code), String(caught)).toBe(true);
  expect((caught as { path?: string }).path).toBe(path);
  if (path !== undefined) expect((caught as Error).message.startsWith(`${path}: `)).toBe(true);
  return caught as Error;
}

describe('literals', () => {
  it('types integers as int and other numbers as float', () => {
    expect(lit(3).type).toBe('int');
    expect(lit(-0).type).toBe('int');
    expect(lit(Number.MAX_SAFE_INTEGER).type).toBe('int');
    expect(lit(2 ** 53).type).toBe('float');
    expect(lit(3.5).type).toBe('float');
    expect(lit(1e100).type).toBe('float');
    expect(lit('a').type).toBe('string');
    expect(lit(false).type).toBe('bool');
    expect(nullOf('string').node).toEqual({ kind: 'literal', value: null, type: 'string' });
  });

  it('rejects non-finite numbers with INVALID_ARGUMENT', () => {
    expectError(() => lit(Number.NaN), 'INVALID_ARGUMENT');
    expectError(() => lit(Number.POSITIVE_INFINITY), 'INVALID_ARGUMENT');
    expectError(() => amount.add(Number.NEGATIVE_INFINITY), 'INVALID_ARGUMENT');
  });

  it('toExpr wraps literals, passes expressions through and rejects anything else', () => {
    expect(toExpr(amount)).toBe(amount);
    expect(toExpr(1).node).toEqual({ kind: 'literal', value: 1, type: 'int' });
    expectError(() => toExpr(undefined as never), 'INVALID_ARGUMENT');
    expectError(() => toExpr(null as never), 'INVALID_ARGUMENT');
    expectError(() => amount.add({} as never), 'INVALID_ARGUMENT');
  });
});

describe('result types', () => {
  it('arithmetic is int only when both operands are int; div, log, exp are float', () => {
    expect(n.add(1).type).toBe('int');
    expect(n.sub(n).type).toBe('int');
    expect(n.mul(2.5).type).toBe('float');
    expect(amount.add(n).type).toBe('float');
    expect(n.div(n).type).toBe('float');
    expect(n.neg().type).toBe('int');
    expect(n.abs().type).toBe('int');
    expect(amount.neg().type).toBe('float');
    expect(n.log().type).toBe('float');
    expect(n.exp().type).toBe('float');
  });

  it('clip keeps int only with integer bounds', () => {
    expect(n.clip(0, 10).type).toBe('int');
    expect(n.clip(0, 0.5).type).toBe('float');
    expect(amount.clip(0, 10).type).toBe('float');
    expect(n.clip(-1, -1).node).toEqual({
      kind: 'call',
      op: 'clip',
      args: [n.node, { kind: 'literal', value: -1, type: 'int' }, lit(-1).node],
      type: 'int',
    });
  });

  it('comparisons and logic are bool; coalesce and case widen numbers to float', () => {
    expect(n.lt(amount).type).toBe('bool');
    expect(name.gte('a').type).toBe('bool');
    expect(flag.eq(true).type).toBe('bool');
    expect(flag.and(true).or(flag).not().type).toBe('bool');
    expect(coalesce(n, n).type).toBe('int');
    expect(coalesce(n, amount).type).toBe('float');
    expect(coalesce(nullOf('int'), 1).type).toBe('int');
    expect(n.ifNull(0.5).type).toBe('float');
    expect(name.ifNull('x').type).toBe('string');
    expect(when(flag, 1).otherwise(2).type).toBe('int');
    expect(when<NumericType>(flag, n).otherwise(amount).type).toBe('float');
    expect(when(flag, name).otherwise(nullOf('string')).type).toBe('string');
  });

  it('casts', () => {
    expect(amount.cast('int').type).toBe('int');
    expect(flag.cast('int').node).toEqual({
      kind: 'call',
      op: 'to_int',
      args: [flag.node],
      type: 'int',
    });
    expect(n.cast('float').node).toMatchObject({ op: 'to_float', type: 'float' });
    expect(flag.cast('float').type).toBe('float');
    expect(n.cast('string').node).toMatchObject({ op: 'to_string', type: 'string' });
    expect(flag.cast('string').type).toBe('string');
    expect(name.cast('string').type).toBe('string');
  });
});

describe('IR', () => {
  it('is plain data in argument order', () => {
    expect(amount.add(1).mul(n).node).toEqual({
      kind: 'call',
      op: 'mul',
      args: [
        {
          kind: 'call',
          op: 'add',
          args: [amount.node, { kind: 'literal', value: 1, type: 'int' }],
          type: 'float',
        },
        n.node,
      ],
      type: 'float',
    });
    const node = when(flag, 1).when(amount.gt(0), 2).otherwise(3).node;
    expect(node).toEqual({
      kind: 'case',
      branches: [
        { when: flag.node, result: lit(1).node },
        { when: amount.gt(0).node, result: lit(2).node },
      ],
      otherwise: lit(3).node,
      type: 'int',
    } satisfies ExprNode);
    expect(JSON.parse(JSON.stringify(node))).toEqual(node);
  });

  it('isNotNull is not(is_null(x)); ifNull is coalesce', () => {
    expect(amount.isNotNull().node).toEqual({
      kind: 'call',
      op: 'not',
      args: [{ kind: 'call', op: 'is_null', args: [amount.node], type: 'bool' }],
      type: 'bool',
    });
    expect(amount.ifNull(0).node).toEqual(coalesce(amount, 0).node);
  });

  it('case builders are immutable', () => {
    const first = when(flag, 1);
    first.when(flag.not(), 2);
    const expr = first.otherwise(0);
    expect(expr.node.kind === 'case' && expr.node.branches.length).toBe(1);
  });

  it('describeExpr renders a readable path', () => {
    expect(describeExpr(amount.add(1).node)).toBe('add(amount, 1)');
    expect(describeExpr(name.eq('x').node)).toBe('eq(name, "x")');
    expect(describeExpr(when(flag, 1).otherwise(nullOf('int')).node)).toBe(
      'case(flag -> 1, else null)',
    );
  });
});

describe('type errors: TYPE_MISMATCH naming the offending operand', () => {
  it('arithmetic on non-numbers', () => {
    expectError(() => name.add(1), 'TYPE_MISMATCH', 'name');
    expectError(() => amount.add(name as never), 'TYPE_MISMATCH', 'name');
    expectError(() => amount.sub('x' as never), 'TYPE_MISMATCH', '"x"');
    expectError(() => flag.mul(2), 'TYPE_MISMATCH', 'flag');
    expectError(() => amount.div(flag as never), 'TYPE_MISMATCH', 'flag');
    expectError(() => name.div(2), 'TYPE_MISMATCH', 'name');
    expectError(() => name.neg(), 'TYPE_MISMATCH', 'name');
    expectError(() => flag.abs(), 'TYPE_MISMATCH', 'flag');
    expectError(() => name.log(), 'TYPE_MISMATCH', 'name');
    expectError(() => flag.exp(), 'TYPE_MISMATCH', 'flag');
    expectError(() => name.clip(0, 1), 'TYPE_MISMATCH', 'name');
    // The path is the whole offending subexpression.
    expectError(
      () => amount.add(name.ifNull('x') as never),
      'TYPE_MISMATCH',
      'coalesce(name, "x")',
    );
  });

  it('comparisons of different types', () => {
    // @ts-expect-error numbers compare with numbers only
    expectError(() => amount.eq('1'), 'TYPE_MISMATCH', '"1"');
    expectError(() => name.lt(1 as never), 'TYPE_MISMATCH', '1');
    expectError(() => flag.gte(n as never), 'TYPE_MISMATCH', 'n');
    expectError(() => n.ne(flag as never), 'TYPE_MISMATCH', 'flag');
    expectError(() => name.gt(flag as never), 'TYPE_MISMATCH', 'flag');
  });

  it('logic on non-bools', () => {
    expectError(() => amount.and(flag), 'TYPE_MISMATCH', 'amount');
    // @ts-expect-error AND takes a bool
    expectError(() => flag.or(1), 'TYPE_MISMATCH', '1');
    expectError(() => n.not(), 'TYPE_MISMATCH', 'n');
    expectError(() => when(amount as never, 1), 'TYPE_MISMATCH', 'amount');
    expectError(() => when(flag, 1).when(name as never, 2), 'TYPE_MISMATCH', 'name');
  });

  it('coalesce and case with incompatible operands', () => {
    expectError(() => coalesce<ValueType>(amount, name), 'TYPE_MISMATCH', 'name');
    expectError(() => coalesce<ValueType>(name, flag, name), 'TYPE_MISMATCH', 'flag');
    expectError(() => name.ifNull(1 as never), 'TYPE_MISMATCH', '1');
    expectError(() => when(flag, 1).otherwise('x' as never), 'TYPE_MISMATCH', '"x"');
    expectError(
      () => when<ValueType>(flag, name).when(flag, n).otherwise(nullOf('string')),
      'TYPE_MISMATCH',
      'n',
    );
    expectError(() => coalesce(), 'INVALID_ARGUMENT');
  });

  it('casts that are not allowed', () => {
    expectError(() => name.cast('int'), 'TYPE_MISMATCH', 'name');
    expectError(() => name.cast('float'), 'TYPE_MISMATCH', 'name');
    // Floats do not render to strings: cast to int first.
    const e = expectError(() => amount.cast('string'), 'TYPE_MISMATCH', 'amount');
    expect(e.message).toContain('int, string, bool');
    expectError(() => n.mul(0.5).cast('string'), 'TYPE_MISMATCH', 'mul(n, 0.5)');
  });
});

describe('clip bounds: INVALID_ARGUMENT', () => {
  it.each([
    [1, 0],
    [Number.NaN, 1],
    [0, Number.NaN],
    [Number.NEGATIVE_INFINITY, 0],
    [0, Number.POSITIVE_INFINITY],
  ])('rejects [%d, %d]', (min, max) => {
    expectError(() => amount.clip(min, max), 'INVALID_ARGUMENT', 'amount');
  });
});
