import type { OnlineAdapter, ReadOp, WriteGroup } from '@tandem/feature-store';

/** Counters of a {@link timedAdapter}. */
export interface AdapterCounters {
  /** Calls and wall time of `read`, ms. */
  reads: number;
  readMs: number;
  /** Fields and ranges asked, request bytes (keys and field names), reply values and bytes. */
  fields: number;
  ranges: number;
  requestBytes: number;
  replyValues: number;
  replyBytes: number;
  /** Calls and wall time of `write`, ms. */
  writes: number;
  writeMs: number;
  /** Write groups (one Lua call each). */
  writeGroups: number;
  /** When set, every put of every write group is appended here (materialization replay). */
  puts: { key: string; field: string; value: string }[] | null;
}

/** Fresh counters; `capturePuts` keeps every put written. */
export function counters(capturePuts = false): AdapterCounters {
  return {
    reads: 0,
    readMs: 0,
    fields: 0,
    ranges: 0,
    requestBytes: 0,
    replyValues: 0,
    replyBytes: 0,
    writes: 0,
    writeMs: 0,
    writeGroups: 0,
    puts: capturePuts ? [] : null,
  };
}

/** An adapter that times and measures the calls it passes to `inner`. */
export function timedAdapter(
  inner: OnlineAdapter,
  stats: () => AdapterCounters | undefined,
): OnlineAdapter {
  return {
    ...inner,
    async read(groups: readonly (readonly ReadOp[])[]) {
      const s = stats();
      const start = performance.now();
      const replies = await inner.read(groups);
      if (s !== undefined) {
        s.readMs += performance.now() - start;
        s.reads++;
        for (const group of groups) {
          for (const op of group) {
            s.requestBytes += op.key.length;
            if (op.kind === 'fields') {
              s.fields += op.fields.length;
              for (const f of op.fields) s.requestBytes += f.length;
            } else s.ranges++;
          }
        }
        for (const group of replies) {
          for (const reply of group) {
            for (const value of reply) {
              s.replyValues++;
              if (value !== null) s.replyBytes += value.length;
            }
          }
        }
      }
      return replies;
    },
    async write(groups: readonly WriteGroup[]) {
      const s = stats();
      const start = performance.now();
      const outcomes = await inner.write(groups);
      if (s !== undefined) {
        s.writeMs += performance.now() - start;
        s.writes++;
        s.writeGroups += groups.length;
        if (s.puts !== null) {
          for (const group of groups) {
            for (const put of group.puts) {
              s.puts.push({ key: group.keys[put.key]!, field: put.field, value: put.value });
            }
          }
        }
      }
      return outcomes;
    },
  };
}
