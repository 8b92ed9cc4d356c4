"""A loopback TCP proxy that a test can pause, blackhole and cut: network faults without root.

The proxy runs its own asyncio loop in a daemon thread, so it keeps forwarding
while a test blocks its own loop (server start-up waits are synchronous) and
while a server process is stopped. Every control call is synchronous, returns
once the proxy has applied it, and is safe from any thread.

Modes:

- `pass`: bytes flow both ways.
- `pause`: nothing is forwarded and nothing is lost: each direction holds what
  it read and stops reading, so the kernel buffers fill and the peers see a
  stall. `heal()` delivers what was held (a network hiccup, or a hung peer).
- `blackhole`: everything read is dropped, and new connections are accepted
  but go nowhere: the peer sees a silent, open connection (a dead route or a
  firewall that drops packets). `heal()` resets the connections that lost
  bytes, since their streams can never be trusted again, and lets new
  connections through.

`cut()` resets every open connection at once (a peer that crashed or a NAT
that forgot the flow) and keeps accepting new ones.

`hold_when(marker)` stalls one connection, not the link: a connection whose
client sends bytes carrying `marker` stops forwarding there (those bytes
included) until `heal()`, while the others flow. A worker's release of one
message can so be held in the network while its other Redis traffic goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024


class _Pair:
    """One proxied connection: the client side and the upstream side."""

    __slots__ = ("client", "upstream", "tainted", "held", "tasks")

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter | None) -> None:
        self.client = client
        self.upstream = upstream
        self.tainted = False
        self.held = False
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close sends RST, like a crashed peer, not a polite FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`; see the module docstring for modes."""

    def __init__(self, target_port: int, target_host: str = LOOPBACK) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "pass"
        #: connections accepted since start (a reconnect shows up here)
        self.accepted = 0
        self._pairs: set[_Pair] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._changed: asyncio.Event | None = None
        self._marker: bytes | None = None

    @property
    def url(self) -> str:
        """The proxy as a Redis URL."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    # ---- control (any thread) ------------------------------------------------
    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def pause(self) -> None:
        self._call(self._set_mode("pause"))

    def hold_when(self, marker: bytes) -> None:
        """Stall each connection whose client sends `marker`, from those bytes on, until `heal()`."""
        self._call(self._hold_when(marker))

    def blackhole(self) -> None:
        self._call(self._set_mode("blackhole"))

    def heal(self) -> None:
        """Back to `pass`: held bytes flow on; connections that lost bytes are reset."""
        self._call(self._heal())

    def cut(self) -> None:
        """Reset every open connection now; new ones are still accepted."""
        self._call(self._cut())

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # ---- the proxy's loop ------------------------------------------------------
    async def _start(self) -> None:
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for pair in list(self._pairs):
            pair.reset()
        self._pairs.clear()

    async def _set_mode(self, mode: str) -> None:
        self.mode = mode
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    async def _hold_when(self, marker: bytes) -> None:
        self._marker = marker

    async def _heal(self) -> None:
        self._marker = None
        for pair in self._pairs:
            pair.held = False
        for pair in [p for p in self._pairs if p.tainted or p.upstream is None]:
            pair.reset()
            self._pairs.discard(pair)
        await self._set_mode("pass")

    async def _cut(self) -> None:
        for pair in list(self._pairs):
            pair.reset()
        self._pairs.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "blackhole":
            # Accepted, then silence: what a client sees behind a route that drops packets.
            pair = _Pair(writer, None)
            pair.tainted = True
            self._pairs.add(pair)
            pair.tasks.append(asyncio.current_task())  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                while await reader.read(CHUNK):
                    pass
            self._drop(pair)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()  # the target is down: refuse like it would
            return
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        pair.tasks = [
            asyncio.create_task(self._pump(pair, reader, up_writer, from_client=True)),
            asyncio.create_task(self._pump(pair, up_reader, writer, from_client=False)),
        ]

    def _drop(self, pair: _Pair) -> None:
        if pair in self._pairs:
            self._pairs.discard(pair)
            pair.reset()

    async def _pump(
        self, pair: _Pair, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_client: bool
    ) -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if from_client and self._marker is not None and self._marker in data:
                    pair.held = True
                while self.mode == "pause" or pair.held:
                    assert self._changed is not None
                    await self._changed.wait()
                if self.mode == "blackhole" or pair.tainted:
                    pair.tainted = True
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            return
        # One side finished or failed: end the whole connection, as a router would.
        self._drop(pair)
