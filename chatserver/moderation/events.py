"""Moderation events → what this worker's connections see.

Every worker gets every event (through the broker) and applies it to its own
connections and its copy of the room's state. Nothing here awaits: a removal
hands the connection to `Delivery.leave` through `spawn`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.moderation import proportionate

if TYPE_CHECKING:
    from chatserver.delivery import Delivery
    from chatserver.readers import Readers
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

#: Crisis alert ids remembered per room, so one alert is shown once (live, or re-read after a gap).
ALERTS_SEEN_KEEP = 200

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


def apply(
    delivery: Delivery,
    readers: Readers,
    spawn: Spawn,
    held_local: dict[str, Any],
    room: RoomState,
    ev: dict[str, Any],
) -> None:
    """Apply one moderation event (`ev["kind"]`) to this worker."""
    kind = ev.get("kind")
    if kind == "held":
        item = ev["item"]
        room.held_seen.add(item["id"])
        delivery.to_hosts(room, frames.wire(frames.held(item, ev.get("notes", []))))
    elif kind == "resolved":
        held_local.pop(ev["id"], None)
        room.held_seen.discard(ev["id"])
        _resolved(delivery, room, ev)
    elif kind == "deleted":
        room.forget(ev["id"])
        delivery.to_room(room, frames.wire(frames.deleted(room.id, ev["id"])))
    elif kind == "sanction":
        _sanction(delivery, spawn, room, ev)
    elif kind == "kick":
        _remove(
            delivery,
            spawn,
            room,
            ev["session"],
            "kick",
            "A host has asked you to leave this room for now.",
            ev.get("reason"),
        )
    elif kind == "flag":
        _flag(delivery, room, ev)
    elif kind == "note":
        delivery.to_hosts(room, frames.wire(frames.care_note(room.id, ev["session"], ev["note"])))
    elif kind == "report":
        delivery.to_hosts(room, frames.wire(frames.report(ev)))
    elif kind == "crisis_alert":
        _crisis(delivery, room, ev)
    elif kind == "private":
        wire = frames.wire(frames.private(room.id, ev["by"], ev["text"], ev["ts"]))
        delivery.to_session(ev["session"], wire)
    elif kind == "card":
        _card(readers, room, ev)
    elif kind == "escalated":
        delivery.to_helpers(room, frames.wire(frames.escalated(room.id, ev["id"], ev["waited_s"])))
    else:
        proportionate.apply(delivery, readers, room, ev)


def _card(readers: Readers, room: RoomState, ev: dict[str, Any]) -> None:
    """A shared library card, to each member in their language (built once per language)."""
    card = room.config.about.card(str(ev["card"].get("id")))

    def frame(lang: str | None) -> dict[str, Any]:
        item = card.wire(lang, room.config.fallback_language) if card is not None else ev["card"]
        return frames.card(room.id, ev["id"], item, ev["from"], ev["ts"])

    readers.send_each(room.audience(), frame)


def _resolved(delivery: Delivery, room: RoomState, ev: dict[str, Any]) -> None:
    """The room's hosts and the sender (wherever they are) hear how a held message ended."""
    wire = frames.wire(frames.resolved(room.id, ev["id"], ev["action"], ev["by"], ev.get("note")))
    told = set()
    for member in room.members:
        if delivery.is_host_of(member, room) or member.session == ev.get("sender"):
            member.send_frame(wire)
            told.add(member)
    for conn in delivery.by_session.get(ev.get("sender", ""), ()):
        if conn not in told:
            conn.send_frame(wire)


def _flag(delivery: Delivery, room: RoomState, ev: dict[str, Any]) -> None:
    if ev["flag"] == "slowmode":
        room.slowmode = float(ev["value"])
        text = (
            f"Slow mode is on: one message every {room.slowmode:g} seconds."
            if room.slowmode
            else "Slow mode is off."
        )
    else:
        room.locked = bool(ev["value"])
        text = (
            "The room is locked for now: only hosts can post." if room.locked else "The room is open again."
        )
    delivery.to_room(
        room, frames.wire(frames.notice(ev["flag"], text, room=room.id, **{ev["flag"]: ev["value"]}))
    )


def _crisis(delivery: Delivery, room: RoomState, ev: dict[str, Any]) -> None:
    """The urgent notice; `imminent` goes at once to hosts, backup hosts and admins, in the room or not."""
    alert_id = ev.get("id")
    if alert_id:
        if alert_id in room.alerts_seen:
            return
        room.alerts_seen[alert_id] = None
        if len(room.alerts_seen) > ALERTS_SEEN_KEEP:
            del room.alerts_seen[next(iter(room.alerts_seen))]
    risk = ev.get("level")
    notice = frames.crisis(room.id, room.config.title, ev["name"], ev["session"], ev["message_id"], risk)
    if risk == "imminent":
        delivery.to_helpers(room, frames.wire(notice))
    else:
        delivery.to_hosts(room, frames.wire(notice))


def _sanction(delivery: Delivery, spawn: Spawn, room: RoomState, ev: dict[str, Any]) -> None:
    table = room.bans if ev["what"] == "ban" else room.mutes
    session, until = ev["session"], ev["until"]
    if until == 0:
        table.pop(session, None)
    else:
        table[session] = until or 0
    if ev["what"] == "ban" and until != 0:
        text = "A host has banned you from this room."
        _remove(delivery, spawn, room, session, "ban", text, ev.get("reason"))
    elif ev["what"] == "mute":
        text = (
            f"A host has muted you in this room for {ev.get('minutes', 0):g} minute(s)."
            if until
            else "You can post again."
        )
        code, extra = ("muted", {"minutes": ev.get("minutes") or 0}) if until else ("unmuted", {})
        notice = frames.notice(code, text, level="warning", room=room.id, **extra)
        delivery.to_session(session, frames.wire(notice))


def _remove(
    delivery: Delivery,
    spawn: Spawn,
    room: RoomState,
    session: str,
    action: str,
    text: str,
    reason: str | None,
) -> None:
    """`removed`, with `action` (kick or ban) saying which, then out of the room."""
    extra: dict[str, Any] = {"action": action, **({"reason": reason} if reason else {})}
    wire = frames.wire(frames.notice("removed", text, level="warning", room=room.id, **extra))
    for conn in list(delivery.by_session.get(session, ())):
        if room.id in conn.rooms:
            conn.send_frame(wire)
            if delivery.leave is not None:
                spawn(delivery.leave(conn, room.id, "removed"))
