"""Shared moderation state in Redis: every worker on every host sees the same held queue, bans,
switches, notes, identities, deletions and crisis alerts. Built by `open_backend` on the broker's
own client, so a worker keeps one Redis pool.

On a Redis Cluster a room's keys carry its hash tag (redis_scripts.KeySpace), its versions counter
included, so each script and transaction here touches one slot; the versions of all rooms are read
with one pipeline (one round trip per master)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import orjson
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from chatserver.brokers.redis_batch import Batcher
from chatserver.brokers.redis_scripts import PREFIX, KeySpace
from chatserver.brokers.redis_url import RedisClient
from chatserver.store import ALERT_TTL_S, ALERTS_KEEP, HELD_TTL_S, SESSION_TTL_S, Store, live_sanctions

# KEYS: the held hash, the versions hash. ARGV: message id, room. HGET+HDEL in one step, so one
# release wins.
_TAKE_LUA = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
return v
"""

# KEYS: the room's names hash. ARGV: the name, "<worker> <session>", the session, then the ids of the
# workers alive. The name is taken when it is free, already this session's, or held by a worker that
# is gone (one that crashed, or restarted under a new id). One round trip, and atomic: a reconnect
# storm brings a whole room back at once, every name still held by the worker that went away.
_CLAIM_LUA = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local space = string.find(current, ' ', 1, true)
  local owner = string.sub(current, 1, (space or 0) - 1)
  local session = space and string.sub(current, space + 1) or ''
  if session ~= ARGV[3] then
    for i = 4, #ARGV do
      if ARGV[i] == owner then return 0 end
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# KEYS: the room's names hash. ARGV: the name, the session. The name goes only if that session holds it:
# atomic, and one command in the shared round trip (a mass disconnect releases thousands at once).
_RELEASE_LUA = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local space = string.find(current, ' ', 1, true)
  if space and string.sub(current, space + 1) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
  end
end
return 0
"""

# KEYS: the list. ARGV: the entry, how many to keep, its lifetime in ms. Appends, trims, renews the
# lifetime and returns what is kept: one round trip (a MULTI/EXEC pipeline of four cost three times
# the CPU per join, and every newcomer is counted).
_ADD_ENTRY_LUA = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('LRANGE', KEYS[1], 0, -1)
"""


T = TypeVar("T")


async def _answer(reply: Awaitable[Any], decode: Callable[[Any], T]) -> T:
    """A command already queued (Batcher.call), decoded once its reply is in."""
    return decode(await reply)


def _value(raw: bytes | None) -> Any:
    return orjson.loads(raw) if raw else None


def _values(raw: list[bytes]) -> list[Any]:
    return [orjson.loads(v) for v in raw]


def _fields(raw: list[bytes] | dict[bytes, bytes]) -> dict[str, Any]:
    """A hash's fields (HGETALL: a flat list from the shared line, a dict through a cluster's pipeline)."""
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    return {_text(k): orjson.loads(v) for k, v in pairs}


def _text(reply: bytes | str) -> str:
    """A reply as text. The client never decodes replies, so this is bytes; redis-py's types allow str."""
    return reply.decode() if isinstance(reply, bytes) else reply


class RedisStore(Store):
    """Shared through Redis: every worker on every host sees the same state."""

    def __init__(
        self, client: RedisClient, *, keys: KeySpace | None = None, rooms: Mapping[str, object] | None = None
    ) -> None:
        """`client` is the broker's: one pool per worker; the broker closes it. `keys` names the rooms'
        keys (one Redis unless given); `rooms` are the rooms whose versions a cluster reads."""
        self._redis = client
        self._keys = keys or KeySpace(cluster=False)
        self._rooms = rooms if rooms is not None else {}
        self._take = self._redis.register_script(_TAKE_LUA)
        self._claim = self._redis.register_script(_CLAIM_LUA)
        self._release = self._redis.register_script(_RELEASE_LUA)
        self._add_entry = self._redis.register_script(_ADD_ENTRY_LUA)
        #: What every sign-in and join asks (identity, name, warning, join count) shares round trips.
        self._batch = Batcher(client)
        #: Scripts being loaded again after Redis answered NOSCRIPT, by sha: the callers that met it
        #: together (a storm's whole batch) wait for one load.
        self._loading: dict[str, asyncio.Future[Any]] = {}

    @staticmethod
    def _key(*parts: str) -> str:
        return ":".join((PREFIX, *parts))

    def _room(self, room: str, part: str) -> str:
        return self._keys.room_key(room, part)

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """A script through the shared round trip. A Redis that does not know it (new, restarted, a
        promoted replica) answers NOSCRIPT: it is loaded once for all the callers that met that, and
        they ask again. (Each loading it on its own took every caller of a storm's first batch
        through redis-py's pool, one by one.)"""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._batch.call(*command)
        except NoScriptError:
            await self._load(script)
            return await self._batch.call(*command)

    async def _load(self, script: AsyncScript) -> None:
        loading = self._loading.get(script.sha)
        if loading is None:
            loading = asyncio.ensure_future(self._redis.script_load(script.script))
            self._loading[script.sha] = loading
            loading.add_done_callback(lambda _: self._loading.pop(script.sha, None))
        await asyncio.shield(loading)  # (one caller giving up does not stop the others' load)

    async def save_identity(self, token_hash: str, record: dict[str, Any]) -> None:
        await self._batch.call(
            "SET", self._key("identity", token_hash), orjson.dumps(record), "EX", SESSION_TTL_S
        )

    async def load_identity(self, token_hash: str) -> dict[str, Any] | None:
        raw = await self._batch.call("GET", self._key("identity", token_hash))
        return orjson.loads(raw) if raw else None

    async def claim_name(self, room: str, name: str, session: str, worker: str, alive: set[str]) -> bool:
        args = [name, f"{worker} {session}", session, *alive]
        return bool(await self._run(self._claim, [self._room(room, "names")], args))

    async def release_name(self, room: str, name: str, session: str) -> None:
        await self._run(self._release, [self._room(room, "names")], [name, session])

    async def put_held(self, room: str, item: dict[str, Any]) -> None:
        key = self._room(room, "held")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, item["id"], orjson.dumps(item))
            pipe.expire(key, HELD_TTL_S)
            pipe.hincrby(self._keys.versions_key(room), room, 1)
            await pipe.execute()

    async def take_held(self, room: str, message_id: str) -> dict[str, Any] | None:
        keys = [self._room(room, "held"), self._keys.versions_key(room)]
        raw = await self._take(keys=keys, args=[message_id, room])
        return orjson.loads(raw) if raw else None

    async def list_held(self, room: str) -> list[dict[str, Any]]:
        values = await self._redis.hvals(self._room(room, "held"))
        items = [orjson.loads(v) for v in values]
        items.sort(key=lambda i: i.get("ts", ""))
        return items

    async def set_sanction(self, room: str, kind: str, session: str, until: float | None) -> None:
        key = self._room(room, kind)
        async with self._redis.pipeline(transaction=True) as pipe:
            if until == 0:
                pipe.hdel(key, session)
            else:
                pipe.hset(key, session, repr(until or 0))
            pipe.hincrby(self._keys.versions_key(room), room, 1)
            await pipe.execute()

    async def sanctions(self, room: str) -> dict[str, dict[str, float]]:
        now = time.time()
        out: dict[str, dict[str, float]] = {}
        for kind in ("ban", "mute"):
            raw = await self._redis.hgetall(self._room(room, kind))
            out[kind] = live_sanctions({_text(k): float(v) for k, v in raw.items()}, now)
        return out

    async def set_flag(self, room: str, flag: str, value: Any) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._room(room, "flags"), flag, orjson.dumps(value))
            pipe.hincrby(self._keys.versions_key(room), room, 1)
            await pipe.execute()

    def flags(self, room: str) -> Awaitable[dict[str, Any]]:
        return _answer(self._batch.call("HGETALL", self._room(room, "flags")), _fields)

    async def add_note(self, room: str, session: str, note: dict[str, Any]) -> None:
        key = self._room(room, f"notes:{session}")
        await self._redis.rpush(key, orjson.dumps(note))
        await self._redis.ltrim(key, -50, -1)

    async def notes(self, room: str, session: str) -> list[dict[str, Any]]:
        return [
            orjson.loads(v) for v in await self._redis.lrange(self._room(room, f"notes:{session}"), 0, -1)
        ]

    async def purge_notes(self, stamp: str) -> None:
        # Notes are appended in time order: trim each list up to its first young enough note.
        async for key in self._redis.scan_iter(match=self._key("room", "*", "notes", "*"), count=500):
            notes = [orjson.loads(v) for v in await self._redis.lrange(key, 0, -1)]
            old = next((i for i, n in enumerate(notes) if n.get("ts", "") >= stamp), len(notes))
            if old == len(notes):
                await self._redis.delete(key)
            elif old:
                await self._redis.ltrim(key, old, -1)

    async def versions(self) -> dict[str, int]:
        if not self._keys.cluster:
            raw = await self._redis.hgetall(self._keys.versions_key(""))
            return {_text(k): int(v) for k, v in raw.items()}
        rooms = list(self._rooms)
        pipe = self._redis.pipeline()
        for room in rooms:
            pipe.hget(self._keys.versions_key(room), room)
        found = await pipe.execute()
        return {room: int(v) for room, v in zip(rooms, found, strict=True) if v is not None}

    async def recent_deletions(self, room: str, limit: int) -> list[str]:
        # Without scores the reply is a list of members (the types also cover WITHSCORES).
        key = self._room(room, "deleted")
        members = cast(list[bytes], await self._redis.zrevrange(key, 0, limit - 1))
        return [v.decode() for v in members]

    async def add_alert(self, room: str, alert: dict[str, Any]) -> None:
        key = self._room(room, "alerts")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, orjson.dumps({**alert, "at": time.time()}))
            pipe.ltrim(key, -ALERTS_KEEP, -1)
            pipe.expire(key, ALERT_TTL_S)
            pipe.hincrby(self._keys.versions_key(room), room, 1)
            await pipe.execute()

    async def alerts(self, room: str) -> list[dict[str, Any]]:
        since = time.time() - ALERT_TTL_S
        items = [orjson.loads(v) for v in await self._redis.lrange(self._room(room, "alerts"), 0, -1)]
        return [a for a in items if float(a.get("at", 0)) > since]

    def put_value(
        self, key: str, value: Any, ttl: float | None = None, *, only_new: bool = False
    ) -> Awaitable[bool]:
        options: list[Any] = ["PX", max(1, int(ttl * 1000))] if ttl else []
        if only_new:
            options.append("NX")
        return _answer(self._batch.call("SET", self._key("kv", key), orjson.dumps(value), *options), bool)

    def get_value(self, key: str) -> Awaitable[Any]:
        return _answer(self._batch.call("GET", self._key("kv", key)), _value)

    async def take_value(self, key: str) -> Any:
        raw = await self._redis.getdel(self._key("kv", key))
        return orjson.loads(raw) if raw else None

    async def add_entry(self, key: str, entry: Any, *, keep: int, ttl: float) -> list[Any]:
        args: list[bytes | int] = [orjson.dumps(entry), keep, max(1, int(ttl * 1000))]
        kept = await self._run(self._add_entry, [self._key("kv", key)], args)
        return [orjson.loads(v) for v in kept]

    def entries(self, key: str) -> Awaitable[list[Any]]:
        return _answer(self._batch.call("LRANGE", self._key("kv", key), 0, -1), _values)

    async def close(self) -> None:
        await self._batch.close()  # (the client is the broker's, closed with it)
