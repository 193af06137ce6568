import { ServingError } from '../errors/errors.js';

/** Options of {@link createConcurrencyLimiter}. */
export interface ConcurrencyLimitOptions {
  /** Requests served at once; default 64. */
  readonly maxConcurrent?: number;
  /** Requests waiting for a slot; beyond it a request is refused with 429. Default 256. */
  readonly maxQueue?: number;
  /** Longest wait for a slot in ms; past it a request is refused with 503. Default 1000. */
  readonly queueTimeoutMs?: number;
  /** `Retry-After` seconds sent with 429 and 503; default 1. */
  readonly retryAfterSeconds?: number;
}

/** A slot held by a request: call it exactly once when the request is done. */
export type Release = () => void;

/** Bounds concurrent requests with a bounded FIFO queue in front. */
export interface ConcurrencyLimiter {
  /**
   * Waits for a slot. Rejects with `OVERLOADED` (429) when the queue is full, with `UNAVAILABLE`
   * (503) when the wait exceeds `queueTimeoutMs` or `signal` aborts; both carry Retry-After.
   * @throws {ServingError} `OVERLOADED`, `UNAVAILABLE`
   */
  acquire(signal?: AbortSignal): Promise<Release>;
  /** A slot when one is free and nobody waits (no allocation of a promise), else undefined. */
  tryAcquire(): Release | undefined;
  /** Requests holding a slot. */
  readonly active: number;
  /** Requests waiting for a slot. */
  readonly queued: number;
  /** The options in force. */
  readonly options: Readonly<Required<ConcurrencyLimitOptions>>;
}

interface Waiter {
  grant(release: Release): void;
  settled: boolean;
}

/** Creates a {@link ConcurrencyLimiter}. */
export function createConcurrencyLimiter(
  options: ConcurrencyLimitOptions = {},
): ConcurrencyLimiter {
  const resolved = Object.freeze({
    maxConcurrent: options.maxConcurrent ?? 64,
    maxQueue: options.maxQueue ?? 256,
    queueTimeoutMs: options.queueTimeoutMs ?? 1000,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
  });
  if (!(Number.isInteger(resolved.maxConcurrent) && resolved.maxConcurrent >= 1)) {
    throw new ServingError('INVALID_OPTIONS', 'maxConcurrent must be an integer >= 1');
  }
  if (!(Number.isInteger(resolved.maxQueue) && resolved.maxQueue >= 0)) {
    throw new ServingError('INVALID_OPTIONS', 'maxQueue must be an integer >= 0');
  }
  let active = 0;
  const queue: Waiter[] = [];
  let head = 0;

  const makeRelease = (): Release => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // Hand the slot to the next live waiter, else free it.
      while (head < queue.length) {
        const next = queue[head]!;
        queue[head++] = undefined as unknown as Waiter;
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        if (!next.settled) {
          next.settled = true;
          next.grant(makeRelease());
          return;
        }
      }
      active--;
    };
  };

  let pending = 0;

  return {
    get active() {
      return active;
    },
    get queued() {
      return pending;
    },
    options: resolved,
    tryAcquire() {
      if (active < resolved.maxConcurrent && pending === 0) {
        active++;
        return makeRelease();
      }
      return undefined;
    },
    acquire(signal) {
      if (active < resolved.maxConcurrent && pending === 0) {
        active++;
        return Promise.resolve(makeRelease());
      }
      if (pending >= resolved.maxQueue) {
        return Promise.reject(
          new ServingError(
            'OVERLOADED',
            `too many requests: ${active} in flight and ${pending} queued`,
            { retryAfterSeconds: resolved.retryAfterSeconds },
          ),
        );
      }
      return new Promise<Release>((resolve, reject) => {
        pending++;
        let timer: NodeJS.Timeout | undefined;
        const finish = () => {
          pending--;
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        const waiter: Waiter = {
          settled: false,
          grant(release) {
            finish();
            resolve(release);
          },
        };
        const refuse = (message: string) => {
          if (waiter.settled) return;
          waiter.settled = true;
          finish();
          reject(
            new ServingError('UNAVAILABLE', message, {
              retryAfterSeconds: resolved.retryAfterSeconds,
            }),
          );
        };
        const onAbort = () => refuse('the request was abandoned while waiting for a slot');
        if (Number.isFinite(resolved.queueTimeoutMs)) {
          timer = setTimeout(
            () => refuse(`no slot within ${resolved.queueTimeoutMs} ms (${active} in flight)`),
            resolved.queueTimeoutMs,
          );
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(waiter);
      });
    },
  };
}
