"""The /ws endpoint as a plain ASGI callable: origin check, admission, hello, then the frame loop.

Plain ASGI rather than a Starlette endpoint: app.Front hands /ws straight here,
past the router and middleware, because every open connection keeps its chain
of suspended calls alive. Only Starlette's ASGI type aliases are imported.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from starlette.types import Message, Receive, Scope, Send

from chatserver.admission import TOO_FAST, Admission
from chatserver.connection import Connection
from chatserver.errors import ChatError
from chatserver.headers import SECURITY_HEADERS
from chatserver.hub import Hub
from chatserver.protocol import CLOSE_POLICY, HELLO_TIMEOUT_S, error_frame, parse_frame
from chatserver.settings import Settings
from chatserver.transport import EXTENSION

log = logging.getLogger(__name__)


class WebSocketEndpoint:
    """/ws as a plain ASGI callable: origin check, hello, then the frame loop.

    Args:
        hub: the worker's hub; a callable because the lifespan builds the hub after the app exists.
        settings: allowed origins and the per-connection frame rate.
        admission: per-address connection caps, shared with the HTTP protocol.
    """

    def __init__(self, hub: Callable[[], Hub], settings: Settings, admission: Admission) -> None:
        self._hub = hub
        self.allowed = set(settings.allowed_origins)
        self.frames_per_second = settings.max_frames_per_second
        self.admission = admission

    def origin_ok(self, scope: Scope) -> bool:
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is None:
            # Not a browser (bots and load generators send no Origin), unless it says it is one:
            # only browsers send fetch metadata, and a browser always sends its Origin.
            return b"sec-fetch-site" not in headers and b"sec-fetch-mode" not in headers
        value = origin.decode("latin-1")
        if value in self.allowed:
            return True
        host = headers.get(b"host", b"").decode("latin-1")
        return bool(host) and value in (f"http://{host}", f"https://{host}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not self.origin_ok(scope):
            await _refuse(send, 403, "This page's origin may not connect to this chat server.")
            return
        address: str = (scope.get("client") or ("?", 0))[0]
        refusal = self.admission.refusal(address)
        if refusal:
            wait = self.admission.wait_before_retry(address) if refusal == TOO_FAST else 30
            await _refuse(send, 429, refusal, retry_after=wait)
            return
        self.admission.opened(address)
        try:
            await self._serve(scope, receive, send, address)
        finally:
            self.admission.closed(address)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, address: str) -> None:
        raw = scope.get("extensions", {}).get(EXTENSION)
        if raw is None:
            raise RuntimeError("chatserver must be served with chatserver.transport.ChatWebSocketProtocol")
        await send({"type": "websocket.accept"})
        # The headers were read (origin, address) before the accept; ~1 KiB a connection kept for nothing.
        scope["headers"] = []
        hub = self._hub()
        conn = Connection(raw, frames_per_second=self.frames_per_second)
        conn.peer = address
        hub.attach(conn)
        try:
            if await self._hello(hub, conn, receive) and await self._frames(hub, conn, receive):
                # Shut the address out now, before this connection's teardown awaits anything.
                self.admission.cool_off(address)
        finally:
            await hub.detach(conn)

    async def _hello(self, hub: Hub, conn: Connection, receive: Receive) -> bool:
        # One timer for the whole wait, which closes the connection if it fires while we are reading:
        # the close ends the read. (A timeout scope around each read cost about 3% of a reconnect
        # storm; wait_for made a task per connection.) A hello being handled when it fires is not cut
        # short; if it did not sign in, no read begins after it.
        wait = _HelloWait(conn, asyncio.get_running_loop())
        try:
            while not conn.session:
                if wait.over:
                    conn.raw.abort(CLOSE_POLICY, NO_HELLO)
                    return False
                wait.reading = True
                message = await receive()
                wait.reading = False
                if message["type"] == "websocket.disconnect":
                    return False
                if not hub.admit_frame(conn, None):
                    if conn.raw.closed:
                        return False
                    continue
                try:
                    frame = parse_frame(_data(message))
                    await hub.hello(conn, frame)
                except ChatError as exc:
                    conn.send(error_frame(exc.code, exc.message))
            return True
        finally:
            wait.timer.cancel()

    async def _frames(self, hub: Hub, conn: Connection, receive: Receive) -> bool:
        """Hand each frame to the hub until the connection ends; True if it was closed for flooding."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect" or conn.raw.closed:
                return False  # frames already queued by a peer we closed are not worth reading
            try:
                await hub.handle(conn, _data(message))
            except Exception:
                log.exception("frame handling failed")
                conn.send(error_frame("bad_request", "That frame could not be handled"))
            if conn.flooded:
                return True


NO_HELLO = "no hello within 10 seconds"


class _HelloWait:
    """The hello deadline of one connection: past it, a read in progress is ended by closing the
    connection; one not yet begun is not begun."""

    __slots__ = ("conn", "timer", "reading", "over")

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.reading = False
        self.over = False
        self.timer = loop.call_later(HELLO_TIMEOUT_S, self.expired)

    def expired(self) -> None:
        self.over = True
        if self.reading:
            self.conn.raw.abort(CLOSE_POLICY, NO_HELLO)


async def _refuse(send: Send, status: int, text: str, *, retry_after: float = 30) -> None:
    """Answer a WebSocket handshake with a plain HTTP error (the ASGI websocket.http.response extension)."""
    body = text.encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"retry-after", b"%d" % max(1, math.ceil(retry_after))),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


def _data(message: Message) -> str | bytes:
    text: str | None = message.get("text")
    if text is not None:
        return text
    data: bytes = message.get("bytes") or b""
    return data
