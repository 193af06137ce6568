import type { FeatureService } from '@tandem/core';
import type { FeatureVector } from '../batching/rows.js';
import type { ModelEvent } from '../models/registry.js';
import type { Tensor } from '../models/tensor.js';

/**
 * A hold on one model version as the request path uses it (a `ModelRegistry` lease satisfies
 * it): the version, its feature service, one-row prediction through the micro-batcher, and
 * `release` once the request is done (so a hot swap never frees a version in use).
 */
export interface PredictLease {
  /** The version held and its feature service (`undefined`: tensor-level inference only). */
  readonly info: {
    readonly name: string;
    readonly version: string;
    readonly service: FeatureService | undefined;
  };
  /** Runs one row (batched with concurrent rows); resolves with that row's outputs. */
  predict(row: FeatureVector): Promise<Record<string, Tensor>>;
  /** Gives the hold back; idempotent. */
  release(): void;
}

/**
 * Where the request path finds models; `ModelRegistry` is one. `acquire` throws a
 * `ServingError`: `UNKNOWN_MODEL` (404), `UNKNOWN_VERSION` (404) or `MODEL_NOT_READY` (503).
 */
export interface ModelProvider {
  /** Holds the default version of `name`, or the given version. */
  acquire(name: string, version?: string): PredictLease;
  /** Registry events (loads, batches) for metrics, when the provider has them. */
  on?(listener: (event: ModelEvent) => void): () => void;
}
