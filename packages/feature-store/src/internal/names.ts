import { TandemError } from '@tandem/core';

/** Checks the name of Tandem's Postgres schema: a lowercase identifier. */
export function assertSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new TandemError(
      'INVALID_IDENTIFIER',
      `${JSON.stringify(schema)} is not a valid schema name`,
      {
        path: 'schema',
      },
    );
  }
}
