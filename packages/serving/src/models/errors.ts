import { ServingError } from '../errors/errors.js';

/** Why a model artifact was refused. */
export type ModelLoadFailure =
  /** The artifact's sha256 is not the expected one. */
  | 'checksum_mismatch'
  /** The file could not be read. */
  | 'read_failed'
  /** onnxruntime could not create a session from the bytes. */
  | 'invalid_model'
  /** The model's inputs do not match its feature service (count, types, shape). */
  | 'signature_mismatch'
  /** A warmup inference failed. */
  | 'warmup_failed'
  /** The registry was closed while loading. */
  | 'closed';

/**
 * A model artifact was refused at load (code `MODEL_LOAD_FAILED`); `reason` tells which check
 * failed. The version that served before keeps serving.
 */
export class ModelLoadError extends ServingError {
  /** Which check refused the artifact. */
  readonly reason: ModelLoadFailure;
  /** Model name. */
  readonly model: string;
  /** Model version. */
  readonly version: string;

  constructor(
    reason: ModelLoadFailure,
    model: string,
    version: string,
    message: string,
    options: { readonly cause?: unknown } = {},
  ) {
    super('MODEL_LOAD_FAILED', `model ${model} version ${version}: ${message}`, options);
    this.name = 'ModelLoadError';
    this.reason = reason;
    this.model = model;
    this.version = version;
  }
}

/** True when `error` is a {@link ModelLoadError}, optionally for the given reason. */
export function isModelLoadError(
  error: unknown,
  reason?: ModelLoadFailure,
): error is ModelLoadError {
  return error instanceof ModelLoadError && (reason === undefined || error.reason === reason);
}
