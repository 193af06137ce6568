import { describe, expect, it } from 'vitest';
import { TimeoutEntry, TimeoutList } from './timeouts.js';

class Recorded extends TimeoutEntry {
  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {
    super();
  }

  expire(): void {
    this.log.push(this.name);
  }
}

describe('TimeoutList', () => {
  it('expires entries in time order, whatever the order they were added in, and not removed ones', async () => {
    const list = new TimeoutList();
    const log: string[] = [];
    const now = Date.now();
    const late = new Recorded('late', log);
    const early = new Recorded('early', log);
    const removed = new Recorded('removed', log);
    const middle = new Recorded('middle', log);
    list.add(late, now + 60);
    list.add(early, now + 10);
    list.add(removed, now + 20);
    list.add(middle, now + 30);
    list.remove(removed);
    list.remove(removed); // idempotent
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(log).toEqual(['early', 'middle']);
    expect(early.listed).toBe(false);
    expect(late.listed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(log).toEqual(['early', 'middle', 'late']);
  });

  it('re-arms for an entry earlier than the one the timer waits for', async () => {
    const list = new TimeoutList();
    const log: string[] = [];
    list.add(new Recorded('far', log), Date.now() + 10_000);
    list.add(new Recorded('near', log), Date.now() + 10);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(log).toEqual(['near']);
  });
});
