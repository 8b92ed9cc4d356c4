"""Audit rows as data: timestamps, the canonical bytes the hash chain covers, and row shapes.

Pure: no I/O. The writer (store.py), `verify` (chain.py) and `export` (export.py)
all go through these functions, so a row is hashed the same way everywhere.

The hash of row N is::

    sha256( b"chatserver-audit-v1\\n"
            + ns(prev_hash) + ns(str(id))
            + ns(ts) + ns(room) + ns(kind) + ns(actor_session) + ns(actor_name)
            + ns(subject) + ns(message_id) + ns(text) + ns(detail) )

where `ns(s)` is the netstring `b"<len>:<utf-8 bytes>,"` and `ns(None)` is `b"-"`
(a netstring starts with a digit, so the two never collide), and `detail` is the
JSON text exactly as stored. Length prefixes make the encoding unambiguous without
relying on any JSON library's escaping rules, so an auditor can recompute it in a
few lines of any language (docs/audit.md has a reference implementation).

`seq` is deliberately outside the hash: it is written after the row, once the
broker has published the message (`AuditLog.annotate_seq`), and a hash cannot
cover a value that does not exist yet when the row is chained.
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

#: Column order used by every SELECT that feeds `message_of`.
MESSAGE_COLUMNS = "message_id, seq, room, text, ts, actor_name, actor_session, detail"


def encode_detail(detail: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON for `detail` (sorted keys, compact, UTF-8); None stays None."""
    if detail is None:
        return None
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode()


def _ns(value: str | None) -> str:
    # Built as str and encoded once per row (cheaper than nine small encodes); the
    # length is still the UTF-8 byte length.
    if value is None:
        return "-"
    return f"{len(value) if value.isascii() else len(value.encode('utf-8'))}:{value},"


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
    """The hashed fields after `prev_hash` and `id`, encoded once when a row is appended.

    Raises:
        BadRequest: a field is not encodable as UTF-8 (a lone surrogate); it could not be stored either.
    """
    fields = (ts, room, kind, actor_session, actor_name, subject, message_id, text, detail)
    try:
        # _ns inlined: this runs for every row, on the event loop.
        return "".join(
            [
                "-" if v is None else f"{len(v) if v.isascii() else len(v.encode('utf-8'))}:{v},"
                for v in fields
            ]
        ).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("the text is not valid Unicode (it contains a lone surrogate)") from None
    except AttributeError:
        bad = next(type(v).__name__ for v in fields if v is not None and not isinstance(v, str))
        raise TypeError(f"audit fields must be str or None, got {bad}") from None


def chain_hash(prev_hash: str, row_id: int, body: bytes) -> str:
    """The row's hash: links it to `prev_hash` and fixes its `id` and content."""
    head = _HASH_BASE.copy()
    head.update((_ns(prev_hash) + _ns(str(row_id))).encode("ascii"))
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
    """A `published`/`released` row (selected with `MESSAGE_COLUMNS`) as the `message` a client saw.

    The author is `detail.from` when present (a `released` row's actor is the host
    who released it), else the row's actor with `detail.role`.
    """
    detail = decode_detail(row[7])
    author = detail.get("from")
    if not isinstance(author, dict):
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
