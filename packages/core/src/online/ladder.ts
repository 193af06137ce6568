import type { AggregationSpec } from '../aggregations/spec.js';
import { TandemError } from '../errors/errors.js';
import { floorMod, type WindowSpec, windowStart } from '../time/window.js';

/** Tiles of level `j` are `grain * 4^j` ms long and start at multiples of their length. */
export const TILE_BRANCHING = 4;

/**
 * The largest grain of sliding-window ladders: one hour. A ladder's grain is `gcd(hop, 1 h)`, so
 * every `T(q)` is a tile boundary; a coarser grain means fewer tiles per read and at most one grain
 * of raw head events.
 */
export const SLIDING_GRAIN = 3_600_000;

/**
 * Grain of lifetime and cutoff ladders: 2^22 ms (about 70 minutes). Its levels are powers of two
 * up to 2^52, so every tile boundary is exact in a double and the whole safe-integer time range is
 * covered by a bounded number of tiles.
 */
export const LIFETIME_GRAIN = 2 ** 22;

const LIFETIME_LEVELS = 16; // 2^22 * 4^15 = 2^52
const LIFETIME_ORIGIN = -(2 ** 53);

/**
 * How an online store tiles one feature's events (DESIGN §5): levels of aligned tiles whose sizes
 * grow by {@link TILE_BRANCHING}. A window `[T(q), q)` is read as the tiles that exactly cover
 * `[T(q), floor(q / grain) * grain)` plus the raw events of the head `[floor(q / grain) * grain, q)`.
 */
export interface TileLadder {
  /** The smallest tile, ms; a multiple of it is every window start. */
  readonly grain: number;
  /** Number of levels: sizes `grain * 4^0 ... grain * 4^(levels - 1)`. */
  readonly levels: number;
  /** Lifetime ladders read from the start of time and never expire. */
  readonly lifetime: boolean;
  /**
   * True when the read may start at the window start rounded down to the grain and drop what is
   * older from the result: exact for `last`, `latest` and `lastK`, whose newest events in a
   * superset of the window that fall inside the window are the window's newest events.
   */
  readonly cutoff: boolean;
  /** How long after a tile ends a window can still reach it, ms; Infinity for lifetime. */
  readonly reach: number;
}

/**
 * The ladder of an aggregation over a window. Order aggregations (`last`, `latest`, `lastK`)
 * use the 2^22 ms grain and a cutoff whatever the hop; others use `gcd(hop, 1 hour)`, so every
 * `T(q)` is a tile boundary.
 */
export function tileLadder(window: WindowSpec, aggregation: AggregationSpec): TileLadder {
  const cutoff =
    aggregation.fn === 'last' || aggregation.fn === 'latest' || aggregation.fn === 'last_k';
  if (window.kind === 'lifetime' || (window.kind === 'ttl' && !cutoff)) {
    return {
      grain: LIFETIME_GRAIN,
      levels: LIFETIME_LEVELS,
      lifetime: true,
      cutoff: false,
      reach: Infinity,
    };
  }
  const grain = cutoff ? LIFETIME_GRAIN : gcd((window as { hop: number }).hop, SLIDING_GRAIN);
  // The longest read: [T(q), q) is shorter than W + h; a cutoff read starts up to a grain earlier.
  const span = window.length + (window.kind === 'sliding' ? window.hop : 0) + (cutoff ? grain : 0);
  let levels = 1;
  while (grain * TILE_BRANCHING ** levels <= span && levels < LIFETIME_LEVELS) levels++;
  return { grain, levels, lifetime: false, cutoff, reach: span };
}

/** One tile: level and start (ms). */
export interface Tile {
  readonly level: number;
  readonly start: number;
}

/** The length of a level's tiles, ms. */
export function tileSize(ladder: TileLadder, level: number): number {
  return ladder.grain * TILE_BRANCHING ** level;
}

/** The tile of `level` containing `ts`. */
export function tileOf(ladder: TileLadder, level: number, ts: number): Tile {
  const size = tileSize(ladder, level);
  return { level, start: ts - floorMod(ts, size) };
}

/** The start of the raw head for a query at `q`: `floor(q / grain) * grain`. */
export function headStart(ladder: TileLadder, q: number): number {
  return q - floorMod(q, ladder.grain);
}

/**
 * Where the tiled part of a read at `q` starts: `T(q)`, rounded down to the grain for cutoff
 * ladders, or the origin of time for lifetime ladders.
 */
export function bodyStart(ladder: TileLadder, window: WindowSpec, q: number): number {
  if (ladder.lifetime) return LIFETIME_ORIGIN;
  const start = windowStart(window, q);
  return start - floorMod(start, ladder.grain);
}

/**
 * The fewest aligned tiles exactly covering `[from, to)` (both multiples of the grain): at most
 * `2 * (TILE_BRANCHING - 1)` per level, so a read costs a bounded number of tiles whatever the
 * window length.
 */
export function coveringTiles(ladder: TileLadder, from: number, to: number): Tile[] {
  if (floorMod(from, ladder.grain) !== 0 || floorMod(to, ladder.grain) !== 0) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `tile range [${from}, ${to}) is not aligned to ${ladder.grain} ms`,
    );
  }
  const tiles: Tile[] = [];
  let at = from;
  while (at < to) {
    let level = ladder.levels - 1;
    while (level > 0) {
      const size = tileSize(ladder, level);
      if (floorMod(at, size) === 0 && at + size <= to) break;
      level--;
    }
    tiles.push({ level, start: at });
    at += tileSize(ladder, level);
  }
  return tiles;
}

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}
