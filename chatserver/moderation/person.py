"""The person card (issue 16): what a host should know before acting on someone.

Gathered from what every worker writes to (the audit log and the shared store), so the card is the
same whichever worker the host, the person or their history came through. `build` is pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.errors import Unavailable
from chatserver.moderation import evasion, warnings

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.moderation.service import Moderation
    from chatserver.rooms_state import RoomState

RECENT_MESSAGES = 10
LIST_MAX = 20
SANCTION_KINDS = ("warned", "muted", "unmuted", "kicked", "banned", "unbanned")
#: What a later row of the same message says about how it ended.
ENDINGS = {"released": "released", "rejected": "not shared", "deleted": "deleted"}


def _messages(room: str, session: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Their latest messages in `room` (newest first) with how each ended."""
    ended = {r["message_id"]: ENDINGS[r["kind"]] for r in reversed(rows) if r["kind"] in ENDINGS}
    out = []
    for r in rows:
        if r["room"] == room and r["actor_session"] == session and r["kind"] in ("published", "held"):
            status = ended.get(r["message_id"], "waiting" if r["kind"] == "held" else "published")
            out.append({"id": r["message_id"], "text": r["text"], "ts": r["ts"], "status": status})
            if len(out) == RECENT_MESSAGES:
                break
    return out


def _sanction(r: dict[str, Any]) -> dict[str, Any]:
    d = r["detail"]
    item = {"kind": r["kind"], "room": r["room"], "ts": r["ts"], "by": d.get("by") or r["actor_name"]}
    for key in ("rule", "rule_text", "minutes", "reason"):
        if d.get(key) is not None and d.get(key) != "":
            item[key] = d[key]
    if r["kind"] == "warned" and r["text"]:
        item["text"] = r["text"]
    return item


def _report(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "room": r["room"],
        "ts": r["ts"],
        "reason": r["detail"].get("reason", ""),
        "by": r["actor_name"],
        "message_id": r["message_id"],
    }


def build(
    room: str,
    session: str,
    rows: list[dict[str, Any]],
    *,
    strikes: int,
    proposal: dict[str, Any],
    notes: list[dict[str, Any]],
    flagged: dict[str, Any] | None,
) -> dict[str, Any]:
    """The card from the audit rows by or about `session` (newest first) and the shared state."""
    name = next((r["actor_name"] for r in rows if r["actor_session"] == session and r["actor_name"]), None)
    in_room = [r for r in rows if r["room"] == room]
    mine = [r for r in in_room if r["actor_session"] == session]
    return {
        "session": session,
        "name": name,
        "messages": _messages(room, session, rows),
        "counts": {
            "held": sum(1 for r in mine if r["kind"] == "held"),
            "rejected": sum(
                1
                for r in in_room
                if r["kind"] == "rejected" and session in (r["subject"], r["actor_session"])
            ),
            "reported": sum(1 for r in in_room if r["kind"] == "report" and r["subject"] == session),
        },
        "sanctions": [_sanction(r) for r in rows if r["kind"] in SANCTION_KINDS and r["subject"] == session][
            :LIST_MAX
        ],
        "reports_about": [_report(r) for r in rows if r["kind"] == "report" and r["subject"] == session][
            :LIST_MAX
        ],
        "reports_by": [_report(r) for r in rows if r["kind"] == "report" and r["actor_session"] == session][
            :LIST_MAX
        ],
        "notes": notes[-LIST_MAX:],
        "strikes": strikes,
        "next": proposal,
        "flagged": flagged,
    }


async def person(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    """Send the asking host the card of `session` as seen from `room`; the look is audited."""
    session = frame["session"]
    try:
        rows = await mod.audit.about_person(session)
        live = await warnings.strikes_in(mod, room, session)
        flagged = await evasion.flag_of(mod, room, session)
    except Exception:
        raise Unavailable("Could not gather that person's history; try again") from None
    notes = await mod.notes(room.id, session)
    card = build(
        room.id,
        session,
        rows,
        strikes=len(live),
        proposal=warnings.proposal(room.config.moderation, len(live)),
        notes=notes,
        flagged=flagged,
    )
    who = conn.host_name or conn.name
    mod.audit.append(
        "viewed_person", room=room.id, subject=session, actor_session=conn.session, actor_name=who
    )
    conn.send(frames.person(room.id, card))
