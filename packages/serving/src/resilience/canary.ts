import { ServingError } from '../errors/errors.js';
import { OutcomeWindow } from './internal/window.js';

/** Which arm of a canary split served a request. */
export type CanaryArm = 'primary' | 'canary';

/** Options of {@link createCanary}. */
export interface CanaryOptions {
  /** Share of traffic sent to the canary, 0..100. */
  readonly percent: number;
  /** Outcomes kept per arm (sliding window); default 200. */
  readonly windowSize?: number;
  /** Outcomes each arm needs before the canary is judged; default 50. */
  readonly minSamples?: number;
  /**
   * Roll back when the canary's error rate exceeds the primary's by more than this (absolute,
   * 0..1); default 0.05.
   */
  readonly maxErrorRateIncrease?: number;
  /**
   * Roll back when the canary's p99 exceeds the primary's by more than this share (0.5: 50%
   * slower) and by more than `minP99IncreaseMs`; default 0.5.
   */
  readonly maxP99Increase?: number;
  /** Latency differences below this many ms never roll back; default 5. */
  readonly minP99IncreaseMs?: number;
  /** Random source in [0, 1), for tests; default `Math.random`. */
  readonly random?: () => number;
}

/** Why a canary was rolled back. */
export interface CanaryRollback {
  /** `error_rate` or `p99`. */
  readonly reason: 'error_rate' | 'p99';
  /** Human-readable comparison. */
  readonly message: string;
  /** Error rates and p99 (ms) of both arms when it happened. */
  readonly primary: { readonly errorRate: number; readonly p99Ms: number };
  readonly canary: { readonly errorRate: number; readonly p99Ms: number };
}

/** A percentage split between a primary and a canary model with automatic rollback. */
export interface Canary {
  /** Picks the arm of the next request (always `primary` once rolled back). */
  choose(): CanaryArm;
  /** Records the outcome of a request served by `arm`; may roll the canary back. */
  record(arm: CanaryArm, ok: boolean, latencyMs: number): void;
  /** The rollback, once it happened. */
  readonly rollback: CanaryRollback | undefined;
  /** The canary's current share, 0..100 (0 after a rollback). */
  readonly percent: number;
  /** Error rates and p99 of both arms over their windows. */
  snapshot(): {
    readonly primary: {
      readonly count: number;
      readonly errorRate: number;
      readonly p99Ms: number;
    };
    readonly canary: { readonly count: number; readonly errorRate: number; readonly p99Ms: number };
  };
  /** Listens to the rollback; returns an unsubscribe function. */
  onRollback(listener: (rollback: CanaryRollback) => void): () => void;
  /** Restores the configured split and forgets the outcomes (operator action). */
  reset(): void;
}

/** Creates a {@link Canary}. */
export function createCanary(options: CanaryOptions): Canary {
  const percent = options.percent;
  if (!(typeof percent === 'number' && percent >= 0 && percent <= 100)) {
    throw new ServingError('INVALID_OPTIONS', 'canary percent must be between 0 and 100');
  }
  const windowSize = options.windowSize ?? 200;
  const minSamples = options.minSamples ?? 50;
  if (!(Number.isInteger(windowSize) && windowSize >= 1 && minSamples >= 1)) {
    throw new ServingError('INVALID_OPTIONS', 'canary windowSize and minSamples must be >= 1');
  }
  if (minSamples > windowSize) {
    throw new ServingError('INVALID_OPTIONS', 'canary minSamples cannot exceed windowSize');
  }
  const maxErrorRateIncrease = options.maxErrorRateIncrease ?? 0.05;
  const maxP99Increase = options.maxP99Increase ?? 0.5;
  const minP99IncreaseMs = options.minP99IncreaseMs ?? 5;
  const random = options.random ?? Math.random;
  const windows = { primary: new OutcomeWindow(windowSize), canary: new OutcomeWindow(windowSize) };
  const listeners = new Set<(rollback: CanaryRollback) => void>();
  let rollback: CanaryRollback | undefined;
  let primaryRecords = 0;

  const stats = (w: OutcomeWindow) => ({
    count: w.count,
    errorRate: w.errorRate,
    p99Ms: w.quantile(0.99),
  });

  const judge = () => {
    const p = windows.primary;
    const c = windows.canary;
    if (p.count < minSamples || c.count < minSamples) return;
    const primary = stats(p);
    const canary = stats(c);
    let reason: CanaryRollback['reason'] | undefined;
    let message = '';
    if (canary.errorRate > primary.errorRate + maxErrorRateIncrease) {
      reason = 'error_rate';
      message = `canary error rate ${canary.errorRate.toFixed(3)} exceeds the primary's ${primary.errorRate.toFixed(3)} by more than ${maxErrorRateIncrease}`;
    } else if (
      canary.p99Ms > primary.p99Ms * (1 + maxP99Increase) &&
      canary.p99Ms - primary.p99Ms > minP99IncreaseMs
    ) {
      reason = 'p99';
      message = `canary p99 ${canary.p99Ms.toFixed(2)} ms exceeds the primary's ${primary.p99Ms.toFixed(2)} ms by more than ${maxP99Increase * 100}% and ${minP99IncreaseMs} ms`;
    }
    if (reason === undefined) return;
    rollback = {
      reason,
      message,
      primary: { errorRate: primary.errorRate, p99Ms: primary.p99Ms },
      canary: { errorRate: canary.errorRate, p99Ms: canary.p99Ms },
    };
    for (const listener of listeners) {
      try {
        listener(rollback);
      } catch {
        // A listener's failure is not the request's.
      }
    }
  };

  return {
    choose() {
      if (rollback !== undefined || percent === 0) return 'primary';
      return random() * 100 < percent ? 'canary' : 'primary';
    },
    record(arm, ok, latencyMs) {
      if (rollback !== undefined) return;
      windows[arm].record(ok, latencyMs);
      // Judge on every canary outcome and every 16th primary one (sorting a window costs).
      if (arm === 'canary' || ++primaryRecords % 16 === 0) judge();
    },
    get rollback() {
      return rollback;
    },
    get percent() {
      return rollback === undefined ? percent : 0;
    },
    snapshot() {
      return { primary: stats(windows.primary), canary: stats(windows.canary) };
    },
    onRollback(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reset() {
      rollback = undefined;
      windows.primary.clear();
      windows.canary.clear();
    },
  };
}
