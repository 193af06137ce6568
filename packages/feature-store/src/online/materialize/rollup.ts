import { type Intermediate, merge } from '@tandem/core';
import type { OnlineFeature } from '../layout.js';
import { alignDown, levelSize } from './ranges.js';

/** One entity's level-0 tile of a grain group: its start and each feature's intermediate. */
export interface BaseTile {
  readonly start: number;
  /** Intermediates in the group's feature order. */
  readonly states: readonly Intermediate[];
}

/**
 * What to rebuild of one feature: every tile (of every level) whose end is in `(lo, hi]` and whose
 * start is at or after `floor` (earlier tiles are out of every future read's reach).
 */
export interface TileRange {
  readonly feature: OnlineFeature;
  readonly lo: number;
  readonly hi: number;
  readonly floor: number;
}

/** A tile to write to the batch layer. */
export interface BuiltTile {
  readonly feature: string;
  readonly level: number;
  readonly start: number;
  readonly state: Intermediate;
}

/**
 * Rolls one entity's level-0 tiles (sorted by start; every event of each tile's range included)
 * up the ladder of each feature: level `j + 1` merges its four level-`j` children with the core
 * `merge`. Returns the non-empty tiles of each feature's range (see {@link TileRange}); the caller reads
 * events far enough back that every such tile is complete (see `need`).
 */
export function rollUp(
  base: readonly BaseTile[],
  ranges: readonly (TileRange | null)[],
): BuiltTile[] {
  const out: BuiltTile[] = [];
  ranges.forEach((range, index) => {
    if (range === null || range.hi <= range.lo) return;
    const { feature, lo, hi, floor } = range;
    const name = feature.feature.name;
    const spec = feature.ir.aggregation;
    const { grain, levels } = feature.ladder;
    // Each level's tiles are the built tiles themselves: a parent is written only once its
    // children are all merged into it.
    let tiles: { feature: string; level: number; start: number; state: Intermediate }[] = [];
    for (const tile of base) {
      const state = tile.states[index]!;
      if (!feature.codec.isEmpty(state)) {
        tiles.push({ feature: name, level: 0, start: tile.start, state });
      }
    }
    for (let level = 0; level < levels && tiles.length > 0; level++) {
      const size = levelSize(grain, level);
      for (const tile of tiles) {
        const end = tile.start + size;
        if (end > lo && end <= hi && tile.start >= floor) out.push(tile);
      }
      if (level + 1 === levels) break;
      const parentSize = levelSize(grain, level + 1);
      // A parent ending after `hi` is never written, nor is any of its ancestors.
      const parents: typeof tiles = [];
      for (const tile of tiles) {
        const start = alignDown(tile.start, parentSize);
        if (start + parentSize > hi) continue;
        const last = parents[parents.length - 1];
        if (last !== undefined && last.start === start) {
          last.state = merge(spec, last.state as never, tile.state as never) as Intermediate;
        } else {
          parents.push({ feature: name, level: level + 1, start, state: tile.state });
        }
      }
      tiles = parents;
    }
  });
  return out;
}
