"""The load generator's clients: raw WebSocket over an asyncio transport, chatserver's JSON frames or
Socket.IO's framing, and the hot receive path that counts deliveries straight from the bytes.

It speaks chatserver's JSON protocol (PROTOCOL.md §4, also spoken by the raw ``websockets`` peer) or
Socket.IO v5 over Engine.IO v4 packets directly on the WebSocket (``0{..}`` open, ``40`` connect,
``42N[event, data]`` events with an acknowledgement id, ``43N[..]`` acks, ``2``/``3`` ping/pong), with the
same frame parser and marker decoder for every server, so the client costs the same whoever it talks to.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from bench.wire import (
    FIELD_BITS,
    FIELD_MASK,
    MARK_CLOSE,
    MARK_OPEN,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    TO_HEX,
    client_frame,
    encode_marker,
    handshake_request,
)

if TYPE_CHECKING:
    from bench.loadgen import Generator

try:
    import orjson

    loads: Callable[[bytes | str], Any] = orjson.loads
    dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # pragma: no cover - the bench venv installs orjson
    loads = json.loads

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


OPEN_LEN = len(MARK_OPEN)
EPOCH = 100_000  # publisher id = epoch * EPOCH + client index; a reconnect starts a new epoch
REQUEST_TIMEOUT = 15.0


def log(msg: str) -> None:
    print(f"  [loadgen] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A connection or protocol step failed; the message says which and why."""


class Client(asyncio.Protocol):
    """One WebSocket connection: handshake, frame parsing, request/response waiters, delivery counting."""

    def __init__(
        self, gen: Generator, index: int, room: str, *, port: int = 0, prev: Client | None = None
    ) -> None:
        self.gen, self.index, self.room = gen, index, room
        self.port = port or gen.port
        self.pub = gen.epoch * EPOCH + index
        self.seq = 0
        self.ack_id = 0
        self.last: dict[int, int] = {}
        # The reconnect storm (storm.py): these clients remember the last message id and their resume token,
        # come back with `resume` and `join since`, count replayed history, and keep their latencies apart.
        self.track = False
        self.last_id = ""
        self.resume = ""
        if prev is not None:
            self.track, self.last, self.last_id, self.resume = True, prev.last, prev.last_id, prev.resume
        self.transport: asyncio.Transport | None = None
        self._rest = b""
        self._frag = bytearray()
        self.upgraded = False
        self._head = bytearray()
        self.opened: asyncio.Future[None] = gen.loop.create_future()
        self.waiters: dict[str, asyncio.Future[Any]] = {}
        self.closed = False
        self.close_reason = ""
        self._closing = False

    # -- asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        request, _key = handshake_request(self.gen.host, self.port, self.gen.path)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._head[: self._head.find(b"\r\n")])
            data = bytes(self._head[end + 4 :])
            self._head.clear()
            if b" 101 " not in status:
                self._fail(
                    f"Expected HTTP 101 to the WebSocket upgrade, got {status.decode(errors='replace')}"
                )
                return
            self.upgraded = True
            if self.opened.done():  # the connection already failed
                return
            self.opened.set_result(None)
        if self._rest:
            data, self._rest = self._rest + data, b""
        # The hot path: one call per read, usually one frame. Frames are parsed in place and a message is
        # counted straight from the raw bytes (marker search, no JSON), which keeps the generator at a few µs
        # per delivery; everything else goes to _on_control.
        gen = self.gen
        now_us = int(time.time() * 1e6)
        pos, n = 0, len(data)
        while n - pos >= 2:
            b0, size = data[pos], data[pos + 1] & 0x7F
            start = pos + 2
            if size == 126:
                if n - pos < 4:
                    break
                size, start = int.from_bytes(data[pos + 2 : pos + 4], "big"), pos + 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, start = int.from_bytes(data[pos + 2 : pos + 10], "big"), pos + 10
            end = start + size
            if end > n:
                break
            pos = end
            if b0 == 0x81:  # a whole text frame
                i = data.find(MARK_OPEN, start, end)
                if i >= 0 and data.find(b'"history"', start, i) < 0:
                    i += OPEN_LEN
                    j = data.find(MARK_CLOSE, i, end)
                    value = int(data[i:j].translate(TO_HEX), 16)
                    pub = (value >> FIELD_BITS) & FIELD_MASK
                    if pub // EPOCH != gen.epoch:
                        gen.stale += 1  # replayed from an earlier epoch, or late after a reconnect
                        continue
                    seq = value & FIELD_MASK
                    last = self.last.get(pub, 0)
                    if seq <= last:
                        gen.dup += 1
                        continue
                    self.last[pub] = seq
                    gen.gaps += seq - last - 1
                    gen.delivered += 1
                    if self.track:
                        self._note_id(data, start, i)
                        gen.storm_lat.append(now_us - (value >> (2 * FIELD_BITS)))
                    else:
                        gen.lat_us.append(now_us - (value >> (2 * FIELD_BITS)))
                    continue
                self._on_control(data[start:end])
            else:
                self._on_frame(b0, data[start:end])
        if pos < n:
            self._rest = data[pos:]
        gen.last_delivery = now_us / 1e6

    def _note_id(self, data: bytes, start: int, end: int) -> None:
        i = data.find(b'"id":"', start, end)
        if i >= 0:
            i += 6
            self.last_id = data[i : data.find(b'"', i, end)].decode()

    def _replayed(self, messages: list[dict[str, Any]]) -> None:
        """Count the messages a `joined` or `history` frame replays (`join since`), as if they were live."""
        gen = self.gen
        for m in messages:
            text = str(m.get("text", "")).encode()
            i = text.find(MARK_OPEN)
            if i < 0:
                continue
            i += OPEN_LEN
            value = int(text[i : text.find(MARK_CLOSE, i)].translate(TO_HEX), 16)
            pub, seq = (value >> FIELD_BITS) & FIELD_MASK, value & FIELD_MASK
            last = self.last.get(pub, 0)
            if pub // EPOCH != gen.epoch or seq <= last:
                gen.dup += pub // EPOCH == gen.epoch
                continue
            self.last[pub] = seq
            self.last_id = str(m.get("id", self.last_id))
            gen.gaps += seq - last - 1
            gen.delivered += 1
            gen.replayed += 1

    def _on_frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode == OP_PING:
            self._write(client_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_reason = f"closed by server with {code} {payload[2:].decode(errors='replace')}"
            self._write(client_frame(payload[:2], OP_CLOSE))
            if self.transport is not None:
                self.transport.close()
        elif opcode in (OP_TEXT, OP_CONT) and not b0 & 0x80:  # fragments: servers here never send them
            self._frag += payload
        elif opcode == OP_CONT:
            payload, self._frag = bytes(self._frag + payload), bytearray()
            self._on_control(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            if not self._closing:
                self.gen.lost_connections += 1
                reason = self.close_reason or f"connection lost ({exc or 'EOF'})"
                self.gen.close_reasons[reason] += 1
                self._fail(reason)

    # -- protocol ---------------------------------------------------------------------------------------
    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(BenchError(reason))
        for fut in self.waiters.values():
            if not fut.done():
                fut.set_exception(BenchError(reason))
        self.waiters.clear()
        if self.transport is not None and not self.closed:
            self.transport.close()

    def _write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def _on_control(self, payload: bytes) -> None:
        gen = self.gen
        if gen.socketio:
            kind_byte = payload[:1]
            if kind_byte == b"4":  # Engine.IO message carrying a Socket.IO packet
                sio = payload[1:2]
                if (
                    sio == b"3"
                ):  # acknowledgement: 43<id>[data]; hello/join wait on their id, sends are counted
                    bracket = payload.index(b"[")
                    ack_id, data = payload[2:bracket].decode(), loads(payload[bracket:])[0]
                    waiter = self.waiters.pop(ack_id, None)
                    if waiter is not None:
                        waiter.set_result(data)
                        return
                    kind = "ack"
                elif sio == b"2":
                    event = loads(payload[2:])
                    kind, data = event[0], (event[1] if len(event) > 1 else None)
                elif sio == b"0":
                    kind, data = "sio_connect", None
                elif sio == b"4":
                    kind, data = "error", {"code": "connect_error", "message": payload[2:].decode()}
                else:
                    return
            elif kind_byte == b"2":  # Engine.IO ping from the server: answer pong
                self._write(client_frame(b"3"))
                return
            elif kind_byte == b"0":
                kind, data = "eio_open", loads(payload[1:])
            else:
                return
        else:
            data = loads(payload)
            kind = data.get("type")
            if self.track and kind in ("joined", "history"):
                self._replayed(data.get("history") or data.get("messages") or [])
        if kind == "message":
            gen.foreign += 1  # a message without a marker: not ours
            return
        if kind == "ack":
            status = str(data.get("status"))
            gen.acks[status] += 1
            if status != "published":  # held or rejected by a filter: nobody will see it
                gen.refuse(self, f"{status}: {data.get('reason', '')}")
            return
        waiter = self.waiters.pop(kind, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(data)
        elif kind == "error":
            if self.waiters:
                for fut in self.waiters.values():
                    if not fut.done():
                        fut.set_exception(BenchError(f"server error: {data}"))
                self.waiters.clear()
            else:  # under load we only send `send` frames: an error refuses one of them
                gen.refuse(self, f"error {data.get('code')}: {data.get('message', '')}")

    def send(self, kind: str, data: dict[str, Any]) -> str:
        """Send one request; for Socket.IO it asks for an acknowledgement and returns its id."""
        if self.gen.socketio:
            self.ack_id += 1
            self._write(client_frame(b"42%d" % self.ack_id + dumps([kind, data])))
            return str(self.ack_id)
        self._write(client_frame(dumps({"type": kind, **data})))
        return ""

    async def request(self, kind: str, data: dict[str, Any] | None, expect: str) -> Any:
        """Send ``kind`` and wait for the frame of type ``expect`` (Socket.IO: for the acknowledgement)."""
        fut: asyncio.Future[Any] = self.gen.loop.create_future()
        if data is None:
            self.waiters[expect] = fut
            self._write(client_frame(kind.encode()))
        elif self.gen.socketio:
            self.waiters[str(self.ack_id + 1)] = fut
            self.send(kind, data)
        else:
            self.waiters[expect] = fut
            self.send(kind, data)
        try:
            return await asyncio.wait_for(fut, REQUEST_TIMEOUT)
        except TimeoutError:
            raise BenchError(f"Expected {expect!r} within {REQUEST_TIMEOUT:.0f} s after {kind!r}") from None

    async def setup(self) -> None:
        """Upgrade, then hello → welcome and join → joined (after Engine.IO open/connect for Socket.IO)."""
        await self.upgrade()
        await self.hello()
        await self.join()

    async def upgrade(self) -> None:
        """The WebSocket upgrade's answer (and for Socket.IO its namespace connect)."""
        await asyncio.wait_for(self.opened, REQUEST_TIMEOUT)
        if self.gen.socketio:  # the server's Engine.IO open packet needs no answer; connect to namespace "/"
            await self.request("40", None, "sio_connect")

    async def hello(self) -> None:
        """hello → welcome, with the resume token of a connection this one replaces."""
        hello: dict[str, Any] = {"name": f"{self.gen.tag}{self.gen.epoch}-{self.index}"}
        if self.resume:
            hello["resume"] = self.resume
        welcome = await self.request("hello", hello, "welcome")
        if isinstance(welcome, dict):
            self.resume = str(welcome.get("resume_token", ""))

    async def join(self) -> None:
        """join → joined, with `since` (the last message seen) for a connection this one replaces."""
        join: dict[str, Any] = {"room": self.room, "accept_guidelines": True}
        if self.last_id:
            join["since"] = self.last_id
        await self.request("join", join, "joined")

    def publish(self) -> None:
        self.seq += 1
        text = encode_marker(self.pub, self.seq, int(time.time() * 1e6))
        self.send("send", {"room": self.room, "text": text, "client_id": f"c{self.seq}"})

    def close(self) -> None:
        self._closing = True
        if self.transport is not None and not self.transport.is_closing():
            self._write(client_frame((1000).to_bytes(2, "big"), OP_CLOSE))
            self.transport.close()
