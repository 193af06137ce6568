/**
 * A PROTOTYPE of a faster online read, for the benchmark only (not the store's read path): the
 * Lua script computes the covering tiles and field names itself and merges every feature's tiles
 * server-side, so the request carries a few numbers per feature instead of every field name, and
 * the reply one merged text per feature part instead of every tile's fields. The TypeScript side
 * decodes one tile per feature, folds the raw head and finalizes, exactly as the store does.
 * It mirrors the key and field layout of packages/feature-store/src/online/layout.ts (stream
 * layer, windowed `w` tiles only, no batch watermark), which is all the benchmark reads.
 */
import {
  bodyStart,
  compileFolder,
  featureValue,
  headStart,
  type Intermediate,
  type ScalarValue,
  type SourceEvent,
  windowStart,
} from '@tandem/core';
import type { OnlineStore } from '@tandem/feature-store';
import type { Redis } from 'ioredis';

const SCRIPT = `
local BUCKET = 1073741824
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  if n == 0 then return '0' end
  local neg = n < 0
  if neg then n = -n end
  local out = ''
  while n > 0 do
    local d = n % 36
    out = string.sub(DIGITS, d + 1, d + 1) .. out
    n = (n - d) / 36
  end
  if neg then return '-' .. out end
  return out
end
local function keyof(entry)
  return string.sub(entry, 1, string.find(entry, '\\t', 1, true) - 1)
end
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- ARGV: head, q, firstBucket, nMeta, meta fields..., nFeatures, then per feature:
-- fp, grain, levels, from, to, nParts, then per part: name, kind, k
local head, q, firstBucket = ARGV[1], ARGV[2], tonumber(ARGV[3])
local at = 4
local nMeta = tonumber(ARGV[at]); at = at + 1
local meta = redis.call('HMGET', KEYS[1], unpack(ARGV, at, at + nMeta - 1))
at = at + nMeta
local raw = redis.call('ZRANGEBYSCORE', KEYS[2], head, '(' .. q)
local nFeatures = tonumber(ARGV[at]); at = at + 1
-- fields to fetch per key, and where each value goes: slots[key] = list of {feature part index}
local fetch, slots = {}, {}
local parts = {} -- parts[i] = {kind, k, values = {}}: values by tile ordinal (tile order)
local ordinal = 0
for _ = 1, nFeatures do
  local fp, grain, levels = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local from, to, nParts = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
  at = at + 6
  local first = #parts
  local names = {}
  local firstTile = ordinal + 1
  for p = 1, nParts do
    parts[first + p] = { kind = ARGV[at + 1], k = tonumber(ARGV[at + 2]), values = {} }
    names[p] = ARGV[at]
    at = at + 3
  end
  local t = from
  while t < to do
    local level = levels - 1
    while level > 0 do
      local size = grain * 4 ^ level
      if t % size == 0 and t + size <= to then break end
      level = level - 1
    end
    local key = 2 + math.floor(t / BUCKET) - firstBucket + 1
    local list = fetch[key]
    if list == nil then list = {}; fetch[key] = list; slots[key] = {} end
    local prefix = fp .. ':' .. level .. ':' .. b36(t) .. ':'
    for p = 1, nParts do
      list[#list + 1] = prefix .. names[p]
      slots[key][#list] = { first + p, ordinal + 1 }
    end
    ordinal = ordinal + 1
    t = t + grain * 4 ^ level
  end
  for p = 1, nParts do
    parts[first + p].from = firstTile
    parts[first + p].to = ordinal
  end
end
for key, list in pairs(fetch) do
  local values = redis.call('HMGET', KEYS[key], unpack(list))
  local where = slots[key]
  for i = 1, #list do
    if values[i] then parts[where[i][1]].values[where[i][2]] = values[i] end
  end
end
-- Merge each part's tile values, in tile order.
local merged = {}
for i = 1, #parts do
  local part, out = parts[i], false
  local values = {}
  for j = part.from, part.to do
    if part.values[j] then values[#values + 1] = part.values[j] end
  end
  if part.kind == 'add' then
    local sum = 0
    for j = 1, #values do
      if values[j] == 'overflow' then sum = nil break end
      sum = sum + tonumber(values[j])
    end
    if sum == nil then out = 'overflow' elseif #values > 0 then out = string.format('%.17g', sum) end
  elseif part.kind == 'min' or part.kind == 'max' then
    for j = 1, #values do
      local x = tonumber(values[j])
      if out == false or (part.kind == 'min' and x < tonumber(out)) or (part.kind == 'max' and x > tonumber(out)) then
        out = values[j]
      end
    end
  elseif part.kind == 'greatest' then
    for j = 1, #values do
      if out == false or less(keyof(out), keyof(values[j])) then out = values[j] end
    end
  elseif part.kind == 'newest' or part.kind == 'oldest' then
    local all = {}
    for j = 1, #values do
      for _, e in ipairs(cjson.decode(values[j])) do all[#all + 1] = e end
    end
    if #all > 0 then
      local newest = part.kind == 'newest'
      table.sort(all, function(a, b)
        if newest then return less(keyof(b), keyof(a)) end
        return less(keyof(a), keyof(b))
      end)
      local keep = {}
      for j = 1, math.min(#all, part.k) do keep[j] = all[j] end
      out = cjson.encode(keep)
    end
  elseif part.kind == 'hll' then
    local best = {}
    local registers = {}
    for j = 1, #values do
      for _, item in ipairs(cjson.decode(values[j])) do
        local r = math.floor(item / 64)
        if best[r] == nil then registers[#registers + 1] = r; best[r] = item
        elseif item > best[r] then best[r] = item end
      end
    end
    if #registers > 0 then
      table.sort(registers)
      local texts = {}
      for j = 1, #registers do texts[j] = string.format('%d', best[registers[j]]) end
      out = '[' .. table.concat(texts, ',') .. ']'
    end
  end
  merged[i] = out
end
return { meta, raw, merged }
`;

/** Part kinds by codec part name and aggregation. */
function partKind(fn: string, part: string): string {
  if (part === 'c' || part === 'n' || part === 's' || part === 'a' || part === 'q') return 'add';
  if (part === 'v') return fn === 'min' ? 'min' : 'max';
  if (part === 'e') return 'greatest';
  if (part === 'l') return fn === 'first_k' ? 'oldest' : 'newest';
  if (part === 'h') return 'hll';
  throw new Error(`unknown part ${part}`);
}

type ReadClient = Redis & {
  tandemMergedRead(numKeys: number, args: readonly (string | number)[]): Promise<unknown>;
};

/**
 * A prototype reader of `features` (aggregations of one event source keyed by one integer key)
 * from `store`'s namespace: one Lua call per entity, pipelined.
 */
export function mergedReader(client: Redis, store: OnlineStore, featureNames: readonly string[]) {
  const c = client as ReadClient;
  if (typeof c.tandemMergedRead !== 'function') {
    c.defineCommand('tandemMergedRead', { lua: SCRIPT });
  }
  const features = featureNames.map((name) => store.features.get(name)!);
  const folders = features.map((f) => compileFolder(f.ir));
  const source = features[0]!.ir.source;
  const entity = source.entity;
  const metaFields = [...features.map((f) => `f:${f.feature.name}`), 'u'];

  return async (keys: readonly Readonly<Record<string, string | number>>[], q: number) => {
    const heads = features.map((f) => headStart(f.ladder, q));
    const froms = features.map((f) => bodyStart(f.ladder, f.ir.window, q));
    const head = Math.min(...heads);
    const firstBucket = Math.floor(Math.min(...froms) / 2 ** 30);
    const lastBucket = Math.floor((Math.max(...heads) - 1) / 2 ** 30);
    const args: (string | number)[] = [head, q, firstBucket, metaFields.length, ...metaFields];
    args.push(features.length);
    features.forEach((f, i) => {
      args.push(f.fp, f.ladder.grain, f.ladder.levels, froms[i]!, heads[i]!, f.codec.parts.length);
      for (const part of f.codec.parts) {
        const k = (f.ir.aggregation as { k?: number }).k ?? 0;
        args.push(part, partKind(f.ir.aggregation.fn, part), k);
      }
    });
    const pipeline = client.pipeline() as unknown as ReadClient & {
      exec(): Promise<[Error | null, unknown][]>;
    };
    for (const key of keys) {
      const tag = `{${encodeURIComponent(entity.name)}:${Object.keys(entity.keys)
        .map((n) => encodeURIComponent(String(key[n])))
        .join(':')}}`;
      const base = `${store.namespace}:${tag}`;
      const keyList = [`${base}:m:${source.name}`, `${base}:r:${source.name}`];
      for (let b = firstBucket; b <= lastBucket; b++)
        keyList.push(`${base}:t:s:${source.name}:w:${b}`);
      pipeline.tandemMergedRead(keyList.length, [...keyList, ...args]);
    }
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply]) => {
      if (error !== null) throw error;
      const [meta, raw, merged] = reply as [(string | null)[], string[], (string | null)[]];
      const events: SourceEvent[] = raw.map((member) => {
        const [ts, eventId, seq, ingestedAt, values] = JSON.parse(member) as [
          number,
          string | null,
          number | null,
          number | null,
          Record<string, ScalarValue>,
        ];
        return { ts, eventId, seq, ingestedAt, values };
      });
      const values: Record<string, unknown> = {};
      let at = 0;
      features.forEach((f, i) => {
        const texts = f.codec.parts.map(() => merged[at++] ?? null);
        let state = f.codec.decode(texts) as Intermediate;
        for (const event of events) {
          if (event.ts >= heads[i]! && folders[i]!.counts(event, q)) {
            state = folders[i]!.add(state, event);
          }
        }
        const cut = f.ladder.cutoff ? f.codec.cut(state, windowStart(f.ir.window, q)) : state;
        const written = meta[meta.length - 1] ?? null;
        const fp = meta[i] ?? null;
        values[f.feature.name] = {
          value: written === null || fp !== f.fp ? null : featureValue(f.ir, cut),
          status: written === null ? 'missing' : fp !== f.fp ? 'definition_mismatch' : 'present',
        };
      });
      return values;
    });
  };
}
