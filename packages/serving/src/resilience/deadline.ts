import { ServingError } from '../errors/errors.js';
import { TimeoutEntry, TimeoutList } from './internal/timeouts.js';

/**
 * A per-request deadline: an absolute time and helpers to race work against it. Work already
 * started (a model run) is not interrupted; its result is ignored once the deadline has passed.
 * It allocates no timer or `AbortSignal`: the deadlines of one length wait on one shared timer,
 * and the signal is made on first use (the request path creates one deadline per request).
 */
export interface Deadline {
  /** Epoch ms at which the request expires (`Infinity` for no deadline). */
  readonly at: number;
  /**
   * Aborted when the deadline passes or the outer signal aborts (created on first access, for
   * APIs that take a signal).
   */
  readonly signal: AbortSignal;
  /** Milliseconds left (never negative; `Infinity` for no deadline). */
  remaining(): number;
  /** True once the deadline has passed (or the outer signal aborted). */
  expired(): boolean;
  /**
   * Throws `DEADLINE_EXCEEDED` when the deadline has passed.
   * @throws {ServingError} `DEADLINE_EXCEEDED`
   */
  check(stage?: string): void;
  /**
   * Resolves like `work`, or rejects with `DEADLINE_EXCEEDED` when the deadline passes first.
   * @throws {ServingError} `DEADLINE_EXCEEDED`
   */
  race<T>(work: Promise<T>, stage?: string): Promise<T>;
  /** Stops waiting on the timer; call when the request is done. */
  dispose(): void;
}

type Waiter = (stage?: string) => void;

/** The deadlines of the process waiting for their time, one list (and timer) per length. */
const waiting = new Map<number, TimeoutList>();

class RequestDeadline extends TimeoutEntry implements Deadline {
  readonly at: number;
  readonly #ms: number | undefined;
  readonly #limited: boolean;
  readonly #outer: AbortSignal | undefined;
  /** The list it waits in once armed. */
  #list: TimeoutList | undefined;
  #waiter: Waiter | undefined;
  #waiters: Set<Waiter> | undefined;
  #controller: AbortController | undefined;
  #fired = false;
  #disposed = false;
  #onOuter: (() => void) | undefined;

  constructor(ms: number | undefined, outer: AbortSignal | undefined) {
    super();
    this.#limited = ms !== undefined && ms > 0 && Number.isFinite(ms);
    this.#ms = ms;
    this.at = this.#limited ? Date.now() + ms! : Number.POSITIVE_INFINITY;
    this.#outer = outer;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.expired()) this.#controller.abort(this.#exceeded());
      else this.#arm();
    }
    return this.#controller.signal;
  }

  remaining(): number {
    return this.#limited ? Math.max(0, this.at - Date.now()) : Number.POSITIVE_INFINITY;
  }

  expired(): boolean {
    return this.#fired || this.#outer?.aborted === true || (this.#limited && Date.now() >= this.at);
  }

  check(stage?: string): void {
    if (this.expired()) throw this.#exceeded(stage);
  }

  race<T>(work: Promise<T>, stage?: string): Promise<T> {
    if (!this.#limited && this.#outer === undefined) return work;
    if (this.expired()) {
      work.catch(() => {});
      return Promise.reject(this.#exceeded(stage));
    }
    this.#arm();
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = () => {
        work.catch(() => {});
        reject(this.#exceeded(stage));
      };
      this.#addWaiter(waiter);
      work.then(
        (value) => {
          this.#removeWaiter(waiter);
          resolve(value);
        },
        (error: unknown) => {
          this.#removeWaiter(waiter);
          reject(error);
        },
      );
    });
  }

  // The request path races one stage at a time: one waiter in a field, a set only for more.
  #addWaiter(waiter: Waiter): void {
    if (this.#waiter === undefined && this.#waiters === undefined) this.#waiter = waiter;
    else {
      this.#waiters ??= new Set();
      this.#waiters.add(waiter);
    }
  }

  #removeWaiter(waiter: Waiter): void {
    if (this.#waiter === waiter) this.#waiter = undefined;
    else this.#waiters?.delete(waiter);
  }

  dispose(): void {
    this.#disposed = true;
    this.#list?.remove(this);
    if (this.#onOuter !== undefined) this.#outer?.removeEventListener('abort', this.#onOuter);
  }

  #exceeded(stage?: string): ServingError {
    return new ServingError(
      'DEADLINE_EXCEEDED',
      stage === undefined
        ? `the request deadline of ${this.#ms} ms passed`
        : `the request deadline of ${this.#ms} ms passed during ${stage}`,
    );
  }

  /** The shared timer's call: the deadline has passed. */
  expire(): void {
    this.#fire();
  }

  /** Waits on the shared timer (and listens to the outer signal) once something waits on it. */
  #arm(): void {
    if (this.#disposed || this.#fired) return;
    if (this.#limited && !this.listed) {
      const ms = this.#ms!;
      let list = waiting.get(ms);
      if (list === undefined) {
        list = new TimeoutList();
        waiting.set(ms, list);
      }
      list.add(this, this.at);
      this.#list = list;
    }
    if (this.#outer !== undefined && this.#onOuter === undefined) {
      this.#onOuter = () => this.#fire();
      if (this.#outer.aborted) this.#fire();
      else this.#outer.addEventListener('abort', this.#onOuter, { once: true });
    }
  }

  #fire(): void {
    if (this.#fired) return;
    this.#fired = true;
    this.#list?.remove(this);
    this.#controller?.abort(this.#exceeded());
    const first = this.#waiter;
    const waiters = this.#waiters;
    this.#waiter = undefined;
    this.#waiters = undefined;
    first?.();
    if (waiters !== undefined) for (const waiter of waiters) waiter();
  }
}

/**
 * Starts a deadline `ms` from now (`undefined`, `0` or `Infinity`: none). An outer `signal`
 * (the client went away) ends it too.
 */
export function startDeadline(ms: number | undefined, signal?: AbortSignal): Deadline {
  return new RequestDeadline(ms, signal);
}
