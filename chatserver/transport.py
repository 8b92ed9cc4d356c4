"""A uvicorn WebSocket protocol that lets the hub write ready-made frames.

Why: a room event is byte-for-byte the same WebSocket frame for every
recipient (server frames are unmasked). Through plain ASGI each recipient costs
an `await send(...)` that re-frames the text; here the hub builds the frame
once and hands the bytes to each socket's transport. The same handle reports
the transport's unsent bytes, which is our bounded per-connection send queue:
a reader that stops reading is closed (1008) instead of growing a buffer or
slowing the room.

The handshake, close and receive paths stay plain ASGI (uvicorn's sans-I/O
implementation over the `websockets` library); only outgoing data frames take
the shortcut. Exposed to the app as the ASGI scope extension `EXTENSION`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from chatserver.admission import Admission
from chatserver.write_batch import batch_for

EXTENSION = "chatserver.raw_socket"
log = logging.getLogger(__name__)


#: Bytes a socket's batch may hold before it is written at once rather than at the end of the turn.
FLUSH_AT = 64 * 1024


class RawSocket:
    """Direct, synchronous writes of pre-built frames to one WebSocket connection."""

    __slots__ = (
        "_proto",
        "_batch",
        "_pending",
        "_pending_bytes",
        "_now",
        "max_buffer",
        "closed",
        "in_flight",
    )

    def __init__(self, proto: ChatWebSocketProtocol, max_buffer: int) -> None:
        self._proto = proto
        self._batch = batch_for(proto.loop)
        #: Frames written this turn of the loop, not yet handed to the transport (None: none).
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0
        #: Whether the pending frames go out at the end of this turn (else within write_batch.LATER_S).
        self._now = False
        self.max_buffer = max_buffer
        self.closed = False
        #: Sends accepted but not yet answered; shutdown waits for them (see ChatWebSocketProtocol).
        self.in_flight = 0

    def write(self, frame: bytes, later: bool = False) -> bool:
        """Queue one frame; False if the connection is gone or was closed for not reading. `later`:
        nobody waits for it (presence), it may go with the next frames (write_batch.LATER_S)."""
        if self.closed:
            return False
        proto = self._proto
        transport = proto.transport
        if proto.close_sent or transport.is_closing():
            self.closed = True
            return False
        if transport.get_write_buffer_size() + self._pending_bytes > self.max_buffer:
            self.abort(1008, "send queue full: the client is not reading")
            return False
        pending = self._pending
        if pending is None:
            self._pending = [frame]
            if later:
                self._batch.add_later(self)
            else:
                self._now = True
                self._batch.add(self)
        else:
            pending.append(frame)
            if not (later or self._now):  # urgent: takes what waited for later along this turn
                self._now = True
                self._batch.add(self)
        self._pending_bytes += len(frame)
        if self._pending_bytes >= FLUSH_AT:  # a replay's pages: to the kernel now, as before batching
            self.flush()
        return True

    def flush(self) -> None:
        """Hand this turn's frames to the transport in one write (the batch calls it; so does
        anything about to write to the socket directly, so frames stay in order)."""
        pending = self._pending
        if pending is None:
            return
        self._pending, self._pending_bytes, self._now = None, 0, False
        proto = self._proto
        if self.closed or proto.close_sent or proto.transport.is_closing():
            return
        proto.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    @property
    def buffered(self) -> int:
        return self._proto.transport.get_write_buffer_size() + self._pending_bytes

    def abort(self, code: int, reason: str) -> None:
        """Send a close frame without waiting for the peer (it may never read again)."""
        if self.closed:
            return
        self.flush()  # what was written before the close goes before it (an error saying why)
        self.closed = True
        proto = self._proto
        if proto.close_sent or proto.transport.is_closing():
            return
        try:
            proto.conn.send_close(code, reason)
            proto.transport.write(b"".join(proto.conn.data_to_send()))
        except Exception:  # the protocol may already be closing; the abort below still ends it
            log.debug("close frame not sent", exc_info=True)
        proto.close_sent = True
        # Read nothing more from a peer we are throwing out (a flooder keeps sending).
        proto.transport.pause_reading()
        proto.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        # Give a reading peer a moment to see the close frame, then drop the socket.
        proto.loop.call_later(1.0, proto.transport.abort)


class _Inbox:
    """What uvicorn asks of its per-connection `asyncio.Queue` (put_nowait, get, empty), for the one task
    that reads it: a list and at most one waiter instead of three deques and an Event (~3 KiB a
    connection at rest). uvicorn stops reading the socket while a message waits, so it holds one or two."""

    __slots__ = ("_items", "_getter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            if self._getter is not None:
                raise RuntimeError("Expected one reader of a connection's messages, got a second")
            self._getter = getter = asyncio.get_running_loop().create_future()
            try:
                await getter
            finally:
                self._getter = None
        return self._items.pop(0)


class _Writable:
    """uvicorn's `writable` flag (an `asyncio.Event`: set, clear, is_set, wait) with its waiters made only
    when a send must wait for the transport to drain (rare: a slow reader), not one deque per connection."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None and waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True


class _ClientFaultsAreQuiet(logging.LoggerAdapter[logging.Logger]):
    """uvicorn logs a client's invalid UTF-8 with a traceback; it is the client's fault: one line will do."""

    @property
    def level(self) -> int:  # uvicorn reads it to decide on trace logging
        return self.logger.level

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:  # logging's keywords, passed on
        if isinstance(msg, str) and msg.startswith("Invalid UTF-8"):
            self.info("closed a connection that sent invalid UTF-8 (1007)")
            return
        self.logger.exception(msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        # Its line for every handshake ('%s - "WebSocket /ws" [accepted]') names the client's address:
        # logs.py's filter would drop it, but only after a record was made, for every connection.
        if isinstance(msg, str) and (msg.startswith('%s - "WebSocket') or msg in _PER_CONNECTION):
            return
        self.logger.info(msg, *args, **kwargs)


#: What the `websockets` protocol says at info level for every connection (logs.py would drop it too).
_PER_CONNECTION = frozenset({"connection open", "connection closed"})


#: One for every connection: it keeps no state of its own.
_QUIET_LOG = _ClientFaultsAreQuiet(logging.getLogger("uvicorn.error"), {})


class ChatWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus the `RawSocket` scope extension."""

    #: Unsent bytes allowed per connection before it counts as a stalled reader.
    max_buffer = 512 * 1024

    #: On shutdown, how long accepted sends may take to be answered before we close with 1012.
    settle_timeout = 7.0

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.logger = _QUIET_LOG  # type: ignore[assignment]
        self.conn.logger = _QUIET_LOG
        # Idle memory (issue 17): lighter stand-ins for the queue and the event every connection keeps.
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]
        self.writable.set()

    def start_keepalive(self) -> None:
        # Called once the handshake's answer is written: the parsed request and response (their headers,
        # ~2 KiB) are never read again, so do not keep them for the life of the connection.
        self.request = self.response = None  # type: ignore[assignment]
        super().start_keepalive()

    def _raw(self) -> RawSocket | None:
        scope = getattr(self, "scope", None)
        return scope["extensions"].get(EXTENSION) if scope is not None else None

    def _flush_raw(self) -> None:
        """Frames the hub wrote this turn go out before anything uvicorn writes itself (a close)."""
        raw = self._raw()
        if raw is not None:
            raw.flush()

    async def send(self, message: Any) -> None:
        self._flush_raw()
        await super().send(message)

    def handle_close(self, event) -> None:  # type: ignore[no-untyped-def]
        self._flush_raw()
        super().handle_close(event)

    def shutdown(self) -> None:
        """Stop reading, let accepted sends be answered (ack or `unavailable`), then close with 1012."""
        raw = self._raw()
        if raw is not None:
            raw.flush()
        if raw is None or raw.in_flight <= 0 or self.close_sent or self.transport.is_closing():
            super().shutdown()
            return
        self.transport.pause_reading()
        self.loop.create_task(self._settle_then_shutdown(raw))

    async def _settle_then_shutdown(self, raw: RawSocket) -> None:
        deadline = self.loop.time() + self.settle_timeout
        while raw.in_flight > 0 and self.loop.time() < deadline and not self.transport.is_closing():
            await asyncio.sleep(0.02)
        raw.flush()
        if not self.transport.is_closing():
            super().shutdown()

    def handle_connect(self, event) -> None:  # type: ignore[no-untyped-def]
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = RawSocket(self, self.max_buffer)


#: A shut-out client gets this long to send its request head, and as long to hang up after our answer.
SHUT_OUT_GRACE_S = 1.0
#: Bytes of a shut-out client's request read before it is answered anyway.
SHUT_OUT_MAX_HEAD = 16 * 1024


class ChatHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol plus a deadline for the request head and an early 429.

    A socket that connects and then sends nothing, or half a request, would
    otherwise hold a slot for ever (slowloris). An address the `Admission`
    has shut out (reconnecting in a loop, or just closed for flooding) gets a
    canned 429 once its request head is in, unparsed: refusing it through the
    WebSocket handshake and the app would cost the server about as much as
    serving it. Both are set per server by `configured()`.
    """

    handshake_timeout = 10.0
    admission: Admission | None = None
    _head_deadline: asyncio.TimerHandle | None = None
    #: The request so far of a client that was shut out when it connected; None otherwise.
    _held_back: bytearray | None = None
    _answered = False

    @classmethod
    def configured(
        cls, handshake_timeout: float, admission: Admission | None = None
    ) -> type[ChatHttpProtocol]:
        attributes = {"handshake_timeout": handshake_timeout, "admission": admission}
        return type("ChatHttpProtocolConfigured", (cls,), attributes)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        timeout = self.handshake_timeout
        if self.admission is not None and self.client and self.admission.wait_before_retry(self.client[0]):
            self._held_back = bytearray()
            timeout = min(timeout, SHUT_OUT_GRACE_S) if timeout > 0 else SHUT_OUT_GRACE_S
        if timeout > 0:
            self._head_deadline = self.loop.call_later(timeout, self._too_slow)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # what a refused client still sends is read and dropped until it hangs up
        if self._held_back is None:
            super().data_received(data)
            return
        self._held_back += data
        if b"\r\n\r\n" not in self._held_back and len(self._held_back) < SHUT_OUT_MAX_HEAD:
            return
        request, self._held_back = bytes(self._held_back), None
        assert self.admission is not None and self.client
        answer = self.admission.early_answer(self.client[0])
        if answer is None:  # the wait ran out while the request came in: serve it after all
            super().data_received(request)
            return
        self._answered = True
        self._clear_deadline()
        self.transport.write(answer)
        # Half-close and keep reading until the client hangs up: closing with its bytes unread
        # would reset the connection, and a reset can discard the answer before it is read.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._head_deadline = self.loop.call_later(SHUT_OUT_GRACE_S, self.transport.abort)

    def on_headers_complete(self) -> None:
        self._clear_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear_deadline()
        super().connection_lost(exc)

    def _clear_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
