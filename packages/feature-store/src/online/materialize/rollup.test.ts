import {
  accumulate,
  emptyIntermediate,
  entity,
  eventSource,
  type Intermediate,
  intermediatesEqual,
} from '@tandem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { onlineFeature } from '../layout.js';
import { alignDown, levelSize, need } from './ranges.js';
import { rollUp } from './rollup.js';

describe('need', () => {
  it('is the earliest start of a tile (any level) ending in (lo, hi]', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 60),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: -2000, max: 2000 }),
        fc.integer({ min: 0, max: 3000 }),
        (grain, levels, lo, span) => {
          const hi = alignDown(lo + span, grain);
          let earliest = Infinity;
          for (let level = 0; level < levels; level++) {
            const size = levelSize(grain, level);
            for (let start = alignDown(lo - size, size); start + size <= hi; start += size) {
              if (start + size > lo) earliest = Math.min(earliest, start);
            }
          }
          expect(need(grain, levels, lo, hi)).toBe(earliest);
        },
      ),
    );
  });

  it('reads everything for an unbounded range', () => {
    expect(need(60, 3, Number.NEGATIVE_INFINITY, 600)).toBe(Number.NEGATIVE_INFINITY);
  });
});

describe('rollUp', () => {
  const user = entity({ name: 'user', keys: { id: 'string' } });
  const clicks = eventSource({ name: 'clicks', entity: user, fields: { n: 'int' } });
  const sum = onlineFeature(clicks.sum('n').window('1d', { hop: '1h' }).as('n_1d'));
  const grain = sum.ladder.grain;

  it('builds every level from level 0, each tile the merge of its events', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 20 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 60 }),
        (cells, loCell, span) => {
          const base = cells
            .sort((a, b) => a - b)
            .map((cell) => ({
              start: cell * grain,
              states: [
                accumulate(sum.ir.aggregation, emptyIntermediate(sum.ir.aggregation), {
                  ts: cell * grain,
                  eventId: null,
                  seq: null,
                  value: cell + 1,
                }) as Intermediate,
              ],
            }));
          const lo = loCell * grain;
          const hi = lo + span * grain;
          const built = rollUp(base, [{ feature: sum, lo, hi, floor: 0 }]);
          // Brute force: every tile of every level ending in (lo, hi] with events in it.
          const expected: { level: number; start: number; total: number }[] = [];
          for (let level = 0; level < sum.ladder.levels; level++) {
            const size = levelSize(grain, level);
            for (let start = 0; start + size <= hi; start += size) {
              if (start + size <= lo) continue;
              const inside = cells.filter((c) => c * grain >= start && c * grain < start + size);
              if (inside.length > 0) {
                expected.push({ level, start, total: inside.reduce((t, c) => t + c + 1, 0) });
              }
            }
          }
          const key = (t: { level: number; start: number }) => `${t.level}:${t.start}`;
          expect(built.map(key).sort()).toEqual(expected.map(key).sort());
          for (const tile of built) {
            const want = expected.find((e) => key(e) === key(tile))!;
            expect(
              intermediatesEqual(
                sum.ir.aggregation,
                tile.state as never,
                {
                  n: inside(cells, tile, grain),
                  sum: want.total,
                  sumAbs: want.total,
                } as never,
              ),
            ).toBe(true);
          }
        },
      ),
    );
  });
});

function inside(cells: number[], tile: { level: number; start: number }, grain: number): number {
  const size = levelSize(grain, tile.level);
  return cells.filter((c) => c * grain >= tile.start && c * grain < tile.start + size).length;
}
