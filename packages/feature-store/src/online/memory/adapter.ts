import {
  type OnlineAdapter,
  RANGED_PART_SEPARATOR,
  type ReadOp,
  type ReadReply,
  type WriteGroup,
  type WriteOutcome,
} from '../adapter.js';
import { applyTileOp } from './apply-op.js';

type Entry =
  | { readonly type: 'hash'; readonly fields: Map<string, string>; expiresAt: number }
  | { readonly type: 'zset'; readonly members: Map<string, number>; expiresAt: number };

/** Options of {@link memoryAdapter}. */
export interface MemoryAdapterOptions {
  /** Wall clock for key expiry, epoch ms; default `Date.now`. */
  readonly now?: () => number;
}

/**
 * The in-process storage engine: the embedded default, with exactly the semantics of the Redis
 * adapter (same {@link WriteGroup} rules, same tile ops, key expiry) in plain Maps.
 */
export function memoryAdapter(options: MemoryAdapterOptions = {}): OnlineAdapter {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry !== undefined && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const hash = (key: string) => {
    const entry = live(key);
    if (entry?.type === 'hash') return entry.fields;
    const fields = new Map<string, string>();
    entries.set(key, { type: 'hash', fields, expiresAt: Infinity });
    return fields;
  };
  const zset = (key: string) => {
    const entry = live(key);
    if (entry?.type === 'zset') return entry.members;
    const members = new Map<string, number>();
    entries.set(key, { type: 'zset', members, expiresAt: Infinity });
    return members;
  };
  const dropIfEmpty = (key: string) => {
    const entry = entries.get(key);
    if (entry === undefined) return;
    const size = entry.type === 'hash' ? entry.fields.size : entry.members.size;
    if (size === 0) entries.delete(key);
  };

  const fieldOf = (key: string, field: string): string | null => {
    const entry = live(key);
    return entry?.type === 'hash' ? (entry.fields.get(field) ?? null) : null;
  };

  const writeGroup = (group: WriteGroup): WriteOutcome => {
    const [seenKey, rawKey, metaKey] = group.keys as [string, string, string];
    const { guard, counter } = group;
    if (guard !== undefined && fieldOf(group.keys[guard.key]!, guard.field) !== guard.equals) {
      return { applied: 0, duplicates: 0, late: 0, refused: true };
    }
    let applied = 0;
    let duplicates = 0;
    let late = 0;
    for (const event of group.events) {
      const seen = zset(seenKey);
      if (event.id !== '' && seen.has(event.id)) {
        duplicates++;
        continue;
      }
      if (event.ts < group.lateBefore) {
        late++;
        continue;
      }
      if (event.id !== '') seen.set(event.id, event.ts);
      zset(rawKey).set(event.raw, event.ts);
      for (const { key, field, op, ranged, slot = 0 } of event.ops) {
        const fields = hash(group.keys[key]!);
        const current = fields.get(field) ?? null;
        if (ranged === undefined) {
          fields.set(field, applyTileOp(current, op));
          continue;
        }
        const range = parseRange(current);
        if (range === null || event.ts < range.lo || event.ts >= range.hi) continue;
        const parts = range.text === null ? [] : range.text.split(RANGED_PART_SEPARATOR);
        while (parts.length <= slot) parts.push('');
        parts[slot] = applyTileOp(parts[slot] || null, op);
        const prefix =
          event.visibleAt > range.mark
            ? `${range.bounds}${event.visibleAt.toString(36)}${range.rest}`
            : range.prefix;
        fields.set(field, prefix + parts.join(RANGED_PART_SEPARATOR));
      }
      applied++;
    }
    for (const put of group.puts) hash(group.keys[put.key]!).set(put.field, put.value);
    for (const del of group.deletes) {
      const key = group.keys[del.key]!;
      if (live(key)?.type === 'hash') hash(key).delete(del.field);
    }
    if (applied > 0 || group.puts.length > 0) {
      const meta = hash(metaKey);
      for (const [field, value] of Object.entries(group.meta)) meta.set(field, value);
    }
    if (counter !== undefined && (applied > 0 || group.puts.length + group.deletes.length > 0)) {
      const fields = hash(group.keys[counter.key]!);
      fields.set(counter.field, String(Number(fields.get(counter.field) ?? 0) + 1));
    }
    for (const key of [seenKey, rawKey]) {
      const entry = live(key);
      if (entry?.type !== 'zset') continue;
      for (const [member, score] of entry.members) {
        if (score < group.trimBefore) entry.members.delete(member);
      }
    }
    group.keys.forEach((key, i) => {
      dropIfEmpty(key);
      const entry = live(key);
      const ttl = group.ttls[i] ?? Infinity;
      if (entry !== undefined && Number.isFinite(ttl)) entry.expiresAt = now() + ttl;
    });
    return { applied, duplicates, late };
  };

  const readOp = (op: ReadOp): ReadReply => {
    const entry = live(op.key);
    if (op.kind === 'fields') {
      const fields = entry?.type === 'hash' ? entry.fields : undefined;
      return op.fields.map((field) => fields?.get(field) ?? null);
    }
    if (entry?.type !== 'zset') return [];
    return (
      [...entry.members]
        .filter(([, score]) => score >= op.min && score < op.max)
        // Equal scores: members bytewise (UTF-8), as Redis orders them.
        .sort(([a, x], [b, y]) => x - y || Buffer.compare(Buffer.from(a), Buffer.from(b)))
        .map(([member]) => member)
    );
  };

  return {
    async write(groups) {
      return groups.map(writeGroup);
    },
    async read(groups) {
      return groups.map((ops) => ops.map(readOp));
    },
    async globals(key, command) {
      const globals = hash(key);
      if ('get' in command) return command.get.map((name) => globals.get(name) ?? null);
      if ('set' in command) {
        for (const [name, value] of Object.entries(command.set)) globals.set(name, value);
        return [];
      }
      return Object.entries(command.incr).map(([name, by]) => {
        const next = String(Number(globals.get(name) ?? 0) + by);
        globals.set(name, next);
        return next;
      });
    },
    async clear(prefix, match) {
      for (const key of [...entries.keys()]) {
        if (key.startsWith(prefix) && (match === undefined || match(key))) entries.delete(key);
      }
    },
    async close() {},
  };
}

/** A ranged field's prefix `"<lo> <hi> <mark>...|"` (see `KeyedOp.ranged`), parsed. */
interface Range {
  readonly lo: number;
  readonly hi: number;
  readonly mark: number;
  /** `"<lo> <hi> "`, as written. */
  readonly bounds: string;
  /** What follows the mark, up to and with the `|`. */
  readonly rest: string;
  /** The whole prefix, `|` included. */
  readonly prefix: string;
  /** What follows the `|` (null when empty). */
  readonly text: string | null;
}

/** The range a ranged field carries; null when it has none. */
function parseRange(current: string | null): Range | null {
  if (current === null) return null;
  const bar = current.indexOf('|');
  const match = /^(-?[0-9a-z]+) (-?[0-9a-z]+) (-?[0-9a-z]+)/.exec(current);
  if (bar < 0 || match === null || match[0].length > bar) return null;
  const text = current.slice(bar + 1);
  return {
    lo: Number.parseInt(match[1]!, 36),
    hi: Number.parseInt(match[2]!, 36),
    mark: Number.parseInt(match[3]!, 36),
    bounds: `${match[1]} ${match[2]} `,
    rest: current.slice(match[0].length, bar + 1),
    prefix: current.slice(0, bar + 1),
    text: text === '' ? null : text,
  };
}
