"""Kind refusals (issue 16): a person whose held message a host did not share is told why, in calm
words (the host's own, or one of the room's `reasons:`), with the room's resources. Never silence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.errors import BadRequest
from chatserver.moderation import rules

if TYPE_CHECKING:
    from chatserver.delivery import Delivery
    from chatserver.readers import Readers
    from chatserver.rooms.moderation import RoomModeration
    from chatserver.rooms_state import RoomState

#: Said after the reason, with the resources: honest about what happened, and where help is.
AFTER = "If things feel hard right now, the people below are there to listen at any hour."


def words(config: RoomModeration, frame: dict[str, Any]) -> str:
    """What the sender reads: the host's `note`, else the room's reason number `reason`, else its first."""
    note = rules.note_text(frame.get("note"))
    if note:
        return note
    number = frame.get("reason")
    if number is None:
        return config.reasons[0]
    if not (isinstance(number, int) and 1 <= number <= len(config.reasons)):
        raise BadRequest(f"'reason' must be a number from 1 to {len(config.reasons)}")
    return config.reasons[number - 1]


def event(room: str, session: str, told: str, message_ids: list[str]) -> dict[str, Any]:
    """The event that tells the sender (on whichever worker they are)."""
    return {"kind": "not_shared", "room": room, "session": session, "text": told, "message_ids": message_ids}


def apply(delivery: Delivery, readers: Readers, room: RoomState, ev: dict[str, Any]) -> None:
    """The sender's private notice: the reason, what to do next, and the room's resources (in the
    language each of their connections reads)."""

    def notice(lang: str | None) -> dict[str, Any]:
        served = room.config.served(lang)
        return frames.notice(
            "not_shared",
            ev["text"],
            room=room.id,
            after=AFTER,
            message_ids=ev["message_ids"],
            resources=list(served.resources),
            lang=served.lang,
        )

    readers.to_session(delivery, ev["session"], notice)
