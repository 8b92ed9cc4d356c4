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
import functools
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.protocol import CONNECTING, Protocol, State
from websockets.server import ServerProtocol

from chatserver import handshake
from chatserver.logs import CONNECTION_LOG
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


@functools.lru_cache(maxsize=8)
def _limit_for(max_size: int | None) -> int | None:
    """`_text_limit` of a `websockets` protocol made with `max_size` (one is made to ask, once)."""
    return _text_limit(ServerProtocol(max_size=max_size, logger=CONNECTION_LOG))


def _text_limit(conn: Any) -> int | None:
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

    def __init__(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any], _loop: Any = None
    ) -> None:
        """uvicorn's per-connection state, set here rather than by uvicorn's `__init__`, which makes a
        queue, an event and two loggers' lookups we replace at once, and the `websockets` protocol
        object (a uuid4, a parser, a reader), which a plain connection needs only for what is not a
        whole text frame, if ever (`conn`). A reconnect storm of 5,000 took 2.8 s with them, 2.5 s
        without (bench/RESULTS.md, run 35). tests/test_transport.py checks this sets every attribute
        uvicorn's own would."""
        if config.ws_per_message_deflate:  # (never plain: the upgrade goes uvicorn's way throughout)
            super().__init__(config, server_state, app_state, _loop)
            self.conn.logger = CONNECTION_LOG
        else:
            self._set_up(config, server_state, app_state, _loop)
        self.logger = CONNECTION_LOG  # type: ignore[assignment]
        # Idle memory (issue 17): lighter stand-ins for the queue and the event every connection keeps.
        self.queue = Inbox(self.loop)  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
        self.writable.set()

    def _set_up(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any], loop: Any
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = loop or asyncio.get_event_loop()
        self.root_path = config.root_path
        self.asgi_version = config.asgi_version
        self.app_state = app_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers
        self.transport = None  # type: ignore[assignment]
        self.server = self.client = self.scheme = None  # type: ignore[assignment]
        self.handshake_initiated = self.handshake_complete = self.close_sent = self.disconnected = False
        self.read_paused = False
        self.close_timer = self.initial_response = None
        self.close_timeout = 10.0
        self.ping_interval, self.ping_timeout = config.ws_ping_interval, config.ws_ping_timeout
        self.ping_timer = self.pong_timer = self.pending_ping_payload = None
        self.ping_sent_at = self.last_ping_rtt = 0.0
        self.frames = []
        self.curr_msg_data_type = "bytes"

    #: The `websockets` protocol object, once something needs it (`conn`).
    _conn: ServerProtocol | None = None

    @property
    def conn(self) -> ServerProtocol:
        """The `websockets` protocol, made when first needed: at once for an upgrade `websockets`
        parses; for a plain one (`upgrade_parsed`), when a frame is not a whole text frame, a ping is
        due, or the connection closes. Made after the accept, it starts open and between frames."""
        conn = self._conn
        if conn is None:
            opened = self._plain and self.handshake_complete
            state = State.OPEN if opened else CONNECTING
            conn = self._conn = ServerProtocol(
                max_size=self.config.ws_max_size, logger=CONNECTION_LOG, state=state
            )
            if self._plain and not opened:  # the request was read already: frames from here on
                conn.parser = Protocol.parse(conn)
                next(conn.parser)
        return conn

    @conn.setter
    def conn(self, value: ServerProtocol) -> None:
        self._conn = value

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
    #: Whether the handshake was answered from httptools' parse (`upgrade_parsed`).
    _plain = False

    def upgrade_parsed(self, scope: dict[str, Any], key: bytes) -> None:
        """Start the app on a request httptools parsed and handshake.py checked (see ChatHttpProtocol):
        what uvicorn's `handle_connect` does once `websockets` has parsed the request again."""
        self._plain, self._plain_key = True, key
        self.handshake_initiated = True
        scope["extensions"][EXTENSION] = RawSocket(self, self.max_buffer)
        self.scope = scope  # type: ignore[assignment]
        limit = _limit_for(self.config.ws_max_size)
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
            if self._conn is not None:
                self._conn.state = State.OPEN
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
        conn = self._conn  # (None: no frame has needed it, so none is half read)
        if (
            payloads is not None
            and self.handshake_complete
            and not self.close_sent
            and (
                conn is None
                or conn.state is State.OPEN
                and getattr(conn, "current_size", 0) is None  # (not inside a fragmented message)
                and not conn.extensions
            )
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
