import type { ReadOp, ReadReply } from './adapter.js';

/** Where one field's text comes back in a {@link ReadBatch}'s replies. */
export interface ReadSlot {
  readonly group: number;
  readonly op: number;
  readonly at: number;
}

/** Where a sorted-set range comes back in a {@link ReadBatch}'s replies. */
export interface RangeSlot {
  readonly group: number;
  readonly op: number;
}

/**
 * Collects the field reads of one call: one read group per entity tag (one Cluster
 * slot, read atomically), one op per key, each field asked once however many features need it.
 */
export interface ReadBatch {
  /** The slot of `field` of hash `key` (whose entity tag is `tag`). */
  field(tag: string, key: string, field: string): ReadSlot;
  /** The slot of the members of sorted set `key` (whose entity tag is `tag`) scored in `[min, max)`. */
  range(tag: string, key: string, min: number, max: number): RangeSlot;
  /** The groups to pass to `OnlineAdapter.read`. */
  readonly groups: readonly (readonly ReadOp[])[];
}

/** A new, empty {@link ReadBatch}. */
export function readBatch(): ReadBatch {
  const groups: ReadOp[][] = [];
  const groupOf = new Map<string, number>();
  const opOf: Map<string, number>[] = [];
  const fieldsOf: Map<string, number>[][] = [];
  const group = (tag: string): number => {
    let at = groupOf.get(tag);
    if (at === undefined) {
      at = groups.length;
      groups.push([]);
      opOf.push(new Map());
      fieldsOf.push([]);
      groupOf.set(tag, at);
    }
    return at;
  };
  return {
    groups,
    field(tag, key, field) {
      const g = group(tag);
      let op = opOf[g]!.get(key);
      if (op === undefined) {
        op = groups[g]!.length;
        groups[g]!.push({ kind: 'fields', key, fields: [] });
        fieldsOf[g]![op] = new Map();
        opOf[g]!.set(key, op);
      }
      const positions = fieldsOf[g]![op]!;
      let at = positions.get(field);
      if (at === undefined) {
        const fields = (groups[g]![op] as unknown as { fields: string[] }).fields;
        at = fields.length;
        fields.push(field);
        positions.set(field, at);
      }
      return { group: g, op, at };
    },
    range(tag, key, min, max) {
      const g = group(tag);
      groups[g]!.push({ kind: 'range', key, min, max });
      return { group: g, op: groups[g]!.length - 1 };
    },
  };
}

/** The text at a field slot (null when absent). */
export function textAt(replies: readonly ReadReply[][], slot: ReadSlot): string | null {
  return replies[slot.group]![slot.op]![slot.at] ?? null;
}

/** The members at a range slot. */
export function membersAt(replies: readonly ReadReply[][], slot: RangeSlot): ReadReply {
  return replies[slot.group]![slot.op]!;
}
