import { TandemError } from '../errors/errors.js';
import { describeExpr } from './builder.js';
import type { ExprNode } from './ir.js';
import type { ScalarValue } from './types.js';

/** Where an evaluated expression reads its inputs. */
export interface EvalScope {
  /** The value of a source column of the current event (or null). */
  readonly column: (name: string) => ScalarValue;
  /** The value of another feature of the same entity (or null). */
  readonly feature: (name: string) => ScalarValue;
}

/** A compiled JS evaluator of one expression. */
export type CompiledExpr = (scope: EvalScope) => ScalarValue;

/**
 * Compiles an expression IR to a JS closure with exactly the semantics of the SQL compiler on
 * Postgres: SQL three-valued logic, IEEE double arithmetic, `VALUE_OUT_OF_RANGE` where Postgres
 * raises overflow or underflow, strings compared by code point. See docs/semantics.md.
 */
export function compileJs(node: ExprNode): CompiledExpr {
  switch (node.kind) {
    case 'column': {
      const name = node.name;
      return (scope) => scope.column(name);
    }
    case 'feature': {
      const name = node.name;
      return (scope) => scope.feature(name);
    }
    case 'literal': {
      const value = node.value;
      return () => value;
    }
    case 'case': {
      const branches = node.branches.map((b) => ({
        when: compileJs(b.when),
        result: compileJs(b.result),
      }));
      const otherwise = compileJs(node.otherwise);
      return (scope) => {
        for (const branch of branches) if (branch.when(scope) === true) return branch.result(scope);
        return otherwise(scope);
      };
    }
    case 'call':
      return compileCall(node);
  }
}

/** Evaluates an expression once; prefer {@link compileJs} in loops. */
export function evaluate(node: ExprNode, scope: EvalScope): ScalarValue {
  return compileJs(node)(scope);
}

type CallNode = Extract<ExprNode, { kind: 'call' }>;

function compileCall(node: CallNode): CompiledExpr {
  const args = node.args.map(compileJs);
  const [a = nullFn, b = nullFn] = args;
  const where = describeExpr(node);
  switch (node.op) {
    case 'add':
      return numeric2(a, b, (x, y) => checkOverflow(x + y, where));
    case 'sub':
      return numeric2(a, b, (x, y) => checkOverflow(x - y, where));
    case 'mul':
      return numeric2(a, b, (x, y) => {
        const r = checkOverflow(x * y, where);
        if (r === 0 && x !== 0 && y !== 0) throw outOfRange('underflow', where);
        return r;
      });
    case 'div':
      return numeric2(a, b, (x, y) => {
        if (y === 0) return null;
        const r = checkOverflow(x / y, where);
        if (r === 0 && x !== 0) throw outOfRange('underflow', where);
        return r;
      });
    case 'neg':
      return numeric1(a, (x) => -x);
    case 'abs':
      return numeric1(a, Math.abs);
    case 'log':
      return numeric1(a, (x) => (x > 0 ? Math.log(x) : null));
    case 'exp':
      return numeric1(a, (x) => {
        const r = Math.exp(x);
        if (r === Number.POSITIVE_INFINITY) throw outOfRange('overflow', where);
        if (r === 0) throw outOfRange('underflow', where);
        return r;
      });
    case 'clip': {
      const lo = literalNumber(node.args[1]);
      const hi = literalNumber(node.args[2]);
      return numeric1(a, (x) => Math.min(Math.max(x, lo), hi));
    }
    case 'eq':
      return compare2(a, b, (c) => c === 0);
    case 'ne':
      return compare2(a, b, (c) => c !== 0);
    case 'lt':
      return compare2(a, b, (c) => c < 0);
    case 'le':
      return compare2(a, b, (c) => c <= 0);
    case 'gt':
      return compare2(a, b, (c) => c > 0);
    case 'ge':
      return compare2(a, b, (c) => c >= 0);
    // AND / OR evaluate left to right and stop early, exactly as Postgres does.
    case 'and':
      return (scope) => {
        const x = a(scope);
        if (x === false) return false;
        const y = b(scope);
        if (y === false) return false;
        return x === null || y === null ? null : true;
      };
    case 'or':
      return (scope) => {
        const x = a(scope);
        if (x === true) return true;
        const y = b(scope);
        if (y === true) return true;
        return x === null || y === null ? null : false;
      };
    case 'not':
      return (scope) => {
        const x = a(scope);
        return x === null ? null : !x;
      };
    case 'is_null':
      return (scope) => a(scope) === null;
    case 'coalesce':
      return (scope) => {
        for (const arg of args) {
          const value = arg(scope);
          if (value !== null) return value;
        }
        return null;
      };
    case 'to_int':
      return (scope) => {
        const x = a(scope);
        if (x === null) return null;
        if (typeof x === 'boolean') return x ? 1 : 0;
        return Math.trunc(x as number);
      };
    case 'to_float':
      return (scope) => {
        const x = a(scope);
        if (typeof x === 'boolean') return x ? 1 : 0;
        return x;
      };
    case 'to_string':
      return (scope) => {
        const x = a(scope);
        if (x === null || typeof x === 'string') return x;
        if (typeof x === 'boolean') return x ? 'true' : 'false';
        // Postgres renders CAST(CAST(x AS bigint) AS text): round half to even, then the exact
        // decimal digits. String(x) would print the shortest round-trip form instead, which is
        // not exact above 2^53 (String(2 ** 60) is '1152921504606847000').
        const n = roundHalfEven(x as number);
        if (n >= 2 ** 63 || n < -(2 ** 63)) throw outOfRange('bigint out of range', where);
        return BigInt(n).toString();
      };
  }
}

const nullFn: CompiledExpr = () => null;

function numeric1(a: CompiledExpr, f: (x: number) => number | null): CompiledExpr {
  return (scope) => {
    const x = a(scope);
    return x === null ? null : f(x as number);
  };
}

function numeric2(
  a: CompiledExpr,
  b: CompiledExpr,
  f: (x: number, y: number) => number | null,
): CompiledExpr {
  return (scope) => {
    const x = a(scope);
    const y = b(scope);
    return x === null || y === null ? null : f(x as number, y as number);
  };
}

function compare2(
  a: CompiledExpr,
  b: CompiledExpr,
  test: (order: number) => boolean,
): CompiledExpr {
  return (scope) => {
    const x = a(scope);
    const y = b(scope);
    return x === null || y === null ? null : test(compareScalars(x, y));
  };
}

/**
 * Total order on non-null scalars of one type, as Postgres orders them: numbers numerically,
 * `false < true`, strings bytewise in UTF-8 (= by code point, SQL `COLLATE "C"`).
 */
export function compareScalars(x: number | string | boolean, y: number | string | boolean): number {
  if (typeof x === 'string') return compareCodePoints(x, y as string);
  const nx = Number(x);
  const ny = Number(y);
  return nx < ny ? -1 : nx > ny ? 1 : 0;
}

/** Compares strings by Unicode code point, which equals bytewise UTF-8 order. */
export function compareCodePoints(x: string, y: string): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const cx = x.charCodeAt(i);
    const cy = y.charCodeAt(i);
    if (cx !== cy) {
      // A surrogate (0xD800-0xDFFF) encodes a code point above 0xFFFF: it sorts after every BMP unit.
      const sx = cx >= 0xd800 && cx <= 0xdfff;
      const sy = cy >= 0xd800 && cy <= 0xdfff;
      if (sx !== sy) return sx ? 1 : -1;
      return cx - cy;
    }
  }
  return x.length - y.length;
}

/** `rint` in the default rounding mode, as Postgres rounds a double to bigint. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

function checkOverflow(result: number, where: string): number {
  if (!Number.isFinite(result)) throw outOfRange('overflow', where);
  return result;
}

function outOfRange(what: string, where: string): TandemError {
  return new TandemError('VALUE_OUT_OF_RANGE', `value out of range: ${what}`, { path: where });
}

function literalNumber(node: ExprNode | undefined): number {
  if (node?.kind !== 'literal' || typeof node.value !== 'number') {
    throw new TandemError('INVALID_ARGUMENT', 'clip bounds must be number literals');
  }
  return node.value;
}
