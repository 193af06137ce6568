import { ServingError } from '../errors/errors.js';
import { formatShape, type ModelSignature, type Tensor, type TensorType } from './tensor.js';

/** onnxruntime session options a runtime passes on (plain data, so they reach workers too). */
export interface SessionOptions {
  /** Threads inside one operator; default 1 (lowest latency for small models, no oversubscription). */
  readonly intraOpNumThreads?: number;
  /** Threads across operators (parallel execution mode only); default 1. */
  readonly interOpNumThreads?: number;
  /** Graph optimizations; default `'all'`. */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Operator scheduling; default `'sequential'`. */
  readonly executionMode?: 'sequential' | 'parallel';
  /**
   * onnxruntime's own stderr logging (0 verbose .. 4 fatal); default 4: failures already reach
   * the caller as `MODEL_FAILED` errors carrying onnxruntime's message.
   */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/**
 * The one adapter interface for executing a model. Implementations: {@link onnxRuntime}
 * (in-thread onnxruntime-node) and {@link workerPoolRuntime} (a `worker_threads` pool); both pass
 * the same conformance suite. A runtime holds one model: `load` once, `run` many times
 * (concurrently), `close` once.
 */
export interface ModelRuntime {
  /** Implementation name, for metadata and metric labels (`onnxruntime`, `onnxruntime-workers`). */
  readonly kind: string;
  /** How many runs can execute at the same time (1 in-thread, the pool size for workers). */
  readonly concurrency: number;
  /**
   * Loads the model from ONNX bytes and resolves with its signature. Rejects with a
   * `ServingError` of code `MODEL_LOAD_FAILED` when the bytes are not a model onnxruntime accepts.
   */
  load(bytes: Uint8Array): Promise<ModelSignature>;
  /**
   * Runs one inference. `feeds` must hold every input (checked: `INVALID_TENSOR`); `outputs`
   * selects outputs (default: all). Failures inside the model reject with `MODEL_FAILED`; the
   * runtime stays usable.
   */
  run(
    feeds: Readonly<Record<string, Tensor>>,
    outputs?: readonly string[],
  ): Promise<Record<string, Tensor>>;
  /** The signature of the loaded model (throws `MODEL_NOT_READY` before `load`). */
  describe(): ModelSignature;
  /** Frees the model; later runs reject with `MODEL_NOT_READY`. Idempotent. */
  close(): Promise<void>;
}

/** Creates a fresh runtime for one model version. */
export type ModelRuntimeFactory = () => ModelRuntime;

/** The defaults of {@link SessionOptions}. */
export const DEFAULT_SESSION_OPTIONS: Required<SessionOptions> = Object.freeze({
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  logSeverityLevel: 4,
});

/** Session options with defaults filled in. */
export function sessionOptionsOf(options: SessionOptions = {}): Required<SessionOptions> {
  return { ...DEFAULT_SESSION_OPTIONS, ...options };
}

/** Raw value metadata as onnxruntime reports it (`inputMetadata` / `outputMetadata`). */
export interface RawValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}

/** Builds a {@link ModelSignature} from onnxruntime metadata; symbolic dims become -1. */
export function signatureOf(
  inputs: readonly RawValueMetadata[],
  outputs: readonly RawValueMetadata[],
): ModelSignature {
  const spec = (m: RawValueMetadata, role: string) => {
    if (!m.isTensor || m.type === undefined) {
      throw new ServingError(
        'MODEL_LOAD_FAILED',
        `${role} ${m.name} is not a tensor; only tensor inputs and outputs are supported`,
      );
    }
    return Object.freeze({
      name: m.name,
      type: m.type as TensorType,
      shape: Object.freeze(
        (m.shape ?? []).map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1)),
      ),
    });
  };
  return Object.freeze({
    inputs: Object.freeze(inputs.map((m) => spec(m, 'input'))),
    outputs: Object.freeze(outputs.map((m) => spec(m, 'output'))),
  });
}

function isInputOf(signature: ModelSignature, name: string): boolean {
  for (const input of signature.inputs) if (input.name === name) return true;
  return false;
}

/**
 * Checks feeds against a signature before a run: every input present, no unknown input, element
 * types equal, ranks equal, fixed dimensions equal, data length equal to the shape's product;
 * and that selected outputs exist. Throws `INVALID_TENSOR` with a message naming the tensor.
 */
export function checkFeeds(
  signature: ModelSignature,
  feeds: Readonly<Record<string, Tensor>>,
  outputs?: readonly string[],
): void {
  for (const name in feeds) {
    if (!Object.hasOwn(feeds, name)) continue;
    if (!isInputOf(signature, name)) {
      throw new ServingError(
        'INVALID_TENSOR',
        `unexpected input ${name}; the model's inputs are ${signature.inputs.map((i) => i.name).join(', ')}`,
      );
    }
  }
  for (const input of signature.inputs) {
    const tensor = feeds[input.name];
    if (tensor === undefined) {
      throw new ServingError('INVALID_TENSOR', `input ${input.name} is missing`);
    }
    if (tensor.type !== input.type) {
      throw new ServingError(
        'INVALID_TENSOR',
        `input ${input.name} has type ${tensor.type}, the model expects ${input.type}`,
      );
    }
    let shapeOk = tensor.dims.length === input.shape.length;
    for (let i = 0; shapeOk && i < input.shape.length; i++) {
      const dim = input.shape[i];
      shapeOk = dim === -1 || dim === tensor.dims[i];
    }
    if (!shapeOk) {
      throw new ServingError(
        'INVALID_TENSOR',
        `input ${input.name} has shape ${formatShape(tensor.dims)}, the model expects ${formatShape(input.shape)}`,
      );
    }
    let count = 1;
    for (const dim of tensor.dims) {
      if (!Number.isInteger(dim) || dim < 0) {
        throw new ServingError(
          'INVALID_TENSOR',
          `input ${input.name} has an invalid shape ${formatShape(tensor.dims)}`,
        );
      }
      count *= dim;
    }
    if (tensor.data.length !== count) {
      throw new ServingError(
        'INVALID_TENSOR',
        `input ${input.name} has ${tensor.data.length} values, its shape ${formatShape(tensor.dims)} needs ${count}`,
      );
    }
  }
  for (const name of outputs ?? []) {
    if (!signature.outputs.some((output) => output.name === name)) {
      throw new ServingError(
        'INVALID_TENSOR',
        `unknown output ${name}; the model's outputs are ${signature.outputs.map((o) => o.name).join(', ')}`,
      );
    }
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
