import { TandemError } from '../errors/errors.js';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks a definition name: lowercase letters, digits and underscores, starting with a letter or
 * underscore, at most 63 characters (a Postgres identifier that needs no quoting and is safe in
 * Redis keys).
 */
export function assertIdentifier(name: unknown, path: string): asserts name is string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new TandemError(
      'INVALID_IDENTIFIER',
      `${JSON.stringify(name)} is not a valid name: use lowercase letters, digits and underscores, starting with a letter or underscore, at most 63 characters`,
      { path },
    );
  }
}

const COLUMN = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Checks a database column or table name given by the user (quoted in SQL, so case is kept). */
export function assertColumnName(name: unknown, path: string): asserts name is string {
  if (typeof name !== 'string' || !COLUMN.test(name)) {
    throw new TandemError(
      'INVALID_IDENTIFIER',
      `${JSON.stringify(name)} is not a valid column or table name (letters, digits, _ and $, at most 63 characters)`,
      { path },
    );
  }
}
