"""The Redis broker's receiving half: the subscription, gap fill from the room streams, and health.

Redis pub/sub is at-most-once: a dropped subscription or a Redis restart loses whatever was in
flight. A subscriber that sees a seq jump, or comes back after a reconnect, reads what it missed from
the room's stream before delivering anything newer. A quiet subscription is pinged, so a hung Redis
is noticed and the subscription rebuilt. On a Redis Cluster each room has a shard channel of its own
(redis_sharded.py); a failover or a slot move ends that subscription like a lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from chatserver.brokers.base import BrokerListener
from chatserver.brokers.redis_pushes import PushSubscription
from chatserver.brokers.redis_scripts import EVT_CHANNEL, MSG_CHANNEL, KeySpace, entries, entry_seq
from chatserver.brokers.redis_url import RedisClient, parse_cluster_url

log = logging.getLogger(__name__)

PING_EVERY_S = 2.0
PONG_DEADLINE_S = 4.0
_MSG, _EVT = MSG_CHANNEL.encode(), EVT_CHANNEL.encode()


class RedisSubscriber:
    """Delivers both channels to the listener: room messages in seq order with no gaps, events as they come.

    `last` is the broker's room -> last seq delivered here; rooms not in it are not carried. The
    subscriber advances it. `on_health(healthy, reason)` hears the subscription come and go,
    `on_reconnect()` each time it is back after a loss, `on_settled(room, seq, id, reason)` every
    seq that goes by: published (id), or stepped over (id None; reason "void" or "deleted").
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        url: str,
        keys: KeySpace,
        last: dict[str, int],
        on_health: Callable[[bool, str], None],
        on_reconnect: Callable[[], None],
        on_settled: Callable[[str, int, str | None, str], None],
    ) -> None:
        self._redis = client
        self._url = url
        self._keys = keys
        self._last = last
        #: The rooms the cluster subscription covers: one shard channel each; rooms added later (a
        #: reload) are subscribed on the next turn of the read loop.
        self._subscribed: set[str] = set()
        self._on_health = on_health
        self._on_reconnect = on_reconnect
        self._on_settled = on_settled
        self._listener: BrokerListener | None = None
        #: Set when the broker closes: a subscription lost then is not retried.
        self.closing = False

    async def run(self, listener: BrokerListener, subscribed: asyncio.Event) -> None:
        """Subscribe, deliver, and resubscribe with backoff when the connection is lost; sets `subscribed`."""
        self._listener = listener
        backoff = 0.1
        first = True
        while True:
            pubsub: Any = None
            try:
                pubsub = await self._subscribe()
                if not first:
                    self._on_reconnect()
                    await self._fill_all()
                first = False
                self._on_health(True, "connected")
                subscribed.set()
                backoff = 0.1
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.closing:
                    return
                log.warning(
                    "Redis subscription lost (%s); retrying in %.1fs", exc.__class__.__name__, backoff
                )
                self._on_health(False, f"Redis connection lost ({exc.__class__.__name__})")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pubsub.aclose(), 1)

    async def _subscribe(self) -> Any:
        """A subscription to both channels: our own PushSubscription on one Redis (redis-py's PubSub if
        it cannot be had), a ShardedSubscription on a cluster (each room's shard channel on the master
        serving it)."""
        if not self._keys.cluster:
            assert isinstance(self._redis, aioredis.Redis)
            own = await PushSubscription.open(self._redis, [MSG_CHANNEL, EVT_CHANNEL], PONG_DEADLINE_S)
            if own is not None:
                return own
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(MSG_CHANNEL, EVT_CHANNEL)
            except BaseException:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            return pubsub
        from redis.asyncio.cluster import RedisCluster

        from chatserver.brokers.redis_sharded import ShardedSubscription

        assert isinstance(self._redis, RedisCluster)
        self._subscribed = set(self._last)
        sharded = ShardedSubscription(
            self._redis,
            parse_cluster_url(self._url).node_kwargs(),
            channels=[self._keys.channel(room) for room in self._subscribed],
            events=EVT_CHANNEL,
            ping_every_s=PING_EVERY_S,
            pong_deadline_s=PONG_DEADLINE_S,
        )
        try:
            await sharded.open()
        except BaseException:
            await sharded.aclose()
            raise
        return sharded

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent = 0.0
        while True:
            pushes = await self._next(pubsub)
            now = loop.time()
            if self._keys.cluster and len(self._subscribed) != len(self._last):
                await self._subscribe_added(pubsub)
            if pushes:
                last_heard = now
                for kind, channel, data in pushes:
                    if kind == b"message" or kind == b"smessage":
                        await self._dispatch(channel, data)
                continue
            # Quiet: prove the connection is alive, else treat Redis as hung.
            if now - last_heard > PONG_DEADLINE_S + PING_EVERY_S:
                raise ConnectionError("no answer from Redis on the subscription")
            if now - ping_sent >= PING_EVERY_S:
                ping_sent = now
                await asyncio.wait_for(pubsub.ping(), PONG_DEADLINE_S)

    @staticmethod
    async def _next(pubsub: Any) -> list[tuple[bytes, bytes, Any]]:
        """What came on the subscription (kind, channel, data), waiting up to half a ping interval."""
        if isinstance(pubsub, PushSubscription):
            return await pubsub.take(PING_EVERY_S / 2)  # (the hot path: as they came, no copy)
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=PING_EVERY_S / 2)
        return [] if msg is None else [(str(msg.get("type")).encode(), msg.get("channel"), msg.get("data"))]

    async def _subscribe_added(self, pubsub: Any) -> None:
        added = [room for room in self._last if room not in self._subscribed]
        self._subscribed.update(added)
        await pubsub.add([self._keys.channel(room) for room in added])
        for room in added:  # what went out before the subscription took hold
            await self._fill(room, None)

    async def _dispatch(self, channel: bytes, data: bytes) -> None:
        listener = self._listener
        if listener is None:
            return
        if channel == _MSG or (self._keys.cluster and channel != _EVT):
            room_b, seq_b, id_b, frame = data.split(b" ", 3)
            room = room_b.decode()
            seq = int(seq_b)
            last = self._last.get(room)
            if last is None:  # a room this worker does not carry (yet)
                return
            if seq <= last:
                return  # already delivered (gap fill raced the live message)
            if seq > last + 1:
                await self._fill(room, seq - 1)
            if id_b == b"-":  # a seq nobody is shown (redis_lua.py): step over it
                self._last[room] = max(self._last.get(room, 0), seq)
                self._on_settled(room, seq, None, frame.decode())
                return
            self._deliver(room, seq, id_b.decode(), frame)
        elif channel == _EVT:
            try:
                envelope = orjson.loads(data)
            except orjson.JSONDecodeError:
                log.warning("ignored a malformed event from Redis")
                return
            try:
                listener.on_event(envelope)
            except Exception:  # one bad event must not end the subscription (and lose what follows)
                log.exception("handling a %r event failed", envelope.get("kind"))

    def _deliver(self, room: str, seq: int, message_id: str, frame: bytes) -> None:
        self._last[room] = seq
        assert self._listener is not None
        try:
            self._listener.on_message(room, seq, message_id, frame)
        except Exception:
            log.exception("delivering message %s of room %s failed", seq, room)
        self._on_settled(room, seq, message_id, "")

    async def _fill(self, room: str, upto: int | None) -> None:
        """Deliver what the stream holds after our last seq (up to `upto`)."""
        last = self._last.get(room, 0)
        end = f"{upto}-9" if upto is not None else "+"
        key = self._keys.room_key(room, "log")
        found = entries(await self._redis.xrange(key, min=f"{last + 1}-0", max=end))
        for entry_id, fields in found:
            seq = entry_seq(entry_id)
            if seq <= self._last.get(room, 0):
                continue
            if seq != self._last.get(room, 0) + 1:
                log.info(
                    "room %s: seqs %d..%d not in Redis (deleted, skipped or trimmed)",
                    room,
                    self._last[room] + 1,
                    seq - 1,
                )
            self._deliver(room, seq, fields[b"id"].decode(), fields[b"f"])
        if upto is not None and self._last.get(room, 0) < upto:
            log.info("room %s: nothing in Redis up to %d (skipped, deleted or trimmed)", room, upto)

    async def _fill_all(self) -> None:
        for room in list(self._last):
            await self._fill(room, None)
