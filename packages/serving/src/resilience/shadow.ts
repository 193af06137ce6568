import { ServingError } from '../errors/errors.js';

/** What happened to one mirrored request. */
export type ShadowOutcome = 'ok' | 'error' | 'dropped';

/** Options of {@link createShadow}. */
export interface ShadowOptions {
  /** Share of requests mirrored, 0..100; default 100. */
  readonly percent?: number;
  /** Mirrored runs in flight at once; more are dropped (counted). Default 16. */
  readonly maxInFlight?: number;
  /** Called with every outcome (metrics); its own failures are swallowed. */
  readonly onOutcome?: (outcome: ShadowOutcome, error?: unknown) => void;
  /** Random source in [0, 1), for tests; default `Math.random`. */
  readonly random?: () => number;
}

/**
 * Runs a shadow model on mirrored traffic after the response path has moved on: `mirror` never
 * throws, never waits, and the shadow's result and errors never reach the caller.
 */
export interface Shadow {
  /** Schedules `run` (on the next turn of the event loop) unless sampled out or saturated. */
  mirror(run: () => Promise<unknown> | unknown): void;
  /** Counts of outcomes so far. */
  readonly stats: { readonly ok: number; readonly error: number; readonly dropped: number };
  /** Mirrored runs in flight. */
  readonly inFlight: number;
  /** Resolves when no mirrored run is in flight (tests, shutdown). */
  idle(): Promise<void>;
}

/** Creates a {@link Shadow}. */
export function createShadow(options: ShadowOptions = {}): Shadow {
  const percent = options.percent ?? 100;
  const maxInFlight = options.maxInFlight ?? 16;
  if (!(percent >= 0 && percent <= 100)) {
    throw new ServingError('INVALID_OPTIONS', 'shadow percent must be between 0 and 100');
  }
  if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
    throw new ServingError('INVALID_OPTIONS', 'shadow maxInFlight must be an integer >= 1');
  }
  const random = options.random ?? Math.random;
  const stats = { ok: 0, error: 0, dropped: 0 };
  let inFlight = 0;
  let waiters: (() => void)[] = [];
  const report = (outcome: ShadowOutcome, error?: unknown) => {
    stats[outcome]++;
    try {
      options.onOutcome?.(outcome, error);
    } catch {
      // Never let telemetry reach the response path.
    }
  };
  const done = () => {
    inFlight--;
    if (inFlight === 0) {
      const current = waiters;
      waiters = [];
      for (const resolve of current) resolve();
    }
  };
  return {
    mirror(run) {
      if (percent < 100 && random() * 100 >= percent) return;
      if (inFlight >= maxInFlight) {
        report('dropped');
        return;
      }
      inFlight++;
      setImmediate(() => {
        let work: Promise<unknown>;
        try {
          work = Promise.resolve(run());
        } catch (error) {
          work = Promise.reject(error);
        }
        work.then(
          () => {
            report('ok');
            done();
          },
          (error: unknown) => {
            report('error', error);
            done();
          },
        );
      });
    },
    stats,
    get inFlight() {
      return inFlight;
    },
    idle() {
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
  };
}
