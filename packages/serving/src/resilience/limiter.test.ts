import { describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import { createConcurrencyLimiter } from './limiter.js';

describe('concurrency limiter', () => {
  it('grants up to maxConcurrent at once and queues the rest in order', async () => {
    const limiter = createConcurrencyLimiter({
      maxConcurrent: 2,
      maxQueue: 4,
      queueTimeoutMs: 5000,
    });
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    expect(limiter.active).toBe(2);
    const order: string[] = [];
    const c = limiter.acquire().then((release) => {
      order.push('c');
      return release;
    });
    const d = limiter.acquire().then((release) => {
      order.push('d');
      return release;
    });
    expect(limiter.queued).toBe(2);
    a();
    a(); // releasing twice is a no-op
    const releaseC = await c;
    expect(order).toEqual(['c']);
    b();
    const releaseD = await d;
    expect(order).toEqual(['c', 'd']);
    expect(limiter.active).toBe(2);
    expect(limiter.queued).toBe(0);
    releaseC();
    releaseD();
    expect(limiter.active).toBe(0);
  });

  it('answers OVERLOADED (429) with Retry-After when the queue is full', async () => {
    const limiter = createConcurrencyLimiter({
      maxConcurrent: 1,
      maxQueue: 1,
      retryAfterSeconds: 3,
    });
    const held = await limiter.acquire();
    const waiting = limiter.acquire();
    const error = await limiter.acquire().catch((e: unknown) => e);
    expect(isServingError(error, 'OVERLOADED')).toBe(true);
    expect((error as { status: number }).status).toBe(429);
    expect((error as { retryAfterSeconds: number }).retryAfterSeconds).toBe(3);
    held();
    (await waiting)();
    expect(limiter.active).toBe(0);
  });

  it('answers UNAVAILABLE (503) when the wait exceeds queueTimeoutMs, and frees the queue slot', async () => {
    const limiter = createConcurrencyLimiter({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 20 });
    const held = await limiter.acquire();
    const error = await limiter.acquire().catch((e: unknown) => e);
    expect(isServingError(error, 'UNAVAILABLE')).toBe(true);
    expect((error as { status: number }).status).toBe(503);
    expect(limiter.queued).toBe(0);
    // The timed-out waiter is skipped: the next waiter gets the slot.
    const next = limiter.acquire();
    held();
    (await next)();
    expect(limiter.active).toBe(0);
  });

  it('refuses a waiter whose signal aborts', async () => {
    const limiter = createConcurrencyLimiter({ maxConcurrent: 1, queueTimeoutMs: 10_000 });
    const held = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal).catch((e: unknown) => e);
    controller.abort();
    expect(isServingError(await waiting, 'UNAVAILABLE')).toBe(true);
    held();
    expect(limiter.active).toBe(0);
  });

  it('grants a free slot synchronously with tryAcquire, and none when full', async () => {
    const limiter = createConcurrencyLimiter({ maxConcurrent: 1 });
    const release = limiter.tryAcquire();
    expect(release).toBeTypeOf('function');
    expect(limiter.tryAcquire()).toBeUndefined();
    release!();
    expect(limiter.active).toBe(0);
  });

  it('rejects bad options when created', () => {
    expect(() => createConcurrencyLimiter({ maxConcurrent: 0 })).toThrow(/maxConcurrent/);
    expect(() => createConcurrencyLimiter({ maxQueue: -1 })).toThrow(/maxQueue/);
  });
});
