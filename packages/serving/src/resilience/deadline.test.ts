import { describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import { startDeadline } from './deadline.js';

describe('deadline', () => {
  it('races work against the deadline and answers DEADLINE_EXCEEDED (504)', async () => {
    const deadline = startDeadline(20);
    expect(deadline.remaining()).toBeGreaterThan(0);
    const error = await deadline
      .race(new Promise((resolve) => setTimeout(resolve, 200)), 'fetch')
      .catch((e: unknown) => e);
    expect(isServingError(error, 'DEADLINE_EXCEEDED')).toBe(true);
    expect((error as { status: number }).status).toBe(504);
    expect((error as Error).message).toMatch(/during fetch/);
    expect(deadline.expired()).toBe(true);
    expect(deadline.signal.aborted).toBe(true);
    expect(() => deadline.check('infer')).toThrow(/during infer/);
    deadline.dispose();
  });

  it('passes results and errors through before the deadline', async () => {
    const deadline = startDeadline(1000);
    await expect(deadline.race(Promise.resolve(7))).resolves.toBe(7);
    await expect(deadline.race(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    deadline.check();
    deadline.dispose();
  });

  it('rejects every race in flight when it passes, and settles finished ones alone', async () => {
    const deadline = startDeadline(20);
    const never = () => new Promise<never>(() => {});
    const first = deadline.race(never(), 'fetch').catch((e: unknown) => e);
    const second = deadline.race(never(), 'infer').catch((e: unknown) => e);
    await expect(deadline.race(Promise.resolve('done'))).resolves.toBe('done');
    const third = deadline.race(never(), 'post-process').catch((e: unknown) => e);
    for (const [pending, stage] of [
      [first, 'fetch'],
      [second, 'infer'],
      [third, 'post-process'],
    ] as const) {
      const error = await pending;
      expect(isServingError(error, 'DEADLINE_EXCEEDED')).toBe(true);
      expect((error as Error).message).toMatch(new RegExp(`during ${stage}`));
    }
    deadline.dispose();
  });

  it('has no limit for undefined or 0, and follows an outer signal', async () => {
    const none = startDeadline(undefined);
    expect(none.remaining()).toBe(Number.POSITIVE_INFINITY);
    await expect(none.race(Promise.resolve(1))).resolves.toBe(1);
    const outer = new AbortController();
    const deadline = startDeadline(0, outer.signal);
    const pending = deadline.race(new Promise(() => {})).catch((e: unknown) => e);
    outer.abort();
    expect(isServingError(await pending, 'DEADLINE_EXCEEDED')).toBe(true);
  });
});
