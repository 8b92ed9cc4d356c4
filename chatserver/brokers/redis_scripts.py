"""What the Redis broker keeps in Redis: key and channel names, and the Lua scripts that change them.

Each room has a `seq` counter, a capped stream of its messages (entry id `<seq>-1`, fields `id` and
`f`, the frame) and a sorted set of deleted message ids. Messages go out on one pub/sub channel,
events on another. The scripts make each change atomic, so several workers on several hosts can
publish to one room without two messages ever taking the same seq.
"""

from __future__ import annotations

import hashlib
from typing import cast

PREFIX = "chatserver"
MSG_CHANNEL = f"{PREFIX}:messages"
EVT_CHANNEL = f"{PREFIX}:events"
STREAM_MAXLEN = 2000
#: room -> a counter raised by every change of the room's shared state (chatserver/resync.py).
VERSIONS_KEY = f"{PREFIX}:versions"


def seq_key(room: str) -> str:
    return f"{PREFIX}:room:{room}:seq"


def stream_key(room: str) -> str:
    return f"{PREFIX}:room:{room}:log"


def deleted_key(room: str) -> str:
    return f"{PREFIX}:room:{room}:deleted"


#: What the publish script returns when it ran past its deadline.
TOO_LATE = -1
#: What it returns for a message a host deleted before it was published.
DELETED = -2

# KEYS: seq key, stream key, deleted key.
# ARGV: floor, body (JSON object without seq), id, room, channel, maxlen, deadline (ms, Redis clock; 0: none).
PUBLISH_LUA = """
local deadline = tonumber(ARGV[7])
if deadline > 0 then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > deadline then
    return -1
  end
end
if redis.call('ZSCORE', KEYS[3], ARGV[3]) then
  return -2
end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if cur == 0 then
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if top[1] then
    local last = tonumber(string.match(top[1][1], '^(%d+)'))
    if last > floor then floor = last end
  end
end
if cur < floor then cur = floor end
cur = cur + 1
redis.call('SET', KEYS[1], cur)
local frame = '{"seq":' .. cur .. ',' .. string.sub(ARGV[2], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], cur .. '-1', 'id', ARGV[3], 'f', frame)
redis.call('PUBLISH', ARGV[5], ARGV[4] .. ' ' .. cur .. ' ' .. ARGV[3] .. ' ' .. frame)
return cur
"""

PUBLISH_SHA = hashlib.sha1(PUBLISH_LUA.encode()).hexdigest()

# KEYS: deleted key, stream key, versions key. ARGV: id, now (s), keep, scan, room.
# A deletion is remembered (so a publish still in flight for it is refused) and the entry leaves the
# stream, found by its id: its seq may not be known yet to the worker that deletes it.
DELETE_LUA = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', tonumber(ARGV[4]))
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' and fields[i + 1] == ARGV[1] then
      redis.call('XDEL', KEYS[2], entry[1])
      return 1
    end
  end
end
return 0
"""
#: Deletions remembered per room: far more than could ever be in flight.
DELETED_KEEP = 10_000

# KEYS: seq key. ARGV: known seq. Raise the counter to at least what the audit log knows.
SEED_LUA = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return cur
"""


#: A stream entry as this broker reads it: its id and its fields.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def entries(reply: object) -> list[StreamEntry]:
    """An XRANGE or XREVRANGE reply, typed: all bytes, as the client never decodes replies (redis-py's
    types allow for a client that does)."""
    return cast(list[StreamEntry], reply)


def entry_seq(entry_id: bytes) -> int:
    """The seq a stream entry id (`<seq>-1`) carries."""
    return int(entry_id.split(b"-")[0])
