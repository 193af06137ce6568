import type { ValueType } from './types.js';

/** Operators of the expression IR. */
export type ExprOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'neg'
  | 'abs'
  | 'log'
  | 'exp'
  | 'clip'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge'
  | 'and'
  | 'or'
  | 'not'
  | 'is_null'
  | 'coalesce'
  | 'to_int'
  | 'to_float'
  | 'to_string';

/**
 * The expression IR: plain, serializable data. `column` reads a source column of the current
 * event; `feature` reads another feature of the same entity (derived features only).
 */
export type ExprNode =
  | { readonly kind: 'column'; readonly name: string; readonly type: ValueType }
  | { readonly kind: 'feature'; readonly name: string; readonly type: ValueType }
  | {
      readonly kind: 'literal';
      readonly value: number | string | boolean | null;
      readonly type: ValueType;
    }
  | {
      readonly kind: 'call';
      readonly op: ExprOp;
      readonly args: readonly ExprNode[];
      readonly type: ValueType;
    }
  | {
      readonly kind: 'case';
      readonly branches: readonly { readonly when: ExprNode; readonly result: ExprNode }[];
      readonly otherwise: ExprNode;
      readonly type: ValueType;
    };

/** Calls `visit` on `node` and every node below it, parents first. */
export function walkExpr(node: ExprNode, visit: (node: ExprNode) => void): void {
  visit(node);
  if (node.kind === 'call') for (const arg of node.args) walkExpr(arg, visit);
  if (node.kind === 'case') {
    for (const branch of node.branches) {
      walkExpr(branch.when, visit);
      walkExpr(branch.result, visit);
    }
    walkExpr(node.otherwise, visit);
  }
}
