/**
 * Every machine-readable error code Tandem raises. One union for all packages, mapped to HTTP
 * status in one table at the serving boundary.
 */
export type TandemErrorCode =
  | 'INVALID_IDENTIFIER'
  | 'DUPLICATE_NAME'
  | 'INVALID_DURATION'
  | 'INVALID_WINDOW'
  | 'UNKNOWN_COLUMN'
  | 'UNKNOWN_FEATURE'
  | 'TYPE_MISMATCH'
  | 'INVALID_AGGREGATION'
  | 'INVALID_ARGUMENT'
  | 'INVALID_DEFINITION'
  | 'VALUE_OUT_OF_RANGE'
  | 'INVALID_EVENT'
  | 'UNKNOWN_TABLE'
  | 'MATERIALIZED_FEATURE_CHANGED'
  | 'FINGERPRINT_MISMATCH';

/** Options of a {@link TandemError}. */
export interface TandemErrorOptions {
  /** Where the problem is: a feature name, `source.column`, `rows[3].amount`, ... */
  readonly path?: string;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * The one error class of Tandem. `code` is stable and machine-readable; `path` names the offending
 * definition, field or row; `message` is for humans.
 */
export class TandemError extends Error {
  /** Stable machine-readable code. */
  readonly code: TandemErrorCode;
  /** The offending definition, field or row, when there is one. */
  readonly path: string | undefined;

  constructor(code: TandemErrorCode, message: string, options: TandemErrorOptions = {}) {
    super(options.path === undefined ? message : `${options.path}: ${message}`, {
      cause: options.cause,
    });
    this.name = 'TandemError';
    this.code = code;
    this.path = options.path;
  }
}

/** True when `error` is a {@link TandemError}, optionally with the given code. */
export function isTandemError(error: unknown, code?: TandemErrorCode): error is TandemError {
  return error instanceof TandemError && (code === undefined || error.code === code);
}
