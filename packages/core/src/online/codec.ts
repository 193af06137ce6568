import { canonicalText, emptyIntermediate } from '../aggregations/fold.js';
import { hllItem } from '../aggregations/hll.js';
import type { Intermediate, Moments, TimedValue } from '../aggregations/spec.js';
import type { FeatureIR } from '../definitions/feature.js';
import { compileFolder, type SourceEvent } from '../engine/fold.js';
import { TandemError } from '../errors/errors.js';
import type { ScalarValue } from '../expr/types.js';
import { eventOrderKey } from './order-key.js';

/**
 * One update of one field of a tile, applied atomically by an online store (a Lua script in
 * Redis). Fields hold strings; the store needs no knowledge of aggregations:
 * - `add`: numeric sum of the decimal `arg` (a field that overflows holds `overflow`);
 * - `min` / `max`: keep the smaller / larger number (the stored text is `arg` itself);
 * - `greatest`: keep the entry (`orderKey` TAB payload) with the greatest order key, bytewise;
 * - `newest` / `oldest`: a JSON list of entries keeping the `k` greatest / smallest order keys,
 *   greatest first / smallest first;
 * - `hll`: a JSON list of HyperLogLog items (`register * 64 + rank`), sorted, one per register,
 *   keeping the highest rank;
 * - `poison`: the field can no longer be computed (a float underflow, as Postgres reports it).
 */
export type TileOp =
  | {
      readonly kind: 'add' | 'min' | 'max' | 'greatest';
      readonly part: string;
      readonly arg: string;
    }
  | {
      readonly kind: 'newest' | 'oldest';
      readonly part: string;
      readonly k: number;
      readonly arg: string;
    }
  | { readonly kind: 'hll'; readonly part: string; readonly arg: number }
  | { readonly kind: 'poison'; readonly part: string };

/** The text a tile field holds after a float overflow; reading it raises `VALUE_OUT_OF_RANGE`. */
export const OVERFLOW = 'overflow';

/**
 * How one aggregation feature is kept in tiles: its field parts, the updates one event makes, how
 * stored fields decode back into the feature's intermediate, and how an intermediate (computed
 * by SQL during batch materialization) encodes into fields.
 */
export interface TileCodec {
  /** Field suffixes of one tile, e.g. `['n', 's', 'a']` for a sum. */
  readonly parts: readonly string[];
  /** The updates an event makes to the tile it falls in; none when it does not count. */
  readonly ops: (event: SourceEvent) => TileOp[];
  /** The intermediate of one tile from its field texts (null when absent), in `parts` order. */
  readonly decode: (fields: readonly (string | null)[]) => Intermediate;
  /** The field texts of an intermediate, in `parts` order (null: leave the field absent). */
  readonly encode: (state: Intermediate) => (string | null)[];
  /** True for an intermediate that stores nothing: `encode` leaves every field absent. */
  readonly isEmpty: (state: Intermediate) => boolean;
  /**
   * Drops events older than `start` from an order intermediate (`last`, `latest`, `lastK`): the
   * read side of a cutoff ladder. Other intermediates are returned as they are.
   */
  readonly cut: (state: Intermediate, start: number) => Intermediate;
}

/** Compiles the tile codec of an aggregation feature. */
export function tileCodec(feature: FeatureIR): TileCodec {
  if (feature.kind !== 'aggregation') {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `feature ${feature.name} is ${feature.kind}, not an aggregation`,
    );
  }
  const folder = compileFolder(feature);
  const spec = feature.aggregation;
  const timed = (event: SourceEvent, value: ScalarValue): TimedValue => ({
    ts: event.ts,
    eventId: event.eventId ?? null,
    seq: event.seq ?? null,
    value,
  });
  /** The value to aggregate, or undefined when the event does not count. */
  const cut = (state: Intermediate, start: number): Intermediate => {
    if (spec.fn === 'last' || spec.fn === 'latest') {
      const last = state as TimedValue | null;
      return last !== null && last.ts < start ? null : last;
    }
    if (spec.fn === 'last_k') return (state as readonly TimedValue[]).filter((t) => t.ts >= start);
    return state;
  };
  const aggregatedValue = (event: SourceEvent): ScalarValue | undefined => {
    if (!folder.matches(event)) return undefined;
    const value = folder.eventValue(event);
    return value === null && spec.fn !== 'latest' ? undefined : value;
  };
  switch (spec.fn) {
    case 'count': {
      const isEmpty = (state: Intermediate) => state === 0;
      return {
        cut,
        parts: ['c'],
        ops: (event) => (aggregatedValue(event) === undefined ? [] : [add('c', 1)]),
        decode: ([c]) => (c == null ? 0 : number(c)),
        encode: (state) => [isEmpty(state) ? null : String(state)],
        isEmpty,
      };
    }
    case 'sum':
    case 'mean':
    case 'variance':
    case 'stddev': {
      const squares = spec.fn === 'variance' || spec.fn === 'stddev';
      const isEmpty = (state: Intermediate) => (state as Moments).n === 0;
      return {
        cut,
        parts: squares ? ['n', 's', 'a', 'q'] : ['n', 's', 'a'],
        ops: (event) => {
          const value = aggregatedValue(event);
          if (value === undefined) return [];
          const x = value as number;
          const ops: TileOp[] = [add('n', 1), add('s', x), add('a', Math.abs(x))];
          if (squares) {
            const square = x * x;
            ops.push(square === 0 && x !== 0 ? { kind: 'poison', part: 'q' } : add('q', square));
          }
          return ops;
        },
        decode: ([n, s, a, q]) => {
          const moments: Moments = {
            n: n == null ? 0 : number(n),
            sum: s == null ? 0 : number(s),
            sumAbs: a == null ? 0 : number(a),
          };
          return squares ? { ...moments, sumSq: q == null ? 0 : number(q) } : moments;
        },
        encode: (state) => {
          if (isEmpty(state)) return squares ? [null, null, null, null] : [null, null, null];
          const m = state as Moments;
          const texts = [String(m.n), String(m.sum), String(m.sumAbs)];
          return squares ? [...texts, String(m.sumSq ?? 0)] : texts;
        },
        isEmpty,
      };
    }
    case 'min':
    case 'max':
      return {
        cut,
        parts: ['v'],
        ops: (event) => {
          const value = aggregatedValue(event);
          return value === undefined ? [] : [{ kind: spec.fn, part: 'v', arg: String(value) }];
        },
        decode: ([v]) => (v == null ? null : number(v)),
        encode: (state) => [isNull(state) ? null : String(state)],
        isEmpty: isNull,
      };
    case 'last':
    case 'latest':
      return {
        cut,
        parts: ['e'],
        ops: (event) => {
          const value = aggregatedValue(event);
          return value === undefined
            ? []
            : [{ kind: 'greatest', part: 'e', arg: entryText(timed(event, value)) }];
        },
        decode: ([e]) => (e == null ? null : fromEntry(e)),
        encode: (state) => [isNull(state) ? null : entry(state as TimedValue)],
        isEmpty: isNull,
      };
    case 'last_k':
    case 'first_k': {
      const kind = spec.fn === 'last_k' ? 'newest' : 'oldest';
      return {
        cut,
        parts: ['l'],
        ops: (event) => {
          const value = aggregatedValue(event);
          return value === undefined
            ? []
            : [{ kind, part: 'l', k: spec.k, arg: entryText(timed(event, value)) }];
        },
        decode: ([l]) => {
          if (l == null) return [];
          const list = (JSON.parse(l) as string[]).map(fromEntry);
          // Intermediates list newest first; `oldest` lists keep the smallest key first.
          return kind === 'oldest' ? list.reverse() : list;
        },
        encode: (state) => {
          if (isEmptyList(state)) return [null];
          const list = (state as readonly TimedValue[]).map(entry);
          return [JSON.stringify(kind === 'oldest' ? list.reverse() : list)];
        },
        isEmpty: isEmptyList,
      };
    }
    case 'count_distinct':
      return {
        cut,
        parts: ['h'],
        ops: (event) => {
          const value = aggregatedValue(event);
          return value === undefined
            ? []
            : [
                {
                  kind: 'hll',
                  part: 'h',
                  arg: hllItem(canonicalText(value as Exclude<ScalarValue, null>)),
                },
              ];
        },
        decode: ([h]) => (h == null ? emptyIntermediate(spec) : (JSON.parse(h) as number[])),
        encode: (state) => [isEmptyList(state) ? null : JSON.stringify(state)],
        isEmpty: isEmptyList,
      };
  }
}

function add(part: string, x: number): TileOp {
  return { kind: 'add', part, arg: String(x) };
}

function isNull(state: Intermediate): boolean {
  return state === null;
}

/** Emptiness of a list intermediate (`last_k`, `first_k`, `count_distinct`). */
function isEmptyList(state: Intermediate): boolean {
  return (state as readonly unknown[]).length === 0;
}

function number(text: string): number {
  if (text === OVERFLOW) {
    throw new TandemError('VALUE_OUT_OF_RANGE', 'value out of range: overflow in an aggregation');
  }
  return Number(text);
}

/** A `greatest`/`newest`/`oldest` entry: order key, TAB, JSON `[ts, eventId, seq, value]`. */
function entryText(value: TimedValue): string {
  return `${eventOrderKey(value)}\t${JSON.stringify([value.ts, value.eventId, value.seq, value.value])}`;
}

/**
 * Entries already built, by timed value: merging keeps the timed values of its inputs, so a value
 * held by the tiles of several levels (or by several lists) is encoded once.
 */
const entries = new WeakMap<TimedValue, string>();

/** The entry of a timed value of an intermediate, built once per value (see `entries`). */
function entry(value: TimedValue): string {
  let text = entries.get(value);
  if (text === undefined) {
    text = entryText(value);
    entries.set(value, text);
  }
  return text;
}

function fromEntry(text: string): TimedValue {
  const [ts, eventId, seq, value] = JSON.parse(text.slice(text.indexOf('\t') + 1)) as [
    number,
    string | null,
    number | null,
    ScalarValue,
  ];
  return { ts, eventId, seq, value };
}
