"""Frames written in one turn of the event loop leave in one socket write (issue 17: one `send()`
system call per socket per turn, not per frame), in order, and before any close frame.

Real sockets (a socketpair under the running loop's own transport); the WebSocket side that
uvicorn would hold is a real `websockets` protocol in the OPEN state."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from websockets.protocol import State
from websockets.server import ServerProtocol

from chatserver import write_batch
from chatserver.connection import Connection
from chatserver.protocol import ws_text_frame
from chatserver.rooms import load_rooms
from chatserver.rooms_state import RoomState
from chatserver.transport import FLUSH_AT, RawSocket
from chatserver.write_batch import LATER_BUSY_S, LATER_S
from chatserver.ws_standins import Inbox
from tests.conftest import TESTS


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


def _room() -> RoomState:
    return RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])


async def _member(room: RoomState, name: str) -> tuple[socket.socket, list[int]]:
    """A connection over a real socket joins `room`; returns the socket's other end and its writes."""
    raw, peer, writes = await _pair()
    conn = Connection(raw)
    conn.name, conn.session = name, f"s-{name}"
    room.add(conn)
    return peer, writes


def _presence(n: int) -> bytes:
    return ws_text_frame(f'{{"type":"presence","members":{n}}}'.encode())


async def test_a_rooms_presence_reaches_each_member_in_one_write_per_tick() -> None:
    """Presence over several turns waits for the room's tick: then each member gets it all in one write,
    in order; someone who joined meanwhile gets only what came from their own join on."""
    room = _room()
    (amy, amy_writes), (ben, ben_writes) = await _member(room, "amy"), await _member(room, "ben")
    loop = asyncio.get_running_loop()
    started = loop.time()
    room.later.add(_presence(2))
    await _next_turn()
    room.later.add(_presence(3))
    await _next_turn()
    cat, cat_writes = await _member(room, "cat")
    room.later.add(_presence(4))
    assert amy_writes == ben_writes == cat_writes == []  # nobody waits for presence
    everything = _presence(2) + _presence(3) + _presence(4)
    assert await _read(amy, len(everything)) == everything and amy_writes == [len(everything)]
    assert await _read(ben, len(everything)) == everything and ben_writes == [len(everything)]
    assert await _read(cat, len(_presence(4))) == _presence(4) and cat_writes == [len(_presence(4))]
    assert loop.time() - started < LATER_S * 4
    for peer in (amy, ben, cat):
        peer.close()


async def test_a_frame_for_the_whole_room_takes_what_waited_along_in_order() -> None:
    """A message to the room after presence that was waiting: presence and message leave together at
    the end of that turn, presence first, and the room's tick later writes nothing more."""
    room = _room()
    amy, writes = await _member(room, "amy")
    message = ws_text_frame(b'{"type":"message","text":"hi"}')
    room.later.add(_presence(1))
    await _next_turn()
    for member in room.audience():
        member.send_frame(message)
    await _next_turn()
    assert writes == [len(_presence(1)) + len(message)]
    assert await _read(amy, writes[0]) == _presence(1) + message
    await asyncio.sleep(LATER_S * 1.5)
    assert len(writes) == 1
    amy.close()


async def test_after_a_busy_tick_presence_waits_longer_and_a_quiet_tick_brings_the_short_wait_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tick that hands presence to BUSY_MEMBERS people or more (two here) makes the next tick wait
    LATER_BUSY_S, so a storm's presence costs a twelfth of the writes; a quieter tick goes back to
    LATER_S, so a calm room hears who came within a quarter of a second."""
    monkeypatch.setattr(write_batch, "BUSY_MEMBERS", 2)
    room = _room()
    (amy, _), (ben, ben_writes) = await _member(room, "amy"), await _member(room, "ben")
    batch = write_batch.batch_for(asyncio.get_running_loop())
    assert batch.later_delay == LATER_S
    room.later.add(_presence(2))
    assert await _read(ben, len(_presence(2))) == _presence(2)  # the tick: two members
    assert batch.later_delay == LATER_BUSY_S
    loop = asyncio.get_running_loop()
    added_at = loop.time()
    room.later.add(_presence(3))
    assert await _read(ben, len(_presence(3))) == _presence(3)
    assert loop.time() - added_at >= LATER_BUSY_S * 0.9  # (a timer never fires early by more)
    assert batch.later_delay == LATER_BUSY_S  # still two members: still busy
    room.discard(next(m for m in room.members if m.name == "amy"))
    room.later.add(_presence(1))
    assert await _read(ben, len(_presence(1))) == _presence(1)  # one member: quiet again
    assert batch.later_delay == LATER_S and len(ben_writes) == 3
    amy.close()
    ben.close()


async def test_a_tick_that_carries_many_changes_is_busy_too_even_for_a_few_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker that keeps a few people per room while another worker takes thousands back hears
    every one of those joins: a tick carrying BUSY_CHANGES presence changes or more (three here) makes
    the next one wait LATER_BUSY_S too, however few people it reached."""
    monkeypatch.setattr(write_batch, "BUSY_CHANGES", 3)
    room = _room()
    amy, amy_writes = await _member(room, "amy")
    batch = write_batch.batch_for(asyncio.get_running_loop())
    assert batch.later_delay == LATER_S
    room.later.add(_presence(1))
    room.later.add(_presence(2))
    assert await _read(amy, 2 * len(_presence(1))) == _presence(1) + _presence(2)
    assert batch.later_delay == LATER_S  # two changes, one member: quiet
    for n in (3, 4, 5):
        room.later.add(_presence(n))
    everything = _presence(3) + _presence(4) + _presence(5)
    assert await _read(amy, len(everything)) == everything and len(amy_writes) == 2
    assert batch.later_delay == LATER_BUSY_S
    amy.close()
