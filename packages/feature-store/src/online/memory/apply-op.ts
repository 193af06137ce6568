import { OVERFLOW, type TileOp } from '@tandem/core';

/**
 * The new text of a tile field after `op`: the reference semantics of {@link TileOp}, which the
 * Redis Lua script implements too (the conformance suite checks they agree).
 */
export function applyTileOp(current: string | null, op: TileOp): string {
  switch (op.kind) {
    case 'add': {
      if (current === OVERFLOW) return OVERFLOW;
      const sum = Number(current ?? 0) + Number(op.arg);
      return Number.isFinite(sum) ? String(sum) : OVERFLOW;
    }
    case 'min':
      return current === null || Number(op.arg) < Number(current) ? op.arg : current;
    case 'max':
      return current === null || Number(op.arg) > Number(current) ? op.arg : current;
    case 'greatest':
      return current === null || orderKey(op.arg) > orderKey(current) ? op.arg : current;
    case 'newest':
    case 'oldest': {
      const list = current === null ? [] : (JSON.parse(current) as string[]);
      list.push(op.arg);
      const sign = op.kind === 'newest' ? -1 : 1;
      list.sort((a, b) => {
        const x = orderKey(a);
        const y = orderKey(b);
        return x === y ? 0 : x < y ? -sign : sign;
      });
      return JSON.stringify(list.slice(0, op.k));
    }
    case 'hll': {
      const items = current === null ? [] : (JSON.parse(current) as number[]);
      const register = Math.floor(op.arg / 64);
      const at = items.findIndex((item) => Math.floor(item / 64) >= register);
      if (at === -1) items.push(op.arg);
      else if (Math.floor(items[at]! / 64) !== register) items.splice(at, 0, op.arg);
      else if (items[at]! < op.arg) items[at] = op.arg;
      return JSON.stringify(items);
    }
    case 'poison':
      return OVERFLOW;
  }
}

/** The order key of an entry (`key` TAB payload); keys use only ASCII, so `<` is bytewise. */
function orderKey(entry: string): string {
  return entry.slice(0, entry.indexOf('\t'));
}
