import type { FeatureService, KeyType, KeyValue, ScalarValue } from '@tandem/core';

/** The value of one entity key: a string or a safe integer. */
export type EntityKeyValue = KeyValue<KeyType>;

/**
 * Status of one online feature value:
 * - `present`: a value computed from data the store holds;
 * - `missing`: the store knows nothing for this entity (unknown entity or never written);
 * - `outside_ttl`: the latest value is older than the feature's TTL (stale);
 * - `definition_mismatch`: the stored value was written by a different definition (fingerprint).
 */
export type FeatureStatus = 'present' | 'missing' | 'outside_ttl' | 'definition_mismatch';

/** One feature value read online, with its status and age. */
export interface OnlineFeatureValue {
  /** The value (a list for list features); `null` when absent. */
  readonly value: ScalarValue | readonly ScalarValue[];
  /** Whether the value is usable (see {@link FeatureStatus}). */
  readonly status: FeatureStatus;
  /** Milliseconds since the newest event behind the value, `null` when unknown. */
  readonly freshnessMs: number | null;
}

/** One entity's feature values, keyed by feature name. */
export interface OnlineFeatureRow {
  /** The entity keys the row was read for. */
  readonly entity: Readonly<Record<string, EntityKeyValue>>;
  /** Every feature of `service.features` (in `service.layout` order), derived and request-time included. */
  readonly values: Readonly<Record<string, OnlineFeatureValue>>;
}

/** A read of N entities x M features of one feature service. */
export interface OnlineFeatureRequest {
  /** The feature service whose features are read. */
  readonly service: FeatureService;
  /** Entity keys, one object per row. */
  readonly entities: readonly Readonly<Record<string, EntityKeyValue>>[];
  /** Request data for request-time features, one object per row (same order as `entities`). */
  readonly requestData?: readonly Readonly<Record<string, unknown>>[];
  /** As-of time (epoch ms); defaults to now. */
  readonly at?: number;
}

/**
 * What the middleware needs from a feature store: one round trip for N entities x M features,
 * derived and request-time features computed with the same code as offline.
 */
export interface FeatureReader {
  /** Reads one row per entity, in input order. */
  getOnlineFeatures(request: OnlineFeatureRequest): Promise<OnlineFeatureRow[]>;
}
