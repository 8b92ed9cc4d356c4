"""Server → client frames (PROTOCOL.md §4), each built by one small constructor.

The contract's field names live here and nowhere else: the hub and moderation
call these and never spell a frame as a dict literal. Pure, no I/O.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from chatserver.protocol import dumps, error_frame, ws_text_frame

__all__ = ["error_frame", "wire"]

WHY_RESOURCES = (
    "It sounds like things might be really hard right now. You are not alone: these people "
    "can talk with you right now, any time of day."
)


def wire(frame: dict[str, Any]) -> bytes:
    """A frame encoded once, ready to write to any number of sockets."""
    return ws_text_frame(dumps(frame))


def welcome(session: str, resume_token: str, name: str, role: str, rooms: list[str] | None) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "welcome",
        "session": session,
        "resume_token": resume_token,
        "name": name,
        "role": role,
    }
    if rooms is not None:
        frame["rooms"] = rooms
    return frame


def sender(name: str, session: str, role: str, badge: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message's `from`; a titled host's `badge` (badges.badge) adds `title` and `professional`."""
    return {"name": name, "session": session, "role": role, **(badge or {})}


def message(
    room: str, message_id: str, author: dict[str, str], text: str, ts: str, cw: str | None
) -> dict[str, Any]:
    """A `message` frame without its seq (the broker adds it)."""
    frame: dict[str, Any] = {
        "type": "message",
        "room": room,
        "id": message_id,
        "from": author,
        "text": text,
        "ts": ts,
    }
    if cw:
        frame["cw"] = cw
    return frame


def ack(client_id: Any, message_id: str | None, status: str, **extra: Any) -> dict[str, Any]:
    """The answer to one `send`: published, held or rejected (with reason, message, retry_after)."""
    return {"type": "ack", "client_id": client_id, "id": message_id, "status": status, **extra}


def unavailable(message: str, ref: Any = None, **extra: Any) -> dict[str, Any]:
    frame = error_frame("unavailable", message, ref)
    frame.update(extra)
    return frame


def notice(
    code: str, text: str, *, level: str = "info", room: str | None = None, **extra: Any
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "notice", "text": text, "level": level, "code": code}
    if room is not None:
        frame["room"] = room
    frame.update(extra)
    return frame


def done(room: str, action: str, text: str, **fields: Any) -> dict[str, Any]:
    """A host action went through: code `done`, `action` the host frame's type (mute, ban, kick, warn,
    push_card...) so each reads in its own words (`code.done.<action>`), with the numbers it needs."""
    return notice("done", text, room=room, action=action, **fields)


def joined_head(
    room: str,
    title: str,
    topic: str,
    guidelines: str,
    resources: list[Any],
    members: int,
    slowmode: float,
    locked: bool,
    role: str,
    held: list[dict[str, Any]] | None,
    *,
    lang: str,
) -> dict[str, Any]:
    """Everything of `joined` but its history (spliced in by `joined`); `lang`: the language the
    room's words came in (issue 19)."""
    head: dict[str, Any] = {
        "type": "joined",
        "room": room,
        "title": title,
        "topic": topic,
        "guidelines": guidelines,
        "resources": resources,
        "members": members,
        "slowmode": slowmode,
        "locked": locked,
        "role": role,
        "lang": lang,
    }
    if held is not None:
        head["held"] = held
    return head


def guidelines_required(room: str, guidelines: str, rules: list[str], lang: str) -> dict[str, Any]:
    """The `error` a join gets until the room's guidelines are accepted: they come with it, in `lang`."""
    frame = error_frame(
        "guidelines_required",
        "Please read and accept the room's guidelines (join with accept_guidelines: true)",
    )
    return {**frame, "room": room, "guidelines": guidelines, "rules": rules, "lang": lang}


def language(lang: str, rooms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The answer to a `lang` frame (issue 19): the language now read, and each joined room's own
    words in it (`lang`, `title`, `topic`, `guidelines`, `resources`; a host's `snippets`)."""
    return {"type": "lang", "lang": lang, "rooms": rooms}


def joined(head: dict[str, Any], history: list[bytes], *, more: bool) -> bytes:
    """The joined frame with its first page of history (ready message frames, spliced in as they are)."""
    tail = b'],"more":true}' if more else b"]}"
    return ws_text_frame(dumps(head)[:-1] + b',"history":[' + b",".join(history) + tail)


def history(room: str, messages: list[bytes], *, more: bool) -> bytes:
    """One more page of a long replay (after `joined`, before anything live)."""
    head = b'{"type":"history","room":' + orjson.dumps(room) + b',"messages":['
    return ws_text_frame(head + b",".join(messages) + (b'],"more":true}' if more else b'],"more":false}'))


def presence(room: str, members: int, **change: Any) -> dict[str, Any]:
    return {"type": "presence", "room": room, "members": members, **change}


def typing(room: str, name: str) -> dict[str, Any]:
    return {"type": "typing", "room": room, "name": name}


def resources(room: str, items: list[Any], lang: str) -> dict[str, Any]:
    """Help, privately: the items in `lang` where the room has them; `why` is English, `code` says it
    in any language (issue 19)."""
    return {
        "type": "resources",
        "room": room,
        "items": items,
        "why": WHY_RESOURCES,
        "code": "crisis_resources",
        "lang": lang,
    }


def held(item: dict[str, Any], notes: list[dict[str, Any]]) -> dict[str, Any]:
    """A held item as hosts see it: with the person's care notes and how long it has waited."""
    frame = {k: v for k, v in item.items() if k != "held_at"}
    frame["type"] = "held"
    frame["notes"] = notes
    frame["waited_s"] = round(time.time() - float(item.get("held_at", time.time())), 1)
    return frame


def resolved(room: str, message_id: str, action: str, by: str, note: str | None) -> dict[str, Any]:
    frame = {"type": "resolved", "room": room, "id": message_id, "action": action, "by": by}
    if note:
        frame["note"] = note
    return frame


def deleted(room: str, message_id: str, reason: str | None = None) -> dict[str, Any]:
    """A message gone from the room: a host's deletion, or (`reason: "not_delivered"`) one shown here
    once recorded that Redis then refused (publication.py)."""
    frame = {"type": "deleted", "room": room, "id": message_id}
    if reason is not None:
        frame["reason"] = reason
    return frame


def escalated(room: str, message_id: str, waited_s: float) -> dict[str, Any]:
    return {"type": "escalated", "room": room, "id": message_id, "waited_s": waited_s}


def care_note(room: str, session: str, note: dict[str, Any]) -> dict[str, Any]:
    return {"type": "note", "room": room, "session": session, **note}


def report(event: dict[str, Any]) -> dict[str, Any]:
    """A report as hosts see it: the event's fields (room, message_id, reason, by, from?, notes?)."""
    frame = {k: v for k, v in event.items() if k != "kind"}
    frame["type"] = "report"
    return frame


def crisis(
    room: str, title: str, name: str, session: str, message_id: str | None, risk: str | None
) -> dict[str, Any]:
    """The hosts' urgent notice that someone may be in crisis (or, `imminent`, in immediate danger)."""
    if risk == "imminent":
        text = (
            f"{name} may be in immediate danger in {title}. Helplines were sent to them privately. "
            "Please reach out to them now."
        )
    else:
        text = f"{name} may be in crisis. Resources were sent to them privately; please check in."
    extra: dict[str, Any] = {"risk": risk} if risk else {}
    return notice(
        "crisis",
        text,
        level="urgent",
        room=room,
        message_id=message_id,
        session=session,
        name=name,
        title=title,
        **extra,
    )


def card(room: str, card_id: str, item: dict[str, Any], author: dict[str, Any], ts: str) -> dict[str, Any]:
    """A library card a host shared with the room (`push_card`): shown as a card, not as a link."""
    return {"type": "card", "room": room, "id": card_id, "card": item, "from": author, "ts": ts}


def private(room: str, host: str, text: str, ts: str) -> dict[str, Any]:
    """A host's words to one person only (a welcome, a check-in): never shown to the room."""
    return {"type": "private", "room": room, "from": {"name": host, "role": "host"}, "text": text, "ts": ts}


# ---- proportionate moderation (issue 16) -------------------------------------------------------
def warning(room: str, item: dict[str, Any]) -> dict[str, Any]:
    """A host's warning, to the warned person only: the rule (number and words), the host's own words,
    and what to do (acknowledge it) before posting again."""
    return {"type": "warning", "room": room, **item}


def strikes(room: str, session: str, count: int, proposal: dict[str, Any]) -> dict[str, Any]:
    """For hosts: someone's live strikes in this room and the step the room's ladder proposes next."""
    return {"type": "strikes", "room": room, "session": session, "strikes": count, "next": proposal}


def person(room: str, card: dict[str, Any]) -> dict[str, Any]:
    """The person card a host asked for (moderation/person.py builds it)."""
    return {"type": "person", "room": room, **card}
