/**
 * Lua of the Redis adapter. `WRITE` applies one {@link WriteGroup} atomically with the exact
 * semantics of `applyTileOp` (the in-process reference); `READ` runs one group's reads.
 *
 * WRITE: KEYS = the group's keys; ARGV = lateBefore, trimBefore, nEvents, then per event
 * (id, ts, raw, nOps, then per op: key index (1-based), field, kind, arg, k), nPutKeys, then per
 * key put to (key index, nFields, then nFields field-value pairs: one HSET per key and 1000
 * pairs), nDeletes, then per delete (key index, field), nMeta, then per meta
 * (field, value), then one ttl (ms, or "inf") per key. Returns {applied, duplicates, late}.
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
local at = 3
local applied, duplicates, late = 0, 0, 0
local nEvents = tonumber(ARGV[at]); at = at + 1
for _ = 1, nEvents do
  local id, ts, raw, nOps = ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 2], tonumber(ARGV[at + 3])
  at = at + 4
  if id ~= '' and redis.call('ZSCORE', KEYS[1], id) then
    duplicates = duplicates + 1
    at = at + 5 * nOps
  elseif ts < lateBefore then
    late = late + 1
    at = at + 5 * nOps
  else
    if id ~= '' then redis.call('ZADD', KEYS[1], ts, id) end
    redis.call('ZADD', KEYS[2], ts, raw)
    for _ = 1, nOps do
      local key = KEYS[tonumber(ARGV[at])]
      local field = ARGV[at + 1]
      local current = redis.call('HGET', key, field)
      redis.call('HSET', key, field, apply(current, ARGV[at + 2], ARGV[at + 3], tonumber(ARGV[at + 4])))
      at = at + 5
    end
    applied = applied + 1
  end
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
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
for i = 1, #KEYS do
  local ttl = ARGV[at + i - 1]
  if ttl ~= 'inf' then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {applied, duplicates, late}
`;

/**
 * READ: KEYS = the keys read; ARGV = per key: kind ("f" or "r"), then for "f" a field count and
 * the fields, for "r" min and max scores ([min, max)). Returns one array per key.
 */
export const READ_SCRIPT = `
local at = 1
local out = {}
for i = 1, #KEYS do
  local kind = ARGV[at]
  if kind == 'f' then
    local n = tonumber(ARGV[at + 1])
    if n == 0 then
      out[i] = {}
    elseif n <= 4000 then
      out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV, at + 2, at + 1 + n))
    else
      -- In chunks: unpack() of more than ~8000 values overflows the Lua stack.
      local values = {}
      for from = at + 2, at + 1 + n, 4000 do
        local last = math.min(from + 3999, at + 1 + n)
        local part = redis.call('HMGET', KEYS[i], unpack(ARGV, from, last))
        for j = 1, #part do values[#values + 1] = part[j] end
      end
      out[i] = values
    end
    at = at + 2 + n
  else
    out[i] = redis.call('ZRANGEBYSCORE', KEYS[i], ARGV[at + 1], '(' .. ARGV[at + 2])
    at = at + 3
  end
end
return out
`;
