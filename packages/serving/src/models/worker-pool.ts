import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ServingError } from '../errors/errors.js';
import { WORKER_SOURCE } from './internal/worker-source.js';
import {
  checkFeeds,
  type ModelRuntime,
  type RawValueMetadata,
  type SessionOptions,
  sessionOptionsOf,
  signatureOf,
} from './runtime.js';
import type { ModelSignature, Tensor } from './tensor.js';

/** Options of {@link workerPoolRuntime}. */
export interface WorkerPoolRuntimeOptions {
  /** Worker threads, each with its own session; default `min(2, availableParallelism())`. */
  readonly workers?: number;
  /** onnxruntime session options of each worker (default one intra-op thread per worker). */
  readonly session?: SessionOptions;
  /** Replace a worker that dies (its pending runs fail with `MODEL_FAILED`); default true. */
  readonly respawn?: boolean;
}

/**
 * A runtime that runs the model in a pool of `worker_threads`, one onnxruntime session per
 * worker, so heavy inferences never block the event loop. Runs go to the worker with the fewest
 * pending runs; tensors cross threads by structured clone (outputs are transferred). A dead
 * worker fails only its own pending runs and is replaced.
 */
export function workerPoolRuntime(options: WorkerPoolRuntimeOptions = {}): ModelRuntime {
  return new WorkerPoolRuntime(options);
}

interface Job {
  readonly resolve: (outputs: Record<string, Tensor>) => void;
  readonly reject: (error: unknown) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
  live: boolean;
}

type WorkerMessage =
  | { kind: 'loaded'; inputs: RawValueMetadata[]; outputs: RawValueMetadata[] }
  | { kind: 'load_failed'; message: string }
  | { kind: 'result'; id: number; outputs: Record<string, Tensor> }
  | { kind: 'failed'; id: number; message: string }
  | { kind: 'closed' };

/** Removes a finished job; the worker stops holding the process open once it is idle. */
function settle(pool: PoolWorker, id: number): Job | undefined {
  const job = pool.jobs.get(id);
  pool.jobs.delete(id);
  if (pool.jobs.size === 0) pool.worker.unref();
  return job;
}

let ortPath: string | undefined;
function resolveOrtPath(): string {
  ortPath ??= createRequire(import.meta.url).resolve('onnxruntime-node');
  return ortPath;
}

class WorkerPoolRuntime implements ModelRuntime {
  readonly kind = 'onnxruntime-workers';
  readonly concurrency: number;
  private readonly workers: PoolWorker[] = [];
  private bytes: Uint8Array | undefined;
  private signature: ModelSignature | undefined;
  private nextId = 1;
  private closed = false;
  private loading = false;

  constructor(private readonly options: WorkerPoolRuntimeOptions) {
    const size = options.workers ?? Math.min(2, availableParallelism());
    if (!Number.isInteger(size) || size < 1) {
      throw new ServingError('INVALID_OPTIONS', `workers must be a positive integer, not ${size}`);
    }
    this.concurrency = size;
  }

  async load(bytes: Uint8Array): Promise<ModelSignature> {
    if (this.closed) throw new ServingError('MODEL_NOT_READY', 'the runtime is closed');
    if (this.loading || this.signature !== undefined) {
      throw new ServingError('INVALID_OPTIONS', 'a runtime loads one model, once');
    }
    this.loading = true;
    this.bytes = bytes.slice();
    try {
      const started = await Promise.allSettled(
        Array.from({ length: this.concurrency }, () => this.spawn()),
      );
      const failure = started.find((s) => s.status === 'rejected');
      for (const s of started) if (s.status === 'fulfilled') this.workers.push(s.value.pool);
      if (failure !== undefined) {
        await this.terminateAll();
        throw failure.reason;
      }
      const first = started[0];
      if (first?.status !== 'fulfilled') throw new ServingError('MODEL_LOAD_FAILED', 'no worker');
      this.signature = first.value.signature;
      if (this.closed) {
        await this.terminateAll();
        throw new ServingError('MODEL_NOT_READY', 'the runtime was closed while loading');
      }
      return this.signature;
    } finally {
      this.loading = false;
    }
  }

  run(
    feeds: Readonly<Record<string, Tensor>>,
    outputs?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const signature = this.signature;
    if (signature === undefined || this.closed) {
      return Promise.reject(
        new ServingError(
          'MODEL_NOT_READY',
          this.closed ? 'the runtime is closed' : 'no model loaded',
        ),
      );
    }
    try {
      checkFeeds(signature, feeds, outputs);
    } catch (error) {
      return Promise.reject(error);
    }
    let target: PoolWorker | undefined;
    for (const candidate of this.workers) {
      if (!candidate.live) continue;
      if (target === undefined || candidate.jobs.size < target.jobs.size) target = candidate;
    }
    if (target === undefined) {
      return Promise.reject(new ServingError('MODEL_FAILED', 'no live worker to run the model'));
    }
    const id = this.nextId++;
    const pool = target;
    return new Promise((resolve, reject) => {
      // A worker with pending runs keeps the process alive (like a socket with a pending reply);
      // an idle one does not, so a forgotten pool never holds the process open.
      if (pool.jobs.size === 0) pool.worker.ref();
      pool.jobs.set(id, { resolve, reject });
      try {
        pool.worker.postMessage({ kind: 'run', id, feeds, outputs });
      } catch (error) {
        settle(pool, id);
        reject(
          new ServingError(
            'INVALID_TENSOR',
            `cannot send the tensors to a worker: ${String(error)}`,
          ),
        );
      }
    });
  }

  describe(): ModelSignature {
    if (this.signature === undefined) throw new ServingError('MODEL_NOT_READY', 'no model loaded');
    return this.signature;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.workers.map(async (pool) => {
        if (!pool.live) return;
        const done = new Promise<void>((resolve) => pool.worker.once('exit', () => resolve()));
        pool.worker.ref();
        pool.worker.postMessage({ kind: 'close' });
        await done;
      }),
    );
    this.workers.length = 0;
  }

  /** Test hook: make worker `index` exit as if it crashed. */
  crashWorkerForTests(index: number): void {
    this.workers[index]?.worker.postMessage({ kind: 'crash' });
  }

  private spawn(): Promise<{ pool: PoolWorker; signature: ModelSignature }> {
    const bytes = this.bytes;
    if (bytes === undefined) return Promise.reject(new ServingError('MODEL_NOT_READY', 'no bytes'));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath: resolveOrtPath() },
    });
    const pool: PoolWorker = { worker, jobs: new Map(), live: false };
    return new Promise((resolve, reject) => {
      let loaded = false;
      worker.on('message', (message: WorkerMessage) => {
        switch (message.kind) {
          case 'loaded':
            loaded = true;
            pool.live = true;
            if (pool.jobs.size === 0) worker.unref();
            try {
              resolve({ pool, signature: signatureOf(message.inputs, message.outputs) });
            } catch (error) {
              reject(error);
            }
            return;
          case 'load_failed':
            reject(
              new ServingError(
                'MODEL_LOAD_FAILED',
                `onnxruntime refused the model: ${message.message}`,
              ),
            );
            void worker.terminate();
            return;
          case 'result': {
            settle(pool, message.id)?.resolve(message.outputs);
            return;
          }
          case 'failed': {
            settle(pool, message.id)?.reject(
              new ServingError('MODEL_FAILED', `inference failed: ${message.message}`),
            );
            return;
          }
          case 'closed':
            pool.live = false;
            return;
        }
      });
      const onDeath = (reason: string) => {
        const wasLive = pool.live;
        pool.live = false;
        for (const job of pool.jobs.values()) {
          job.reject(new ServingError('MODEL_FAILED', `the model worker ${reason}`));
        }
        pool.jobs.clear();
        worker.unref();
        if (!loaded) {
          reject(new ServingError('MODEL_LOAD_FAILED', `the model worker ${reason} while loading`));
          return;
        }
        if (wasLive && !this.closed && (this.options.respawn ?? true)) this.replace(pool);
      };
      worker.on('error', (error) => onDeath(`failed: ${error.message}`));
      worker.on('exit', (code) => {
        if (pool.live || pool.jobs.size > 0 || !loaded) onDeath(`exited with code ${code}`);
      });
      worker.postMessage({
        kind: 'load',
        bytes,
        options: sessionOptionsOf(this.options.session),
      });
    });
  }

  private replace(dead: PoolWorker): void {
    this.spawn().then(
      ({ pool }) => {
        const index = this.workers.indexOf(dead);
        if (this.closed) {
          pool.worker.postMessage({ kind: 'close' });
          return;
        }
        if (index >= 0) this.workers[index] = pool;
        else this.workers.push(pool);
      },
      () => {
        // The slot stays dead; the other workers keep serving.
      },
    );
  }

  private async terminateAll(): Promise<void> {
    await Promise.all(this.workers.map((pool) => pool.worker.terminate()));
    this.workers.length = 0;
  }
}
