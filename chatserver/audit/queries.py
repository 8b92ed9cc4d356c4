"""What the server reads back from the audit log: history, resume, seqs and the held queue.

Each query runs on the reader connection `AuditLog` hands it: WAL lets reads run beside the writer,
and they never see a batch that has not committed.
"""

from __future__ import annotations

import time
from typing import Any

import aiosqlite

from chatserver.audit.records import MESSAGE_KINDS, MESSAGES_SQL, decode_detail, message_of

_KINDS_SQL = ", ".join(f"'{k}'" for k in MESSAGE_KINDS)
_ROOM_OF = f"SELECT room FROM audit WHERE message_id = ? AND kind IN ('held', {_KINDS_SQL}) LIMIT 1"
_MESSAGES = MESSAGES_SQL + " AND room = ? AND seq IS NOT NULL"
_SEQ_OF = (
    f"SELECT seq FROM audit WHERE message_id = ? AND room = ? AND seq IS NOT NULL AND kind IN ({_KINDS_SQL})"
    " LIMIT 1"
)
_PENDING_HELD = (
    "SELECT a.message_id, a.room, a.text, a.ts, a.actor_name, a.actor_session, a.detail FROM audit a"
    " WHERE a.kind = 'held' AND NOT EXISTS (SELECT 1 FROM audit r WHERE r.message_id = a.message_id"
    " AND r.kind IN ('released', 'rejected', 'deleted')) ORDER BY a.id LIMIT ?"
)


#: Rows by or about one person, and the later rows of their messages (a release names the host, not
#: them). No index on actor_session/subject: a host asks for one card at a time (issue 16).
_ABOUT_PERSON = (
    "SELECT id, ts, room, kind, actor_session, actor_name, subject, message_id, text, detail FROM audit"
    " WHERE actor_session = ?1 OR subject = ?1 OR message_id IN (SELECT message_id FROM audit"
    " WHERE actor_session = ?1 AND kind IN ('published', 'held') AND message_id IS NOT NULL)"
    " ORDER BY id DESC LIMIT ?2"
)


def _epoch(ts: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


async def room_max_seqs(reader: aiosqlite.Connection) -> dict[str, int]:
    rows = await reader.execute_fetchall(
        "SELECT room, max(seq) FROM audit WHERE seq IS NOT NULL AND room IS NOT NULL GROUP BY room"
    )
    return {room: seq for room, seq in rows}


async def recent_messages(reader: aiosqlite.Connection, room: str, limit: int) -> list[dict[str, Any]]:
    rows = await reader.execute_fetchall(_MESSAGES + " ORDER BY seq DESC LIMIT ?", (room, limit))
    return [message_of(row) for row in reversed(list(rows))]


async def messages_after(
    reader: aiosqlite.Connection, room: str, seq: int, limit: int
) -> list[dict[str, Any]]:
    rows = await reader.execute_fetchall(
        _MESSAGES + " AND seq > ? ORDER BY seq ASC LIMIT ?", (room, seq, limit)
    )
    return [message_of(row) for row in rows]


async def room_of(reader: aiosqlite.Connection, message_id: str) -> str | None:
    rows = list(await reader.execute_fetchall(_ROOM_OF, (message_id,)))
    return rows[0][0] if rows else None


async def seq_of(reader: aiosqlite.Connection, room: str, message_id: str) -> int | None:
    rows = list(await reader.execute_fetchall(_SEQ_OF, (message_id, room)))
    return rows[0][0] if rows else None


async def pending_held(reader: aiosqlite.Connection, limit: int) -> list[dict[str, Any]]:
    """Held messages not yet released, rejected or deleted, oldest first, as `held` items."""
    items = []
    for message_id, room, text, ts, name, session, detail_text in await reader.execute_fetchall(
        _PENDING_HELD, (limit,)
    ):
        detail = decode_detail(detail_text)
        item: dict[str, Any] = {
            "type": "held",
            "room": room,
            "id": message_id,
            "from": {"name": name, "session": session, "role": detail.get("role") or "participant"},
            "text": text,
            "ts": ts,
            "reasons": detail.get("reasons", []),
            "explanations": detail.get("explanations", []),
            "urgent": bool(detail.get("urgent")),
            "held_at": _epoch(ts),
        }
        if detail.get("cw"):
            item["cw"] = detail["cw"]
        items.append(item)
    return items


async def about_person(reader: aiosqlite.Connection, session: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` rows by or about `session` (and of their messages), newest first."""
    keys = ("id", "ts", "room", "kind", "actor_session", "actor_name", "subject", "message_id", "text")
    out = []
    for row in await reader.execute_fetchall(_ABOUT_PERSON, (session, limit)):
        item = dict(zip(keys, row[:9], strict=True))
        item["detail"] = decode_detail(row[9])
        out.append(item)
    return out
