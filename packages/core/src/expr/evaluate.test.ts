import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  coalesce,
  compareCodePoints,
  compareScalars,
  compileJs,
  describeExpr,
  type EvalScope,
  Expr,
  type ExprNode,
  evaluate,
  isTandemError,
  lit,
  nullOf,
  type ScalarValue,
  type ValueType,
  when,
} from '../index.js';

const NUM_RUNS = 1000;

function column<T extends ValueType>(name: string, type: T): Expr<T> {
  return new Expr<T>({ kind: 'column', name, type });
}

const x = column('x', 'float');
const y = column('y', 'float');
const i = column('i', 'int');
const b = column('b', 'bool');
const c = column('c', 'bool');
const s = column('s', 'string');
const t = column('t', 'string');

function scope(values: Record<string, ScalarValue>, features: Record<string, ScalarValue> = {}) {
  return {
    column: (name: string) => {
      if (!(name in values)) throw new Error(`unexpected column ${name}`);
      return values[name] ?? null;
    },
    feature: (name: string) => {
      if (!(name in features)) throw new Error(`unexpected feature ${name}`);
      return features[name] ?? null;
    },
  } satisfies EvalScope;
}

function run(expr: Expr, values: Record<string, ScalarValue>): ScalarValue {
  return compileJs(expr.node)(scope(values));
}

/** Runs and expects VALUE_OUT_OF_RANGE naming `path` (default: the whole expression). */
function expectOutOfRange(expr: Expr, values: Record<string, ScalarValue>, path?: string): void {
  let caught: unknown;
  try {
    run(expr, values);
  } catch (error) {
    caught = error;
  }
  expect(isTandemError(caught, 'VALUE_OUT_OF_RANGE'), String(caught)).toBe(true);
  expect((caught as { path?: string }).path).toBe(path ?? describeExpr(expr.node));
}

describe('compileJs: leaves', () => {
  it('reads columns, features and literals', () => {
    const feature = new Expr<'float'>({ kind: 'feature', name: 'ratio', type: 'float' });
    const expr = feature.add(x);
    expect(compileJs(expr.node)(scope({ x: 1 }, { ratio: 0.5 }))).toBe(1.5);
    expect(compileJs(expr.node)(scope({ x: 1 }, { ratio: null }))).toBe(null);
    expect(run(lit('a'), {})).toBe('a');
    expect(run(nullOf('int'), {})).toBe(null);
  });

  it('evaluate() is compileJs() applied once', () => {
    const expr = x.mul(2).add(1);
    expect(evaluate(expr.node, scope({ x: 3 }))).toBe(7);
  });
});

describe('compileJs: arithmetic', () => {
  it('propagates null through every numeric operator', () => {
    for (const expr of [x.add(y), x.sub(y), x.mul(y), x.div(y)]) {
      expect(run(expr, { x: null, y: 1 })).toBe(null);
      expect(run(expr, { x: 1, y: null })).toBe(null);
    }
    for (const expr of [x.neg(), x.abs(), x.log(), x.exp(), x.clip(0, 1)]) {
      expect(run(expr, { x: null })).toBe(null);
    }
  });

  it('divides safely: x / 0 is null, for -0 too', () => {
    const q = x.div(y);
    expect(run(q, { x: 1, y: 0 })).toBe(null);
    expect(run(q, { x: 1, y: -0 })).toBe(null);
    expect(run(q, { x: 0, y: 0 })).toBe(null);
    expect(run(q, { x: 1, y: 4 })).toBe(0.25);
    expect(Object.is(run(q, { x: -0, y: 5 }), -0)).toBe(true);
    // int / int is a float division.
    expect(run(i.div(2), { i: 7 })).toBe(3.5);
  });

  it('raises VALUE_OUT_OF_RANGE where Postgres does, naming the operator', () => {
    expectOutOfRange(x.add(y), { x: Number.MAX_VALUE, y: Number.MAX_VALUE });
    expectOutOfRange(x.sub(y), { x: -Number.MAX_VALUE, y: Number.MAX_VALUE });
    expectOutOfRange(x.mul(y), { x: 1e200, y: 1e200 });
    // Multiplicative underflow: nonzero inputs, zero result.
    expectOutOfRange(x.mul(y), { x: 1e-200, y: 1e-200 });
    expectOutOfRange(x.div(y), { x: 1e300, y: 1e-300 });
    expectOutOfRange(x.div(y), { x: 1e-300, y: 1e300 });
    expectOutOfRange(x.exp(), { x: 710 });
    expectOutOfRange(x.exp(), { x: -746 });
    // The path names the failing node, not the root.
    expectOutOfRange(x.mul(y).add(1), { x: 1e200, y: 1e200 }, 'mul(x, y)');
  });

  it('does not raise where Postgres does not', () => {
    // Additive results may be zero, and subnormal results are fine.
    expect(run(x.sub(y), { x: 1e-300, y: 1e-300 })).toBe(0);
    expect(run(x.add(y), { x: Number.MAX_VALUE, y: -Number.MAX_VALUE })).toBe(0);
    expect(run(x.mul(y), { x: 1e-160, y: 1e-160 })).toBe(1e-160 * 1e-160);
    expect(run(x.mul(y), { x: 0, y: 1e-300 })).toBe(0);
    expect(run(x.div(y), { x: 1e-300, y: 1e10 })).toBe(1e-310);
    expect(run(x.div(y), { x: 0, y: 1e300 })).toBe(0);
    expect(run(x.exp(), { x: -745 })).toBe(Math.exp(-745));
    expect(run(x.exp(), { x: 709 })).toBe(Math.exp(709));
  });

  it('log is null for x <= 0', () => {
    for (const v of [0, -0, -1, -1e300]) expect(run(x.log(), { x: v })).toBe(null);
    expect(run(x.log(), { x: 1 })).toBe(0);
    expect(run(x.log(), { x: Math.E })).toBe(1);
  });

  it('neg, abs and clip', () => {
    expect(Object.is(run(x.neg(), { x: 0 }), -0)).toBe(true);
    expect(run(i.abs(), { i: -3 })).toBe(3);
    const clipped = x.clip(-1, 2.5);
    expect(run(clipped, { x: -5 })).toBe(-1);
    expect(run(clipped, { x: 5 })).toBe(2.5);
    expect(run(clipped, { x: 0.5 })).toBe(0.5);
    expect(run(clipped, { x: null })).toBe(null);
  });

  it('rejects hand-built IR whose clip bounds are not number literals', () => {
    const node: ExprNode = {
      kind: 'call',
      op: 'clip',
      args: [x.node, y.node, lit(1).node],
      type: 'float',
    };
    let caught: unknown;
    try {
      compileJs(node);
    } catch (error) {
      caught = error;
    }
    expect(isTandemError(caught, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('compileJs: comparisons', () => {
  it('compares numbers across int and float, bools false < true, null -> null', () => {
    expect(run(i.eq(x), { i: 1, x: 1 })).toBe(true);
    expect(run(x.lt(y), { x: -0, y: 0 })).toBe(false);
    expect(run(x.lte(y), { x: -0, y: 0 })).toBe(true);
    expect(run(b.lt(c), { b: false, c: true })).toBe(true);
    expect(run(b.gte(c), { b: false, c: true })).toBe(false);
    expect(run(x.ne(y), { x: null, y: 1 })).toBe(null);
    expect(run(s.eq(t), { s: 'a', t: null })).toBe(null);
  });

  it('orders strings by code point, not by UTF-16 unit', () => {
    // U+FFFF < U+1F600 by code point, although '\uffff' > '\ud83d' as UTF-16 units.
    expect(run(s.lt(t), { s: '\uffff', t: '😀' })).toBe(true);
    expect('\uffff' < '😀').toBe(false);
    expect(run(s.lt(t), { s: 'B', t: 'a' })).toBe(true);
    expect(run(s.lt(t), { s: 'a', t: 'ab' })).toBe(true);
    expect(run(s.eq(t), { s: 'é', t: 'e\u0301' })).toBe(false);
  });

  it('compareCodePoints agrees with bytewise UTF-8 order (property)', () => {
    const unit = fc.oneof(
      fc.constantFrom('a', 'B', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '😀', '\u{10ffff}'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 6 }), fc.string({ unit, maxLength: 6 }), (p, q) => {
        const bytes = Math.sign(Buffer.compare(Buffer.from(p, 'utf8'), Buffer.from(q, 'utf8')));
        expect(Math.sign(compareCodePoints(p, q))).toBe(bytes);
        expect(Math.sign(compareScalars(p, q))).toBe(bytes);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('compareScalars orders numbers and bools', () => {
    expect(compareScalars(1, 2)).toBeLessThan(0);
    expect(compareScalars(2, 2)).toBe(0);
    expect(compareScalars(-0, 0)).toBe(0);
    expect(compareScalars(true, false)).toBeGreaterThan(0);
  });
});

describe('compileJs: logic, coalesce and case', () => {
  const overflow = x.mul(1e300).gt(0);

  it('AND / OR are three-valued', () => {
    const values = [true, false, null] as const;
    for (const p of values) {
      for (const q of values) {
        const and = p === false || q === false ? false : p === null || q === null ? null : true;
        const or = p === true || q === true ? true : p === null || q === null ? null : false;
        expect(run(b.and(c), { b: p, c: q }), `${p} AND ${q}`).toBe(and);
        expect(run(b.or(c), { b: p, c: q }), `${p} OR ${q}`).toBe(or);
      }
      expect(run(b.not(), { b: p })).toBe(p === null ? null : !p);
    }
  });

  it('AND / OR evaluate left to right and stop at a deciding left operand', () => {
    expect(run(b.and(overflow), { b: false, x: 1e300 })).toBe(false);
    expectOutOfRange(b.and(overflow), { b: null, x: 1e300 }, 'mul(x, 1e+300)');
    expectOutOfRange(b.and(overflow), { b: true, x: 1e300 }, 'mul(x, 1e+300)');
    expect(run(b.or(overflow), { b: true, x: 1e300 })).toBe(true);
    expectOutOfRange(b.or(overflow), { b: false, x: 1e300 }, 'mul(x, 1e+300)');
    // The left operand is evaluated first even when the right one decides.
    expectOutOfRange(overflow.and(b), { b: false, x: 1e300 }, 'mul(x, 1e+300)');
  });

  it('isNull / isNotNull are never null', () => {
    expect(run(x.isNull(), { x: null })).toBe(true);
    expect(run(x.isNull(), { x: 0 })).toBe(false);
    expect(run(s.isNotNull(), { s: '' })).toBe(true);
    expect(run(b.isNotNull(), { b: null })).toBe(false);
  });

  it('coalesce returns the first non-null argument and evaluates no further', () => {
    expect(run(coalesce(x, y, lit(3)), { x: null, y: null })).toBe(3);
    expect(run(coalesce(x, y), { x: null, y: -0 })).toBe(-0);
    expect(run(coalesce(x, y), { x: null, y: null })).toBe(null);
    expect(run(coalesce(b, c), { b: false, c: true })).toBe(false);
    expect(run(coalesce(x, x.mul(1e300)), { x: 1e300 })).toBe(1e300);
    expect(run(x.ifNull(1), { x: null })).toBe(1);
  });

  it('case takes the first true branch; null conditions count as false; branches are lazy', () => {
    const expr = when(b, x).when(c, y).otherwise(0);
    expect(run(expr, { b: true, c: true, x: 1, y: 2 })).toBe(1);
    expect(run(expr, { b: null, c: true, x: 1, y: 2 })).toBe(2);
    expect(run(expr, { b: false, c: null, x: 1, y: 2 })).toBe(0);
    const lazy = when(x.gt(1e300), x.mul(x)).otherwise(x);
    expect(run(lazy, { x: 1e200 })).toBe(1e200);
    expectOutOfRange(lazy, { x: Number.MAX_VALUE }, 'mul(x, x)');
  });
});

describe('compileJs: casts', () => {
  it('to int truncates toward zero; bools are 1/0', () => {
    expect(run(x.cast('int'), { x: 2.9 })).toBe(2);
    expect(run(x.cast('int'), { x: -2.9 })).toBe(-2);
    expect(Object.is(run(x.cast('int'), { x: -0.5 }), -0)).toBe(true);
    expect(run(x.cast('int'), { x: 1e100 })).toBe(1e100);
    expect(run(x.cast('int'), { x: null })).toBe(null);
    expect(run(b.cast('int'), { b: true })).toBe(1);
    expect(run(b.cast('int'), { b: false })).toBe(0);
    expect(run(b.cast('int'), { b: null })).toBe(null);
  });

  it('to float widens ints and maps bools', () => {
    expect(run(i.cast('float'), { i: 3 })).toBe(3);
    expect(run(b.cast('float'), { b: true })).toBe(1);
    expect(run(b.cast('float'), { b: null })).toBe(null);
  });

  it('to string renders bools and exact integers, and raises beyond +-2^63', () => {
    expect(run(b.cast('string'), { b: true })).toBe('true');
    expect(run(b.cast('string'), { b: false })).toBe('false');
    expect(run(i.cast('string'), { i: null })).toBe(null);
    expect(run(i.cast('string'), { i: -0 })).toBe('0');
    expect(run(i.cast('string'), { i: 1e15 })).toBe('1000000000000000');
    // Exact digits above 2^53 (String(2 ** 60) would give '1152921504606847000').
    expect(run(i.cast('string'), { i: 2 ** 60 })).toBe('1152921504606846976');
    expect(run(i.cast('string'), { i: 2 ** 63 - 1024 })).toBe('9223372036854774784');
    expect(run(i.cast('string'), { i: -(2 ** 63) })).toBe('-9223372036854775808');
    expectOutOfRange(i.cast('string'), { i: 2 ** 63 });
    expectOutOfRange(i.cast('string'), { i: -1e100 });
    expect(run(s.cast('string'), { s: 'x' })).toBe('x');
  });

  it('to string rounds an off-contract fractional int half to even, as Postgres does', () => {
    expect(run(i.cast('string'), { i: 2.5 })).toBe('2');
    expect(run(i.cast('string'), { i: 3.5 })).toBe('4');
    expect(run(i.cast('string'), { i: -2.5 })).toBe('-2');
    expect(run(i.cast('string'), { i: 2.4999 })).toBe('2');
    expect(run(i.cast('string'), { i: -0.4 })).toBe('0');
  });

  it('to string of any integer-valued double in range is its exact decimal (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        const value = Number(n);
        fc.pre(value < 2 ** 63);
        expect(run(i.cast('string'), { i: value })).toBe(BigInt(value).toString());
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
