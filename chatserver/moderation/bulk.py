"""Bulk actions (issue 16): after a flood, one click instead of twenty.

- `reject_all`: every message of one person still waiting in the room's held queue is not shared;
  the person is told once, kindly (refusals.py);
- `delete_last`: a person's last N published messages in the room are deleted for everyone.

Each message is resolved through the same steps as one host action, so each has its audit row and
a release racing a bulk reject still wins or loses exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from chatserver import frames
from chatserver.errors import BadRequest, Unavailable
from chatserver.moderation import actions, refusals, rules

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.moderation.service import Moderation
    from chatserver.rooms_state import RoomState

#: The most messages `delete_last` removes at once.
DELETE_LAST_MAX = 50


async def reject_all(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    """Do not share any message `session` has waiting in `room`; tell them once, with resources."""
    session = frame["session"]
    told = refusals.words(room.config.moderation, frame)
    note = rules.note_text(frame.get("note"))
    try:
        waiting = [i for i in await mod.store.list_held(room.id) if i["from"]["session"] == session]
    except Exception:
        raise Unavailable("Could not reach the held queue; try again") from None
    who = actions.by(conn)
    taken: list[str] = []
    for item in waiting:
        try:
            got = await mod.store.take_held(room.id, item["id"])
        except Exception:
            raise Unavailable("Could not reach the held queue; try again") from None
        if got is None:
            continue  # another host resolved it meanwhile
        mod.held_local.pop(got["id"], None)
        await mod.audit.append_and_wait(
            "rejected",
            room=room.id,
            message_id=got["id"],
            text=got["text"],
            subject=session,
            detail={"by": who, "note": note, "reasons": got.get("reasons", []), "told": told, "bulk": True},
            actor_session=conn.session,
            actor_name=who,
        )
        mod.broker.publish_event(actions.resolved_event(room, got["id"], "rejected", who, session, note))
        taken.append(got["id"])
    if taken:
        mod.broker.publish_event(refusals.event(room.id, session, told, taken))
    text = f"Done: {len(taken)} waiting message(s) not shared."
    conn.send(frames.done(room.id, "reject_all", text, count=len(taken), session=session))


def last_messages(room: RoomState, session: str, count: int) -> list[str]:
    """The ids of `session`'s latest `count` published messages this worker has for `room`, newest first."""
    found: list[str] = []
    for _, message_id, raw in reversed(room.log):
        if orjson.loads(raw).get("from", {}).get("session") == session:
            found.append(message_id)
            if len(found) == count:
                break
    return found


async def delete_last(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    """Delete `session`'s last `count` messages in `room` for everyone."""
    count = frame["count"]
    if not 1 <= count <= DELETE_LAST_MAX:
        raise BadRequest(f"'count' must be from 1 to {DELETE_LAST_MAX}")
    ids = last_messages(room, frame["session"], count)
    for message_id in ids:
        await actions.delete(mod, conn, room, {"message_id": message_id})
    text = f"Done: {len(ids)} message(s) deleted."
    conn.send(frames.done(room.id, "delete_last", text, count=len(ids), session=frame["session"]))
