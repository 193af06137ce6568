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
