"""The subscription on a Redis Cluster: each room's shard channel on the master that serves its slot.

A room's messages are published with SPUBLISH on its own channel, which carries the room's hash tag
(redis_scripts.KeySpace), so they travel on one shard only. This subscription holds one connection
per master that serves a room of this worker, SSUBSCRIBEs each room's channel there, and SUBSCRIBEs
the events channel on one of them (plain pub/sub reaches every node of a cluster).

Anything that goes wrong on any connection ends the whole subscription with an error: a master
killed or hung, a MOVED reply, a slot moved away (Redis then unsubscribes us: `sunsubscribe`). The
subscriber then builds a new one from a fresh slot map and fills what it missed from the rooms'
streams, as after any reconnect to one Redis. redis-py's ClusterPubSub would move channels to their
new master by itself, silently; that is exactly the moment whose messages must be gap-filled, so we
keep it in our hands.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chatserver.brokers.tasks import stop_tasks

#: Messages read from the nodes and not yet handled: bounded, so a slow subscriber slows the readers
#: (Redis then buffers them, up to its client-output-buffer-limit) instead of our memory growing.
QUEUE_MAX = 10_000


class ShardedSubscription:
    """One cluster subscription: `get_message`, `ping` and `aclose`, like redis-py's PubSub."""

    def __init__(
        self,
        cluster: RedisCluster,
        node_kwargs: dict[str, Any],
        *,
        channels: list[str],
        events: str,
        ping_every_s: float,
        pong_deadline_s: float,
    ) -> None:
        self._cluster = cluster
        self._node_kwargs = node_kwargs
        self._channels = channels
        self._events = events
        self._ping_every_s = ping_every_s
        self._pong_deadline_s = pong_deadline_s
        self._queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue(QUEUE_MAX)
        #: node name -> (its client, its pubsub)
        self._nodes: dict[str, tuple[aioredis.Redis, aioredis.client.PubSub]] = {}
        #: node name -> the task reading it
        self._pumps: dict[str, asyncio.Task[None]] = {}

    async def open(self) -> None:
        """Read the slot map afresh and subscribe every channel on the master serving it."""
        await self._cluster.nodes_manager.initialize()
        await self._subscribe(self._events, plain=True)
        for channel in self._channels:
            await self._subscribe(channel)
        self._read_new_nodes()

    async def add(self, channels: list[str]) -> None:
        """Subscribe rooms added while running (a reload)."""
        for channel in channels:
            await self._subscribe(channel)
        self._read_new_nodes()

    def _read_new_nodes(self) -> None:
        for name, (_, pubsub) in self._nodes.items():
            if name not in self._pumps:
                self._pumps[name] = asyncio.create_task(self._pump(name, pubsub), name=f"redis-{name}")

    async def _subscribe(self, channel: str, *, plain: bool = False) -> None:
        node = self._cluster.get_node_from_key(channel)
        if node is None:
            raise ConnectionError(f"no master serves the slot of {channel}")
        entry = self._nodes.get(node.name)
        if entry is None:
            client = aioredis.Redis(
                host=node.host,
                port=int(node.port),
                socket_connect_timeout=2,
                retry=Retry(NoBackoff(), 0),
                **self._node_kwargs,
            )
            entry = self._nodes[node.name] = (client, client.pubsub())
        pubsub = entry[1]
        # One channel per SSUBSCRIBE: several in one command must share a slot.
        await (pubsub.subscribe(channel) if plain else pubsub.ssubscribe(channel))

    async def _pump(self, name: str, pubsub: aioredis.client.PubSub) -> None:
        """Read one node: messages and pongs to the queue; silence, an error or being unsubscribed ends
        the subscription (put on the queue as an exception)."""
        loop = asyncio.get_running_loop()
        heard = pinged = loop.time()
        try:
            while True:
                msg = await pubsub.get_message(timeout=self._ping_every_s / 2)
                now = loop.time()
                if msg is None:
                    if now - heard > self._pong_deadline_s + self._ping_every_s:
                        raise ConnectionError(f"no answer from Redis node {name}")
                    if now - pinged >= self._ping_every_s:
                        pinged = now
                        await pubsub.ping()
                    continue
                heard = now
                kind = msg["type"]
                if kind in ("sunsubscribe", "unsubscribe"):
                    raise ConnectionError(f"Redis node {name} dropped a subscription (its slot moved)")
                if kind not in ("ssubscribe", "subscribe"):
                    await self._queue.put(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._queue.put(exc)

    async def get_message(self, ignore_subscribe_messages: bool = True, timeout: float = 0.0) -> Any:
        """The next message or pong from any node, None after `timeout`; raises what ended a node."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def ping(self) -> None:
        """Nothing to do: each node's reader pings its own connection when it is quiet."""

    async def aclose(self) -> None:
        await stop_tasks(list(self._pumps.values()))
        for client, pubsub in self._nodes.values():
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()
        self._nodes.clear()
        self._pumps.clear()
