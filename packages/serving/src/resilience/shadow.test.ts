import { describe, expect, it } from 'vitest';
import { createShadow, type ShadowOutcome } from './shadow.js';

describe('shadow', () => {
  it('runs mirrored work later, swallows its errors and counts outcomes', async () => {
    const outcomes: ShadowOutcome[] = [];
    const shadow = createShadow({ onOutcome: (o) => outcomes.push(o) });
    let ran = 0;
    shadow.mirror(() => {
      ran++;
    });
    shadow.mirror(() => {
      throw new Error('sync failure');
    });
    shadow.mirror(() => Promise.reject(new Error('async failure')));
    expect(ran).toBe(0); // nothing runs on the caller's turn
    await shadow.idle();
    expect(ran).toBe(1);
    expect(shadow.stats).toEqual({ ok: 1, error: 2, dropped: 0 });
    expect(outcomes.sort()).toEqual(['error', 'error', 'ok']);
  });

  it('drops mirrored work beyond maxInFlight and samples by percent', async () => {
    const shadow = createShadow({ maxInFlight: 2 });
    const never = () => new Promise<void>((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 5; i++) shadow.mirror(never);
    expect(shadow.stats.dropped).toBe(3);
    await shadow.idle();
    expect(shadow.stats.ok).toBe(2);
    const sampled = createShadow({ percent: 0 });
    sampled.mirror(() => {
      throw new Error('never runs');
    });
    await sampled.idle();
    expect(sampled.stats).toEqual({ ok: 0, error: 0, dropped: 0 });
  });

  it('keeps a failing onOutcome away from the caller', async () => {
    const shadow = createShadow({
      onOutcome: () => {
        throw new Error('metrics broke');
      },
    });
    shadow.mirror(() => 1);
    await shadow.idle();
    expect(shadow.stats.ok).toBe(1);
  });
});
