"""ChatHttpProtocol's accept and upgrade, on uvloop as the server runs it: both addresses come from what
the event loop learnt when it accepted the socket, not from the kernel again through a socket object
made for the purpose (uvicorn's way: five system calls a connection, a reconnect storm's thousands)."""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import pytest

from chatserver.http_protocol import ChatHttpProtocol
from chatserver.transport import ChatWebSocketProtocol
from tests.support import RAW_UPGRADE, chat_http_server

#: Socket objects made while `_watching` (Python's audit event "socket.__new__").
_made: list[Any] = []
_watching = False
_hooked = False


def _audit(event: str, args: Any) -> None:
    if _watching and event == "socket.__new__":
        _made.append(args)


uvloop = pytest.importorskip("uvloop")  # (the server's loop where it is installed: not on Windows)


def _keeping_scopes(scopes: list[dict[str, Any]]) -> Any:
    """An app that accepts every WebSocket connection, keeps its scope in `scopes` and reads it to the end."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        scopes.append(scope)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            pass

    return app


async def _accept_and_upgrade() -> tuple[dict[str, Any], tuple[str, int], tuple[str, int]]:
    """One client through the plain handshake to an app that keeps its scope: (the scope, the client's
    own address, the server's), with socket objects watched from the connect to the 101."""
    global _watching
    scopes: list[dict[str, Any]] = []
    server = await chat_http_server(_keeping_scopes(scopes), ChatWebSocketProtocol)
    loop = asyncio.get_running_loop()
    address = server.sockets[0].getsockname()
    client = socket.socket()  # (made before watching: the client's own)
    client.setblocking(False)
    try:
        _made.clear()
        _watching = True
        await loop.sock_connect(client, address)
        await loop.sock_sendall(client, RAW_UPGRADE)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += await asyncio.wait_for(loop.sock_recv(client, 4096), 5)
        _watching = False
        assert b" 101 " in answer
        return scopes[0], client.getsockname(), address
    finally:
        _watching = False
        client.close()
        server.close()
        await server.wait_closed()


def test_the_addresses_come_from_the_accept_with_no_socket_object_made():
    global _hooked
    if not _hooked:  # (for the rest of the run: a hook cannot be removed; idle unless watching)
        sys.addaudithook(_audit)
        _hooked = True
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        scope, mine, servers = runner.run(_accept_and_upgrade())
    assert _made == [], "no socket object for a connection's addresses (uvicorn made one, five system calls)"
    assert scope["client"] == (mine[0], mine[1]), "the app sees the client's own address (per-address limits)"
    assert scope["server"] == (servers[0], servers[1])
    assert scope["scheme"] == "ws"


async def _upgrade_each(heads: list[bytes]) -> list[dict[str, Any]]:
    """The app's scope for each request head sent whole on a connection of its own (each answered 101)."""
    scopes: list[dict[str, Any]] = []
    server = await chat_http_server(_keeping_scopes(scopes), ChatWebSocketProtocol)
    port = server.sockets[0].getsockname()[1]
    try:
        for head in heads:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert b" 101 " in answer
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
    return scopes


def test_a_whole_plain_head_skips_httptools_and_the_app_sees_the_same_scope(monkeypatch):
    """A reconnecting client's upgrade usually arrives whole in the connection's first read: it is handed
    on without httptools' callbacks. One with a `Content-Length: 0` (left to httptools) gives the app the
    same scope but for that header."""
    began: list[object] = []
    original = ChatHttpProtocol.on_message_begin

    def counted(self: ChatHttpProtocol) -> None:
        began.append(self)
        original(self)

    monkeypatch.setattr(ChatHttpProtocol, "on_message_begin", counted)
    with_length = RAW_UPGRADE.replace(b"\r\nUpgrade", b"\r\nContent-Length: 0\r\nUpgrade")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        whole, parsed = runner.run(_upgrade_each([RAW_UPGRADE, with_length]))
    assert len(began) == 1, "httptools read only the request it had to"
    assert parsed["headers"] == [*whole["headers"][:1], (b"content-length", b"0"), *whole["headers"][1:]]
    for name in ("type", "path", "raw_path", "query_string", "scheme", "server", "root_path", "asgi"):
        assert whole[name] == parsed[name], name
    assert whole["client"][0] == parsed["client"][0]
