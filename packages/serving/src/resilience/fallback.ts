import type { FeatureService } from '@tandem/core';
import { ServingError } from '../errors/errors.js';
import type { OnlineFeatureRow } from '../features/source.js';

/**
 * Why a fallback answered:
 * - `unknown_entity`: the store has no feature of the entity (every stored feature `missing`);
 * - `features_missing`: some features are `missing`;
 * - `features_stale`: some features are `outside_ttl`;
 * - `definition_mismatch`: the store holds values written by another definition;
 * - `store_unavailable`: the online store failed or timed out;
 * - `circuit_open`: the store's circuit breaker is open;
 * - `model_error`: the model failed.
 */
export type FallbackReason =
  | 'unknown_entity'
  | 'features_missing'
  | 'features_stale'
  | 'definition_mismatch'
  | 'store_unavailable'
  | 'circuit_open'
  | 'model_error';

/**
 * What to do when features are not all present:
 * - `fallback`: answer with the fallback (default prediction or fallback model);
 * - `predict`: run the model anyway (values as the store returned them, nulls as `missingValue`);
 * - `reject`: answer an error (404 `UNKNOWN_ENTITY` for an unknown entity, else 422
 *   `FEATURES_UNAVAILABLE`).
 */
export type FeatureAction = 'fallback' | 'predict' | 'reject';

/** Per-condition actions; see {@link resolveFeaturePolicy} for the defaults. */
export interface FeaturePolicy {
  /** Every stored feature of the entity is missing (the store never saw it). */
  readonly unknownEntity?: FeatureAction;
  /** Some (not all) features are missing. */
  readonly missing?: FeatureAction;
  /** Some features are older than their TTL. */
  readonly stale?: FeatureAction;
  /** Some stored values were written by another definition (fingerprint). */
  readonly definitionMismatch?: FeatureAction;
}

/** What a fallback function sees. */
export interface FallbackContext {
  /** Model name. */
  readonly model: string;
  /** Why the fallback answers. */
  readonly reason: FallbackReason;
  /** The validated request. */
  readonly request: Readonly<Record<string, unknown>>;
  /** The features fetched, when the store answered. */
  readonly features: OnlineFeatureRow | undefined;
  /** The error behind the fallback (store or model), if any. */
  readonly error: unknown;
}

/** The fallback of a model. */
export interface FallbackOptions {
  /** A default prediction, or a function of the context that returns one. */
  readonly prediction?: unknown;
  /**
   * A fallback model (a simpler or older model in the same registry and with the same feature
   * service), run on the same features (absent ones as `missingValue`). When it fails too, the
   * default `prediction` answers if there is one.
   */
  readonly model?: string | { readonly name: string; readonly version?: string };
  /** When to fall back on feature problems; store and model failures always fall back. */
  readonly features?: FeaturePolicy;
  /** Fall back when the model fails; default true. */
  readonly onModelError?: boolean;
  /** Fall back when the store fails or its circuit is open; default true. */
  readonly onStoreError?: boolean;
}

/** The actions in force for each feature condition. */
export type ResolvedFeaturePolicy = Required<FeaturePolicy>;

/**
 * The feature policy with its defaults. With a fallback configured: unknown entity and
 * definition mismatch fall back, missing and stale features predict. Without one: unknown entity
 * answers 404 and definition mismatch 422, missing and stale features predict.
 * @throws {ServingError} `INVALID_OPTIONS` when an action is `fallback` but there is none.
 */
export function resolveFeaturePolicy(
  fallback: FallbackOptions | undefined,
  path: string,
): ResolvedFeaturePolicy {
  const has = hasFallback(fallback);
  const given = fallback?.features ?? {};
  const policy: ResolvedFeaturePolicy = {
    unknownEntity: given.unknownEntity ?? (has ? 'fallback' : 'reject'),
    missing: given.missing ?? 'predict',
    stale: given.stale ?? 'predict',
    definitionMismatch: given.definitionMismatch ?? (has ? 'fallback' : 'reject'),
  };
  if (!has) {
    for (const [condition, action] of Object.entries(policy)) {
      if (action === 'fallback') {
        throw new ServingError(
          'INVALID_OPTIONS',
          `${path}: fallback.features.${condition} is "fallback" but neither fallback.prediction nor fallback.model is set`,
        );
      }
    }
  }
  return policy;
}

/** True when a fallback answer can be given (a default prediction or a fallback model). */
export function hasFallback(fallback: FallbackOptions | undefined): boolean {
  return (
    fallback !== undefined && (fallback.prediction !== undefined || fallback.model !== undefined)
  );
}

/** The feature problem of a row, most severe first, with the action the policy takes. */
export interface FeatureVerdict {
  /** `undefined` when every feature is present. */
  readonly reason:
    | Extract<
        FallbackReason,
        'unknown_entity' | 'features_missing' | 'features_stale' | 'definition_mismatch'
      >
    | undefined;
  /** What to do. */
  readonly action: FeatureAction;
  /** The features concerned. */
  readonly features: readonly string[];
}

/**
 * Judges the statuses of one row: definition mismatch, then unknown entity (every feature that
 * comes from the store is `missing`; request-time features do not count), then missing, then
 * stale.
 */
export function judgeFeatures(
  service: FeatureService,
  storedFeatures: readonly string[],
  row: OnlineFeatureRow,
  policy: ResolvedFeaturePolicy,
): FeatureVerdict {
  // Allocated only for a row with a problem: most rows have none (the request path's common case).
  let mismatched: string[] | undefined;
  let missing: string[] | undefined;
  let stale: string[] | undefined;
  for (const entry of service.layout) {
    const status = row.values[entry.name]?.status ?? 'missing';
    if (status === 'definition_mismatch') mismatched = appended(mismatched, entry.name);
    else if (status === 'missing') missing = appended(missing, entry.name);
    else if (status === 'outside_ttl') stale = appended(stale, entry.name);
  }
  if (mismatched !== undefined) {
    return {
      reason: 'definition_mismatch',
      action: policy.definitionMismatch,
      features: mismatched,
    };
  }
  if (missing !== undefined) {
    const unknown =
      storedFeatures.length > 0 &&
      storedFeatures.every((name) => (row.values[name]?.status ?? 'missing') === 'missing');
    return unknown
      ? { reason: 'unknown_entity', action: policy.unknownEntity, features: missing }
      : { reason: 'features_missing', action: policy.missing, features: missing };
  }
  if (stale !== undefined) {
    return { reason: 'features_stale', action: policy.stale, features: stale };
  }
  return COMPLETE;
}

/** `list` with `name` added (a new list for none). */
function appended(list: string[] | undefined, name: string): string[] {
  if (list === undefined) return [name];
  list.push(name);
  return list;
}

/** The verdict on a row with every feature present and fresh. */
const COMPLETE: FeatureVerdict = Object.freeze({
  reason: undefined,
  action: 'predict',
  features: Object.freeze([]) as readonly string[],
});

/** The error answered when the policy rejects a row. */
export function rejection(verdict: FeatureVerdict): ServingError {
  const list = verdict.features.join(', ');
  switch (verdict.reason) {
    case 'unknown_entity':
      return new ServingError(
        'UNKNOWN_ENTITY',
        'the online store has no features for this entity',
        {
          issues: verdict.features,
        },
      );
    case 'definition_mismatch':
      return new ServingError(
        'FEATURES_UNAVAILABLE',
        `stored values of ${list} were written by another definition; materialize them again`,
        { issues: verdict.features },
      );
    case 'features_stale':
      return new ServingError('FEATURES_UNAVAILABLE', `features older than their TTL: ${list}`, {
        issues: verdict.features,
      });
    default:
      return new ServingError('FEATURES_UNAVAILABLE', `missing features: ${list}`, {
        issues: verdict.features,
      });
  }
}
