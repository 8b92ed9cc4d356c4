"""The WebSocket opening handshake, answered from the request httptools already parsed.

Why: uvicorn hands an upgrade to the WebSocket protocol by writing the parsed request back
out as bytes, which `websockets` then parses a second time, validates into a `Request`, and
answers with a `Response` object (a date formatted, header objects built and serialized). After a
deploy or a crash every client reconnects at once, and that was a fifth of the worker's time
(bench/RESULTS.md, run 13's storm profile). Here a plain, valid upgrade is recognised from
httptools' headers and answered with bytes; anything else (a missing or odd header, a
subprotocol, another HTTP version) goes the old way, so `websockets` still says what is wrong
with it in the words and status codes it always used.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from websockets.utils import accept_key

#: All of a plain request head, checked in one pass: `GET`, a target of visible ASCII, HTTP/1.1, then
#: lines of a header name (RFC 9110's token), a colon and a value (visible characters, spaces, tabs).
_PLAIN_HEAD = re.compile(
    rb"GET (/[\x21-\x7e]*) HTTP/1\.1\r\n((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)
#: Headers that say a body follows: such a request is for httptools.
_BODY = frozenset((b"content-length", b"transfer-encoding"))

_SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def plain_head(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    """The target and headers (names lowercased, values trimmed, as httptools gives them to uvicorn) of
    `data` if it is exactly one request head, `GET /... HTTP/1.1`, with nothing unusual in it; None
    otherwise (a head in pieces, a body, folded or odd lines, control characters): httptools reads
    those, as before. Why: for a reconnecting client's upgrade, httptools' callbacks into Python and
    uvicorn's HTTP scope were most of the HTTP side of a connection's cost."""
    match = _PLAIN_HEAD.fullmatch(data)
    if match is None:
        return None
    headers = []
    for line in match[2].split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name in _BODY:
            return None
        headers.append((name, value.strip(b" \t")))
    return match[1], headers


def plain_upgrade_key(method: str, http_version: str, headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The Sec-WebSocket-Key of a request this module may answer; None sends it the old way.

    `headers` are httptools' (names lowercased). The checks are those of RFC 6455, 4.2.1, that
    `websockets` makes: GET over HTTP/1.1, one `Upgrade: websocket`, `upgrade` among the Connection
    options, one key of 16 bytes in base64, one version 13. A subprotocol offer also goes the old
    way (the app would have to choose one).
    """
    if method != "GET" or http_version != "1.1":
        return None
    upgrade = key = version = None
    connection_upgrade = False
    for name, value in headers:
        if name == b"upgrade":
            if upgrade is not None:
                return None
            upgrade = value
        elif name == b"connection":
            connection_upgrade = connection_upgrade or any(
                option.strip().lower() == b"upgrade" for option in value.split(b",")
            )
        elif name == b"sec-websocket-key":
            if key is not None:
                return None
            key = value
        elif name == b"sec-websocket-version":
            if version is not None:
                return None
            version = value
        elif name == b"sec-websocket-protocol":
            return None
    if upgrade is None or upgrade.strip().lower() != b"websocket" or not connection_upgrade:
        return None
    if version != b"13" or key is None or not _sixteen_bytes(key):
        return None
    return key


def _sixteen_bytes(key: bytes) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False


def switching_protocols(key: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The 101 answer to `key`, with `headers` (the server's default ones, then the app's)."""
    parts = [_SWITCHING, b"Sec-WebSocket-Accept: ", accept_key(key.decode("ascii")).encode("ascii"), b"\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def websocket_scope(http: Mapping[str, Any], url: bytes, asgi_version: str) -> dict[str, Any] | None:
    """The ASGI scope of the WebSocket connection, from the HTTP scope httptools filled in; None when
    the request target is not a path (the old way deals with it)."""
    if not url.startswith(b"/"):
        return None
    raw_path, _, query_string = url.partition(b"?")
    try:
        path = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return None
    root_path: str = http["root_path"]
    return {
        "type": "websocket",
        "asgi": {"version": asgi_version, "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "wss" if http["scheme"] == "https" else "ws",
        "server": http["server"],
        "client": http["client"],
        "root_path": root_path,
        "path": root_path + (unquote(path) if "%" in path else path),
        "raw_path": root_path.encode("ascii") + raw_path,
        "query_string": query_string,
        "headers": http["headers"],
        "subprotocols": [],
        "state": http["state"],
        "extensions": {"websocket.http.response": {}},
    }
