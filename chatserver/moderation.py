"""Hosts' powers and the held queue: who may do what, and what every worker then does.

A host action is checked here (is this person a host of this room?), written
to the shared store and the audit log, then announced to every worker as an
event; each worker applies the event to its own connections in `on_event`.
Refusals are audited too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from chatserver.errors import BadRequest, ChatError, Deleted, Forbidden, Unavailable
from chatserver.protocol import dumps, ws_text_frame

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.filters.chain import ChainResult
    from chatserver.hub import Hub
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

MAX_MUTE_MINUTES = 7 * 24 * 60
MAX_SLOWMODE_S = 3600
NOTE_MAX = 1000
ESCALATION_CHECK_S = 1.0
#: Crisis alert ids remembered per room, so one alert is shown once (live, or re-read after a gap).
ALERTS_SEEN_KEEP = 200


# ---- the per-message checks ----------------------------------------------------
def check_sender(hub: Hub, conn: Connection, room: RoomState) -> None:
    """Raise the error a person gets when they may not post to `room` right now."""
    session = conn.session
    if room.is_banned(session):
        raise ChatError("A host has banned you from this room", code="banned")
    left = room.muted_for(session)
    if left > 0:
        raise ChatError(
            f"A host has muted you here for {int(left // 60) + 1} more minute(s)",
            code="muted",
            retry_after=round(left, 1),
        )
    if hub.is_host_of(conn, room):
        return
    if room.locked:
        raise ChatError("This room is locked for now: only hosts can post", code="locked")
    if room.slowmode > 0:
        last = room.last_sent.get(session)
        if last is not None:
            wait = room.slowmode - (time.monotonic() - last)
            if wait > 0:
                raise ChatError(
                    f"Slow mode is on: one message every {room.slowmode:g} seconds",
                    code="rate_limited",
                    retry_after=round(wait, 1),
                )


def send_resources(hub: Hub, conn: Connection, room: RoomState, list_name: str) -> None:
    """The crisis path: help, privately, at once (before anything is committed)."""
    items = room.config.resource_lists.get(list_name) or room.config.resources
    conn.send(
        {
            "type": "resources",
            "room": room.id,
            "items": list(items),
            "why": "It sounds like things might be really hard right now. You are not alone: these people "
            "can talk with you right now, any time of day.",
        }
    )


def alert_hosts_crisis(
    hub: Hub, conn: Connection, room: RoomState, message_id: str | None, level: str | None = None
) -> None:
    """A crisis the hosts must hear of now: a message let through or refused, or an imminent one held.

    `imminent` reaches the room's hosts, its backup hosts and every admin at once, with no
    countdown. The alert is kept in the shared store too, so a worker that missed the event
    shows it anyway.
    """
    alert = {
        "kind": "crisis_alert",
        "room": room.id,
        "id": secrets.token_hex(8),
        "session": conn.session,
        "name": conn.name,
        "message_id": message_id,
        "level": level,
    }
    hub.broker.publish_event(alert)
    hub.spawn(_keep_alert(hub, room.id, alert))


async def _keep_alert(hub: Hub, room_id: str, alert: dict[str, Any]) -> None:
    try:
        await hub.store.add_alert(room_id, alert)
    except Exception:
        log.warning("room %s: crisis alert not kept in the shared store", room_id)


# ---- holding --------------------------------------------------------------------
def hold(
    hub: Hub,
    conn: Connection,
    room: RoomState,
    body: dict[str, Any],
    result: ChainResult,
    client_id: Any,
    *,
    original: str,
) -> None:
    """Record a held message, queue it for the hosts, and tell the sender it waits for a host."""
    item = {
        **body,
        "type": "held",
        "reasons": result.reasons,
        "explanations": result.explanations,
        "urgent": result.urgent,
        "held_at": time.time(),
    }
    if result.level:
        item["risk"] = result.level
    if result.level == "imminent":  # no waiting for escalate_after: everyone who can help, now
        alert_hosts_crisis(hub, conn, room, body["id"], result.level)

    def committed(error: BaseException | None) -> None:
        if error is not None:
            conn.answer(
                {
                    "type": "error",
                    "code": "unavailable",
                    "ref": client_id,
                    "message": "The message could not be recorded; nothing was sent. Please try again.",
                }
            )
            return
        hub.spawn(_queue_held(hub, conn, room, item, client_id))

    detail: dict[str, Any] = {
        "role": conn.role,
        "reasons": result.reasons,
        "explanations": result.explanations,
        "urgent": result.urgent,
    }
    if body.get("cw"):
        detail["cw"] = body["cw"]
    if result.redacted:
        detail["original"] = original
    try:
        hub.audit.append(
            "held",
            room=room.id,
            actor_session=conn.session,
            actor_name=conn.name,
            message_id=body["id"],
            text=body["text"],
            detail=detail,
            on_commit=committed,
        )
    except Unavailable as exc:
        conn.answer({"type": "error", "code": "unavailable", "message": exc.message, "ref": client_id})


async def _queue_held(
    hub: Hub, conn: Connection, room: RoomState, item: dict[str, Any], client_id: Any
) -> None:
    try:
        await hub.store.put_held(room.id, item)
    except Exception:
        log.warning("room %s: held item %s not queued (store unreachable)", room.id, item["id"])
        conn.answer(
            {
                "type": "error",
                "code": "unavailable",
                "ref": client_id,
                "message": "The message could not be queued for a host; please try again.",
            }
        )
        return
    hub.held_local[item["id"]] = (room.id, item["held_at"], False)
    conn.answer(
        {
            "type": "ack",
            "client_id": client_id,
            "id": item["id"],
            "status": "held",
            "reason": item["reasons"][0] if item["reasons"] else "held",
            "message": "Your message is waiting for a host to look at it.",
        }
    )
    notes = await _notes(hub, room.id, conn.session)
    hub.broker.publish_event({"kind": "held", "room": room.id, "item": item, "notes": notes})


def _held_frame(item: dict[str, Any], notes: list[dict[str, Any]]) -> dict[str, Any]:
    frame = {k: v for k, v in item.items() if k not in ("held_at",)}
    frame["type"] = "held"
    frame["notes"] = notes
    frame["waited_s"] = round(time.time() - float(item.get("held_at", time.time())), 1)
    return frame


async def held_for(hub: Hub, conn: Connection, room: RoomState) -> list[dict[str, Any]]:
    """The current queue for a host joining `room`, urgent first, then oldest first."""
    try:
        items = await hub.store.list_held(room.id)
    except Exception:
        return []
    out = []
    for item in items:
        notes = await _notes(hub, room.id, item["from"]["session"])
        out.append(_held_frame(item, notes))
    out.sort(key=lambda f: (not f.get("urgent"), f.get("ts", "")))
    return out


async def _notes(hub: Hub, room_id: str, session: str) -> list[dict[str, Any]]:
    try:
        return await hub.store.notes(room_id, session)
    except Exception:
        return []


# ---- reports --------------------------------------------------------------------
async def report(hub: Hub, conn: Connection, frame: dict[str, Any]) -> None:
    room = hub.room_or_error(frame["room"])
    if room.id not in conn.rooms:
        raise ChatError(f"Join {room.id!r} first", code="not_joined")
    reason = (frame.get("reason") or "").strip()[:500]
    message_id = frame["message_id"]
    author = _author_of(room, message_id)
    hub.audit.append(
        "report",
        room=room.id,
        actor_session=conn.session,
        actor_name=conn.name,
        message_id=message_id,
        subject=author.get("session") if author else None,
        detail={"reason": reason},
    )
    event: dict[str, Any] = {
        "kind": "report",
        "room": room.id,
        "message_id": message_id,
        "reason": reason,
        "by": {"name": conn.name, "session": conn.session},
    }
    if author:
        event["from"] = author
        event["notes"] = await _notes(hub, room.id, author["session"])
    hub.broker.publish_event(event)
    conn.send(
        {
            "type": "notice",
            "room": room.id,
            "level": "info",
            "code": "report_sent",
            "text": "Thank you. The room's hosts have your report.",
        }
    )


def _author_of(room: RoomState, message_id: str) -> dict[str, Any] | None:
    import orjson

    for _, mid, frame in reversed(room.log):
        if mid == message_id:
            message = orjson.loads(frame)
            return {**message.get("from", {}), "text": message.get("text", "")}
    return None


# ---- host actions ---------------------------------------------------------------
async def host_action(hub: Hub, conn: Connection, frame: dict[str, Any]) -> None:
    action = frame["type"]
    room = hub.room_or_error(frame["room"])
    if not hub.is_host_of(conn, room):
        hub.audit.append(
            "refused",
            room=room.id,
            actor_session=conn.session,
            actor_name=conn.name,
            subject=frame.get("session"),
            message_id=frame.get("message_id"),
            detail={"action": action, "role": conn.role},
        )
        raise Forbidden(f"Only the hosts of {room.id!r} can {action}")
    handler = _ACTIONS[action]
    await handler(hub, conn, room, frame)


def _actor(conn: Connection) -> dict[str, Any]:
    return {"actor_session": conn.session, "actor_name": conn.host_name or conn.name}


def _ok(conn: Connection, room: RoomState, text: str) -> None:
    conn.send({"type": "notice", "room": room.id, "level": "info", "code": "done", "text": text})


async def _take(hub: Hub, room: RoomState, message_id: str) -> dict[str, Any]:
    try:
        item = await hub.store.take_held(room.id, message_id)
    except Exception:
        raise Unavailable("Could not reach the held queue; try again") from None
    if item is None:
        raise BadRequest(
            f"Message {message_id!r} is not waiting in {room.id!r}: another host may have resolved it already"
        )
    hub.held_local.pop(message_id, None)
    return item


async def _release(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    item = await _take(hub, room, frame["message_id"])
    note = (frame.get("note") or "").strip()[:NOTE_MAX] or None
    body = {k: item[k] for k in ("type", "room", "id", "from", "text", "ts", "cw") if k in item}
    body["type"] = "message"
    by = conn.host_name or conn.name
    detail: dict[str, Any] = {
        "role": body["from"].get("role", "participant"),
        "by": by,
        "reasons": item.get("reasons", []),
    }
    if note:
        detail["note"] = note
    if body.get("cw"):
        detail["cw"] = body["cw"]

    def published(seq: int) -> None:
        resolved = {
            "kind": "resolved",
            "room": room.id,
            "id": body["id"],
            "action": "released",
            "by": by,
            "sender": body["from"]["session"],
        }
        if note:
            resolved["note"] = note
        hub.broker.publish_event(resolved)

    def failed(error: BaseException) -> None:
        if isinstance(error, Deleted):  # another host deleted it while this release was on its way
            hub.broker.publish_event(
                {
                    "kind": "resolved",
                    "room": room.id,
                    "id": body["id"],
                    "action": "rejected",
                    "by": "another host",
                    "sender": body["from"]["session"],
                }
            )
            return
        hub.spawn(_put_back(hub, conn, room, item, error))

    hub.publish(
        room,
        body,
        detail,
        None,
        None,
        kind="released",
        actor=(conn.session, by),
        on_published=published,
        on_failed=failed,
    )


async def _put_back(
    hub: Hub, conn: Connection, room: RoomState, item: dict[str, Any], error: BaseException
) -> None:
    """A release that did not go through: the message waits again, and the host hears why."""
    log.warning(
        "room %s: release of %s failed (%s); back in the queue", room.id, item["id"], type(error).__name__
    )
    queued = False
    try:
        await hub.store.put_held(room.id, item)
        queued = True
        hub.held_local[item["id"]] = (room.id, float(item.get("held_at", time.time())), False)
    except Exception:
        log.error("room %s: held item %s could not be put back (store unreachable)", room.id, item["id"])
    conn.send(
        {
            "type": "error",
            "code": "unavailable",
            "room": room.id,
            "message_id": item["id"],
            "message": "The release did not go through, so nobody saw the message. "
            + ("It is back in the queue: please try again." if queued else "Please try again in a moment."),
        }
    )
    if queued:
        notes = await _notes(hub, room.id, item["from"]["session"])
        hub.broker.publish_event({"kind": "held", "room": room.id, "item": item, "notes": notes})


async def _reject(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    item = await _take(hub, room, frame["message_id"])
    note = (frame.get("note") or "").strip()[:NOTE_MAX] or None
    by = conn.host_name or conn.name
    await hub.audit.append_and_wait(
        "rejected",
        room=room.id,
        message_id=item["id"],
        text=item["text"],
        subject=item["from"]["session"],
        detail={"by": by, "note": note, "reasons": item.get("reasons", [])},
        **_actor(conn),
    )
    event = {
        "kind": "resolved",
        "room": room.id,
        "id": item["id"],
        "action": "rejected",
        "by": by,
        "sender": item["from"]["session"],
    }
    if note:
        event["note"] = note
    hub.broker.publish_event(event)


async def _delete(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    message_id = frame["message_id"]
    try:
        held = await hub.store.take_held(room.id, message_id)
    except Exception:
        raise Unavailable("Could not reach the held queue; try again") from None
    if held is not None:
        # Deleting a held message is rejecting it: participants never hear of it at all.
        hub.held_local.pop(message_id, None)
        by = conn.host_name or conn.name
        await hub.audit.append_and_wait(
            "rejected",
            room=room.id,
            message_id=message_id,
            text=held["text"],
            subject=held["from"]["session"],
            detail={"by": by, "action": "deleted", "reasons": held.get("reasons", [])},
            **_actor(conn),
        )
        hub.broker.publish_event(
            {
                "kind": "resolved",
                "room": room.id,
                "id": message_id,
                "action": "rejected",
                "by": by,
                "sender": held["from"]["session"],
            }
        )
        return
    if message_id not in room.index:
        try:
            owner = await hub.audit.room_of(message_id)
        except Exception:
            raise Unavailable("Could not check that message; try again") from None
        if owner != room.id:
            raise BadRequest(f"Message {message_id!r} is not a message of {room.id!r}")
    await hub.audit.append_and_wait(
        "deleted",
        room=room.id,
        message_id=message_id,
        detail={"by": conn.host_name or conn.name},
        **_actor(conn),
    )
    try:
        # Before anyone is told: a worker starting later, or a release racing this, must not bring it back.
        await hub.broker.delete_message(room.id, message_id)
    except Exception:
        log.warning("room %s: deleted message not yet removed from the broker's history", room.id)
        raise Unavailable("The message was not deleted everywhere yet; please try again") from None
    hub.broker.publish_event({"kind": "deleted", "room": room.id, "id": message_id})


async def _sanction(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    action = frame["type"]
    session = frame["session"]
    if session == conn.session:
        raise BadRequest("You cannot do that to yourself")
    until: float | None
    detail: dict[str, Any] = {"by": conn.host_name or conn.name}
    if action == "mute":
        minutes = float(frame["minutes"])
        if not 0 < minutes <= MAX_MUTE_MINUTES:
            raise BadRequest(f"minutes must be between 1 and {MAX_MUTE_MINUTES}")
        until = time.time() + minutes * 60
        detail["minutes"] = minutes
        kind, audit_kind = "mute", "muted"
    elif action == "unmute":
        until, kind, audit_kind = 0, "mute", "unmuted"
    elif action == "ban":
        until, kind, audit_kind = None, "ban", "banned"
    else:
        until, kind, audit_kind = 0, "ban", "unbanned"
    if frame.get("reason"):
        detail["reason"] = str(frame["reason"])[:500]
    try:
        await hub.store.set_sanction(room.id, kind, session, until)
    except Exception:
        raise Unavailable("Could not save that; try again") from None
    await hub.audit.append_and_wait(audit_kind, room=room.id, subject=session, detail=detail, **_actor(conn))
    hub.broker.publish_event(
        {
            "kind": "sanction",
            "room": room.id,
            "what": kind,
            "session": session,
            "until": until,
            "reason": detail.get("reason"),
            "minutes": detail.get("minutes"),
        }
    )
    _ok(conn, room, f"Done: {audit_kind}.")


async def _kick(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    session = frame["session"]
    if session == conn.session:
        raise BadRequest("You cannot do that to yourself")
    reason = str(frame.get("reason") or "")[:500]
    await hub.audit.append_and_wait(
        "kicked",
        room=room.id,
        subject=session,
        detail={"by": conn.host_name or conn.name, "reason": reason},
        **_actor(conn),
    )
    hub.broker.publish_event({"kind": "kick", "room": room.id, "session": session, "reason": reason})
    _ok(conn, room, "Done: removed from the room.")


async def _slowmode(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    seconds = float(frame["seconds"])
    if not 0 <= seconds <= MAX_SLOWMODE_S:
        raise BadRequest(f"seconds must be between 0 and {MAX_SLOWMODE_S}")
    await _set_flag(hub, conn, room, "slowmode", seconds, "slowmode")


async def _lock(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    await _set_flag(hub, conn, room, "locked", bool(frame["locked"]), "lock")


async def _set_flag(
    hub: Hub, conn: Connection, room: RoomState, flag: str, value: Any, audit_kind: str
) -> None:
    try:
        await hub.store.set_flag(room.id, flag, value)
    except Exception:
        raise Unavailable("Could not save that; try again") from None
    await hub.audit.append_and_wait(
        audit_kind, room=room.id, detail={flag: value, "by": conn.host_name or conn.name}, **_actor(conn)
    )
    hub.broker.publish_event({"kind": "flag", "room": room.id, "flag": flag, "value": value})


async def _note(hub: Hub, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    text = frame["text"].strip()[:NOTE_MAX]
    if not text:
        raise BadRequest("A note needs some text")
    note = {
        "by": conn.host_name or conn.name,
        "text": text,
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        await hub.store.add_note(room.id, frame["session"], note)
    except Exception:
        raise Unavailable("Could not save the note; try again") from None
    await hub.audit.append_and_wait(
        "note", room=room.id, subject=frame["session"], text=text, detail={"by": note["by"]}, **_actor(conn)
    )
    hub.broker.publish_event({"kind": "note", "room": room.id, "session": frame["session"], "note": note})


_ACTIONS = {
    "release": _release,
    "reject": _reject,
    "delete": _delete,
    "mute": _sanction,
    "unmute": _sanction,
    "ban": _sanction,
    "unban": _sanction,
    "kick": _kick,
    "slowmode": _slowmode,
    "lock": _lock,
    "note": _note,
}


# ---- events from any worker --------------------------------------------------------
def _wire(frame: dict[str, Any]) -> bytes:
    return ws_text_frame(dumps(frame))


def on_event(hub: Hub, kind: str | None, room: RoomState | None, ev: dict[str, Any]) -> None:
    """Apply a moderation event to this worker's connections."""
    if room is None:
        return
    if kind == "held":
        item = ev["item"]
        room.held_seen.add(item["id"])
        hub.to_hosts(room, _wire(_held_frame(item, ev.get("notes", []))))
    elif kind == "resolved":
        frame = {"type": "resolved", "room": room.id, "id": ev["id"], "action": ev["action"], "by": ev["by"]}
        if ev.get("note"):
            frame["note"] = ev["note"]
        wire = _wire(frame)
        hub.held_local.pop(ev["id"], None)
        room.held_seen.discard(ev["id"])
        told = set()
        for member in room.members:
            if hub.is_host_of(member, room) or member.session == ev.get("sender"):
                member.raw.write(wire)
                told.add(member)
        for conn in hub.by_session.get(ev.get("sender", ""), ()):
            if conn not in told:
                conn.raw.write(wire)
    elif kind == "deleted":
        room.forget(ev["id"])
        hub.to_room(room, _wire({"type": "deleted", "room": room.id, "id": ev["id"]}))
    elif kind == "sanction":
        _apply_sanction(hub, room, ev)
    elif kind == "kick":
        _remove(
            hub, room, ev["session"], "A host has asked you to leave this room for now.", ev.get("reason")
        )
    elif kind == "flag":
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
                "The room is locked for now: only hosts can post."
                if room.locked
                else "The room is open again."
            )
        hub.to_room(
            room,
            _wire(
                {
                    "type": "notice",
                    "room": room.id,
                    "level": "info",
                    "code": ev["flag"],
                    "text": text,
                    ev["flag"]: ev["value"],
                }
            ),
        )
    elif kind == "note":
        hub.to_hosts(room, _wire({"type": "note", "room": room.id, "session": ev["session"], **ev["note"]}))
    elif kind == "report":
        frame = {k: v for k, v in ev.items() if k not in ("kind",)}
        frame["type"] = "report"
        hub.to_hosts(room, _wire(frame))
    elif kind == "crisis_alert":
        alert_id = ev.get("id")
        if alert_id:
            if alert_id in room.alerts_seen:
                return
            room.alerts_seen[alert_id] = None
            if len(room.alerts_seen) > ALERTS_SEEN_KEEP:
                del room.alerts_seen[next(iter(room.alerts_seen))]
        _crisis_notice(hub, room, ev)
    elif kind == "escalated":
        _escalated(hub, room, ev)


def _crisis_notice(hub: Hub, room: RoomState, ev: dict[str, Any]) -> None:
    risk = ev.get("level")
    notice: dict[str, Any] = {
        "type": "notice",
        "room": room.id,
        "level": "urgent",
        "code": "crisis",
        "message_id": ev["message_id"],
        "session": ev["session"],
        "text": f"{ev['name']} may be in crisis. Resources were sent to them privately; please check in.",
    }
    if risk:
        notice["risk"] = risk
    if risk != "imminent":
        hub.to_hosts(room, _wire(notice))
        return
    notice["text"] = (
        f"{ev['name']} may be in immediate danger in {room.config.title}. Helplines were sent to them "
        "privately. Please reach out to them now."
    )
    wire = _wire(notice)
    for conn in _everyone_who_can_help(hub, room):
        conn.raw.write(wire)


def _everyone_who_can_help(hub: Hub, room: RoomState) -> list[Connection]:
    """The room's hosts (in the room or not), its backup hosts and every admin on this worker."""
    names = set(room.config.hosts) | set(room.config.backup_hosts)
    return [c for c in hub.connections if c.role == "admin" or (c.role == "host" and c.host_name in names)]


def _apply_sanction(hub: Hub, room: RoomState, ev: dict[str, Any]) -> None:
    table = room.bans if ev["what"] == "ban" else room.mutes
    session, until = ev["session"], ev["until"]
    if until == 0:
        table.pop(session, None)
    else:
        table[session] = until or 0
    if ev["what"] == "ban" and until != 0:
        _remove(hub, room, session, "A host has banned you from this room.", ev.get("reason"))
    elif ev["what"] == "mute":
        text = (
            f"A host has muted you in this room for {ev.get('minutes', 0):g} minute(s)."
            if until
            else "You can post again."
        )
        hub.to_session(
            session,
            _wire(
                {
                    "type": "notice",
                    "room": room.id,
                    "level": "warning",
                    "code": "muted" if until else "unmuted",
                    "text": text,
                }
            ),
        )


def _remove(hub: Hub, room: RoomState, session: str, text: str, reason: str | None) -> None:
    notice: dict[str, Any] = {
        "type": "notice",
        "room": room.id,
        "level": "warning",
        "code": "removed",
        "text": text,
    }
    if reason:
        notice["reason"] = reason
    wire = _wire(notice)
    for conn in list(hub.by_session.get(session, ())):
        if room.id in conn.rooms:
            conn.raw.write(wire)
            hub.spawn(hub._leave(conn, room.id, reason="removed"))


def _escalated(hub: Hub, room: RoomState, ev: dict[str, Any]) -> None:
    wire = _wire({"type": "escalated", "room": room.id, "id": ev["id"], "waited_s": ev["waited_s"]})
    for conn in _everyone_who_can_help(hub, room):
        conn.raw.write(wire)


async def escalation_loop(hub: Hub) -> None:
    """Tell hosts, backup hosts and admins when an item held here waits too long."""
    while True:
        await asyncio.sleep(ESCALATION_CHECK_S)
        try:
            now = time.time()
            for message_id, (room_id, held_at, sent) in list(hub.held_local.items()):
                room = hub.rooms.get(room_id)
                if room is None or sent:
                    continue
                waited = now - held_at
                if waited >= room.config.escalate_after:
                    hub.held_local[message_id] = (room_id, held_at, True)
                    hub.audit.append(
                        "escalated",
                        room=room_id,
                        message_id=message_id,
                        detail={"waited_s": round(waited, 1)},
                    )
                    hub.broker.publish_event(
                        {"kind": "escalated", "room": room_id, "id": message_id, "waited_s": round(waited, 1)}
                    )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("escalation check failed")
