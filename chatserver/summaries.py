"""What the HTTP status endpoints say about one worker's rooms: the room list, held queues, coverage.

Read-only views over the hub's parts, kept apart so the hub stays the composer it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatserver.hosting import opens_at
from chatserver.hours import Hours, iso_z, next_closing, next_opening
from chatserver.rooms.about import PEER_NOTE
from chatserver.rooms.languages import requested

if TYPE_CHECKING:
    from chatserver.hub import Hub


def room_summaries(hub: Hub, lang: str | None = None) -> list[dict[str, Any]]:
    """/api/rooms: every room with its members, hosts on duty and mode (opening time when closed),
    its title and topic in `lang` (issue 19: `lang` says which they came in; `languages`, what its
    hosts read: the room's `languages`, else none stated)."""
    now = hub.hosting.clock()
    out = []
    for rid, room in hub.rooms.items():
        cfg = room.config
        title, served = cfg.text_in("title", lang)
        out.append(
            {
                "id": rid,
                "title": title,
                "topic": cfg.text_in("topic", lang)[0],
                "lang": served,
                # What its hosts read, only where the room says so: an unset `languages` lets the crisis
                # filter read every pack, and promises nobody a host who reads them all.
                "languages": list(cfg.languages) if cfg.languages is not None else [],
                "members": hub.presence.members(room),
                "hosts": len(hub.presence.hosts_on_duty(room)),
                "mode": room.mode,
                "opens_at": opens_at(room, now) if room.mode == "closed" else None,
                "guidelines_required": cfg.guidelines_required,
                "professional_led": cfg.about.professional_led,
                "sessions": upcoming(cfg.hours, now),
            }
        )
    return out


def upcoming(hours: Hours | None, now: datetime, count: int = 3) -> list[dict[str, str]]:
    """The room's next openings on its timetable, `{opens, closes}` in UTC; [] for a room always open."""
    out: list[dict[str, str]] = []
    when = now
    while len(out) < count:
        opens = next_opening(hours, when)
        closes = next_closing(hours, opens) if opens else None
        if opens is None or closes is None:
            break
        out.append({"opens": iso_z(opens), "closes": iso_z(closes)})
        when = closes
    return out


def library(hub: Hub, query: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, Any] | None:
    """/api/library?room=&lang=: a room's cards, whether a professional leads it, and its peer-support
    note (without a room: the built-in note, for the help card before one is joined); None: no such
    room. Words in the language asked (?lang=, else Accept-Language) where the room has them: each card
    says its `lang`, the note's is `lang`; `peer_note_code` names a built-in (English) note."""
    room_id = query.get("room")
    if not room_id:
        return {
            "cards": [],
            "professional_led": False,
            "peer_note": PEER_NOTE,
            "peer_note_code": "peer_note",
            "lang": "en",
        }
    room = hub.rooms.get(room_id)
    if room is None:
        return None
    served = room.config.served(requested(query.get("lang"), headers.get("accept-language")))
    return {
        "room": room_id,
        "cards": list(served.cards),
        "professional_led": room.config.about.professional_led,
        "peer_note": served.peer_note,
        "peer_note_code": room.config.about.note_code,
        "lang": served.peer_note_lang,
    }


async def held_summary(hub: Hub) -> list[dict[str, Any]]:
    """Per room: how many messages wait for a host, and for how long the oldest has."""
    now = datetime.now(UTC).timestamp()
    out = []
    for rid in hub.rooms:
        try:
            items = await hub.store.list_held(rid)
        except Exception:
            continue
        oldest = min((float(i.get("held_at", now)) for i in items), default=now)
        out.append({"id": rid, "held": len(items), "oldest_held_s": round(now - oldest, 1)})
    return out


def coverage(hub: Hub, room_id: str) -> dict[str, Any]:
    """For admins: who is on duty in a room, its unhosted mode, and its next opening hours."""
    room = hub.rooms[room_id]
    cfg, now = room.config, hub.hosting.clock()
    return {
        "escalate_after": cfg.escalate_after,
        "hosts_on_duty": sorted(hub.presence.hosts_on_duty(room)),
        "host_names": list(cfg.hosts),
        "when_unhosted": cfg.when_unhosted,
        "next_opening": _iso(next_opening(cfg.hours, now)),
        "next_closing": _iso(next_closing(cfg.hours, now)),
    }


def _iso(when: datetime | None) -> str | None:
    return iso_z(when) if when else None
