"""When the frames written to a connection reach its socket: at the end of the turn, or a moment later.

Why: each `transport.write` is a `send()` system call. A message reaches every member of a room, and
under load several arrive in one turn (a Redis read holds many): the turn's frames go out per socket
in one write when the turn ends (one `call_soon` for the whole worker). Presence ("X joined", the
count) is the one frame nobody waits for: in a reconnect storm every join sends it to the room's
whole membership, one write per member per join. It may wait up to LATER_S, so a storm's joins reach
each member in a few writes; anything urgent written to that socket meanwhile takes it along at the
end of its turn. Frames keep their order either way.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

log = logging.getLogger(__name__)

#: How long a frame nobody waits for (presence) may stay unwritten.
LATER_S = 0.25


class Flushable(Protocol):
    def flush(self) -> None: ...


class WriteBatch:
    """The sockets with frames waiting: for the end of this turn, or for the next LATER_S tick."""

    __slots__ = ("_loop", "_waiting", "_scheduled", "_later", "_later_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: list[Flushable] = []
        self._scheduled = False
        self._later: list[Flushable] = []
        self._later_scheduled = False

    def add(self, raw: Flushable) -> None:
        """`raw` is written when this turn ends."""
        self._waiting.append(raw)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def add_later(self, raw: Flushable) -> None:
        """`raw` is written within LATER_S (sooner if something urgent is written to it)."""
        self._later.append(raw)
        if not self._later_scheduled:
            self._later_scheduled = True
            self._loop.call_later(LATER_S, self.flush_later)

    def flush(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        _flush_all(waiting)

    def flush_later(self) -> None:
        self._later_scheduled = False
        later, self._later = self._later, []
        _flush_all(later)  # (one already written since is a no-op)


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
