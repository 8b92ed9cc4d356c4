"""A uvicorn WebSocket protocol that lets the hub write ready-made frames.

Why: a room event is byte-for-byte the same WebSocket frame for every
recipient (server frames are unmasked). Through plain ASGI each recipient costs
an `await send(...)` that re-frames the text; here the hub builds the frame
once and hands the bytes to each socket's transport. The same handle reports
the transport's unsent bytes, which is our bounded per-connection send queue:
a reader that stops reading is closed (1008) instead of growing a buffer or
slowing the room.

The close and receive paths stay plain ASGI (uvicorn's sans-I/O implementation
over the `websockets` library); outgoing data frames take the shortcut, and so
does a plain handshake (handshake.py: answered from httptools' parse, not parsed
twice). Exposed to the app as the ASGI scope extension `EXTENSION`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import Protocol, State

from chatserver import handshake
from chatserver.write_batch import batch_for
from chatserver.ws_frames import read_text_frames
from chatserver.ws_standins import Inbox, Writable

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
        self.max_buffer = max_buffer
        self.closed = False
        #: Sends accepted but not yet answered; shutdown waits for them (see ChatWebSocketProtocol).
        self.in_flight = 0

    def write(self, frame: bytes) -> bool:
        """Queue one frame for the end of this turn; False if the connection is gone or was closed for
        not reading."""
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
            self._batch.add(self)
        else:
            pending.append(frame)
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
        self._pending, self._pending_bytes = None, 0
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


def _text_limit(conn: Protocol) -> int | None:
    """The size limit `websockets` puts on a new message (max_size), or None if this version of it does
    not say where we look (then every frame goes to its parser)."""
    message = getattr(conn, "max_message_size", -1)
    fragment = getattr(conn, "max_fragment_size", -1)
    if message == -1 or fragment == -1:
        return None
    limits = [limit for limit in (message, fragment) if limit is not None]
    return min(limits) if limits else 2**63


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
        self.queue = Inbox(self.loop)  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
        self.writable.set()

    def taken_over(self, transport: asyncio.Transport, http: Any) -> None:
        """`connection_made` for a socket the HTTP protocol `http` hands over at its upgrade: the same
        state, with the addresses it has already taken from the loop (uvicorn's would make a socket
        object to ask the kernel for them again)."""
        self.connections.add(self)
        self.transport = transport
        self.server, self.client = http.server, http.client
        self.scheme = "wss" if http.scheme == "https" else "ws"

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
        plain = self._plain_key is not None and not self.handshake_complete and self.initial_response is None
        if plain and message["type"] == "websocket.accept":
            await self._accept_plain(message)
            return
        await super().send(message)

    #: The Sec-WebSocket-Key of a handshake answered from httptools' parse, until the app accepts it.
    _plain_key: bytes | None = None

    def upgrade_parsed(self, scope: dict[str, Any], key: bytes) -> None:
        """Start the app on a request httptools parsed and handshake.py checked (see ChatHttpProtocol):
        what uvicorn's `handle_connect` does once `websockets` has parsed the request again."""
        conn = self.conn
        conn.parser = Protocol.parse(conn)  # frames from here on: the request was read already
        next(conn.parser)
        self._plain_key = key
        self.handshake_initiated = True
        scope["extensions"][EXTENSION] = RawSocket(self, self.max_buffer)
        self.scope = scope  # type: ignore[assignment]
        limit = _text_limit(conn)
        if limit is not None:  # a new parser, nothing read yet
            self._text_limit, self._between_frames = limit, True
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.on_task_complete)
        self.tasks.add(task)

    async def _accept_plain(self, message: Any) -> None:
        """uvicorn's answer to `websocket.accept`, as bytes: the 101 with the server's and the app's
        headers; from then on the connection is open."""
        key, self._plain_key = self._plain_key, None
        assert key is not None
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        headers = [*self.default_headers, *message.get("headers", [])]
        if message.get("subprotocol"):  # none was offered (handshake.py), so none can be chosen
            raise RuntimeError("a subprotocol was accepted that the client did not offer")
        if not self.transport.is_closing():
            self.handshake_complete = True
            self.conn.state = State.OPEN
            self.transport.write(handshake.switching_protocols(key, headers))
            self.start_keepalive()

    #: Whether the `websockets` parser sits between two frames with nothing buffered, so that the
    #: chunks read can be taken here (ws_frames.py). Only a parser this class started knows it (a plain
    #: handshake); off for good once a chunk goes to the parser unread (a frame over the size limit).
    _between_frames = False
    #: The largest text frame read here: the parser's limit for a new message (its max_size).
    _text_limit = 0
    #: The start of a frame still coming (kept here, so the parser never holds half a frame).
    _partial = b""

    def data_received(self, data: bytes) -> None:
        if not self._between_frames:
            super().data_received(data)
            return
        if self._partial:
            data, self._partial = self._partial + data, b""
        chunk = read_text_frames(data, self._text_limit)
        if chunk.end < len(data):
            data, rest = data[: chunk.end], data[chunk.end :]
            if chunk.too_big:  # the parser says so (1009) without waiting for the rest of it
                if data:
                    self._read_whole(data, chunk.payloads)
                self._between_frames = False
                super().data_received(rest)
                return
            self._partial = rest
            if not data:
                return
        self._read_whole(data, chunk.payloads)

    def _read_whole(self, data: bytes, payloads: list[bytes] | None) -> None:
        """Whole frames: their payloads to the app here if they are plain text, else to the parser
        (which is between frames again after them)."""
        conn = self.conn
        if (
            payloads is not None
            and conn.state is State.OPEN
            and self.handshake_complete
            and not self.close_sent
            and getattr(conn, "current_size", 0) is None  # (not inside a fragmented message)
            and not conn.extensions
        ):
            # What uvicorn does with each text frame the parser hands it (handle_text).
            for payload in payloads:
                self.curr_msg_data_type = "text"
                self.frames = [payload]
                self.send_receive_event_to_app()  # (invalid UTF-8: 1007, as ever)
            return
        super().data_received(data)

    def send_receive_event_to_app(self) -> None:
        """uvicorn stops reading the socket after every message until the app takes it: with uvloop, its
        watcher is removed and added again for each message (a system call each time), though the app
        is there waiting for it. Reading stops once a message waits untaken; so the inbox holds at most
        two, with whatever else came in the same read."""
        if self.read_paused or not self.queue.empty():
            super().send_receive_event_to_app()
            return
        self.read_paused = True  # (uvicorn's method pauses only a socket it believes is reading)
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = False

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
