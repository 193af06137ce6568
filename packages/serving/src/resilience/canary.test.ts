import { describe, expect, it } from 'vitest';
import { createCanary } from './canary.js';

/** A deterministic random source cycling through [0, 1). */
function sequence(step = 0.01) {
  let x = 0;
  return () => {
    x = (x + step) % 1;
    return x;
  };
}

describe('canary', () => {
  it('splits traffic by the configured percentage', () => {
    const canary = createCanary({ percent: 20, random: sequence(0.001) });
    let toCanary = 0;
    for (let i = 0; i < 10_000; i++) if (canary.choose() === 'canary') toCanary++;
    expect(toCanary / 10_000).toBeCloseTo(0.2, 2);
    expect(createCanary({ percent: 0 }).choose()).toBe('primary');
  });

  it('rolls back when the canary error rate exceeds the primary one by the margin', () => {
    const canary = createCanary({
      percent: 50,
      windowSize: 100,
      minSamples: 20,
      maxErrorRateIncrease: 0.1,
    });
    const rollbacks: string[] = [];
    canary.onRollback((r) => rollbacks.push(r.reason));
    for (let i = 0; i < 40; i++) canary.record('primary', i % 20 !== 0, 1); // 5% errors
    for (let i = 0; i < 19; i++) canary.record('canary', i % 10 !== 0, 1); // ~10%: not judged yet
    expect(canary.rollback).toBeUndefined();
    for (let i = 0; i < 10; i++) canary.record('canary', false, 1);
    expect(canary.rollback?.reason).toBe('error_rate');
    expect(canary.rollback?.message).toMatch(/error rate/);
    expect(rollbacks).toEqual(['error_rate']);
    expect(canary.percent).toBe(0);
    for (let i = 0; i < 100; i++) expect(canary.choose()).toBe('primary');
    canary.reset();
    expect(canary.rollback).toBeUndefined();
    expect(canary.snapshot().canary.count).toBe(0);
  });

  it('rolls back when the canary p99 exceeds the primary one by the margin', () => {
    const canary = createCanary({
      percent: 50,
      windowSize: 200,
      minSamples: 100,
      maxP99Increase: 0.5,
      minP99IncreaseMs: 5,
    });
    for (let i = 0; i < 100; i++) canary.record('primary', true, 2 + (i % 10));
    for (let i = 0; i < 100; i++) canary.record('canary', true, 3 + (i % 10)); // similar: keep
    expect(canary.rollback).toBeUndefined();
    for (let i = 0; i < 100; i++) canary.record('canary', true, i < 95 ? 4 : 60);
    expect(canary.rollback?.reason).toBe('p99');
    expect(canary.rollback!.canary.p99Ms).toBeGreaterThan(canary.rollback!.primary.p99Ms);
  });

  it('does not roll back a canary that is as good as the primary', () => {
    const canary = createCanary({ percent: 10, windowSize: 50, minSamples: 10 });
    for (let i = 0; i < 500; i++) {
      canary.record(i % 2 === 0 ? 'primary' : 'canary', i % 50 !== 0, 1 + (i % 3));
    }
    expect(canary.rollback).toBeUndefined();
  });

  it('rejects bad options when created', () => {
    expect(() => createCanary({ percent: 101 })).toThrow(/percent/);
    expect(() => createCanary({ percent: 5, windowSize: 10, minSamples: 20 })).toThrow(
      /minSamples/,
    );
  });
});
