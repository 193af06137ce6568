import { ServingError } from '../errors/errors.js';
import { TimeoutEntry, TimeoutList } from './internal/timeouts.js';

/** State of a {@link CircuitBreaker}. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Name used in messages and metrics; default `online-store`. */
  readonly name?: string;
  /** Consecutive failures that open the circuit; default 5. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one trial call is let through, in ms; default 5000. */
  readonly openMs?: number;
  /** Trial calls allowed at once while half-open; default 1. */
  readonly halfOpenMaxCalls?: number;
  /** Successful trial calls that close the circuit again; default 1. */
  readonly successThreshold?: number;
  /**
   * A call slower than this (ms) fails with `STORE_UNAVAILABLE` and counts as a failure; default
   * 1000. A store that queues commands while disconnected (ioredis) would otherwise hang.
   */
  readonly callTimeoutMs?: number;
  /** Which errors count as failures; default all. */
  readonly isFailure?: (error: unknown) => boolean;
  /** Clock, for tests; default `Date.now`. */
  readonly now?: () => number;
}

/** A state change of a breaker. */
export interface CircuitTransition {
  readonly name: string;
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** The failure that opened the circuit, if any. */
  readonly cause?: unknown;
}

/**
 * A circuit breaker (closed -> open after consecutive failures -> half-open after `openMs` ->
 * closed after successful trials, or open again on a failed one). While open, calls fail at once
 * with `CIRCUIT_OPEN` (503, Retry-After = time left) instead of waiting on a broken dependency.
 */
export interface CircuitBreaker {
  /** The breaker's name. */
  readonly name: string;
  /** Current state (an open breaker whose cool-down is over reads `half_open`). */
  readonly state: CircuitState;
  /** Consecutive failures so far. */
  readonly failures: number;
  /**
   * Runs `call` through the breaker.
   * @throws {ServingError} `CIRCUIT_OPEN` while open, `STORE_UNAVAILABLE` on a call timeout;
   * otherwise what `call` throws.
   */
  execute<T>(call: () => Promise<T>): Promise<T>;
  /** Listens to state changes; returns an unsubscribe function. */
  onStateChange(listener: (transition: CircuitTransition) => void): () => void;
  /** Forces the breaker closed (operator action). */
  reset(): void;
}

/** Creates a {@link CircuitBreaker}. */
export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const name = options.name ?? 'online-store';
  const failureThreshold = options.failureThreshold ?? 5;
  const openMs = options.openMs ?? 5000;
  const halfOpenMaxCalls = options.halfOpenMaxCalls ?? 1;
  const successThreshold = options.successThreshold ?? 1;
  const callTimeoutMs = options.callTimeoutMs ?? 1000;
  const isFailure = options.isFailure ?? (() => true);
  const now = options.now ?? Date.now;
  for (const [key, value] of Object.entries({
    failureThreshold,
    halfOpenMaxCalls,
    successThreshold,
  })) {
    if (!(Number.isInteger(value) && value >= 1)) {
      throw new ServingError('INVALID_OPTIONS', `circuit breaker ${key} must be an integer >= 1`);
    }
  }
  if (!(openMs >= 0) || !(callTimeoutMs > 0)) {
    throw new ServingError(
      'INVALID_OPTIONS',
      'circuit breaker openMs must be >= 0 and callTimeoutMs > 0',
    );
  }

  let state: CircuitState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let trials = 0;
  let trialSuccesses = 0;
  const listeners = new Set<(transition: CircuitTransition) => void>();

  const moveTo = (to: CircuitState, cause?: unknown) => {
    if (to === state) return;
    const from = state;
    state = to;
    if (to === 'open') openedAt = now();
    if (to !== 'closed') {
      trials = 0;
      trialSuccesses = 0;
    }
    if (to === 'closed') failures = 0;
    const transition: CircuitTransition =
      cause === undefined ? { name, from, to } : { name, from, to, cause };
    for (const listener of listeners) {
      try {
        listener(transition);
      } catch {
        // A listener's failure is not the caller's.
      }
    }
  };

  const currentState = (): CircuitState => {
    if (state === 'open' && now() - openedAt >= openMs) moveTo('half_open');
    return state;
  };

  // The calls in flight, waiting for their timeout (all of one length) on one timer.
  const inFlight = new TimeoutList();
  const outcomes: CallOutcomes = {
    succeeded(trial) {
      if (trial) {
        trialSuccesses++;
        trials--;
        if (trialSuccesses >= successThreshold && state === 'half_open') moveTo('closed');
      } else {
        failures = 0;
      }
    },
    failed(trial, error) {
      if (trial) trials--;
      if (!isFailure(error)) return;
      if (state === 'half_open') {
        moveTo('open', error);
      } else if (state === 'closed') {
        failures++;
        if (failures >= failureThreshold) moveTo('open', error);
      }
    },
    timedOut: () =>
      new ServingError('STORE_UNAVAILABLE', `${name} did not answer within ${callTimeoutMs} ms`),
  };

  return {
    name,
    get state() {
      return currentState();
    },
    get failures() {
      return failures;
    },
    // Not `async`, and no timer per call: one promise settles the call, and its timeout waits
    // on the breaker's one timer.
    execute<T>(call: () => Promise<T>): Promise<T> {
      const current = currentState();
      if (current === 'open' || (current === 'half_open' && trials >= halfOpenMaxCalls)) {
        const left = current === 'open' ? Math.max(0, openMs - (now() - openedAt)) : openMs;
        return Promise.reject(
          new ServingError('CIRCUIT_OPEN', `the circuit of ${name} is open`, {
            retryAfterSeconds: Math.max(1, Math.ceil(left / 1000)),
          }),
        );
      }
      const trial = current === 'half_open';
      if (trial) trials++;
      let work: Promise<T>;
      try {
        work = call();
      } catch (error) {
        work = Promise.reject(error);
      }
      return new Promise<T>((resolve, reject) => {
        const pending = new PendingCall(inFlight, outcomes, trial, resolve, reject);
        inFlight.add(pending, Date.now() + callTimeoutMs);
        work.then(
          (value) => pending.succeed(value),
          (error: unknown) => pending.fail(error),
        );
      });
    },
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reset() {
      moveTo('closed');
    },
  };
}

/** What a breaker does when one of its calls ends. */
interface CallOutcomes {
  succeeded(trial: boolean): void;
  /** Counts a failure (when `isFailure` says so), maybe opening the circuit. */
  failed(trial: boolean, error: unknown): void;
  /** The error of a call that did not answer in time. */
  timedOut(): ServingError;
}

/** One call in flight through a breaker: settles once, by its answer or by its timeout. */
class PendingCall<T> extends TimeoutEntry {
  #settled = false;

  constructor(
    private readonly list: TimeoutList,
    private readonly outcomes: CallOutcomes,
    private readonly trial: boolean,
    private readonly resolve: (value: T) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    super();
  }

  succeed(value: T): void {
    if (this.#settled) return;
    this.#settled = true;
    this.list.remove(this);
    this.outcomes.succeeded(this.trial);
    this.resolve(value);
  }

  fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.list.remove(this);
    this.outcomes.failed(this.trial, error);
    this.reject(error);
  }

  /** The timeout passed first: a failure; the late answer (handled by `execute`) is ignored. */
  expire(): void {
    this.fail(this.outcomes.timedOut());
  }
}
