"""One Redis server's pub/sub pushes, read on a connection of our own and parsed by hiredis as they land.

redis-py's PubSub hands over one message per `get_message` call: a retry wrapper, a timeout, a reply
parsed through its connection and turned into a dict, all per message (about 8% of a busy worker's
main thread in the chat mix). Here redis-py only connects (address, password, TLS, unix socket:
its settings, its code); the socket is then ours: each chunk Redis sends is fed to one hiredis reader in
`data_received`, and the subscriber takes everything that has come in one go, with one wait (and one
timeout) per batch, not per message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import hiredis
import redis.asyncio as aioredis

#: A push: (kind, channel, data), e.g. (b"message", b"chat:msg", b"...") or (b"pong", b"", None),
#: whichever form the server's pong takes.
Push = tuple[bytes, bytes, Any]


class _PushReader(asyncio.Protocol):
    """Parses what Redis sends as it arrives and keeps it for the one reader."""

    def __init__(self) -> None:
        self._parser = hiredis.Reader()
        self.pushes: list[Any] = []
        self.lost: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        try:
            parser.feed(data)
            pushes = self.pushes
            while (reply := parser.gets()) is not False:
                pushes.append(reply)
        except hiredis.ProtocolError as exc:  # nothing after this can be trusted
            self.lost = ConnectionError(f"Redis sent something unreadable on the subscription ({exc})")
        self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = ConnectionError("Redis closed the subscription") if exc is None else exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until something has come (or the connection is lost), at most `timeout` seconds."""
        if self.pushes or self.lost is not None:
            return
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await waiter
        finally:
            self._waiter = None


class PushSubscription:
    """A subscription to some channels of one Redis server, its pushes taken a batch at a time."""

    def __init__(self, transport: asyncio.Transport, reader: _PushReader) -> None:
        self._transport = transport
        self._reader = reader
        self._stream_writer: object = None

    @classmethod
    async def open(
        cls, client: aioredis.Redis, channels: list[str], timeout: float
    ) -> PushSubscription | None:
        """Subscribed to `channels` (confirmed by Redis), or None when this redis-py does not let us take
        its socket over (the caller keeps redis-py's PubSub then)."""
        pool = client.connection_pool
        conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        await conn.connect()  # type: ignore[no-untyped-call]  # (redis-py's own code and settings)
        writer = getattr(conn, "_writer", None)
        transport = getattr(writer, "transport", None)
        if transport is None or not hasattr(transport, "set_protocol"):
            await conn.disconnect()
            return None
        reader = _PushReader()
        transport.set_protocol(reader)  # nothing is unread: Redis sends nothing before we ask
        subscription = cls(transport, reader)
        # The socket is ours now. redis-py's connection must not close it when it is collected, and
        # asyncio's StreamWriter closes its transport when *it* is collected: keep that one.
        subscription._stream_writer = writer
        conn._writer = conn._reader = None
        try:
            command: tuple[Any, ...] = ("SUBSCRIBE", *channels)
            transport.write(hiredis.pack_command(command))
            await subscription._confirmed(len(channels), timeout)
        except BaseException:
            await subscription.aclose()
            raise
        return subscription

    async def _confirmed(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while count:
                for push in await self.take(timeout):
                    if push[0] != b"subscribe":
                        raise ConnectionError(f"Redis answered {push[0]!r} to SUBSCRIBE")
                    count -= 1

    async def take(self, timeout: float) -> list[Push]:
        """Everything Redis has pushed since the last call, waiting up to `timeout` for the first push
        ([] if none came); raises ConnectionError when the connection is lost or answers an error."""
        reader = self._reader
        await reader.wait(timeout)
        replies, reader.pushes = reader.pushes, []
        pushes: list[Push] = []
        for reply in replies:
            if isinstance(reply, list):  # [kind, channel, data] ([b"pong", b""] in some versions)
                pushes.append((reply[0], reply[1], reply[2] if len(reply) > 2 else None))
            elif isinstance(reply, Exception):
                raise ConnectionError(f"Redis refused on the subscription: {reply}")
            else:  # +PONG as a plain reply (Redis 7)
                pushes.append((b"pong", b"", None))
        if not pushes and reader.lost is not None:
            raise ConnectionError("the Redis subscription was lost") from reader.lost
        return pushes

    async def ping(self) -> None:
        """Ask for a pong (it comes back as a push like any other): the subscription is alive if it does."""
        self._transport.write(hiredis.pack_command(("PING",)))

    async def aclose(self) -> None:
        self._transport.close()
