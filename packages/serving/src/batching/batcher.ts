import { performance } from 'node:perf_hooks';
import { ServingError } from '../errors/errors.js';

/** What one dispatched batch looked like, for metrics. */
export interface BatchInfo {
  /** Items in the batch. */
  readonly size: number;
  /** Per item: milliseconds between `submit` and the dispatch of its batch (queue time). */
  readonly queueMs: readonly number[];
  /** Milliseconds the batch's run took. */
  readonly runMs: number;
  /** False when the run failed (every item of the batch was rejected). */
  readonly ok: boolean;
}

/** Options of a {@link MicroBatcher}. */
export interface MicroBatcherOptions<TItem, TResult> {
  /** Largest batch; a full batch is dispatched at once. */
  readonly maxBatchSize: number;
  /**
   * Longest an item waits for others before its batch is dispatched, in milliseconds. 0 (the
   * default) still gathers everything submitted in the same event-loop turn (`setImmediate`).
   */
  readonly maxDelayMs?: number;
  /** Batches that may run at the same time (a worker pool's size); default 1. */
  readonly maxConcurrency?: number;
  /** Runs one batch; must resolve with one result per item, in order. */
  readonly run: (items: readonly TItem[]) => Promise<readonly TResult[]>;
  /** Called after each batch (metrics: batch size, queue time, run time). */
  readonly onBatch?: (info: BatchInfo) => void;
}

interface Pending<TItem, TResult> {
  readonly item: TItem;
  readonly at: number;
  readonly resolve: (result: TResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Dynamic micro-batching across concurrent callers: items submitted close together are run as
 * one batch. A batch is dispatched when it is full, or when its oldest item has waited
 * `maxDelayMs`; while `maxConcurrency` batches are running, new items queue up and leave in the
 * next batch. Each caller gets its own result; when a batch fails, every caller in it gets the
 * error.
 * @example
 * const batcher = new MicroBatcher({ maxBatchSize: 32, maxDelayMs: 1, run: async (xs) => xs.map((x) => x * 2) });
 * await Promise.all([batcher.submit(1), batcher.submit(2)]); // one run of [1, 2]
 */
export class MicroBatcher<TItem, TResult> {
  private readonly queue: Pending<TItem, TResult>[] = [];
  private readonly maxBatchSize: number;
  private readonly maxDelayMs: number;
  private readonly maxConcurrency: number;
  private running = 0;
  private due = false;
  private closing = false;
  // The pending dispatch: a timeout (waiting for `maxDelayMs`) or an immediate (the end of this
  // event-loop turn).
  private timeout: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly fire = () => {
    this.timeout = undefined;
    this.immediate = undefined;
    this.due = true;
    this.flush();
  };
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: MicroBatcherOptions<TItem, TResult>) {
    const { maxBatchSize } = options;
    const maxDelayMs = options.maxDelayMs ?? 0;
    const maxConcurrency = options.maxConcurrency ?? 1;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new ServingError(
        'INVALID_OPTIONS',
        `maxBatchSize must be an integer >= 1, not ${maxBatchSize}`,
      );
    }
    if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) {
      throw new ServingError('INVALID_OPTIONS', `maxDelayMs must be >= 0, not ${maxDelayMs}`);
    }
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new ServingError(
        'INVALID_OPTIONS',
        `maxConcurrency must be an integer >= 1, not ${maxConcurrency}`,
      );
    }
    this.maxBatchSize = maxBatchSize;
    this.maxDelayMs = maxDelayMs;
    this.maxConcurrency = maxConcurrency;
  }

  /** Items waiting for a batch. */
  get queued(): number {
    return this.queue.length;
  }

  /** Batches running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Adds an item to the next batch; resolves with its own result. */
  submit(item: TItem): Promise<TResult> {
    if (this.closing) {
      return Promise.reject(new ServingError('UNAVAILABLE', 'the batcher is closed'));
    }
    return new Promise<TResult>((resolve, reject) => {
      this.queue.push({ item, at: performance.now(), resolve, reject });
      if (this.queue.length >= this.maxBatchSize) this.flush();
      else this.arm();
    });
  }

  /** Resolves when nothing is queued or running. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting items (later `submit`s reject with `UNAVAILABLE`), dispatches what is queued
   * without waiting for the delay, and resolves when every batch has finished.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.due = true;
    this.disarm();
    this.flush();
    await this.drain();
  }

  private arm(): void {
    if (this.timeout !== undefined || this.immediate !== undefined || this.due) return;
    const oldest = this.queue[0];
    if (oldest === undefined) return;
    const wait = this.maxDelayMs - (performance.now() - oldest.at);
    if (wait <= 0) this.immediate = setImmediate(this.fire);
    else this.timeout = setTimeout(this.fire, wait);
  }

  private disarm(): void {
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timeout = undefined;
    this.immediate = undefined;
  }

  private flush(): void {
    while (
      this.queue.length > 0 &&
      this.running < this.maxConcurrency &&
      (this.due || this.queue.length >= this.maxBatchSize)
    ) {
      const batch = this.queue.splice(0, this.maxBatchSize);
      if (this.queue.length === 0) {
        this.due = false;
        this.disarm();
      }
      this.dispatch(batch);
    }
    if (this.queue.length === 0) {
      if (!this.closing) this.due = false;
      this.disarm();
    } else {
      this.arm();
    }
    this.notifyIdle();
  }

  private dispatch(batch: Pending<TItem, TResult>[]): void {
    this.running++;
    const started = performance.now();
    const items: TItem[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) items[i] = batch[i]!.item;
    let outcome: Promise<readonly TResult[]>;
    try {
      outcome = this.options.run(items);
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (results) => {
        if (!Array.isArray(results) || results.length !== batch.length) {
          const error = new ServingError(
            'INTERNAL',
            `a batch of ${batch.length} produced ${Array.isArray(results) ? results.length : 'no'} results`,
          );
          for (const p of batch) p.reject(error);
          this.finish(batch, started, false);
          return;
        }
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i] as TResult);
        this.finish(batch, started, true);
      },
      (error: unknown) => {
        for (const p of batch) p.reject(error);
        this.finish(batch, started, false);
      },
    );
  }

  private finish(batch: readonly Pending<TItem, TResult>[], started: number, ok: boolean): void {
    this.running--;
    const onBatch = this.options.onBatch;
    try {
      if (onBatch !== undefined) {
        const queueMs: number[] = new Array(batch.length);
        for (let i = 0; i < batch.length; i++) queueMs[i] = started - batch[i]!.at;
        onBatch({ size: batch.length, queueMs, runMs: performance.now() - started, ok });
      }
    } catch {
      // A metrics hook must never break the request path.
    }
    this.flush();
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.running > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
