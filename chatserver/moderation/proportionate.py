"""Issue 16 wired in one place: the new host actions, their events, and what a join or a send asks.

- warnings.py: warnings, strikes and the ladder; refusals.py: kind refusals; bulk.py: bulk actions;
- person.py: the person card; shield.py: shield mode and join bursts; evasion.py: ban evasion.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chatserver.moderation import bulk, evasion, person, refusals, shield, warnings

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.moderation.actions import Action
    from chatserver.moderation.service import Moderation
    from chatserver.readers import Readers
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

ACTIONS: dict[str, Action] = {
    "warn": warnings.warn,
    "reject_all": bulk.reject_all,
    "delete_last": bulk.delete_last,
    "person": person.person,
    "shield": shield.shield_action,
}


def apply(delivery: Delivery, readers: Readers, room: RoomState, ev: dict[str, Any]) -> None:
    """Apply an issue-16 event to this worker (others are ignored)."""
    kind = ev.get("kind")
    if warnings.apply(delivery, room, ev):
        return
    if kind == "not_shared":
        refusals.apply(delivery, readers, room, ev)
    elif kind in ("shield", "join_burst"):
        shield.apply(delivery, room, ev)
    elif kind == "flagged":
        evasion.apply(delivery, room, ev)


async def on_join(
    mod: Moderation,
    conn: Connection,
    room: RoomState,
    frame: dict[str, Any],
    *,
    hosts_here: bool,
    rejoin: bool,
) -> dict[str, Any]:
    """What the `joined` frame adds (the rules; a warning still waiting; a host's ladder and reasons),
    after counting the join and looking for ban evasion. Nothing here may keep anyone out."""
    config = room.config.moderation
    extra: dict[str, Any] = {"rules": list(config.rules)}
    try:
        await shield.load(mod, room)
        extra["shield"] = room.shield is not None
        if hosts_here:
            extra["ladder"] = [step.label for step in config.ladder]
            extra["reasons"] = list(config.reasons)
            return extra
        # Asked now: its read goes in one round trip with ban evasion's (a reconnect storm's thousands
        # of joins each waited for four reads in a row).
        waiting = warnings.pending(mod, room, conn.session)
        try:
            if not rejoin:
                browser = frame.get("browser") if isinstance(frame.get("browser"), str) else None
                await evasion.on_join(mod, conn, room, browser)
                if not coming_back(conn, frame):
                    await shield.count_join(mod, room)
        finally:
            warning = await waiting  # (never raises)
        if warning is not None:
            extra["warning"] = warning
    except Exception:
        log.warning("room %s: moderation state not read on join", room.id, exc_info=True)
    return extra


def coming_back(conn: Connection, frame: dict[str, Any]) -> bool:
    """Someone rejoining after a dropped connection: the same identity (`resume`), asking for what they
    missed here (`since`). A worker restart brings a whole room back at once; that is no raid, and
    counting it as one would alert every room's hosts (or switch shield mode on) after each restart."""
    return conn.resumed and bool(frame.get("since"))
