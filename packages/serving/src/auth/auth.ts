import { createHash, timingSafeEqual } from 'node:crypto';
import { ServingError } from '../errors/errors.js';

/** What an auth hook sees of a request (an Express request satisfies it). */
export interface AuthRequest {
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** HTTP method. */
  readonly method: string;
  /** Path within the middleware. */
  readonly path: string;
}

/** The model a request targets. */
export interface AuthTarget {
  /** Model name. */
  readonly model: string;
  /** Requested version, when the request names one. */
  readonly version?: string;
  /** `predict`, `infer` (OIP), or `metadata` (OIP model metadata and readiness). */
  readonly action: 'predict' | 'infer' | 'metadata';
}

/** Who made a request, as an auth hook established it. */
export interface Principal {
  /** Stable id (an API key's name, a token's subject). */
  readonly id: string;
  /** Anything else the hook wants to pass on (roles, tenant). */
  readonly [claim: string]: unknown;
}

/**
 * A per-model authentication and authorization hook. It returns the principal, or throws a
 * {@link ServingError} `UNAUTHENTICATED` (401: no or unknown credentials) or `FORBIDDEN` (403:
 * known credentials, not for this model). Other errors answer 500.
 */
export type AuthHook = (request: AuthRequest, target: AuthTarget) => Principal | Promise<Principal>;

/** One API key of {@link apiKeyAuth}. */
export interface ApiKey {
  /** The secret. */
  readonly key: string;
  /** Principal id (logged, never the key). */
  readonly id: string;
  /** Models the key may use; `'*'` or omitted: all. */
  readonly models?: '*' | readonly string[];
}

/** Options of {@link apiKeyAuth}. */
export interface ApiKeyAuthOptions {
  /** The keys. */
  readonly keys: readonly ApiKey[];
  /** Header carrying the key; default `x-api-key` (`Authorization: Bearer <key>` is read too). */
  readonly header?: string;
}

/**
 * An API-key {@link AuthHook}: the key comes from `x-api-key` (or the configured header) or
 * `Authorization: Bearer <key>`; unknown or missing keys answer 401, a key not allowed for the
 * model 403. Keys are compared by sha256 digest in constant time.
 * @example
 * middleware({ store, models, auth: apiKeyAuth({ keys: [{ id: 'checkout', key: process.env.KEY!, models: ['fraud'] }] }) })
 */
export function apiKeyAuth(options: ApiKeyAuthOptions): AuthHook {
  const header = (options.header ?? 'x-api-key').toLowerCase();
  if (!Array.isArray(options.keys) || options.keys.length === 0) {
    throw new ServingError('INVALID_OPTIONS', 'apiKeyAuth needs at least one key');
  }
  const entries = options.keys.map((k, i) => {
    if (typeof k.key !== 'string' || k.key.length < 8) {
      throw new ServingError(
        'INVALID_OPTIONS',
        `apiKeyAuth keys[${i}].key must have 8+ characters`,
      );
    }
    return {
      digest: digest(k.key),
      id: k.id,
      models: k.models === undefined || k.models === '*' ? null : new Set(k.models),
    };
  });
  return (request, target) => {
    const presented = credential(request, header);
    if (presented === undefined) {
      throw new ServingError('UNAUTHENTICATED', 'an API key is required');
    }
    const presentedDigest = digest(presented);
    // Compare with every key (constant time each) so timing does not tell which one matched.
    let match: (typeof entries)[number] | undefined;
    for (const entry of entries) {
      if (timingSafeEqual(entry.digest, presentedDigest) && match === undefined) match = entry;
    }
    if (match === undefined) throw new ServingError('UNAUTHENTICATED', 'unknown API key');
    if (match.models !== null && !match.models.has(target.model)) {
      throw new ServingError('FORBIDDEN', `this key may not use model ${target.model}`);
    }
    return { id: match.id };
  };
}

/** Options of {@link verifierAuth}. */
export interface VerifierAuthOptions {
  /**
   * Checks a bearer token (a JWT, an opaque session id, ...) and returns its principal, or null
   * when the token is not valid (401).
   */
  readonly verify: (
    token: string,
    request: AuthRequest,
  ) => Principal | null | Promise<Principal | null>;
  /** Decides whether a principal may use a model (403 when false); default: always. */
  readonly authorize?: (principal: Principal, target: AuthTarget) => boolean | Promise<boolean>;
}

/**
 * A custom-verifier {@link AuthHook}: the `Authorization: Bearer <token>` header is checked by
 * `verify` (401 when missing or refused) and the principal by `authorize` (403 when refused).
 * @example
 * verifierAuth({
 *   verify: async (token) => { const claims = await checkJwt(token); return claims && { id: claims.sub, scopes: claims.scope }; },
 *   authorize: (who, target) => (who.scopes as string[]).includes(`predict:${target.model}`),
 * })
 */
export function verifierAuth(options: VerifierAuthOptions): AuthHook {
  if (typeof options.verify !== 'function') {
    throw new ServingError('INVALID_OPTIONS', 'verifierAuth needs a verify function');
  }
  return async (request, target) => {
    const token = bearer(request);
    if (token === undefined)
      throw new ServingError('UNAUTHENTICATED', 'a bearer token is required');
    const principal = await options.verify(token, request);
    if (principal === null || principal === undefined) {
      throw new ServingError('UNAUTHENTICATED', 'the bearer token was refused');
    }
    if (options.authorize !== undefined && !(await options.authorize(principal, target))) {
      throw new ServingError('FORBIDDEN', `not allowed to use model ${target.model}`);
    }
    return principal;
  };
}

/** Per-model auth: one hook for all models, or a hook per model name with an optional default. */
export type AuthConfig =
  | AuthHook
  | {
      /** Hook for models not listed; omitted: those models are open. */
      readonly default?: AuthHook;
      /** Hook per model; `null` leaves that model open even with a default. */
      readonly models?: Readonly<Record<string, AuthHook | null>>;
    };

/** The hook that applies to `model`, or undefined when the model is open. */
export function authHookFor(config: AuthConfig | undefined, model: string): AuthHook | undefined {
  if (config === undefined) return undefined;
  if (typeof config === 'function') return config;
  const own = config.models?.[model];
  if (own === null) return undefined;
  return own ?? config.default;
}

/**
 * Runs the hook that applies to `target.model`; resolves to the principal (or undefined for an
 * open model).
 * @throws {ServingError} `UNAUTHENTICATED` (401), `FORBIDDEN` (403), or `INTERNAL` when the hook
 * fails otherwise.
 */
export async function authenticate(
  config: AuthConfig | undefined,
  request: AuthRequest,
  target: AuthTarget,
): Promise<Principal | undefined> {
  const hook = authHookFor(config, target.model);
  if (hook === undefined) return undefined;
  try {
    return await hook(request, target);
  } catch (error) {
    if (error instanceof ServingError) throw error;
    throw new ServingError('INTERNAL', 'the auth hook failed', { cause: error });
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function headerValue(request: AuthRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.length > 0 ? first : undefined;
}

function bearer(request: AuthRequest): string | undefined {
  const value = headerValue(request, 'authorization');
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

function credential(request: AuthRequest, header: string): string | undefined {
  return headerValue(request, header) ?? bearer(request);
}
