"""What the Redis broker keeps in Redis: key and channel names, and the Lua scripts that change them.

Each room has a `seq` counter, a head (the last seq published), the reservations and released
messages waiting for their turn (redis_lua.py), a capped stream of its messages (entry id
`<seq>-1`, fields `id` and `f`, the frame) and a sorted set of deleted message ids. Messages go out
on one pub/sub channel, events on another. The scripts make each change atomic, so several workers
on several hosts can publish to one room without two messages ever taking the same seq.
"""

from __future__ import annotations

from typing import cast

PREFIX = "chatserver"
MSG_CHANNEL = f"{PREFIX}:messages"
EVT_CHANNEL = f"{PREFIX}:events"
STREAM_MAXLEN = 2000
#: room -> a counter raised by every change of the room's shared state (chatserver/resync.py).
VERSIONS_KEY = f"{PREFIX}:versions"


#: The keys every numbering script takes, in their order (chatserver/brokers/redis_lua.py).
_NUMBERING_PARTS = ("seq", "head", "reserved", "released", "log", "deleted")


class KeySpace:
    """Where a room's keys and messages live in Redis.

    On one Redis a room's keys are `chatserver:room:<id>:<part>`, its messages go out on the one
    MSG_CHANNEL and every room's version is a field of VERSIONS_KEY, as always (so an upgrade keeps
    its data). On a cluster the id is a hash tag, `chatserver:room:{<id>}:<part>`: every key of a room,
    its shard channel (`...:messages`, for SPUBLISH) and its versions hash are in one slot, so its
    scripts and transactions run on one node and a room's traffic touches one shard.
    """

    __slots__ = ("cluster", "_numbering")

    def __init__(self, *, cluster: bool) -> None:
        self.cluster = cluster
        #: room -> its six numbering keys, built once (they go with every script call).
        self._numbering: dict[str, tuple[str, ...]] = {}

    def room_key(self, room: str, part: str) -> str:
        """One of a room's keys: `seq`, `head`, `reserved`, `released`, `log` (the stream), `deleted`,
        or a shared-state part (`held`, `ban`, `flags`, ...)."""
        if self.cluster:
            return f"{PREFIX}:room:{{{room}}}:{part}"
        return f"{PREFIX}:room:{room}:{part}"

    def room_keys(self, room: str) -> tuple[str, ...]:
        """The six keys every numbering script takes, in their order."""
        keys = self._numbering.get(room)
        if keys is None:
            keys = self._numbering[room] = tuple(self.room_key(room, part) for part in _NUMBERING_PARTS)
        return keys

    def channel(self, room: str) -> str:
        """Where the room's messages are published: its own shard channel on a cluster."""
        return self.room_key(room, "messages") if self.cluster else MSG_CHANNEL

    def versions_key(self, room: str) -> str:
        """The hash whose field `room` counts the room's shared-state changes (chatserver/resync.py)."""
        return self.room_key(room, "versions") if self.cluster else VERSIONS_KEY


#: One Redis (not a cluster): the names every release so far has used.
SINGLE = KeySpace(cluster=False)


def room_key(room: str, part: str) -> str:
    """One of a room's keys on one Redis (see KeySpace)."""
    return SINGLE.room_key(room, part)


def seq_key(room: str) -> str:
    return room_key(room, "seq")


def stream_key(room: str) -> str:
    return room_key(room, "log")


def deleted_key(room: str) -> str:
    return room_key(room, "deleted")


def room_keys(room: str) -> tuple[str, ...]:
    """The six keys every numbering script takes on one Redis, in their order."""
    return SINGLE.room_keys(room)


# KEYS: deleted key, stream key, versions key (KeySpace.versions_key). ARGV: id, now (s), keep, scan, room.
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
