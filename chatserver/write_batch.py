"""When the frames written to a connection reach its socket: at the end of the turn, or a moment later.

Why: each `transport.write` is a `send()` system call. A message reaches every member of a room, and
under load several arrive in one turn (a Redis read holds many): the turn's frames go out per socket
in one write when the turn ends (one `call_soon` for the whole worker). Presence ("X joined", the
count) is the one frame nobody waits for: in a reconnect storm every join sends it to the room's
whole membership. A room keeps it (RoomLater) for up to LATER_S, and then each member gets the
tick's frames in one write; anything the whole room must see at once takes them along first, so a
room's frames keep their order. While presence keeps a worker busy (a tick that wrote to BUSY_MEMBERS
people or more, or carried BUSY_CHANGES changes), the next tick waits LATER_BUSY_S instead.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from typing import Protocol

log = logging.getLogger(__name__)

#: How long a frame nobody waits for (presence) may stay unwritten.
LATER_S = 0.25
#: A tick that handed presence to this many members or more (a reconnect storm: a hundred people
#: rejoining each room at once) makes the next one wait LATER_BUSY_S; a quieter tick goes back to
#: LATER_S. In the storm, at 0.25 s / at 1 s throughout: 50-68k socket writes / 24-26k, the restarted
#: worker's CPU 7.1-9.0 s / 6.3-7.3 s. At 3 s a busy room's presence mostly rides along with its next
#: message: 55k -> 47k writes, the storm 6.6 -> 5.8 s (means of five pairs on a host where a write that
#: wakes a reader costs ~30 µs).
BUSY_MEMBERS = 1_000
#: A tick that carried this many presence changes or more is busy too, however few it reached: the
#: worker keeping a few people per room hears every join of a storm on another worker.
BUSY_CHANGES = 100
LATER_BUSY_S = 3.0


class Flushable(Protocol):
    def flush(self) -> None: ...


class Receiver(Protocol):
    """A room member, as far as writing to it goes (connection.Connection)."""

    def send_frame(self, frame: bytes) -> bool: ...


class WriteBatch:
    """The sockets with frames waiting: for the end of this turn, or for the next LATER_S tick."""

    __slots__ = ("_loop", "_waiting", "_scheduled", "_later", "_later_scheduled", "later_delay")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: list[Flushable] = []
        self._scheduled = False
        self._later: list[RoomLater] = []
        self._later_scheduled = False
        #: How long the next tick waits: LATER_S, or LATER_BUSY_S after a busy one.
        self.later_delay = LATER_S

    def add(self, raw: Flushable) -> None:
        """`raw` is written when this turn ends."""
        self._waiting.append(raw)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def add_later(self, room: RoomLater) -> None:
        """`room`'s presence is handed out at the next tick (sooner if something urgent needs it)."""
        self._later.append(room)
        if not self._later_scheduled:
            self._later_scheduled = True
            self._loop.call_later(self.later_delay, self.flush_later)

    def flush(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        _flush_all(waiting)

    def flush_later(self) -> None:
        self._later_scheduled = False
        later, self._later = self._later, []
        handed = changes = 0
        for room in later:
            changes += room.waiting
            try:
                handed += room.flush()  # (one already written since hands nothing)
            except Exception:  # one room's failure must not keep the others' presence back
                log.warning("a room's presence could not be handed out", exc_info=True)
        busy = handed >= BUSY_MEMBERS or changes >= BUSY_CHANGES
        self.later_delay = LATER_BUSY_S if busy else LATER_S


def _flush_all(sockets: list[Flushable]) -> None:
    for raw in sockets:
        try:
            raw.flush()
        except Exception:  # one broken socket must not leave the others' frames unsent
            log.warning("a connection's frames could not be written", exc_info=True)


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBatch] = weakref.WeakKeyDictionary()


def batch_for(loop: asyncio.AbstractEventLoop) -> WriteBatch:
    """The one write batch of this event loop (a worker has one loop; tests may have several)."""
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = WriteBatch(loop)
    return batch


class RoomLater:
    """A room's frames nobody waits for (presence), handed to its members together once per LATER_S.

    Why: a reconnect storm joins a hundred people into each room within seconds, and each join's
    presence went to each member's socket on its own: one call per member per join, a sixth of the
    restarted worker's time. Now a tick's frames are joined once per room and each member gets them
    in one call. Someone who joins within the tick gets the frames from their own join on only (the
    earlier ones were about a room they were not in yet).
    """

    __slots__ = ("_members", "_frames", "_from")

    def __init__(self, members: Iterable[Receiver]) -> None:
        """`members`: the room's own collection of members, read at each tick (never a copy)."""
        self._members = members
        self._frames: list[bytes] = []
        #: Members who joined while frames waited -> how many of them were there already.
        self._from: dict[Receiver, int] = {}

    def add(self, frame: bytes) -> None:
        if not self._frames:
            batch_for(asyncio.get_running_loop()).add_later(self)
        self._frames.append(frame)

    @property
    def waiting(self) -> int:
        """How many frames wait for the tick."""
        return len(self._frames)

    def joined(self, member: Receiver) -> None:
        """`member` is in the room from now on: of what waits, it gets what comes after this."""
        if self._frames:
            self._from[member] = len(self._frames)

    def flush(self) -> int:
        """Hand what waits to the members now (the tick, or a frame the whole room must see next);
        returns to how many."""
        frames = self._frames
        if not frames:
            return 0
        self._frames, joined_since = [], self._from
        if joined_since:
            self._from = {}
        everything = frames[0] if len(frames) == 1 else b"".join(frames)
        # A copy: a member whose send queue overflows is closed, and may leave meanwhile.
        members = list(self._members)
        for member in members:
            start = joined_since.get(member, 0) if joined_since else 0
            if not start:
                member.send_frame(everything)
            elif start < len(frames):
                member.send_frame(b"".join(frames[start:]))
        return len(members)
