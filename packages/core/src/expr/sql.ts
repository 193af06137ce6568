import { type SQL, sql } from 'drizzle-orm';
import { TandemError } from '../errors/errors.js';
import type { ExprNode } from './ir.js';
import type { ValueType } from './types.js';

/** Resolves the leaves of an expression to SQL. */
export interface SqlScope {
  /**
   * SQL for a source column, already in the expression representation of its type: `double
   * precision` for numbers, `text` for strings, `boolean` for bools.
   */
  readonly column: (name: string, type: ValueType) => SQL;
  /** SQL for another feature's value, in the same representation. */
  readonly feature: (name: string, type: ValueType) => SQL;
}

/** The Postgres type that represents each value type inside expressions. */
export const SQL_TYPE: Readonly<Record<ValueType, SQL>> = {
  int: sql.raw('double precision'),
  float: sql.raw('double precision'),
  string: sql.raw('text'),
  bool: sql.raw('boolean'),
};

/**
 * Compiles an expression IR to a Postgres expression (drizzle `sql`). Values are always bound
 * parameters with explicit casts; numbers are `double precision` so the arithmetic is IEEE double,
 * the same as JS; strings compare with `COLLATE "C"`.
 */
export function compileSql(node: ExprNode, scope: SqlScope): SQL {
  switch (node.kind) {
    case 'column':
      return scope.column(node.name, node.type);
    case 'feature':
      return scope.feature(node.name, node.type);
    case 'literal':
      return node.value === null
        ? sql`CAST(NULL AS ${SQL_TYPE[node.type]})`
        : sql`CAST(${node.value} AS ${SQL_TYPE[node.type]})`;
    case 'case': {
      const branches = node.branches.map(
        (b) => sql` WHEN ${compileSql(b.when, scope)} THEN ${compileSql(b.result, scope)}`,
      );
      return sql`(CASE${sql.join(branches)} ELSE ${compileSql(node.otherwise, scope)} END)`;
    }
    case 'call':
      return compileCall(node, scope);
  }
}

type CallNode = Extract<ExprNode, { kind: 'call' }>;

const INFIX: Partial<Record<CallNode['op'], string>> = {
  add: '+',
  sub: '-',
  mul: '*',
  eq: '=',
  ne: '<>',
  lt: '<',
  le: '<=',
  gt: '>',
  ge: '>=',
  and: 'AND',
  or: 'OR',
};

function compileCall(node: CallNode, scope: SqlScope): SQL {
  const args = node.args.map((arg) => compileSql(arg, scope));
  const [a = sql`NULL`, b = sql`NULL`, c = sql`NULL`] = args;
  const infix = INFIX[node.op];
  if (infix !== undefined) {
    const collate = node.args[0]?.type === 'string' ? sql` COLLATE "C"` : sql``;
    return sql`(${a}${collate} ${sql.raw(infix)} ${b})`;
  }
  const argType = node.args[0]?.type;
  switch (node.op) {
    case 'div':
      return sql`(${a} / NULLIF(${b}, 0))`;
    case 'neg':
      return sql`(- ${a})`;
    case 'abs':
      return sql`abs(${a})`;
    case 'log':
      return sql`(CASE WHEN ${a} > 0 THEN ln(${a}) END)`;
    case 'exp':
      return sql`exp(${a})`;
    case 'clip':
      return sql`(CASE WHEN ${a} IS NULL THEN NULL ELSE LEAST(GREATEST(${a}, ${b}), ${c}) END)`;
    case 'not':
      return sql`(NOT ${a})`;
    case 'is_null':
      return sql`(${a} IS NULL)`;
    case 'coalesce':
      return sql`COALESCE(${sql.join(args, sql`, `)})`;
    case 'to_int':
      return argType === 'bool'
        ? sql`CAST(CAST(${a} AS integer) AS double precision)`
        : sql`trunc(${a})`;
    case 'to_float':
      return argType === 'bool' ? sql`CAST(CAST(${a} AS integer) AS double precision)` : a;
    case 'to_string':
      return argType === 'int' ? sql`CAST(CAST(${a} AS bigint) AS text)` : sql`CAST(${a} AS text)`;
    default:
      throw new TandemError('INVALID_DEFINITION', `operator ${node.op} has no SQL form`);
  }
}
