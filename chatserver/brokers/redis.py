"""The Redis broker: pub/sub fan-out with a capped stream per room to fill gaps.

A message takes its seq first (a reservation), so its audit row is written once, with it; then
it is released, and Lua scripts publish released messages strictly in seq order: each one, in one
atomic step, to the room's capped stream (XADD with the seq as the entry id) and the pub/sub
channel (Redis pub/sub is at-most-once; the stream fills gaps). Numbering survives a Redis restart
that lost the counter: each reservation carries the last seq this worker saw as a floor, and the
script never numbers below it.

The parts, one per job:
- redis_scripts.py: key and channel names, and the scripts for deletions and seeding;
- redis_lua.py: the numbering scripts (reserve, release, settle, flush) and why they are safe;
- redis_publisher.py (with redis_requests.py, redis_parked.py): the outbox, pipelines, deadlines on
  Redis's clock, settling a failed pipeline, releases waiting for their turn;
- redis_subscriber.py: the subscription, gap fill from the streams, pings and health.
`RedisBroker` here owns the connection pool and the per-room last seq the two halves share, and
answers the `Broker` interface: start and close, deletions, retention and recent history.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError, RedisError

from chatserver.brokers.base import Broker, BrokerListener, PublishDone, ReserveDone
from chatserver.brokers.redis_lua import DELETED, TOO_LATE
from chatserver.brokers.redis_publisher import HOLD_S, REPLY_TIMEOUT_S, RedisPublisher
from chatserver.brokers.redis_scripts import (
    DELETE_LUA,
    DELETED_KEEP,
    EVT_CHANNEL,
    MSG_CHANNEL,
    PREFIX,
    SEED_LUA,
    STREAM_MAXLEN,
    VERSIONS_KEY,
    KeySpace,
    deleted_key,
    entries,
    entry_seq,
)
from chatserver.brokers.redis_subscriber import RedisSubscriber
from chatserver.brokers.redis_url import RedisClient, cluster_client, is_cluster_url
from chatserver.brokers.tasks import stop_tasks
from chatserver.errors import Unavailable


class RedisBroker(Broker):
    """Fan-out through Redis pub/sub, numbered and gap-filled through per-room streams.

    A `redis+cluster://` URL (chatserver/brokers/redis_url.py) makes it a Redis Cluster client: each
    room's keys share a hash tag (KeySpace) and its messages go out by sharded pub/sub.
    """

    name = "redis"
    distributed = True
    # Half the hold: a commit that lands later (a disk stall) waits for Redis, which may refuse it.
    show_here_s = HOLD_S / 2

    def __init__(self, url: str, *, worker_id: str) -> None:
        super().__init__(worker_id=worker_id)
        self.url = url
        self.keys = KeySpace(cluster=is_cluster_url(url))
        self._redis: RedisClient
        if self.keys.cluster:
            # One pool per node (redis-py's), shared with the store like the single pool below.
            self._redis = cluster_client(
                url, max_connections=64, socket_timeout=REPLY_TIMEOUT_S, socket_connect_timeout=2
            )
        else:
            # One pool per worker, shared with the store (see open_backend). Blocking: bursts (many
            # people leaving at once) wait briefly for a connection instead of failing "Too many
            # connections".
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=64,
                timeout=5,
                socket_timeout=REPLY_TIMEOUT_S,
                socket_connect_timeout=2,
                health_check_interval=0,
            )
            self._redis = aioredis.Redis.from_pool(pool)
        self._seed_script = self._redis.register_script(SEED_LUA)
        self._delete_script = self._redis.register_script(DELETE_LUA)
        self._listener: BrokerListener | None = None
        #: room -> the last seq delivered here: the subscriber advances it, the publisher's floor.
        self._last: dict[str, int] = {}
        self._publisher = RedisPublisher(self._redis, floors=self._last, keys=self.keys)
        self._subscriber = RedisSubscriber(
            self._redis,
            url=url,
            keys=self.keys,
            last=self._last,
            on_health=self._set_health,
            on_reconnect=self._count_reconnect,
            on_settled=self._publisher.parked.settled,
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def rooms(self) -> dict[str, int]:
        """The rooms this worker carries (room -> last seq delivered here); the store reads their versions."""
        return self._last

    @property
    def client(self) -> RedisClient:
        """The worker's Redis client (the shared store uses it too); closed with the broker."""
        return self._redis

    @property
    def _clock_offset_ms(self) -> float | None:
        # Redis's clock minus ours (the publisher's estimate); tests/test_redis_broker.py skews it.
        return self._publisher.clock_offset_ms

    @_clock_offset_ms.setter
    def _clock_offset_ms(self, value: float | None) -> None:
        self._publisher.clock_offset_ms = value

    # ---- lifecycle ---------------------------------------------------------
    async def start(self, listener: BrokerListener, rooms: list[str], known_seqs: dict[str, int]) -> None:
        self._listener = listener
        try:
            await self._seed(rooms, known_seqs)
        except NoPermissionError as exc:
            raise Unavailable(
                f"Redis at {self._safe_url()} refused a command to this user ({exc}): its ACL must allow "
                "the commands listed in docs/deploy.md (section Redis) on the chatserver:* keys"
            ) from None
        except (RedisError, OSError) as exc:
            raise Unavailable(
                f"Redis at {self._safe_url()} did not answer ({exc.__class__.__name__}): "
                "start redis-server or fix --redis / CHATSERVER_REDIS_URL"
            ) from None
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._subscriber.run(listener, subscribed), name="redis-subscriber"),
            asyncio.create_task(self._publisher.run(), name="redis-publisher"),
        ]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(subscribed.wait(), 5)

    async def add_rooms(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        # The publisher raises a room's counter to its floor here (`_last`) with the first reserve,
        # so a Redis that lost the counter still numbers on; the subscriber picks the rooms up.
        for room in rooms:
            self._last.setdefault(room, known_seqs.get(room, 0))

    async def _seed(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        # Every pipeline loads the script again; this first load and TIME check, at start, that
        # this Redis user may run them at all.
        await self._publisher.load_scripts()
        self._publisher.observe_clock(*await self._redis.time())
        for room in rooms:
            known = known_seqs.get(room, 0)
            await self._seed_script(keys=[self.keys.room_key(room, "seq")], args=[known])
            # Deliver from what Redis has published: the audit log may already hold the seq of a
            # message another worker has reserved and committed but not yet released.
            head = await self._redis.get(self.keys.room_key(room, "head"))
            if head is not None:
                self._last[room] = int(head)
                continue
            top = entries(await self._redis.xrevrange(self.keys.room_key(room, "log"), count=1))
            stream_last = entry_seq(top[0][0]) if top else 0
            self._last[room] = max(known, stream_last)

    async def close(self) -> None:
        self._subscriber.closing = True
        # Let queued publishes go out before we stop, so nothing accepted is dropped.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._publisher.drain(), 3)
        await stop_tasks(self._tasks)
        with contextlib.suppress(Exception):
            await self._publisher.close()
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 2))
        except (TimeoutError, RedisError, OSError):
            return False

    def _safe_url(self) -> str:
        # Never print a password that may be in the URL.
        if "@" in self.url:
            scheme, rest = self.url.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return self.url

    def _set_health(self, healthy: bool, reason: str) -> None:
        if healthy == self.healthy:
            return
        self.healthy = healthy
        if self._listener is not None:
            self._listener.on_broker_state(healthy, reason)

    def _count_reconnect(self) -> None:
        self.reconnects += 1

    # ---- publishing and history --------------------------------------------
    def reserve(self, room: str, message_id: str, done: ReserveDone) -> None:
        self._publisher.put_reserve(room, message_id, done)

    def release(self, room: str, seq: int, message_id: str, body: bytes, done: PublishDone) -> None:
        self._publisher.put_release(room, seq, message_id, body, done)

    def cancel(self, room: str, seq: int, message_id: str) -> None:
        self._publisher.put_cancel(room, seq, message_id)

    def publish_event(self, envelope: dict[str, Any]) -> None:
        self._publisher.put_event(envelope)

    async def delete_message(self, room: str, message_id: str) -> None:
        await self._delete_script(
            keys=[
                self.keys.room_key(room, "deleted"),
                self.keys.room_key(room, "log"),
                self.keys.versions_key(room),
            ],
            args=[message_id, int(time.time()), DELETED_KEEP, STREAM_MAXLEN + 100, room],
        )

    async def purge_history(self, room: str, stamp: str) -> None:
        # Entries are in seq order, which is time order: trim up to the first one young enough.
        key = self.keys.room_key(room, "log")
        start = "-"
        while True:
            found = entries(await self._redis.xrange(key, min=start, count=500))
            if not found:  # every entry is older: keep the (empty) stream, it remembers the last id
                await self._redis.xtrim(key, maxlen=0, approximate=False)
                return
            for entry_id, fields in found:
                if str(orjson.loads(fields[b"f"]).get("ts", "")) >= stamp:
                    await self._redis.xtrim(key, minid=entry_id, approximate=False)
                    return
            start = "(" + found[-1][0].decode()

    def live_from(self, room: str) -> int:
        return self._last.get(room, 0)

    async def recent(self, room: str, limit: int) -> list[tuple[int, str, bytes]]:
        if limit <= 0:
            return []
        found = entries(await self._redis.xrevrange(self.keys.room_key(room, "log"), count=limit))
        out = [(entry_seq(eid), f[b"id"].decode(), f[b"f"]) for eid, f in found]
        out.reverse()
        return out


__all__ = [
    "DELETED",
    "EVT_CHANNEL",
    "MSG_CHANNEL",
    "PREFIX",
    "STREAM_MAXLEN",
    "TOO_LATE",
    "VERSIONS_KEY",
    "RedisBroker",
    "deleted_key",
]
