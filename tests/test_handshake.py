"""The opening handshake answered from httptools' parse (chatserver/handshake.py), and what it leaves
to `websockets`: the same answers as before for every request, plain or not."""

from __future__ import annotations

import socket

import pytest

from chatserver import handshake
from tests.support import RAW_UPGRADE, ServerProcess, text_frame

RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455, section 1.3
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
KEY_AND_VERSION = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

PLAIN = [
    (b"host", b"127.0.0.1"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", RFC_KEY),
    (b"sec-websocket-version", b"13"),
]


def with_header(name: bytes, value: bytes | None, *, add: bool = False) -> list[tuple[bytes, bytes]]:
    """PLAIN with `name` replaced by `value` (None: left out), or one more of it (`add`)."""
    headers = [(n, v) for n, v in PLAIN if add or n != name]
    if value is not None:
        headers.append((name, value))
    return headers


def test_the_answer_to_the_rfc_example_key() -> None:
    """The accept value is RFC 6455's own example; the server's headers follow; the head ends once."""
    answer = handshake.switching_protocols(RFC_KEY, [(b"date", b"Sun, 06 Dec 2026 04:00:00 GMT")])
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nSec-WebSocket-Accept: " + RFC_ACCEPT + b"\r\n" in answer
    assert b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" in answer
    assert answer.endswith(b"\r\ndate: Sun, 06 Dec 2026 04:00:00 GMT\r\n\r\n")
    assert answer.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize(
    "headers",
    [
        PLAIN,
        with_header(b"upgrade", b"WebSocket"),  # case is not checked (websockets does the same)
        with_header(b"connection", b"keep-alive, Upgrade"),  # Firefox
        with_header(b"sec-websocket-extensions", b"permessage-deflate"),  # offered, not taken
    ],
)
def test_plain_upgrades_are_answered_here(headers: list[tuple[bytes, bytes]]) -> None:
    assert handshake.plain_upgrade_key("GET", "1.1", headers) == RFC_KEY


@pytest.mark.parametrize(
    ("method", "version", "headers"),
    [
        ("POST", "1.1", PLAIN),
        ("GET", "1.0", PLAIN),
        ("GET", "1.1", with_header(b"upgrade", b"websocket", add=True)),
        ("GET", "1.1", with_header(b"upgrade", b"h2c")),
        ("GET", "1.1", with_header(b"connection", b"keep-alive")),
        ("GET", "1.1", with_header(b"connection", None)),
        ("GET", "1.1", with_header(b"sec-websocket-key", None)),
        ("GET", "1.1", with_header(b"sec-websocket-key", b"c2hvcnQ=")),  # 5 bytes
        ("GET", "1.1", with_header(b"sec-websocket-key", b"not base64 at all!!!!!==")),
        ("GET", "1.1", with_header(b"sec-websocket-key", RFC_KEY, add=True)),
        ("GET", "1.1", with_header(b"sec-websocket-version", b"12")),
        ("GET", "1.1", with_header(b"sec-websocket-version", None)),
        ("GET", "1.1", with_header(b"sec-websocket-version", b"13", add=True)),
        ("GET", "1.1", with_header(b"sec-websocket-protocol", b"chat")),
    ],
)
def test_anything_else_goes_the_old_way(
    method: str, version: str, headers: list[tuple[bytes, bytes]]
) -> None:
    assert handshake.plain_upgrade_key(method, version, headers) is None


def test_the_scope_is_the_one_uvicorn_would_build() -> None:
    http = {
        "root_path": "",
        "scheme": "https",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": PLAIN,
        "state": {},
    }
    scope = handshake.websocket_scope(http, b"/ws%20x?lang=fr", "3.0")
    assert scope is not None
    assert (scope["type"], scope["scheme"], scope["path"], scope["raw_path"]) == (
        "websocket",
        "wss",
        "/ws x",
        b"/ws%20x",
    )
    assert scope["query_string"] == b"lang=fr" and scope["subprotocols"] == []
    assert scope["headers"] is PLAIN and scope["client"] == ("127.0.0.1", 50000)
    assert handshake.websocket_scope(http, b"http://example.org/ws", "3.0") is None


def test_a_whole_plain_head_is_read_as_httptools_would_give_it() -> None:
    """Names lowercased, values trimmed of spaces and tabs, the target as sent."""
    head = RAW_UPGRADE.replace(b"Host: 127.0.0.1", b"Host:  127.0.0.1 \t").replace(b"/ws", b"/ws?lang=fr")
    target, headers = handshake.plain_head(head) or (None, None)
    assert target == b"/ws?lang=fr"
    assert headers == PLAIN


@pytest.mark.parametrize(
    "head",
    [
        RAW_UPGRADE[:-2],  # not all of the head yet
        RAW_UPGRADE + b"\x81\x80",  # more than the head
        RAW_UPGRADE.replace(b"GET", b"POST"),
        RAW_UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0"),
        RAW_UPGRADE.replace(b"GET /ws", b"GET  /ws"),
        RAW_UPGRADE.replace(b"/ws", b"/w\ts"),
        RAW_UPGRADE.replace(b"/ws", b"/w\xc3\xa9"),
        RAW_UPGRADE.replace(b"\r\nUpgrade", b"\r\n Upgrade"),  # a folded line
        RAW_UPGRADE.replace(b"Upgrade:", b"Up grade:"),
        RAW_UPGRADE.replace(b"Upgrade: websocket", b"Upgrade websocket"),
        RAW_UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: web\x00socket"),
        RAW_UPGRADE.replace(b"\r\nUpgrade", b"\r\nContent-Length: 0\r\nUpgrade"),
        RAW_UPGRADE.replace(b"\r\nUpgrade", b"\r\nTransfer-Encoding: chunked\r\nUpgrade"),
        RAW_UPGRADE.replace(b"\r\nUpgrade", b"\r\n\r\nUpgrade"),  # a head, then something else
    ],
)
def test_anything_unusual_in_a_head_is_left_to_httptools(head: bytes) -> None:
    assert handshake.plain_head(head) is None


def exchange(port: int, head: bytes) -> tuple[bytes, socket.socket]:
    """Send an upgrade request's head; return the answer's head (and body, if any) and the socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(head)
    seen = b""
    while b"\r\n\r\n" not in seen:
        chunk = sock.recv(4096)
        if not chunk:
            break
        seen += chunk
    return seen, sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        chunk = sock.recv(4096)
        assert chunk, f"closed before {marker!r}: {seen!r}"
        seen += chunk
    return seen


@pytest.mark.parametrize(
    "request_head",
    [
        RAW_UPGRADE,
        b"GET /ws?v=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUPGRADE: WebSocket\r\n"
        b"Connection: keep-alive, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
        # Declined by the fast path (a subprotocol offered): websockets answers, and the chat works the same.
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n\r\n",
    ],
)
def test_an_upgrade_opens_a_working_chat_connection(server: ServerProcess, request_head: bytes) -> None:
    answer, sock = exchange(server.port, request_head)
    with sock:
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 101 Switching Protocols"
        assert b"Sec-WebSocket-Accept: " + RFC_ACCEPT + b"\r\n" in rest
        assert b"sec-websocket-protocol" not in rest.lower()  # none is chosen: none is supported
        sock.sendall(text_frame({"type": "hello", "name": "Handshake"}))
        assert b'"welcome"' in read_until(sock, b'"welcome"')


def test_a_bad_upgrade_still_hears_what_is_wrong(server: ServerProcess) -> None:
    """Left to websockets: its status and its words, as before the fast path."""
    answer, sock = exchange(
        server.port,
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n",
    )
    with sock:
        answer += read_until(sock, b"12.") if b"12." not in answer else b""
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"invalid Sec-WebSocket-Version header: 12." in answer


def test_a_foreign_origin_is_refused_on_the_fast_path(make_server) -> None:
    """The app still sees the request's headers: its origin check answers 403 before any accept."""
    server = make_server(extra=("--allowed-origin", "https://chat.example.org"))
    answer, sock = exchange(
        server.port,
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\n" + KEY_AND_VERSION + b"\r\n",
    )
    sock.close()
    assert answer.startswith(b"HTTP/1.1 403 ")
