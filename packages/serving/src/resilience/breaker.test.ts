import { describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import { type CircuitTransition, createCircuitBreaker } from './breaker.js';

const fail = () => Promise.reject(new Error('store down'));
const succeed = () => Promise.resolve('ok');

describe('circuit breaker', () => {
  it('opens after consecutive failures, fails fast while open, half-opens after openMs, closes on a good trial', async () => {
    let clock = 1_000;
    const transitions: CircuitTransition[] = [];
    const breaker = createCircuitBreaker({ failureThreshold: 3, openMs: 500, now: () => clock });
    breaker.onStateChange((t) => transitions.push(t));
    for (let i = 0; i < 2; i++) await expect(breaker.execute(fail)).rejects.toThrow('store down');
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(succeed)).resolves.toBe('ok');
    expect(breaker.failures).toBe(0); // a success resets the count
    for (let i = 0; i < 3; i++) await expect(breaker.execute(fail)).rejects.toThrow('store down');
    expect(breaker.state).toBe('open');
    let called = false;
    const error = await breaker
      .execute(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(isServingError(error, 'CIRCUIT_OPEN')).toBe(true);
    expect((error as { retryAfterSeconds: number }).retryAfterSeconds).toBe(1);
    clock += 500;
    expect(breaker.state).toBe('half_open');
    await expect(breaker.execute(succeed)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual([
      'closed->open',
      'open->half_open',
      'half_open->closed',
    ]);
    expect(transitions[0]!.cause).toBeInstanceOf(Error);
  });

  it('re-opens on a failed trial and lets only halfOpenMaxCalls trials through', async () => {
    let clock = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 1, openMs: 100, now: () => clock });
    await expect(breaker.execute(fail)).rejects.toThrow();
    clock = 100;
    let release!: () => void;
    const trial = breaker.execute(() => new Promise<void>((resolve) => (release = resolve)));
    await new Promise((r) => setImmediate(r));
    // A second call while the trial is in flight is refused.
    await expect(breaker.execute(succeed)).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    release();
    await trial;
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(fail)).rejects.toThrow();
    clock = 200;
    await expect(breaker.execute(fail)).rejects.toThrow('store down');
    expect(breaker.state).toBe('open');
  });

  it('counts a call slower than callTimeoutMs as a failure (STORE_UNAVAILABLE)', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, callTimeoutMs: 20 });
    const error = await breaker.execute(() => new Promise(() => {})).catch((e: unknown) => e);
    expect(isServingError(error, 'STORE_UNAVAILABLE')).toBe(true);
    expect(breaker.state).toBe('open');
    breaker.reset();
    expect(breaker.state).toBe('closed');
  });

  it('ignores errors that isFailure rejects', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, isFailure: () => false });
    await expect(breaker.execute(fail)).rejects.toThrow();
    expect(breaker.state).toBe('closed');
  });

  it('rejects bad options when created', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => createCircuitBreaker({ callTimeoutMs: 0 })).toThrow(/callTimeoutMs/);
  });
});
