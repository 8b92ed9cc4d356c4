"""Frames written in one turn of the event loop leave in one socket write (issue 17: one `send()`
system call per socket per turn, not per frame), in order, and before any close frame.

Real sockets (a socketpair under the running loop's own transport); the WebSocket side that
uvicorn would hold is a real `websockets` protocol in the OPEN state."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from websockets.protocol import State
from websockets.server import ServerProtocol

from chatserver.protocol import ws_text_frame
from chatserver.transport import FLUSH_AT, RawSocket
from chatserver.write_batch import LATER_S
from chatserver.ws_standins import Inbox


class _Uvicornish:
    """What RawSocket reads of uvicorn's protocol: its transport, loop, close flag, queue and conn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.close_sent = False
        self.queue = Inbox()
        self.conn = ServerProtocol()
        self.conn.state = State.OPEN


async def _pair() -> tuple[RawSocket, socket.socket, list[int]]:
    """A RawSocket over one end of a socketpair, the other end, and the sizes of its transport writes."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    writes: list[int] = []
    real_write = transport.write

    def counted(data: Any) -> None:
        writes.append(len(data))
        real_write(data)

    transport.write = counted  # type: ignore[method-assign]
    return RawSocket(_Uvicornish(transport, loop), 512 * 1024), theirs, writes  # type: ignore[arg-type]


async def _read(peer: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    got = b""
    while len(got) < size:
        chunk = await asyncio.wait_for(loop.sock_recv(peer, size - len(got)), 5)
        assert chunk, f"peer closed after {len(got)} of {size} bytes"
        got += chunk
    return got


async def _next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_the_frames_of_one_turn_leave_in_one_write_in_order() -> None:
    """Three frames written in one turn: one write, in order; the next turn's frame is a write of its own."""
    raw, peer, writes = await _pair()
    frames = [ws_text_frame(f'{{"n":{i}}}'.encode()) for i in range(3)]
    for frame in frames:
        assert raw.write(frame)
    assert writes == [] and raw.buffered == sum(map(len, frames))  # held until the turn ends
    await _next_turn()
    assert writes == [sum(map(len, frames))]
    assert await _read(peer, writes[0]) == b"".join(frames)
    later = ws_text_frame(b'{"n":3}')
    raw.write(later)
    await _next_turn()
    assert writes[1:] == [len(later)] and await _read(peer, len(later)) == later
    peer.close()


async def test_a_big_turn_goes_to_the_kernel_as_it_grows() -> None:
    """A replay's pages in one turn do not pile up in the batch: past FLUSH_AT they are written at once."""
    raw, peer, writes = await _pair()
    page = ws_text_frame(b"x" * (FLUSH_AT // 4))
    for _ in range(4):
        raw.write(page)
    assert writes == [4 * len(page)]  # written within the turn
    assert await _read(peer, 4 * len(page)) == page * 4
    peer.close()


async def test_a_close_goes_after_what_was_written_before_it() -> None:
    """An error written, then the connection closed, in one turn: the peer reads the error, then the close."""
    raw, peer, writes = await _pair()
    error = ws_text_frame(b'{"type":"error","code":"rate_limited"}')
    raw.write(error)
    raw.abort(1008, "too many frames")
    assert not raw.write(ws_text_frame(b'{"type":"message"}'))  # nothing after the close
    got = await _read(peer, len(error) + 2)
    assert got[: len(error)] == error
    assert got[len(error)] == 0x88  # a close frame (FIN + opcode 8)
    await _next_turn()
    assert len(writes) == 2
    peer.close()


async def test_a_socket_that_fails_to_write_leaves_the_others_unharmed() -> None:
    """A transport that raises on write loses its own frames only: the next socket's still leave."""
    broken, broken_peer, _ = await _pair()
    fine, fine_peer, writes = await _pair()

    def refuse(data: Any) -> None:
        raise RuntimeError("transport gone")

    broken._proto.transport.write = refuse  # type: ignore[method-assign]
    frame = ws_text_frame(b'{"n":1}')
    broken.write(frame)
    fine.write(frame)
    await _next_turn()
    assert writes == [len(frame)] and await _read(fine_peer, len(frame)) == frame
    fine.write(frame)  # and the batch goes on working next turn
    await _next_turn()
    assert writes == [len(frame), len(frame)]
    broken_peer.close()
    fine_peer.close()


async def test_frames_nobody_waits_for_go_together_within_the_window() -> None:
    """Presence written over several turns waits: one write within LATER_S carries it all, in order."""
    raw, peer, writes = await _pair()
    frames = [ws_text_frame(f'{{"type":"presence","members":{i}}}'.encode()) for i in range(3)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for frame in frames:
        raw.write(frame, later=True)
        await _next_turn()
    assert writes == [] and raw.buffered == sum(map(len, frames))
    got = await _read(peer, sum(map(len, frames)))
    assert got == b"".join(frames) and writes == [len(got)]
    assert loop.time() - started < LATER_S * 4
    peer.close()


async def test_an_urgent_frame_takes_what_waited_along_in_order() -> None:
    """A message written after presence that was waiting: both leave at the end of that turn, presence
    first, and the window's tick later writes nothing more."""
    raw, peer, writes = await _pair()
    presence = ws_text_frame(b'{"type":"presence","members":2}')
    message = ws_text_frame(b'{"type":"message","text":"hi"}')
    raw.write(presence, later=True)
    await _next_turn()
    raw.write(message)
    await _next_turn()
    assert writes == [len(presence) + len(message)]
    assert await _read(peer, writes[0]) == presence + message
    await asyncio.sleep(LATER_S * 1.5)
    assert len(writes) == 1
    peer.close()
