"""Warnings, strikes and the ladder (issue 16): the step between a kind word and a mute.

A host warns someone citing one of the room's rules; the person sees it privately and cannot post
until they acknowledge it. Warnings and mutes are strikes, kept per person across the deployment in
the shared store; a strike stops counting after the room's `strike_expiry`. The room's `ladder`
turns the live strikes into the step the console proposes next: the host decides.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.errors import BadRequest, ChatError, Unavailable
from chatserver.moderation import rules

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.moderation.service import Moderation
    from chatserver.rooms.moderation import RoomModeration
    from chatserver.rooms_state import RoomState

#: Strikes kept per person (the newest), and the least time the list is kept after its last change.
STRIKES_KEEP = 100
STRIKES_TTL_MIN = 7 * 24 * 3600.0
ACKNOWLEDGED = "Thank you for reading it. You can post again."


def strikes_key(session: str) -> str:
    return f"strikes:{session}"


def warning_key(room: str, session: str) -> str:
    return f"warning:{room}:{session}"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- pure: which strikes count, and what the ladder proposes ----------------------------------------
def live_strikes(entries: list[dict[str, Any]], room: str, expiry: float, now: float) -> list[dict[str, Any]]:
    """The strikes (warnings, mutes) given in `room` that have not expired at `now` (epoch seconds)."""
    return [e for e in entries if e.get("room") == room and now - float(e.get("at", 0)) < expiry]


def proposal(config: RoomModeration, strikes: int) -> dict[str, Any]:
    """The ladder's next step for someone with `strikes` live strikes, as the console shows it."""
    step = config.proposal(strikes)
    out: dict[str, Any] = {
        "action": step.action,
        "label": step.label,
        "rung": min(strikes, len(config.ladder) - 1) + 1,
    }
    if step.minutes is not None:
        out["minutes"] = step.minutes
    return out


def warning_of(config: RoomModeration, frame: dict[str, Any], by: str, now: float) -> dict[str, Any]:
    """The warning a `warn` frame asks for; BadRequest when it names no rule of the room and has no words."""
    number = frame.get("rule")
    text = rules.note_text(frame.get("text"))
    count = len(config.rules)
    if number is not None and not (isinstance(number, int) and 1 <= number <= count):
        if not count:
            raise BadRequest("This room has no numbered rules: say what the warning is about in 'text'")
        raise BadRequest(f"'rule' must be a rule number from 1 to {count}")
    if number is None and not text:
        raise BadRequest("A warning needs a rule number or a few words saying what it is about")
    return {
        "id": "w" + secrets.token_hex(6),
        "rule": number,
        "rule_text": config.rules[number - 1] if number else None,
        "text": text,
        "by": by,
        "ts": iso(now),
    }


# ---- host actions and the participant's acknowledgement ----------------------------------------------
def _by(conn: Connection) -> str:
    return conn.host_name or conn.name


async def warn(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    """Warn one person privately; their sends are refused (`warned`) until they acknowledge it."""
    session = frame["session"]
    if session == conn.session:
        raise BadRequest("You cannot do that to yourself")
    config = room.config.moderation
    now = mod.clock()
    warning = warning_of(config, frame, _by(conn), now)
    try:
        await mod.store.put_value(warning_key(room.id, session), warning, ttl=config.strike_expiry)
        await add_strike(mod, room, session, "warning", _by(conn), now, rule=warning["rule"])
    except Exception:
        raise Unavailable("Could not save the warning; try again") from None
    detail = {
        "by": _by(conn),
        "rule": warning["rule"],
        "rule_text": warning["rule_text"],
        "id": warning["id"],
    }
    await mod.audit.append_and_wait(
        "warned",
        room=room.id,
        subject=session,
        text=warning["text"],
        detail=detail,
        actor_session=conn.session,
        actor_name=_by(conn),
    )
    mod.broker.publish_event({"kind": "warned", "room": room.id, "session": session, "warning": warning})
    await announce_strikes(mod, room, session)
    conn.send(
        frames.done(
            room.id,
            "warn",
            "Done: warned. They see it privately and acknowledge it before posting again.",
            session=session,
        )
    )


async def add_strike(
    mod: Moderation, room: RoomState, session: str, kind: str, by: str, now: float, **extra: Any
) -> None:
    """Count a warning or a mute against `session` (kept in the shared store, for every worker)."""
    entry = {
        "room": room.id,
        "kind": kind,
        "at": now,
        "by": by,
        **{k: v for k, v in extra.items() if v is not None},
    }
    ttl = max(room.config.moderation.strike_expiry, STRIKES_TTL_MIN)
    await mod.store.add_entry(strikes_key(session), entry, keep=STRIKES_KEEP, ttl=ttl)


async def strikes_in(mod: Moderation, room: RoomState, session: str) -> list[dict[str, Any]]:
    """The person's live strikes in `room`, by the service's clock."""
    entries = await mod.store.entries(strikes_key(session))
    return live_strikes(entries, room.id, room.config.moderation.strike_expiry, mod.clock())


async def announce_strikes(mod: Moderation, room: RoomState, session: str) -> None:
    """Tell the room's hosts (every worker) someone's live strikes and the ladder's next step."""
    try:
        count = len(await strikes_in(mod, room, session))
    except Exception:
        return  # the console asks again with the person card
    mod.broker.publish_event(
        {
            "kind": "strikes",
            "room": room.id,
            "session": session,
            "count": count,
            "next": proposal(room.config.moderation, count),
        }
    )


async def acknowledge(mod: Moderation, conn: Connection, frame: dict[str, Any]) -> None:
    """The warned person has read the warning: they may post again (everywhere), and it is audited."""
    room = mod.room(frame["room"])
    if room.id not in conn.rooms:
        raise ChatError(f"Join {room.id!r} first", code="not_joined")
    try:
        warning = await mod.store.take_value(warning_key(room.id, conn.session))
    except Exception:
        raise Unavailable("Could not reach the server's shared state; try again") from None
    warning = warning or room.warned.get(conn.session)
    if warning is None:
        raise BadRequest("There is no warning waiting for you in this room")
    await mod.audit.append_and_wait(
        "acknowledged",
        room=room.id,
        subject=conn.session,
        detail={"warning": warning.get("id")},
        actor_session=conn.session,
        actor_name=conn.name,
    )
    mod.broker.publish_event(
        {"kind": "acknowledged", "room": room.id, "session": conn.session, "name": conn.name}
    )
    conn.send(frames.notice("acknowledged", ACKNOWLEDGED, room=room.id))


def pending(mod: Moderation, room: RoomState, session: str) -> Awaitable[dict[str, Any] | None]:
    """A warning still waiting for this person (read on join, so it outlives a reconnect): asked now,
    so the join's other reads share its round trip; awaiting it never raises."""
    return _pending(room, session, mod.store.get_value(warning_key(room.id, session)))


async def _pending(room: RoomState, session: str, read: Awaitable[Any]) -> dict[str, Any] | None:
    try:
        warning: dict[str, Any] | None = await read
    except Exception:
        return room.warned.get(session)
    if warning is None:
        room.warned.pop(session, None)
    else:
        room.warned[session] = warning
    return warning


# ---- events: what every worker does ---------------------------------------------------------------
def apply(delivery: Delivery, room: RoomState, ev: dict[str, Any]) -> bool:
    """Apply a warning event to this worker; False if `ev` is not one."""
    kind = ev.get("kind")
    if kind == "warned":
        room.warned[ev["session"]] = ev["warning"]
        delivery.to_session(ev["session"], frames.wire(frames.warning(room.id, ev["warning"])))
    elif kind == "acknowledged":
        room.warned.pop(ev["session"], None)
        text = f"{ev.get('name', 'Someone')} has read the warning and can post again."
        notice = frames.notice(
            "warning_acknowledged", text, room=room.id, session=ev["session"], name=ev.get("name", "Someone")
        )
        delivery.to_hosts(room, frames.wire(notice))
    elif kind == "strikes":
        wire = frames.wire(frames.strikes(room.id, ev["session"], ev["count"], ev["next"]))
        delivery.to_hosts(room, wire)
    else:
        return False
    return True
