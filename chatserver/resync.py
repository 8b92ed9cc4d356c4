"""Catching up with shared state that a worker's events may have missed.

Events travel by pub/sub, which drops whatever is sent while a subscription is
down. So every change to a room's moderation state (a sanction, a switch, a held
item taken or put, a deletion, a crisis alert) also raises that room's version in
the store. After every reconnect, and every RESYNC_S seconds in any case, a
worker reads the versions (one round trip) and re-reads only the rooms that
changed, applying what it missed as if the events had arrived. A worker can
therefore let a banned person post, or keep a crisis alert from its hosts, for
at most RESYNC_S seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatserver.hub import Hub
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

#: The longest a worker may go without re-reading changed shared state.
RESYNC_S = 5.0
#: Deletions re-read per changed room.
DELETIONS_READ = 200


async def catch_up(hub: Hub, *, announce: bool = True) -> None:
    """Re-read every room whose shared state changed since this worker last looked.

    `announce=False` (at start) only records what is there: nobody is connected yet.
    """
    versions = await hub.store.versions()
    for room in list(hub.rooms.values()):
        version = versions.get(room.id, 0)
        if version != room.version:
            await _catch_up_room(hub, room, announce=announce)
            room.version = version


async def loop(hub: Hub) -> None:
    """Catch up every RESYNC_S seconds, or at once when `hub.resync_now` is set (after a reconnect)."""
    while True:
        try:
            await asyncio.wait_for(hub.resync_now.wait(), RESYNC_S)
        except TimeoutError:
            pass
        hub.resync_now.clear()
        try:
            await catch_up(hub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not re-read shared state (%s); retrying", exc.__class__.__name__)


async def _catch_up_room(hub: Hub, room: RoomState, *, announce: bool) -> None:
    sanctions = await hub.store.sanctions(room.id)
    flags = await hub.store.flags(room.id)
    deleted = await hub.store.recent_deletions(room.id, DELETIONS_READ)
    held = await hub.store.list_held(room.id)
    alerts = await hub.store.alerts(room.id)
    if not announce:
        room.apply_sanctions(sanctions)
        room.deleted.update(dict.fromkeys(reversed(deleted)))
        room.held_seen = {item["id"] for item in held}
        room.alerts_seen.update(dict.fromkeys(a["id"] for a in alerts if a.get("id")))
        return
    moderation = hub.moderation
    for event in _missed(room, sanctions, flags, deleted):
        moderation.on_event(room, event)
    for item in held:
        if item["id"] not in room.held_seen:
            notes = await moderation.notes(room.id, item["from"]["session"])
            moderation.on_event(room, {"kind": "held", "item": item, "notes": notes})
    for alert in alerts:
        moderation.on_event(room, alert)  # shown once: a seen alert id is skipped


def _missed(
    room: RoomState, sanctions: dict[str, dict[str, float]], flags: dict[str, Any], deleted: list[str]
) -> list[dict[str, Any]]:
    """The events that would turn this worker's copy of the room into the shared state (pure)."""
    events: list[dict[str, Any]] = []
    now = time.time()
    for what, table in (("ban", room.bans), ("mute", room.mutes)):
        shared = sanctions.get(what, {})
        for session, until in shared.items():
            if table.get(session) != until:
                minutes = round((until - now) / 60, 1) if until else None
                events.append(
                    {
                        "kind": "sanction",
                        "what": what,
                        "session": session,
                        "until": until or None,
                        "minutes": minutes,
                    }
                )
        for session, until in table.items():
            if session not in shared and (until == 0 or until > now):  # lifted elsewhere, not just expired
                events.append({"kind": "sanction", "what": what, "session": session, "until": 0})
    slowmode = float(flags.get("slowmode", 0) or 0)
    if slowmode != room.slowmode:
        events.append({"kind": "flag", "flag": "slowmode", "value": slowmode})
    locked = bool(flags.get("locked", False))
    if locked != room.locked:
        events.append({"kind": "flag", "flag": "locked", "value": locked})
    shield = flags.get("shield") or None  # issue 16: shield mode switched while this worker was away
    if (shield is None) != (room.shield is None):
        events.append({"kind": "shield", "on": shield is not None, "shield": shield})
    for message_id in reversed(deleted):
        if message_id not in room.deleted:
            events.append({"kind": "deleted", "id": message_id})
    return events
