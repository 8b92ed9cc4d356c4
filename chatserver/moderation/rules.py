"""Who may do what, decided without I/O: the sender rule and the meaning of a host's sanction.

Pure functions: they read a room's state and return a decision (an error to
raise, a change to store); the caller does the I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatserver.errors import BadRequest, ChatError

if TYPE_CHECKING:
    from chatserver.rooms_state import RoomState

MAX_MUTE_MINUTES = 7 * 24 * 60
MAX_SLOWMODE_S = 3600
NOTE_MAX = 1000
REASON_MAX = 500


def sender_refusal(room: RoomState, session: str, *, hosts_here: bool, now: float) -> ChatError | None:
    """Why this person may not post to `room` right now (ban, mute, lock, no host, slow mode), if they
    may not.

    `hosts_here`: the person hosts this room (locks and slow mode do not apply to them);
    `now`: `time.monotonic()`, for slow mode.
    """
    if room.is_banned(session):
        return ChatError("A host has banned you from this room", code="banned")
    warning = room.warned.get(session)
    if warning is not None:
        return ChatError(
            "A host has sent you a warning. Please read it and choose 'I understand' before posting again.",
            code="warned",
            warning=warning,
        )
    left = room.muted_for(session)
    if left > 0:
        return ChatError(
            f"A host has muted you here for {int(left // 60) + 1} more minute(s)",
            code="muted",
            retry_after=round(left, 1),
        )
    if hosts_here:
        return None
    if room.locked:
        return ChatError("This room is locked for now: only hosts can post", code="locked")
    if room.mode in ("read_only", "closed"):
        what = "closed now" if room.mode == "closed" else "read-only until a host returns"
        return ChatError(f"No host is here right now, so the room is {what}", code="locked", mode=room.mode)
    if room.slowmode > 0:
        last = room.last_sent.get(session)
        if last is not None:
            wait = room.slowmode - (now - last)
            if wait > 0:
                return ChatError(
                    f"Slow mode is on: one message every {room.slowmode:g} seconds",
                    code="rate_limited",
                    retry_after=round(wait, 1),
                )
    return None


@dataclass(frozen=True, slots=True)
class Sanction:
    """What a mute/unmute/ban/unban changes: `kind` ban|mute, `until` (epoch; None no end; 0 lifted)."""

    kind: str
    until: float | None
    audit_kind: str
    minutes: float | None = None


def sanction_of(frame: dict[str, Any], *, now: float | None = None) -> Sanction:
    """The change a sanction frame asks for; BadRequest for minutes out of range."""
    action = frame["type"]
    if action == "mute":
        minutes = float(frame["minutes"])
        if not 0 < minutes <= MAX_MUTE_MINUTES:
            raise BadRequest(f"minutes must be between 1 and {MAX_MUTE_MINUTES}")
        return Sanction("mute", (now or time.time()) + minutes * 60, "muted", minutes)
    if action == "unmute":
        return Sanction("mute", 0, "unmuted")
    if action == "ban":
        return Sanction("ban", None, "banned")
    return Sanction("ban", 0, "unbanned")


def slowmode_of(frame: dict[str, Any]) -> float:
    seconds = float(frame["seconds"])
    if not 0 <= seconds <= MAX_SLOWMODE_S:
        raise BadRequest(f"seconds must be between 0 and {MAX_SLOWMODE_S}")
    return seconds


def note_text(raw: Any) -> str | None:
    """A host's optional note, trimmed and bounded; None when empty."""
    return (str(raw or "")).strip()[:NOTE_MAX] or None


def reason_text(raw: Any) -> str:
    return str(raw or "").strip()[:REASON_MAX]
