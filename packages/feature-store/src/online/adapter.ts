import type { TileOp } from '@tandem/core';

/** A tile update addressed to a field of one of a group's keys (`key` indexes `WriteGroup.keys`). */
export interface KeyedOp {
  readonly key: number;
  readonly field: string;
  readonly op: TileOp;
  /**
   * Makes the update conditional on a range the field carries: the field holds
   * `"<lo> <hi> <mark><anything>|<text>"` (`lo`, `hi`, `mark` integers in base 36, digits `0-9a-z`
   * with an optional leading `-`, as `Number.prototype.toString(36)` writes them; `<anything>`
   * does not start with such a digit), and the op applies to part `slot` of `<text>` only when
   * `lo <= event ts < hi`. The prefix is kept, except that `mark` is raised to the event's
   * {@link StreamedEvent.visibleAt} when that is greater (written as `toString(36)` writes it).
   * An absent field, or one without such a prefix, is left alone. The window cache uses it: a
   * cached window takes the events that fall inside it, and its mark says from when a read sees
   * all of them.
   */
  readonly ranged?: true;
  /**
   * With `ranged`: the part of `<text>` the op applies to. `<text>` holds parts separated by
   * {@link RANGED_PART_SEPARATOR} (an empty part: absent); the op's result replaces part `slot`, and parts missing
   * before it are added empty. Default 0.
   */
  readonly slot?: number;
}

/** Separates the parts of a ranged field's text (see {@link KeyedOp.slot}). */
export const RANGED_PART_SEPARATOR = '\x1f';

/** One streamed event's updates. */
export interface StreamedEvent {
  /**
   * Dedupe member: the event id, or `#<seq>` for events without one; `''` when the event has
   * neither, which is then never deduped (as offline, where rows without an event id all count).
   */
  readonly id: string;
  /** Event time, epoch ms. */
  readonly ts: number;
  /**
   * The earliest read time that counts the event, epoch ms: `ts + 1` (reads are exclusive at
   * `q`), or its ingestion time when that is later and the source records it. Ranged ops raise
   * their field's mark to it.
   */
  readonly visibleAt: number;
  /** The raw-head member (the event's JSON), kept for reads of the head `[grain start, q)`. */
  readonly raw: string;
  /** Tile updates of every affected feature. */
  readonly ops: readonly KeyedOp[];
}

/**
 * Writes of one entity, applied atomically (all keys share one Redis Cluster slot):
 * 1. each event whose `id` is in the dedupe set (`keys[0]`) is a duplicate and skipped; each with
 *    `ts < lateBefore` is late and skipped; the others are added to the dedupe set and the raw
 *    head (`keys[1]`, scored by `ts`) and their ops are applied in order;
 * 2. `puts` overwrite fields (batch materialization), `deletes` remove fields;
 * 3. `meta` fields are set on `keys[2]` when anything was applied or put;
 * 4. dedupe and raw members with `ts < trimBefore` are removed;
 * 5. each key with a finite `ttls[i]` (ms from now) gets that time to live, when it exists;
 * 6. the `counter` field, when given, is incremented by one when anything was applied, put or
 *    deleted.
 *
 * A group with a `guard` first checks it: when the guarded field does not hold `equals` (null: the
 * field is absent), nothing at all is written and the outcome says `refused`.
 */
export interface WriteGroup {
  /** `[dedupe set, raw head, meta hash, ...tile hashes]`. */
  readonly keys: readonly string[];
  readonly events: readonly StreamedEvent[];
  readonly lateBefore: number;
  readonly trimBefore: number;
  readonly puts: readonly {
    readonly key: number;
    readonly field: string;
    readonly value: string;
  }[];
  readonly deletes: readonly { readonly key: number; readonly field: string }[];
  readonly meta: Readonly<Record<string, string>>;
  /** Time to live per key, ms; `Infinity` leaves the key's expiry as it is. */
  readonly ttls: readonly number[];
  /** A field incremented when the group changes anything (a version others can guard on). */
  readonly counter?: FieldRef;
  /** A compare-and-set condition on one field: the group writes only when it holds `equals`. */
  readonly guard?: FieldRef & { readonly equals: string | null };
}

/** A field of one of a group's keys (`key` indexes `WriteGroup.keys`). */
export interface FieldRef {
  readonly key: number;
  readonly field: string;
}

/** What a {@link WriteGroup} did. */
export interface WriteOutcome {
  readonly applied: number;
  readonly duplicates: number;
  readonly late: number;
  /** Present (true) when the group's guard failed and nothing was written. */
  readonly refused?: true;
}

/** A read of one key: hash fields, or the members of a sorted set scored in `[min, max)`. */
export type ReadOp =
  | { readonly kind: 'fields'; readonly key: string; readonly fields: readonly string[] }
  | { readonly kind: 'range'; readonly key: string; readonly min: number; readonly max: number };

/** The reply to a {@link ReadOp}: field texts (null when absent), or sorted-set members by score. */
export type ReadReply = readonly (string | null)[];

/**
 * The storage engine under an online store: the whole contract every implementation (Redis,
 * in-process) passes in the shared conformance suite (`@tandem/testing`). It knows nothing of
 * features: it applies {@link TileOp}s, dedupes, trims and reads keys.
 */
export interface OnlineAdapter {
  /** Applies write groups, each atomically; one round trip for all of them. */
  write(groups: readonly WriteGroup[]): Promise<WriteOutcome[]>;
  /** Runs read groups (each group's keys share a slot); one round trip for all of them. */
  read(groups: readonly (readonly ReadOp[])[]): Promise<ReadReply[][]>;
  /** Store-wide values (watermarks, counters) in the hash `key`: read, set, or add to (`incr`). */
  globals(
    key: string,
    command:
      | { readonly get: readonly string[] }
      | { readonly set: Readonly<Record<string, string>> }
      | { readonly incr: Readonly<Record<string, number>> },
  ): Promise<(string | null)[]>;
  /**
   * Deletes every key that starts with `prefix` (a store's namespace) and, when given, passes
   * `match` (one source's keys).
   */
  clear(prefix: string, match?: (key: string) => boolean): Promise<void>;
  /** Releases connections the adapter owns. */
  close(): Promise<void>;
}
