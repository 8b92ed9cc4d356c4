"""The eleven host actions: each checked already (service.host_action), each written to the
shared store and the audit log, then announced to every worker as an event (events.py applies it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.errors import BadRequest, Deleted, Unavailable
from chatserver.moderation import cards, refusals, rules, warnings

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.moderation.service import Moderation
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

Action = Callable[["Moderation", "Connection", "RoomState", dict[str, Any]], Awaitable[None]]


def _actor(conn: Connection) -> dict[str, Any]:
    return {"actor_session": conn.session, "actor_name": by(conn)}


def by(conn: Connection) -> str:
    """The name a host acts under (their host name, not their display name)."""
    return conn.host_name or conn.name


def _done(conn: Connection, room: RoomState, action: str, text: str, **fields: Any) -> None:
    conn.send(frames.done(room.id, action, text, **fields))


def resolved_event(
    room: RoomState, message_id: str, action: str, who: str, sender: str, note: str | None = None
) -> dict[str, Any]:
    """The event that ends a held item everywhere (hosts' queues, the sender's status)."""
    event = {
        "kind": "resolved",
        "room": room.id,
        "id": message_id,
        "action": action,
        "by": who,
        "sender": sender,
    }
    if note:
        event["note"] = note
    return event


async def _take(mod: Moderation, room: RoomState, message_id: str) -> dict[str, Any]:
    try:
        item = await mod.store.take_held(room.id, message_id)
    except Exception:
        raise Unavailable("Could not reach the held queue; try again") from None
    if item is None:
        raise BadRequest(
            f"Message {message_id!r} is not waiting in {room.id!r}: another host may have resolved it already"
        )
    mod.held_local.pop(message_id, None)
    return item


# ---- the held queue ------------------------------------------------------------------------------
async def release(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    item = await _take(mod, room, frame["message_id"])
    note = rules.note_text(frame.get("note"))
    body: dict[str, Any] = {
        k: item[k] for k in ("type", "room", "id", "from", "text", "ts", "cw") if k in item
    }
    body["type"] = "message"
    who = by(conn)
    sender = body["from"]["session"]
    detail: dict[str, Any] = {
        "role": body["from"].get("role", "participant"),
        # The author, here too: the `held` row that names them may be in another machine's file.
        "author_name": body["from"].get("name"),
        "author_session": sender,
        "by": who,
        "reasons": item.get("reasons", []),
    }
    if note:
        detail["note"] = note
    if body.get("cw"):
        detail["cw"] = body["cw"]

    def published(seq: int) -> None:
        mod.broker.publish_event(resolved_event(room, body["id"], "released", who, sender, note))

    def failed(error: BaseException) -> None:
        if isinstance(error, Deleted):  # another host deleted it while this release was on its way
            mod.broker.publish_event(resolved_event(room, body["id"], "rejected", "another host", sender))
            return
        mod.spawn(_put_back(mod, conn, room, item, error))

    mod.publish(
        room,
        body,
        detail,
        None,
        None,
        kind="released",
        actor=(conn.session, who),
        on_published=published,
        on_failed=failed,
    )


async def _put_back(
    mod: Moderation, conn: Connection, room: RoomState, item: dict[str, Any], error: BaseException
) -> None:
    """A release that did not go through: the message waits again, and the host hears why."""
    log.warning(
        "room %s: release of %s failed (%s); back in the queue", room.id, item["id"], type(error).__name__
    )
    queued = False
    try:
        await mod.store.put_held(room.id, item)
        queued = True
        mod.held_local[item["id"]] = (room.id, float(item.get("held_at", time.time())), False)
    except Exception:
        log.error("room %s: held item %s could not be put back (store unreachable)", room.id, item["id"])
    then = "It is back in the queue: please try again." if queued else "Please try again in a moment."
    conn.send(
        frames.unavailable(
            "The release did not go through, so nobody saw the message. " + then,
            room=room.id,
            message_id=item["id"],
        )
    )
    if queued:
        await mod.announce_held(room, item)


async def reject(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    told = refusals.words(room.config.moderation, frame)  # a bad reason number is refused before anything
    item = await _take(mod, room, frame["message_id"])
    note = rules.note_text(frame.get("note"))
    sender = item["from"]["session"]
    await mod.audit.append_and_wait(
        "rejected",
        room=room.id,
        message_id=item["id"],
        text=item["text"],
        subject=sender,
        detail={"by": by(conn), "note": note, "reasons": item.get("reasons", []), "told": told},
        **_actor(conn),
    )
    mod.broker.publish_event(resolved_event(room, item["id"], "rejected", by(conn), sender, note))
    mod.broker.publish_event(refusals.event(room.id, sender, told, [item["id"]]))


async def delete(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    message_id = frame["message_id"]
    try:
        held = await mod.store.take_held(room.id, message_id)
    except Exception:
        raise Unavailable("Could not reach the held queue; try again") from None
    if held is not None:
        # Deleting a held message is rejecting it: participants never hear of it at all.
        mod.held_local.pop(message_id, None)
        await mod.audit.append_and_wait(
            "rejected",
            room=room.id,
            message_id=message_id,
            text=held["text"],
            subject=held["from"]["session"],
            detail={"by": by(conn), "action": "deleted", "reasons": held.get("reasons", [])},
            **_actor(conn),
        )
        sender = held["from"]["session"]
        mod.broker.publish_event(resolved_event(room, message_id, "rejected", by(conn), sender))
        told = room.config.moderation.reasons[0]
        mod.broker.publish_event(refusals.event(room.id, sender, told, [message_id]))
        return
    if message_id not in room.index:
        try:
            owner = await mod.audit.room_of(message_id)
        except Exception:
            raise Unavailable("Could not check that message; try again") from None
        if owner != room.id:
            raise BadRequest(f"Message {message_id!r} is not a message of {room.id!r}")
    await mod.audit.append_and_wait(
        "deleted", room=room.id, message_id=message_id, detail={"by": by(conn)}, **_actor(conn)
    )
    try:
        # Before anyone is told: a worker starting later, or a release racing this, must not bring it back.
        await mod.broker.delete_message(room.id, message_id)
    except Exception:
        log.warning("room %s: deleted message not yet removed from the broker's history", room.id)
        raise Unavailable("The message was not deleted everywhere yet; please try again") from None
    mod.broker.publish_event({"kind": "deleted", "room": room.id, "id": message_id})


# ---- people and the room --------------------------------------------------------------------------
async def sanction(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    session = frame["session"]
    if session == conn.session:
        raise BadRequest("You cannot do that to yourself")
    change = rules.sanction_of(frame)
    detail: dict[str, Any] = {"by": by(conn)}
    if change.minutes is not None:
        detail["minutes"] = change.minutes
    if frame.get("reason"):
        detail["reason"] = str(frame["reason"])[: rules.REASON_MAX]
    try:
        await mod.store.set_sanction(room.id, change.kind, session, change.until)
        if change.kind == "mute" and change.until:  # a mute is a strike (issue 16)
            await warnings.add_strike(
                mod, room, session, "mute", by(conn), mod.clock(), minutes=change.minutes
            )
    except Exception:
        raise Unavailable("Could not save that; try again") from None
    await mod.audit.append_and_wait(
        change.audit_kind, room=room.id, subject=session, detail=detail, **_actor(conn)
    )
    mod.broker.publish_event(
        {
            "kind": "sanction",
            "room": room.id,
            "what": change.kind,
            "session": session,
            "until": change.until,
            "reason": detail.get("reason"),
            "minutes": change.minutes,
        }
    )
    if change.kind == "mute" and change.until:
        await warnings.announce_strikes(mod, room, session)
    if change.kind == "ban" and change.until != 0:
        await mod.on_banned(room, session)
    minutes = {"minutes": change.minutes} if change.minutes is not None else {}
    _done(conn, room, str(frame["type"]), f"Done: {change.audit_kind}.", session=session, **minutes)


async def kick(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    session = frame["session"]
    if session == conn.session:
        raise BadRequest("You cannot do that to yourself")
    reason = str(frame.get("reason") or "")[: rules.REASON_MAX]
    await mod.audit.append_and_wait(
        "kicked", room=room.id, subject=session, detail={"by": by(conn), "reason": reason}, **_actor(conn)
    )
    mod.broker.publish_event({"kind": "kick", "room": room.id, "session": session, "reason": reason})
    _done(conn, room, "kick", "Done: removed from the room.", session=session)


async def slowmode(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    await _set_flag(mod, conn, room, "slowmode", rules.slowmode_of(frame), "slowmode")


async def lock(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    await _set_flag(mod, conn, room, "locked", bool(frame["locked"]), "lock")


async def _set_flag(
    mod: Moderation, conn: Connection, room: RoomState, flag: str, value: Any, audit_kind: str
) -> None:
    try:
        await mod.store.set_flag(room.id, flag, value)
    except Exception:
        raise Unavailable("Could not save that; try again") from None
    await mod.audit.append_and_wait(
        audit_kind, room=room.id, detail={flag: value, "by": by(conn)}, **_actor(conn)
    )
    mod.broker.publish_event({"kind": "flag", "room": room.id, "flag": flag, "value": value})


async def note(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    text = rules.note_text(frame["text"])
    if not text:
        raise BadRequest("A note needs some text")
    entry = {"by": by(conn), "text": text, "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        await mod.store.add_note(room.id, frame["session"], entry)
    except Exception:
        raise Unavailable("Could not save the note; try again") from None
    await mod.audit.append_and_wait(
        "note", room=room.id, subject=frame["session"], text=text, detail={"by": entry["by"]}, **_actor(conn)
    )
    mod.broker.publish_event({"kind": "note", "room": room.id, "session": frame["session"], "note": entry})


async def greet(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    """A host's private word to one person (a welcome, a check-in), audited like every host action."""
    text = str(frame["text"]).strip()[: room.config.max_length]
    if not text:
        raise BadRequest("A greeting needs some text")
    session = frame["session"]
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    await mod.audit.append_and_wait(
        "greeted", room=room.id, subject=session, text=text, detail={"by": by(conn)}, **_actor(conn)
    )
    mod.broker.publish_event(
        {"kind": "private", "room": room.id, "session": session, "by": conn.name, "text": text, "ts": ts}
    )
    _done(conn, room, "greet", "Sent privately.", session=session)


ACTIONS: dict[str, Action] = {
    "release": release,
    "reject": reject,
    "delete": delete,
    "mute": sanction,
    "unmute": sanction,
    "ban": sanction,
    "unban": sanction,
    "kick": kick,
    "slowmode": slowmode,
    "lock": lock,
    "note": note,
    "greet": greet,
    "push_card": cards.push_card,  # issue 20: a library card, shared with one click
}
