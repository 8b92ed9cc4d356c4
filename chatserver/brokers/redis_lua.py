"""The Lua scripts that number and publish room messages in Redis: reserve, release, settle, flush.

A message is numbered *before* its audit row is written (so the row is written once, with its
seq) and shown only *after*: `RESERVE` takes the next seq of the room and notes who holds it and
until when; the worker commits the row; `RELEASE` hands over the frame, and every released
message is published strictly in seq order from the room's head. A reservation still in time
blocks the ones after it; one past its time (its worker died, or its disk stalled) becomes a
*void*: a number nobody is shown, announced as `<room> <seq> - void` so subscribers step over it.
A reservation cancelled because its row could not be written is a void too, but its number is
given back when nothing live follows it, so a failing disk leaves no gap.

Every script takes the same six keys of one room: seq counter, head (the last seq published or
stepped over), reservations (hash seq -> "<hold-until ms> <id>", or "c" cancelled, "v" void),
released (hash seq -> "<publish-by ms> <id> <frame without seq>"), stream, deleted ids.
"""

from __future__ import annotations

import hashlib

#: RESERVE: the script ran after its send deadline (nothing taken). RELEASE: arrived after its
#: send deadline (nothing changed; the reservation lapses on its own).
TOO_LATE = -1
#: RELEASE (a status per message): a host deleted the message before it was published (its seq: a gap).
DELETED = -2
#: RELEASE: the reservation had lapsed or was settled meanwhile (its seq is a void).
LAPSED = -3
#: RELEASE: published now. PARKED: released, waiting for an earlier reservation.
PUBLISHED, PARKED = 1, 0

_COMMON = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function owner(held)
  if not held then return nil end
  local sp = string.find(held, ' ', 1, true)
  if not sp then return nil end
  return string.sub(held, sp + 1), tonumber(string.sub(held, 1, sp - 1))
end

local function released_id(out)
  local a = string.find(out, ' ', 1, true)
  local b = string.find(out, ' ', a + 1, true)
  return string.sub(out, a + 1, b - 1)
end

local function emit(out, n, now, room, channel, maxlen)
  local a = string.find(out, ' ', 1, true)
  local b = string.find(out, ' ', a + 1, true)
  local id = string.sub(out, a + 1, b - 1)
  if tonumber(string.sub(out, 1, a - 1)) < now then
    redis.call('PUBLISH', channel, room .. ' ' .. n .. ' - void')
    return
  end
  if redis.call('ZSCORE', KEYS[6], id) then
    redis.call('PUBLISH', channel, room .. ' ' .. n .. ' - deleted')
    return
  end
  local frame = '{"seq":' .. n .. ',' .. string.sub(out, b + 2)
  local added = redis.pcall('XADD', KEYS[5], 'MAXLEN', '~', maxlen, n .. '-1', 'id', id, 'f', frame)
  if type(added) == 'table' and added.err then
    redis.call('PUBLISH', channel, room .. ' ' .. n .. ' - void')
    return
  end
  redis.call('PUBLISH', channel, room .. ' ' .. n .. ' ' .. id .. ' ' .. frame)
end

-- Publish what is released, in seq order from the head; stop at a reservation still in time.
local function advance(now, room, channel, maxlen)
  local top = tonumber(redis.call('GET', KEYS[1]) or '0')
  local head = tonumber(redis.call('GET', KEYS[2]) or '0')
  local n = head + 1
  local blocked = false
  while n <= top and n - head <= 1000 do
    local out = redis.call('HGET', KEYS[4], n)
    if out then
      for v = head + 1, n - 1 do
        redis.call('HDEL', KEYS[3], v)
        redis.call('PUBLISH', channel, room .. ' ' .. v .. ' - void')
      end
      redis.call('HDEL', KEYS[3], n)
      redis.call('HDEL', KEYS[4], n)
      head = n
      emit(out, n, now, room, channel, maxlen)
    else
      local held = redis.call('HGET', KEYS[3], n)
      local id, hold = owner(held)
      if id then
        if hold >= now then
          blocked = true
          break
        end
        redis.call('HSET', KEYS[3], n, 'v')
      end
    end
    n = n + 1
  end
  if not blocked and n > top then
    while top > head and redis.call('HGET', KEYS[3], top) == 'c' do
      redis.call('HDEL', KEYS[3], top)
      top = top - 1
    end
    redis.call('SET', KEYS[1], top)
  end
  redis.call('SET', KEYS[2], head)
  return head
end
"""

# ARGV: floor, hold (ms), send deadline (ms, Redis clock; 0: none), then the ids, one seq each, in
# order. Returns the first seq taken (the others follow it), or -1.
RESERVE_LUA = (
    _COMMON
    + """
local now = clock()
local late = tonumber(ARGV[3])
if late > 0 and now > late then return -1 end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if cur == 0 then
  local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
  if last[1] then
    local seen = tonumber(string.match(last[1][1], '^(%d+)'))
    if seen > floor then floor = seen end
  end
end
local head = tonumber(redis.call('GET', KEYS[2]) or cur)
if cur < head then cur = head end
if cur < floor then cur = floor end
if head < floor then head = floor end
local hold = (now + tonumber(ARGV[2])) .. ' '
local held = {}
for k = 4, #ARGV do
  cur = cur + 1
  held[#held + 1] = cur
  held[#held + 1] = hold .. ARGV[k]
end
redis.call('HSET', KEYS[3], unpack(held))
redis.call('SET', KEYS[1], cur)
redis.call('SET', KEYS[2], head)
return cur - (#ARGV - 3) + 1
"""
)

# ARGV: room, channel, maxlen, send deadline (0: none), park (ms), then (seq, id, body) for each message
# (body: the frame without seq). Returns one status per message.
RELEASE_LUA = (
    _COMMON
    + """
local now = clock()
local late = tonumber(ARGV[4])
local count = (#ARGV - 5) / 3
local statuses = {}
if late > 0 and now > late then
  for k = 1, count do statuses[k] = -1 end
  return statuses
end
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local park = (now + tonumber(ARGV[5])) .. ' '
for k = 1, count do
  local n = tonumber(ARGV[3 * k + 3])
  local id = ARGV[3 * k + 4]
  local who, hold = owner(redis.call('HGET', KEYS[3], n))
  if who ~= id then
    statuses[k] = -3
  elseif hold < now or head >= n then
    statuses[k] = -3
  elseif redis.call('ZSCORE', KEYS[6], id) then
    statuses[k] = -2
  else
    statuses[k] = 0
    redis.call('HSET', KEYS[4], n, park .. id .. ' ' .. ARGV[3 * k + 5])
  end
  if statuses[k] < 0 and who == id then
    redis.call('HSET', KEYS[3], n, 'v')
  end
end
head = advance(now, ARGV[1], ARGV[2], ARGV[3])
for k = 1, count do
  if statuses[k] == 0 and head >= tonumber(ARGV[3 * k + 3]) then statuses[k] = 1 end
end
return statuses
"""
)

# ARGV: seq, id, room, channel, maxlen, mark ('c': no row holds this seq, give it back; 'v': void).
# Takes a message back if it is not out yet (1 if it was published, 0 if nobody will ever see it).
SETTLE_LUA = (
    _COMMON
    + """
local now = clock()
local n = tonumber(ARGV[1])
local mine = owner(redis.call('HGET', KEYS[3], n)) == ARGV[2]
local out = redis.call('HGET', KEYS[4], n)
if out and released_id(out) == ARGV[2] then
  redis.call('HDEL', KEYS[4], n)
  mine = true
end
if mine then
  redis.call('HSET', KEYS[3], n, ARGV[6])
  advance(now, ARGV[3], ARGV[4], ARGV[5])
  return 0
end
local entry = redis.call('XRANGE', KEYS[5], n .. '-1', n .. '-1')
if entry[1] then
  local fields = entry[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' and fields[i + 1] == ARGV[2] then return 1 end
  end
end
return 0
"""
)

# ARGV: room, channel, maxlen. Steps over lapsed reservations; returns the head.
FLUSH_LUA = (
    _COMMON
    + """
return advance(clock(), ARGV[1], ARGV[2], ARGV[3])
"""
)


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


RESERVE_SHA, RELEASE_SHA, SETTLE_SHA, FLUSH_SHA = map(_sha, (RESERVE_LUA, RELEASE_LUA, SETTLE_LUA, FLUSH_LUA))


class Script:
    """A numbering script and its SHA1, for EVALSHA."""

    __slots__ = ("lua", "sha")

    def __init__(self, lua: str) -> None:
        self.lua, self.sha = lua, _sha(lua)


def numbering_scripts(*, sharded: bool) -> tuple[Script, Script, Script, Script]:
    """RESERVE, RELEASE, SETTLE, FLUSH; `sharded` (a cluster) publishes with SPUBLISH on the room's
    shard channel, which is in the slot of the room's keys, so the script stays on one node."""
    scripts = [RESERVE_LUA, RELEASE_LUA, SETTLE_LUA, FLUSH_LUA]
    if sharded:
        scripts = [s.replace("redis.call('PUBLISH',", "redis.call('SPUBLISH',") for s in scripts]
    reserve, release, settle, flush = (Script(s) for s in scripts)
    return reserve, release, settle, flush
