import { isTandemError, type TandemErrorCode } from '@tandem/core';

/**
 * Every machine-readable error code of the serving layer. Each maps to one HTTP status in
 * {@link HTTP_STATUS}, the one table used at the HTTP boundary.
 */
export type ServingErrorCode =
  /** The request body or parameters failed validation (400, with `issues`). */
  | 'INVALID_REQUEST'
  /** The body is not valid JSON (400). */
  | 'MALFORMED_JSON'
  /** The body exceeds the configured limit (413). */
  | 'PAYLOAD_TOO_LARGE'
  /** The body's content type is not JSON (415). */
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** No model of that name (404). */
  | 'UNKNOWN_MODEL'
  /** The model exists but not in that version (404). */
  | 'UNKNOWN_VERSION'
  /** The store has no features for the entity and no fallback is configured (404). */
  | 'UNKNOWN_ENTITY'
  /** Features were missing or stale and the configuration refuses to predict without them (422). */
  | 'FEATURES_UNAVAILABLE'
  /** A tensor does not have the shape or datatype the model expects (400). */
  | 'INVALID_TENSOR'
  /** No or unknown credentials (401). */
  | 'UNAUTHENTICATED'
  /** Known credentials, not allowed to use this model (403). */
  | 'FORBIDDEN'
  /** The concurrency limit's queue is full (429, Retry-After). */
  | 'OVERLOADED'
  /** The request waited too long for a slot, or the service is shutting down (503, Retry-After). */
  | 'UNAVAILABLE'
  /** The online store's circuit breaker is open (503, Retry-After). */
  | 'CIRCUIT_OPEN'
  /** The online store failed (503). */
  | 'STORE_UNAVAILABLE'
  /** The model is loading or warming up (503). */
  | 'MODEL_NOT_READY'
  /** The model's run failed (500). */
  | 'MODEL_FAILED'
  /** A model artifact could not be loaded (sha256 mismatch, bad bytes, inputs not matching the service) (500). */
  | 'MODEL_LOAD_FAILED'
  /** The per-request deadline passed (504). */
  | 'DEADLINE_EXCEEDED'
  /** Options given when creating the middleware or a component are invalid (500 if ever served). */
  | 'INVALID_OPTIONS'
  /** Anything else (500). */
  | 'INTERNAL';

/**
 * The HTTP status of each {@link ServingErrorCode}: the one place where errors become statuses.
 */
export const HTTP_STATUS: Readonly<Record<ServingErrorCode, number>> = Object.freeze({
  INVALID_REQUEST: 400,
  MALFORMED_JSON: 400,
  INVALID_TENSOR: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  UNKNOWN_MODEL: 404,
  UNKNOWN_VERSION: 404,
  UNKNOWN_ENTITY: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  FEATURES_UNAVAILABLE: 422,
  OVERLOADED: 429,
  MODEL_FAILED: 500,
  MODEL_LOAD_FAILED: 500,
  INVALID_OPTIONS: 500,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  CIRCUIT_OPEN: 503,
  STORE_UNAVAILABLE: 503,
  MODEL_NOT_READY: 503,
  DEADLINE_EXCEEDED: 504,
});

/** How {@link TandemError} codes of the other packages map onto serving codes. */
const FROM_TANDEM: Readonly<Partial<Record<TandemErrorCode, ServingErrorCode>>> = {
  INVALID_ARGUMENT: 'INVALID_REQUEST',
  TYPE_MISMATCH: 'INVALID_REQUEST',
  VALUE_OUT_OF_RANGE: 'INVALID_REQUEST',
  INVALID_EVENT: 'INVALID_REQUEST',
  INVALID_IDENTIFIER: 'INVALID_REQUEST',
  FINGERPRINT_MISMATCH: 'FEATURES_UNAVAILABLE',
  MATERIALIZED_FEATURE_CHANGED: 'FEATURES_UNAVAILABLE',
};

/** Options of a {@link ServingError}. */
export interface ServingErrorOptions {
  /** Field paths of a validation failure (`["user_id"]`, `["inputs", "0", "data"]` as `inputs.0.data`). */
  readonly issues?: readonly string[];
  /** Seconds the client should wait before retrying (sent as `Retry-After`). */
  readonly retryAfterSeconds?: number;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * The error class of the serving layer. `code` is stable and machine-readable and maps to an HTTP
 * status through {@link HTTP_STATUS}; `issues` lists offending field paths.
 */
export class ServingError extends Error {
  /** Stable machine-readable code. */
  readonly code: ServingErrorCode;
  /** Offending field paths (validation errors). */
  readonly issues: readonly string[] | undefined;
  /** Seconds to wait before a retry, when the error is transient. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ServingErrorCode, message: string, options: ServingErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'ServingError';
    this.code = code;
    this.issues = options.issues;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The HTTP status of this error. */
  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

/** True when `error` is a {@link ServingError}, optionally with the given code. */
export function isServingError(error: unknown, code?: ServingErrorCode): error is ServingError {
  return error instanceof ServingError && (code === undefined || error.code === code);
}

/**
 * Turns anything thrown into a {@link ServingError}: serving errors as they are, known
 * `TandemError` codes and body-parser errors (`entity.parse.failed`, `entity.too.large`) mapped,
 * everything else `INTERNAL` with a generic message (the cause is kept, never shown).
 */
export function toServingError(error: unknown): ServingError {
  if (error instanceof ServingError) return error;
  if (isTandemError(error)) {
    const code = FROM_TANDEM[error.code];
    if (code !== undefined) {
      return new ServingError(code, error.message, {
        ...(error.path === undefined ? {} : { issues: [error.path] }),
        cause: error,
      });
    }
  }
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'entity.parse.failed') {
    return new ServingError('MALFORMED_JSON', 'the request body is not valid JSON', {
      cause: error,
    });
  }
  if (type === 'entity.too.large') {
    const limit = (error as { limit?: unknown }).limit;
    return new ServingError(
      'PAYLOAD_TOO_LARGE',
      typeof limit === 'number'
        ? `the request body exceeds ${limit} bytes`
        : 'the request body is too large',
      { cause: error },
    );
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new ServingError('UNSUPPORTED_MEDIA_TYPE', 'unsupported body encoding', {
      cause: error,
    });
  }
  return new ServingError('INTERNAL', 'internal error', { cause: error });
}

/** The JSON body of an error answer. OIP v2 clients read `error`; the rest is additive. */
export interface ErrorBody {
  /** Human-readable message. */
  readonly error: string;
  /** Stable machine-readable code. */
  readonly code: ServingErrorCode;
  /** Offending field paths, for validation errors. */
  readonly issues?: readonly string[];
}

/** The JSON body of `error`. */
export function errorBody(error: ServingError): ErrorBody {
  return error.issues === undefined || error.issues.length === 0
    ? { error: error.message, code: error.code }
    : { error: error.message, code: error.code, issues: error.issues };
}

/** The HTTP answer of anything thrown: status, headers (Retry-After) and body. */
export function httpErrorOf(error: unknown): {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ErrorBody;
  readonly error: ServingError;
} {
  const serving = toServingError(error);
  const headers: Record<string, string> =
    serving.retryAfterSeconds === undefined
      ? {}
      : { 'Retry-After': String(Math.max(0, Math.ceil(serving.retryAfterSeconds))) };
  return { status: serving.status, headers, body: errorBody(serving), error: serving };
}

/**
 * Field paths of a zod error, dotted (`user_id`, `inputs.0.data`); unknown keys of a strict object
 * are named one by one (`extra`); the root is `(root)`.
 */
export function issuePaths(
  issues: readonly { readonly path: readonly PropertyKey[]; readonly keys?: readonly string[] }[],
): string[] {
  const paths = new Set<string>();
  for (const issue of issues) {
    const base = issue.path.map((p) => String(p));
    if (Array.isArray(issue.keys) && issue.keys.length > 0) {
      for (const key of issue.keys) paths.add([...base, key].join('.'));
    } else {
      paths.add(base.length === 0 ? '(root)' : base.join('.'));
    }
  }
  return [...paths];
}
