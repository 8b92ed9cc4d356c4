"""uvicorn's HTTP protocol with a deadline for the request head, an early 429 and a quicker upgrade.

A socket that connects and then sends nothing, or half a request, would otherwise hold a slot for
ever (slowloris); an address shut out by the `Admission` is refused before its request is parsed;
a plain WebSocket upgrade is answered from httptools' parse (handshake.py) instead of being written
back out for `websockets` to parse again, or, when its whole head is a connection's first read, from
handshake.plain_head without httptools at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import is_ssl

from chatserver import handshake
from chatserver.admission import Admission

#: A shut-out client gets this long to send its request head, and as long to hang up after our answer.
SHUT_OUT_GRACE_S = 1.0
#: Bytes of a shut-out client's request read before it is answered anyway.
SHUT_OUT_MAX_HEAD = 16 * 1024


class ChatHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol plus a deadline for the request head, an early 429 and a plain
    WebSocket upgrade handed on as parsed.

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
    #: Nothing read yet: a first read that is a whole plain upgrade skips httptools.
    _first = True

    @classmethod
    def configured(
        cls, handshake_timeout: float, admission: Admission | None = None
    ) -> type[ChatHttpProtocol]:
        attributes = {"handshake_timeout": handshake_timeout, "admission": admission}
        return type("ChatHttpProtocolConfigured", (cls,), attributes)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvicorn's own, but with the addresses the event loop looked up on accepting the socket:
        # uvicorn asks the kernel again through socket objects made for the purpose, five system calls
        # a connection (and no trace log of the client's address).
        self.connections.add(self)
        self.transport = transport
        self.flow = FlowControl(transport)
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _peer(transport.get_extra_info("peername"))
        self.scheme = "https" if is_ssl(transport) else "http"
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
            first, self._first = self._first, False
            if not (first and self._upgraded_at_once(data)):
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

    def handle_websocket_upgrade(self) -> None:
        """A plain upgrade goes to the WebSocket protocol as parsed here (handshake.py); anything else
        the old way, written back out for `websockets` to parse and answer."""
        scope = self.scope
        key = handshake.plain_upgrade_key(scope["method"], scope["http_version"], scope["headers"])
        ws_scope = handshake.websocket_scope(scope, self.url, scope["asgi"]["version"]) if key else None
        if ws_scope is None or key is None or not self._ours():
            super().handle_websocket_upgrade()
            return
        self._hand_over(ws_scope, key)

    def _upgraded_at_once(self, data: bytes) -> bool:
        """A connection's first read that is all of a plain upgrade's head (handshake.plain_head) is
        handed on without httptools: True if it was."""
        head = handshake.plain_head(data) if self._ours() else None
        key = handshake.plain_upgrade_key("GET", "1.1", head[1]) if head else None
        if head is None or key is None:
            return False
        http: dict[str, Any] = {"root_path": self.root_path, "scheme": self.scheme, "server": self.server}
        http.update(client=self.client, headers=head[1], state=self.app_state.copy())
        ws_scope = handshake.websocket_scope(http, head[0], self.asgi_version)
        if ws_scope is None:
            return False
        self._clear_deadline()
        self._hand_over(ws_scope, key)
        return True

    def _ours(self) -> bool:
        """Whether upgrades go to a WebSocket protocol of ours (another ws=, or compression
        negotiated: those parse for themselves)."""
        return hasattr(self.ws_protocol_class, "upgrade_parsed") and not self.config.ws_per_message_deflate

    def _hand_over(self, ws_scope: dict[str, Any], key: bytes) -> None:
        self.connections.discard(self)
        protocol: Any = self.ws_protocol_class(  # type: ignore[call-arg, misc]
            config=self.config, server_state=self.server_state, app_state=self.app_state, _loop=self.loop
        )
        protocol.taken_over(self.transport, self)
        self.transport.set_protocol(protocol)
        protocol.upgrade_parsed(ws_scope, key)

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


def _address(info: Any) -> tuple[str, int | None] | None:
    """The server's address as uvicorn gives it: (host, port) for TCP, (path, None) for a Unix socket."""
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return (info, None) if isinstance(info, str) and info else None


def _peer(info: Any) -> tuple[str, int] | None:
    """The client's (host, port) as uvicorn gives it; None over a Unix socket."""
    return (str(info[0]), int(info[1])) if isinstance(info, tuple) and len(info) >= 2 else None
