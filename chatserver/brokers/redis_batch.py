"""The store's small commands share round trips to Redis.

A reconnect storm signs in and joins hundreds of people a second, each with a few small commands (an
identity, a name, a warning, a join count). Sent one by one, each pays redis-py's whole path (a pooled
connection, a write, a wait, a parse): about 45 µs of CPU. Queued and sent as one pipeline (not a
transaction: each command stands alone), each costs about a third of that. One pipeline is out at a
time: what is asked meanwhile waits for the next, so a busy worker fills each round trip, and a
command waits at most one round trip longer than alone. Callers await their own reply and see their
own error, as with a direct call.

A busy worker's round trips are also paced (PACE_S): Redis answers within a fraction of a
millisecond, so in a storm each pipeline carried about one person's commands (3,000 round trips for
5,000 reconnects). What is asked within PACE_S of the last round trip waits for the rest of that
moment; an idle worker's command goes at once.

On one Redis server the batches go down a connection of the batcher's own (`Line`): redis-py's
pipeline costs more than twice the CPU per command (a pooled connection checked out and in, a retry
wrapper, a timeout per reply, reply callbacks), and a storm's batches are small, so that was most of
the store's share of a join. Replies come back raw (b"OK", not True). A cluster keeps redis-py's
pipeline, which routes each command to its node.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
import redis.exceptions

from chatserver.brokers.redis_url import RedisClient


class Line:
    """One connection to one Redis server, made with the client's settings (address, password, TLS,
    database), carrying one batch at a time under one timeout for the whole batch."""

    def __init__(self, client: aioredis.Redis) -> None:
        pool = client.connection_pool
        #: The client's reply timeout, for a whole batch (None: wait as long as it takes).
        self.timeout: float | None = pool.connection_kwargs.get("socket_timeout")
        self._conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})

    async def exchange(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Each command's raw reply, or the error Redis answered for it.

        Raises when the connection fails or the replies are late (what ran is then unknown). A
        connection found dead (Redis restarted since the last batch) is made again once, as
        redis-py's own retry would.
        """
        try:
            try:
                return await self._once(commands)
            except redis.exceptions.ConnectionError:
                await self._conn.disconnect(nowait=True)
                return await self._once(commands)  # (connects again)
        except BaseException:
            await self._conn.disconnect(nowait=True)  # replies may still be on their way: never reuse it
            raise

    async def _once(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        conn = self._conn
        try:
            async with asyncio.timeout(self.timeout):
                # hiredis packs in C, 8x faster than redis-py's per-argument encoding (a command's name
                # is one word here: no "SCRIPT LOAD").
                packed = b"".join([hiredis.pack_command(tuple(args)) for args in commands])
                await conn.send_packed_command(packed, check_health=False)
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(await conn.read_response())
                    except redis.exceptions.ResponseError as exc:
                        replies.append(exc)
                return replies
        except TimeoutError as exc:
            raise redis.exceptions.TimeoutError("Redis did not answer in time") from exc

    async def close(self) -> None:
        await self._conn.disconnect()


def line_for(client: RedisClient) -> Line | None:
    """A connection of its own for one Redis server; None for a cluster (its pipeline routes)."""
    return Line(client) if isinstance(client, aioredis.Redis) else None


async def round_trip(client: RedisClient, line: Line | None, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Every command in one round trip: each one's raw reply, or the error Redis answered for it.
    Down `line` on one server; on a cluster, redis-py's pipeline sends each command to its node."""
    if line is not None:
        return await line.exchange(commands)
    async with client.pipeline(transaction=False) as pipe:
        for args in commands:
            pipe.execute_command(*args)
        return await pipe.execute(raise_on_error=False)


#: The least time between two of a batcher's round trips. The reconnect storm (bench/storm.py) on the
#: restarted worker: 2,137 round trips instead of 3,015; caught up sooner in 6 of 8 alternating pairs,
#: by 0.33 s (the median difference; it took 2.4-4.1 s). 5 ms was slower: each join waits for three round
#: trips in turn, and the storm's 64 people in flight could no longer keep the worker busy.
PACE_S = 0.001


class Batcher:
    """The commands queued while a pipeline is out go together in the next one: one in flight at a
    time, and one at most every PACE_S, so the busier the worker, the fuller each round trip."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._line = line_for(client)
        #: When the last round trip went (the loop's clock); long ago for a new batcher.
        self._sent_at = -math.inf

    def call(self, *args: Any) -> asyncio.Future[Any]:
        """The reply of one command (its error raised), sent with the others queued with it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((args, future))
        sender = self._sender
        if sender is None or sender.done() or sender.get_loop() is not loop:  # (a loop that ended mid-send)
            self._sender = loop.create_task(self._send_all())
        return future

    async def _send_all(self) -> None:
        loop = asyncio.get_running_loop()
        try:  # (a task's first step runs after the rest of this turn: its commands come along)
            while self._queue:
                wait = self._sent_at + PACE_S - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._sent_at = loop.time()
                batch, self._queue = self._queue, []
                await self._send(batch)
        finally:
            self._sender = None
            if self._queue:  # cancelled (shutting down) with commands still waiting: tell them
                batch, self._queue = self._queue, []
                _fail(batch, ConnectionError("chatserver is shutting down"))

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            replies = await round_trip(self._client, self._line, [args for args, _ in batch])
        except Exception as exc:  # the connection failed: every caller in this batch hears it
            _fail(batch, exc)
            return
        except BaseException:
            _fail(batch, ConnectionError("chatserver is shutting down"))
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller gave up (cancelled); the command ran all the same
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def close(self) -> None:
        """Let go of the batcher's own connection (the client's pool is its owner's to close)."""
        if self._line is not None:
            await self._line.close()


def _fail(batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
