import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { ServingError } from '../errors/errors.js';
import {
  checkFeeds,
  type ModelRuntime,
  messageOf,
  type SessionOptions,
  sessionOptionsOf,
  signatureOf,
} from './runtime.js';
import type { ModelSignature, Tensor, TensorType } from './tensor.js';

/** Options of {@link onnxRuntime}. */
export interface OnnxRuntimeOptions {
  /** onnxruntime session options (defaults: one intra-op thread, sequential, all optimizations). */
  readonly session?: SessionOptions;
}

/**
 * The in-thread runtime: one onnxruntime-node session in the calling thread. Lowest overhead for
 * small models, but `run()` executes synchronously on the event loop (onnxruntime-node defers it
 * with `setImmediate`, then blocks for the duration of the inference): use
 * {@link workerPoolRuntime} for models whose runs take more than a millisecond or so.
 */
export function onnxRuntime(options: OnnxRuntimeOptions = {}): ModelRuntime {
  return new InThreadRuntime(options);
}

class InThreadRuntime implements ModelRuntime {
  readonly kind = 'onnxruntime';
  readonly concurrency = 1;
  private session: InferenceSession | undefined;
  private signature: ModelSignature | undefined;
  private closed = false;
  private loading = false;

  constructor(private readonly options: OnnxRuntimeOptions) {}

  async load(bytes: Uint8Array): Promise<ModelSignature> {
    if (this.closed) throw new ServingError('MODEL_NOT_READY', 'the runtime is closed');
    if (this.loading || this.session !== undefined) {
      throw new ServingError('INVALID_OPTIONS', 'a runtime loads one model, once');
    }
    this.loading = true;
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(bytes, sessionOptionsOf(this.options.session));
    } catch (error) {
      this.loading = false;
      throw new ServingError(
        'MODEL_LOAD_FAILED',
        `onnxruntime refused the model: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
    try {
      this.signature = signatureOf(session.inputMetadata, session.outputMetadata);
    } catch (error) {
      await session.release();
      this.loading = false;
      throw error;
    }
    if (this.closed) {
      await session.release();
      throw new ServingError('MODEL_NOT_READY', 'the runtime was closed while loading');
    }
    this.session = session;
    this.loading = false;
    return this.signature;
  }

  async run(
    feeds: Readonly<Record<string, Tensor>>,
    outputs?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const session = this.session;
    const signature = this.signature;
    if (session === undefined || signature === undefined || this.closed) {
      throw new ServingError(
        'MODEL_NOT_READY',
        this.closed ? 'the runtime is closed' : 'no model loaded',
      );
    }
    checkFeeds(signature, feeds, outputs);
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const name in feeds) {
      if (Object.hasOwn(feeds, name)) ortFeeds[name] = toOrt(feeds[name]!);
    }
    let result: InferenceSession.ReturnType;
    try {
      result =
        outputs === undefined
          ? await session.run(ortFeeds)
          : await session.run(ortFeeds, [...outputs]);
    } catch (error) {
      throw new ServingError('MODEL_FAILED', `inference failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
    const out: Record<string, Tensor> = {};
    for (const name in result) {
      if (!Object.hasOwn(result, name)) continue;
      const tensor = result[name]!;
      out[name] = {
        type: tensor.type as TensorType,
        dims: tensor.dims,
        data: tensor.data,
      } as Tensor;
    }
    return out;
  }

  describe(): ModelSignature {
    if (this.signature === undefined) throw new ServingError('MODEL_NOT_READY', 'no model loaded');
    return this.signature;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    if (session !== undefined) await session.release();
  }
}

function toOrt(tensor: Tensor): OrtTensor {
  const data = tensor.type === 'string' ? [...(tensor.data as readonly string[])] : tensor.data;
  return new OrtTensor(tensor.type, data as OrtTensor.DataType, tensor.dims);
}
