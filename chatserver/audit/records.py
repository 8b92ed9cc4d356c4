"""Audit rows as data: timestamps, the canonical bytes the hash chain covers, and row shapes.

Pure: no I/O. The writer (store.py), `verify` (chain.py) and `export` (export.py)
all go through these functions, so a row is hashed the same way everywhere.

The hash of a row is the SHA-256 of a version line followed by a compact JSON
array (UTF-8, no ASCII escaping, no spaces) of its hashed fields, in this order::

    sha256(b"chatserver-audit-v1\n" + json.dumps(
        [prev_hash, id, ts, room, kind, actor_session, actor_name, subject, message_id, text, detail],
        ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

where `detail` is the JSON text exactly as stored (a string inside the array).
JSON quoting makes the encoding unambiguous, and the recipe above (Python's
standard library) yields exactly the bytes orjson writes; a test pins that, so an
auditor can recompute the chain without this code.

`seq` is outside the hash. Rows are written once, a message's row with its seq
(the broker numbers a message before its row is written); the first logs set it
afterwards, and keeping it out keeps every chain verifiable by one recipe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from chatserver.errors import BadRequest

#: prev_hash of the very first row.
GENESIS = "0" * 64
HASH_PREFIX = b"chatserver-audit-v1\n"
_HASH_BASE = hashlib.sha256(HASH_PREFIX)

#: Rows that put a message in front of the room; each message has exactly one.
MESSAGE_KINDS = ("published", "released")

#: The kind of the row `purge` appends to keep the chain verifiable.
PURGE_CHECKPOINT = "purge_checkpoint"

#: Column order used by every SELECT that feeds `export_row`.
COLUMNS = (
    "id, ts, room, kind, actor_session, actor_name, subject, message_id, text, detail, seq, prev_hash, hash"
)

#: Rows whose message_id marks a message as no longer (or never) visible to the room.
HIDING_KINDS = ("deleted", "publish_failed")


def _author(column: str) -> str:
    # A `released` row's actor is the host who released it; the author is in its detail (since
    # issue 18: the `held` row may be in another machine's file), or else the actor of the
    # message's `held` row. The unary + keeps SQLite on the message_id index (without it, it may
    # pick the far less selective kind index).
    named = f"json_extract(a.detail, '$.author_{column.removeprefix('actor_')}')"
    held = f"(SELECT h.{column} FROM audit h WHERE h.message_id = a.message_id AND +h.kind = 'held' LIMIT 1)"
    return f"CASE WHEN a.kind = 'released' THEN coalesce({named}, {held}, a.{column}) ELSE a.{column} END"


#: The messages people were shown, as rows for `message_of`; callers append
#: `AND <more conditions>` (unqualified columns are the message row's) and an ORDER BY.
MESSAGES_SQL = (
    f"SELECT a.message_id, a.seq, a.room, a.text, a.ts, {_author('actor_name')}, {_author('actor_session')},"
    " a.detail FROM audit a"
    f" WHERE a.kind IN ({', '.join(repr(k) for k in MESSAGE_KINDS)})"
    " AND NOT EXISTS (SELECT 1 FROM audit d WHERE d.message_id = a.message_id AND d.room IS a.room"
    f" AND +d.kind IN ({', '.join(repr(k) for k in HIDING_KINDS)}))"
)


def encode_detail(detail: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON for `detail` (sorted keys, compact, UTF-8); None stays None."""
    if detail is None:
        return None
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode()


def canonical_body(
    ts: str,
    room: str | None,
    kind: str,
    actor_session: str | None,
    actor_name: str | None,
    subject: str | None,
    message_id: str | None,
    text: str | None,
    detail: str | None,
) -> bytes:
    """The hashed fields after `prev_hash` and `id`: the tail of the JSON array, encoded once per row.

    Raises:
        BadRequest: a field is not encodable as UTF-8 (a lone surrogate); it could not be stored either.
    """
    try:
        return orjson.dumps((ts, room, kind, actor_session, actor_name, subject, message_id, text, detail))[
            1:
        ]
    except orjson.JSONEncodeError:
        raise BadRequest("the text is not valid Unicode (it contains a lone surrogate)") from None


def chain_hash(prev_hash: str, row_id: int, body: bytes) -> str:
    """The row's hash: links it to `prev_hash` and fixes its `id` and content."""
    head = _HASH_BASE.copy()
    head.update(b"[" + orjson.dumps(prev_hash) + b",%d," % row_id)
    head.update(body)
    return head.hexdigest()


def row_hash(row: Sequence[Any]) -> str:
    """Recompute the hash of a row selected with `COLUMNS`."""
    body = canonical_body(row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9])
    return chain_hash(row[11], row[0], body)


def decode_detail(raw: str | None) -> dict[str, Any]:
    """The stored detail as a dict; `{}` for none, and never an exception for a damaged value."""
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"unparsed": raw}
    return value if isinstance(value, dict) else {"value": value}


def export_row(row: Sequence[Any]) -> dict[str, Any]:
    """A row selected with `COLUMNS` in the shape `audit export` and `/api/audit` print."""
    return {
        "id": row[0],
        "ts": row[1],
        "room": row[2],
        "kind": row[3],
        "actor": {"session": row[4], "name": row[5]},
        "subject": row[6],
        "message_id": row[7],
        "text": row[8],
        "detail": decode_detail(row[9]),
        "seq": row[10],
        "prev_hash": row[11],
        "hash": row[12],
    }


def message_of(row: Sequence[Any]) -> dict[str, Any]:
    """A row selected with `MESSAGES_SQL` as the `message` a client saw (`detail.role` is the author's)."""
    detail = decode_detail(row[7])
    author = {"name": row[5], "session": row[6], "role": detail.get("role") or "participant"}
    message: dict[str, Any] = {
        "id": row[0],
        "seq": row[1],
        "room": row[2],
        "text": row[3],
        "ts": row[4],
        "from": author,
    }
    if detail.get("cw"):
        message["cw"] = detail["cw"]
    return message
