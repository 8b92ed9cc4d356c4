"""Client frames read in one pass (ws_frames.py): what the shortcut takes, what it leaves to `websockets`,
and that a real connection gets the same messages either way."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from chatserver.transport import ChatWebSocketProtocol, _text_limit
from chatserver.ws_frames import read_text_frames
from tests.fault_fixtures import until
from tests.support import RAW_UPGRADE, chat_http_server


def masked(payload: bytes, *, head: int = 0x81, key: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A client frame around `payload`, masked with `key` (length in 7, 16 or 64 bits as RFC 6455 says)."""
    n = len(payload)
    if n < 126:
        size = bytes([0x80 | n])
    elif n < 65536:
        size = bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        size = bytes([0x80 | 127]) + n.to_bytes(8, "big")
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([head]) + size + key + body


def test_whole_text_frames_come_out_unmasked_in_order():
    one, two = b'{"type":"ping"}', "é".encode() * 100  # a 7-bit and a 16-bit length
    data = masked(one) + masked(two)
    assert read_text_frames(data, 65536) == ([one, two], len(data), False)
    assert read_text_frames(b"", 65536) == ([], 0, False)


def test_anything_but_a_plain_text_frame_is_left_to_websockets_but_its_end_is_known():
    ping = masked(b"hi", head=0x89)
    cases = {
        "ping": ping,
        "a fragment (no FIN)": masked(b"part", head=0x01),
        "binary": masked(b"\x00\x01", head=0x82),
        "a reserved bit (an extension's)": masked(b"x", head=0xC1),
        "not masked": bytes([0x81, 2]) + b"hi",
        "over the limit": masked(b"x" * 200),
        "a 64-bit length": masked(b"y" * 70_000),
        "text then a ping": masked(b"{}") + ping,
    }
    for case, data in cases.items():
        limit = 100 if case == "over the limit" else 65536
        assert read_text_frames(data, limit) == (None, len(data), False), case


def test_a_frame_cut_at_the_end_of_a_chunk_waits_for_the_rest():
    """The complete frames before it are read; where they end is said; a frame still coming that
    declares more than the limit is said to be too big (no use waiting for it)."""
    frame = masked(b'{"type":"ping"}')
    for cut in range(1, len(frame)):
        assert read_text_frames(frame[:cut], 65536) == ([], 0, False), cut
        assert read_text_frames(frame + frame[:cut], 65536) == ([b'{"type":"ping"}'], len(frame), False), cut
    big = masked(b"z" * 300)
    assert read_text_frames(big[:3], 65536) == ([], 0, False)  # inside the 16-bit length
    assert read_text_frames(big[:10], 200) == ([], 0, True)


def test_the_limit_is_the_parsers_and_an_unknown_parser_keeps_every_frame():
    """The one-pass read takes a frame only as large as `websockets` would (max_size); a version of
    `websockets` that keeps its limits elsewhere gets every frame itself."""
    assert _text_limit(SimpleNamespace(max_message_size=65536, max_fragment_size=None)) == 65536
    assert _text_limit(SimpleNamespace(max_message_size=100, max_fragment_size=50)) == 50
    assert _text_limit(SimpleNamespace(max_message_size=None, max_fragment_size=None)) == 2**63
    assert _text_limit(SimpleNamespace(max_size=65536)) is None


class Recorded(ChatWebSocketProtocol):
    """ChatWebSocketProtocol that keeps each instance, for the test to look into."""

    made: list[ChatWebSocketProtocol] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.made.append(self)


@contextlib.asynccontextmanager
async def plain_connection(
    received: list[str],
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw client connected through ChatHttpProtocol's plain handshake to an app that keeps the text
    of every message in `received`."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            received.append(message["text"])

    server = await chat_http_server(app, Recorded, ws_max_size=64 * 1024)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(RAW_UPGRADE)
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        yield reader, writer
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def parser_feeds() -> list[bytes]:
    """What the one connection made since `Recorded.made` was cleared gives the `websockets` parser,
    from now on."""
    (proto,) = Recorded.made
    parsed: list[bytes] = []
    parse = proto.conn.receive_data

    def counted(data: bytes) -> None:
        parsed.append(bytes(data))
        parse(data)

    proto.conn.receive_data = counted  # type: ignore[method-assign]
    return parsed


async def closed_with(reader: asyncio.StreamReader) -> int:
    close = await asyncio.wait_for(reader.readexactly(4), 5)
    assert close[0] == 0x88, close
    return int.from_bytes(close[2:4], "big")


async def test_a_real_connection_reads_plain_frames_in_one_pass_and_the_rest_as_before():
    """Through ChatHttpProtocol's plain handshake: whole text frames skip the `websockets` parser; a ping
    still gets its pong; a frame split across two writes waits for its rest and is read in one pass
    too; invalid UTF-8 still closes 1007."""
    received: list[str] = []
    Recorded.made.clear()
    async with plain_connection(received) as (reader, writer):
        parsed = parser_feeds()

        writer.write(masked(b'{"n": 1}') + masked(b'{"n": 2}', key=os.urandom(4)))
        await until(lambda: len(received) == 2, 5, "two frames of one write")
        assert received == ['{"n": 1}', '{"n": 2}'] and parsed == [], "read in one pass"

        writer.write(masked(b"are you there", head=0x89) + masked(b'{"n": 3}'))
        pong = await asyncio.wait_for(reader.readexactly(2 + len(b"are you there")), 5)
        assert pong == bytes([0x8A, 13]) + b"are you there"
        await until(lambda: len(received) == 3, 5, "the frame after the ping")
        assert len(parsed) == 1, "a ping goes to websockets, with the frame beside it"

        writer.write(masked(b'{"n": 4}'))
        await until(lambda: len(received) == 4, 5, "a frame after the ping")
        assert len(parsed) == 1, "after a whole chunk the parser is between frames: one pass again"

        split = masked(b'{"n": 5}')
        writer.write(split[:5])
        await writer.drain()
        await until(lambda: Recorded.made[0]._partial == split[:5], 5, "half a frame, kept for its rest")
        assert len(received) == 4
        writer.write(split[5:] + masked(b'{"n": 6}'))
        await until(lambda: len(received) == 6, 5, "the split frame and the next")
        assert received[3:] == ['{"n": 4}', '{"n": 5}', '{"n": 6}'] and len(parsed) == 1, "all in one pass"

        writer.write(masked(b'{"x": "\xff"}'))
        assert await closed_with(reader) == 1007


async def test_invalid_utf8_in_one_pass_closes_1007_and_nothing_after_it_is_taken():
    """A chunk the shortcut reads whole with a frame that is not UTF-8: 1007, as from the parser."""
    received: list[str] = []
    Recorded.made.clear()
    async with plain_connection(received) as (reader, writer):
        parsed = parser_feeds()
        writer.write(masked(b'{"n": 1}') + masked(b'{"x": "\xc3"}') + masked(b'{"n": 2}'))
        assert await closed_with(reader) == 1007
        assert received == ['{"n": 1}'] and parsed == [], "read in one pass, closed as the parser would"


async def test_a_frame_over_the_limit_is_refused_1009_before_it_is_all_in():
    """A frame that declares more than the limit goes to the parser at once: 1009, as ever, without
    the server holding the bytes of it."""
    received: list[str] = []
    async with plain_connection(received) as (reader, writer):
        writer.write(masked(b'{"n": 1}') + masked(b"w" * 70_000)[:1000])
        assert await closed_with(reader) == 1009
        assert received == ['{"n": 1}']
