import { floorMod, TILE_BRANCHING } from '@tandem/core';

/** The length of a level's tiles for a grain, ms. */
export function levelSize(grain: number, level: number): number {
  return grain * TILE_BRANCHING ** level;
}

/** `floor(x / size) * size`; infinities stay as they are. */
export function alignDown(x: number, size: number): number {
  return Number.isFinite(x) ? x - floorMod(x, size) : x;
}

/**
 * The earliest event time a run must read to rebuild every tile (levels `0..levels-1` of `grain`)
 * whose end is in `(lo, hi]`: the start of the earliest such tile over all levels, `Infinity`
 * when there is none. A level-`j` tile ending after `lo` starts at or after `lo` rounded down to
 * its size, so that start, over the levels where that tile closes by `hi`, is the bound.
 */
export function need(grain: number, levels: number, lo: number, hi: number): number {
  if (lo === Number.NEGATIVE_INFINITY) return hi > lo ? Number.NEGATIVE_INFINITY : Infinity;
  let earliest = Infinity;
  for (let level = 0; level < levels; level++) {
    const size = levelSize(grain, level);
    const start = alignDown(lo, size);
    if (start + size <= hi) earliest = Math.min(earliest, start);
  }
  return earliest;
}
