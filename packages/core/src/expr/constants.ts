import { evaluate } from './evaluate.js';
import type { ExprNode } from './ir.js';

/**
 * Evaluates every constant subexpression (one that reads no column or feature) once, so that a
 * constant that overflows is rejected when a feature is defined. Postgres evaluates constant
 * subexpressions at plan time, even in branches no row takes, so such a constant would fail every
 * query in SQL while the JS engine would never reach it.
 * @throws {TandemError} `VALUE_OUT_OF_RANGE` naming the subexpression.
 */
export function assertConstantsInRange(node: ExprNode): void {
  if (isConstant(node)) {
    evaluate(node, { column: () => null, feature: () => null });
    return;
  }
  if (node.kind === 'call') for (const arg of node.args) assertConstantsInRange(arg);
  if (node.kind === 'case') {
    for (const branch of node.branches) {
      assertConstantsInRange(branch.when);
      assertConstantsInRange(branch.result);
    }
    assertConstantsInRange(node.otherwise);
  }
}

function isConstant(node: ExprNode): boolean {
  switch (node.kind) {
    case 'literal':
      return true;
    case 'column':
    case 'feature':
      return false;
    case 'call':
      return node.args.every(isConstant);
    case 'case':
      return (
        isConstant(node.otherwise) &&
        node.branches.every((b) => isConstant(b.when) && isConstant(b.result))
      );
  }
}
