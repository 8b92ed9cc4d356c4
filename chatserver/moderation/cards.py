"""A host shares a card from the room's library with one click (issue 20): `push_card`.

The card is checked against the room's own library (so its link is one the room allows),
audited as `card_pushed`, then announced through the broker so every worker shows it to its
members of the room as a card, never as a raw link.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from chatserver import badges, frames
from chatserver.db import utc_now
from chatserver.errors import BadRequest

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.moderation.service import Moderation
    from chatserver.rooms_state import RoomState


async def push_card(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    """Share library card `frame["card"]` with everyone in the room (a host of it has been checked)."""
    card = room.config.about.card(str(frame["card"]))
    if card is None:
        raise BadRequest(f"{room.id!r} has no library card {str(frame['card'])[:40]!r}")
    role = mod.delivery.role_in(conn, room)
    author = frames.sender(conn.name, conn.session, role, badges.of(conn, role))
    push_id = "k" + secrets.token_urlsafe(9)
    await mod.audit.append_and_wait(
        "card_pushed",
        room=room.id,
        actor_session=conn.session,
        actor_name=conn.host_name or conn.name,
        message_id=push_id,
        text=card.title,
        detail={"card": card.id, "url": card.url, "by": conn.host_name or conn.name},
    )
    mod.broker.publish_event(
        {
            "kind": "card",
            "room": room.id,
            "id": push_id,
            "card": card.wire(None, room.config.fallback_language),
            "from": author,
            "ts": utc_now(),
        }
    )
    shown = card.wire(mod.readers.of(conn), room.config.fallback_language)
    conn.send(
        frames.done(room.id, "push_card", f"Shared “{shown['title']}” with the room.", title=shown["title"])
    )
