/**
 * Lua of the Redis adapter. `WRITE` applies one {@link WriteGroup} atomically with the exact
 * semantics of `applyTileOp` (the in-process reference). (Reads are plain commands in MULTI/EXEC.)
 *
 * WRITE: KEYS = the group's keys; ARGV = lateBefore, trimBefore, guard (key index or 0, field,
 * "1" when a value is expected or "0" for an absent field, value), counter (key index or 0,
 * field), nEvents, then per event (id, ts, visibleAt, raw, ops: one string holding, per op, key index
 * (1-based), field, kind, arg, k, the slot of a ranged op or "", separated by \x1f and ended by
 * \x1e;
 * no part of an op contains either), nPutKeys, then per
 * key put to (key index, nFields, then nFields field-value pairs: one HSET per key and 1000
 * pairs), nDeletes, then per delete (key index, field), nMeta, then per meta
 * (field, value), then one ttl (ms, or "inf") per key. Returns {applied, duplicates, late} and a
 * fourth element, 1, when the guard refused the group.
 */
export const WRITE_SCRIPT = `
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
local function apply(current, kind, arg, k)
  if kind == 'add' then
    if current == 'overflow' then return current end
    local sum = (tonumber(current) or 0) + tonumber(arg)
    if sum ~= sum or sum == math.huge or sum == -math.huge then return 'overflow' end
    return string.format('%.17g', sum)
  elseif kind == 'min' then
    if current == false or tonumber(arg) < tonumber(current) then return arg end
    return current
  elseif kind == 'max' then
    if current == false or tonumber(arg) > tonumber(current) then return arg end
    return current
  elseif kind == 'greatest' then
    if current == false or less(keyof(current), keyof(arg)) then return arg end
    return current
  elseif kind == 'newest' or kind == 'oldest' then
    local list = {}
    if current ~= false then list = cjson.decode(current) end
    table.insert(list, arg)
    local newest = kind == 'newest'
    table.sort(list, function(a, b)
      if newest then return less(keyof(b), keyof(a)) end
      return less(keyof(a), keyof(b))
    end)
    local out = {}
    for i = 1, math.min(#list, k) do out[i] = list[i] end
    return cjson.encode(out)
  elseif kind == 'hll' then
    local item = tonumber(arg)
    local register = math.floor(item / 64)
    local items = {}
    if current ~= false then items = cjson.decode(current) end
    local at = nil
    for i = 1, #items do
      if math.floor(items[i] / 64) >= register then at = i break end
    end
    if at == nil then
      table.insert(items, item)
    elseif math.floor(items[at] / 64) ~= register then
      table.insert(items, at, item)
    elseif items[at] < item then
      items[at] = item
    end
    local texts = {}
    for i = 1, #items do texts[i] = string.format('%d', items[i]) end
    return '[' .. table.concat(texts, ',') .. ']'
  elseif kind == 'poison' then
    return 'overflow'
  end
  return redis.error_reply('unknown tile op ' .. kind)
end

local lateBefore = tonumber(ARGV[1])
local trimBefore = tonumber(ARGV[2])
local guardKey = tonumber(ARGV[3])
if guardKey > 0 then
  local current = redis.call('HGET', KEYS[guardKey], ARGV[4])
  local expected = false
  if ARGV[5] == '1' then expected = ARGV[6] end
  if current ~= expected then return {0, 0, 0, 1} end
end
local counterKey, counterField = tonumber(ARGV[7]), ARGV[8]
local at = 9
-- An integer in base 36 (tonumber's base 36 takes no sign).
local function base36(text)
  if string.sub(text, 1, 1) == '-' then return -tonumber(string.sub(text, 2), 36) end
  return tonumber(text, 36)
end
-- An integer written in base 36 as Number.prototype.toString(36) writes it.
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function tobase36(n)
  if n == 0 then return '0' end
  local sign = ''
  if n < 0 then sign, n = '-', -n end
  local out = ''
  while n > 0 do
    local d = n % 36
    out = string.sub(DIGITS, d + 1, d + 1) .. out
    n = (n - d) / 36
  end
  return sign .. out
end
-- The range a ranged field carries ('<lo> <hi> <mark>...|<text>', numbers in base 36): lo, hi,
-- mark, '<lo> <hi> ' as written, what follows the mark up to and with the '|', the whole prefix,
-- text (false: empty).
local function rangeOf(current)
  if not current then return nil end
  local bar = string.find(current, '|', 1, true)
  if not bar then return nil end
  local prefix = string.sub(current, 1, bar)
  local lo, hi, mark, rest = string.match(prefix, '^(%-?[%da-z]+) (%-?[%da-z]+) (%-?[%da-z]+)(.*)$')
  if not lo then return nil end
  local text = string.sub(current, bar + 1)
  if text == '' then text = false end
  return base36(lo), base36(hi), base36(mark), lo .. ' ' .. hi .. ' ', rest, prefix, text
end
local applied, duplicates, late = 0, 0, 0
-- Field values the events' ops produced, by key index and field: read once, written once.
local touched = {}
local nEvents = tonumber(ARGV[at]); at = at + 1
for _ = 1, nEvents do
  local id, ts, visibleAt = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local raw, ops = ARGV[at + 3], ARGV[at + 4]
  at = at + 5
  if id ~= '' and redis.call('ZSCORE', KEYS[1], id) then
    duplicates = duplicates + 1
  elseif ts < lateBefore then
    late = late + 1
  else
    if id ~= '' then redis.call('ZADD', KEYS[1], ts, id) end
    redis.call('ZADD', KEYS[2], ts, raw)
    for keyIndex, field, kind, arg, k, ranged in string.gmatch(ops, '(%d+)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31(%d*)\\31([^\\30]*)\\30') do
      keyIndex = tonumber(keyIndex)
      local fields = touched[keyIndex]
      if fields == nil then
        fields = {}
        touched[keyIndex] = fields
      end
      local current = fields[field]
      if current == nil then current = redis.call('HGET', KEYS[keyIndex], field) end
      if ranged == '' then
        fields[field] = apply(current, kind, arg, tonumber(k))
      else
        local lo, hi, mark, bounds, rest, prefix, text = rangeOf(current)
        if lo and lo <= ts and ts < hi then
          -- The op applies to part 'slot' of the text (parts separated by \\x1f; empty: absent).
          local parts = {}
          if text then
            for part in string.gmatch(text .. '\\31', '([^\\31]*)\\31') do parts[#parts + 1] = part end
          end
          local slot = tonumber(ranged) + 1
          for i = #parts + 1, slot do parts[i] = '' end
          local part = parts[slot]
          if part == '' then part = false end
          parts[slot] = apply(part, kind, arg, tonumber(k))
          if visibleAt > mark then prefix = bounds .. tobase36(visibleAt) .. rest end
          fields[field] = prefix .. table.concat(parts, '\\31')
        end
      end
    end
    applied = applied + 1
  end
end
-- Every field the events changed, written once (HSET per key, 1000 pairs at a time).
for keyIndex, fields in pairs(touched) do
  local pairs_ = {}
  for field, value in pairs(fields) do
    pairs_[#pairs_ + 1] = field
    pairs_[#pairs_ + 1] = value
    if #pairs_ >= 2000 then
      redis.call('HSET', KEYS[keyIndex], unpack(pairs_))
      pairs_ = {}
    end
  end
  if #pairs_ > 0 then redis.call('HSET', KEYS[keyIndex], unpack(pairs_)) end
end
local nPuts = tonumber(ARGV[at]); at = at + 1
for _ = 1, nPuts do
  local key, n = KEYS[tonumber(ARGV[at])], tonumber(ARGV[at + 1])
  at = at + 2
  local last = at + 2 * n - 1
  for from = at, last, 2000 do
    redis.call('HSET', key, unpack(ARGV, from, math.min(from + 1999, last)))
  end
  at = last + 1
end
local nDeletes = tonumber(ARGV[at]); at = at + 1
for _ = 1, nDeletes do
  redis.call('HDEL', KEYS[tonumber(ARGV[at])], ARGV[at + 1])
  at = at + 2
end
local nMeta = tonumber(ARGV[at]); at = at + 1
if applied > 0 or nPuts > 0 then
  for i = 0, nMeta - 1 do
    redis.call('HSET', KEYS[3], ARGV[at + 2 * i], ARGV[at + 2 * i + 1])
  end
end
at = at + 2 * nMeta
if counterKey > 0 and (applied > 0 or nPuts > 0 or nDeletes > 0) then
  redis.call('HINCRBY', KEYS[counterKey], counterField, 1)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
for i = 1, #KEYS do
  local ttl = ARGV[at + i - 1]
  if ttl ~= 'inf' then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {applied, duplicates, late}
`;
