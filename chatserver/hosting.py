"""Whether a room is hosted right now, and what it does when it is not.

A room is `closed` outside its opening hours. Within them it is `open` while a
host is on duty (deployment-wide, see presence.py); from the moment the last one
leaves, after a grace period, it follows its `when_unhosted` mode (`open`,
`premoderate`, `read_only` or `closed`) until a host returns. Every worker works
this out on its own from the same shared presence, once a second (and at once
when a host comes on duty), so all agree within a few seconds; the people in a
room are told when its mode changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.hours import is_open, iso_z, next_opening

if TYPE_CHECKING:
    from chatserver.delivery import Delivery
    from chatserver.presence import Presence
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

CHECK_S = 1.0
MODES = ("open", "premoderate", "read_only", "closed")

#: What people in the room read when it changes mode (calm, honest: never promise a host who is not there).
MODE_TEXT = {
    "open": "A host is here now. Welcome back, everyone.",
    "premoderate": "No host is here right now. You can still post: each message waits until a host "
    "returns and reads it. If you need someone now, 'Get help now' lists people you can reach.",
    "read_only": "No host is here right now, so the room is read-only until one returns. "
    "If you need someone now, 'Get help now' lists people you can reach at any hour.",
    "closed": "The room is closed now. Thank you for being here. If you need someone, "
    "'Get help now' lists people you can reach at any hour.",
}


def room_mode(
    *, open_now: bool, hosts: int, unhosted_since: float | None, now: float, when_unhosted: str, grace: float
) -> str:
    """The mode a room is in (pure). `unhosted_since`/`now`: monotonic seconds; None while hosted."""
    if not open_now:
        return "closed"
    if hosts > 0 or unhosted_since is None or now - unhosted_since < grace:
        return "open"
    return when_unhosted


def opens_at(room: RoomState, now: datetime) -> str | None:
    """When a closed room opens next, as ISO UTC (`Z`); None when it is closed for want of a host
    within its hours (it opens when one comes) or has no hours."""
    hours = room.config.hours
    if is_open(hours, now):
        return None
    when = next_opening(hours, now)
    return iso_z(when) if when else None


class Hosting:
    """Each room's mode on this worker, kept current once a second."""

    def __init__(
        self,
        *,
        rooms: dict[str, RoomState],
        presence: Presence,
        delivery: Delivery,
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.rooms = rooms
        self.presence = presence
        self.delivery = delivery
        self.spawn = spawn
        self.clock = clock
        self._unhosted_since: dict[str, float] = {}

    def mode_of(self, room: RoomState) -> str:
        """Work the room's mode out now (and remember since when it has had no host)."""
        cfg = room.config
        hosts = len(self.presence.hosts_on_duty(room))
        now = time.monotonic()
        if hosts:
            self._unhosted_since.pop(room.id, None)
            since = None
        else:
            since = self._unhosted_since.setdefault(room.id, now)
        return room_mode(
            open_now=is_open(cfg.hours, self.clock()),
            hosts=hosts,
            unhosted_since=since,
            now=now,
            when_unhosted=cfg.when_unhosted,
            grace=cfg.unhosted_grace,
        )

    def refresh(self) -> None:
        """Recompute every room's mode; tell its people when it changed."""
        for room in list(self.rooms.values()):
            self.refresh_room(room)

    def host_here(self, room: RoomState) -> None:
        """A host is on duty in `room` (presence says so): a room waiting for one opens now, not at
        the next check, so nobody who comes in meanwhile reads "No host right now"."""
        if room.mode != "open":
            self.refresh_room(room)

    def refresh_room(self, room: RoomState) -> None:
        """Recompute one room's mode; tell its people when it changed."""
        mode = self.mode_of(room)
        if mode != room.mode:
            before, room.mode = room.mode, mode
            log.info("room %s: %s -> %s", room.id, before, mode)
            self._tell(room, mode)

    def _tell(self, room: RoomState, mode: str) -> None:
        extra: dict[str, Any] = {"mode": mode}
        if mode == "closed":
            extra["opens_at"] = opens_at(room, self.clock())
        notice = frames.notice("mode", MODE_TEXT[mode], level="info", room=room.id, **extra)
        self.delivery.to_room(room, frames.wire(notice))
        if mode == "closed":
            self._close(room)

    def _close(self, room: RoomState) -> None:
        """A room that closes: participants leave it; hosts may stay to wrap up."""
        for member in list(room.members):
            if not self.delivery.is_host_of(member, room) and self.delivery.leave is not None:
                self.spawn(self.delivery.leave(member, room.id, "closed"))

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hosting check failed")
