"""Reading the audit log out: `audit export`, `/api/audit` and transcripts.

Synchronous and read-only (plain sqlite3 with `mode=ro`), for the CLI and for
the app to run in a thread. Rows stream from one SELECT, so an export is one
consistent snapshot however long it takes, and memory stays flat.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any, TextIO

import orjson

from chatserver.audit.records import COLUMNS, MESSAGES_SQL, export_row, message_of
from chatserver.db import connect
from chatserver.errors import ChatError
from chatserver.filters.pii import redact_contacts

FORMATS = ("jsonl", "csv")

CSV_COLUMNS = (
    "id",
    "ts",
    "room",
    "kind",
    "actor_session",
    "actor_name",
    "subject",
    "message_id",
    "text",
    "detail",
    "seq",
    "prev_hash",
    "hash",
)

#: What `--redact` puts in place of an e-mail address and a phone number.
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"


def redact_text(text: str) -> str:
    """Mask e-mail addresses as `[email]` and phone numbers as `[phone]`.

    What counts as either is the live pii filter's definition (`filters.pii`), so an export never
    shows what the filter removed from a message.
    """
    return redact_contacts(text, email_mark=EMAIL_MASK, phone_mark=PHONE_MASK)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    return value


def redact_row(row: dict[str, Any]) -> dict[str, Any]:
    """An exported row with e-mail addresses and phone numbers masked wherever typed text is kept.

    That is the text, the actor's name and every string in detail, however deep: the original of
    a redacted message, the content warning, notes, reasons, explanations, report reasons...
    """
    row = dict(row)
    if row.get("text"):
        row["text"] = redact_text(row["text"])
    if row.get("actor", {}).get("name"):
        row["actor"] = {**row["actor"], "name": redact_text(row["actor"]["name"])}
    row["detail"] = _redact_value(row.get("detail") or {})
    return row


def redact_message(message: dict[str, Any]) -> dict[str, Any]:
    """A transcript `message` with e-mail addresses and phone numbers masked in its text, content
    warning and author's name."""
    message = dict(message)
    for key in ("text", "cw"):
        if message.get(key):
            message[key] = redact_text(message[key])
    author = message.get("from")
    if author and author.get("name"):
        message["from"] = {**author, "name": redact_text(author["name"])}
    return message


def parse_time(value: str | datetime | date, *, what: str = "time") -> str:
    """An ISO-8601 date or time as a UTC `ts` string, comparable with the log's `ts` column.

    Accepts `2026-11-27`, `2026-11-27T10:00`, `2026-11-27 10:00:05.250`, with or without
    `Z` or an offset; a time without a zone is taken as UTC.

    Raises:
        ChatError: the value is not such a date or time.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
        except ValueError:
            raise ChatError(
                f"{what}: expected an ISO-8601 date or time such as 2026-11-27 or 2026-11-27T10:00Z, "
                f"got {value!r}"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def _kinds(kind: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if kind is None:
        return []
    parts = kind.split(",") if isinstance(kind, str) else list(kind)
    kinds = [k.strip() for k in parts if k and k.strip()]
    if not kinds:
        raise ChatError(f"--kind: expected a kind or a comma-separated list of kinds, got {kind!r}")
    return kinds


def _where(room: str | None, since: Any, until: Any, kind: Any) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if room is not None:
        clauses.append("room = ?")
        args.append(room)
    lower = parse_time(since, what="--since") if since is not None else None
    upper = parse_time(until, what="--until") if until is not None else None
    if lower is not None and upper is not None and lower > upper:
        raise ChatError(f"--since ({lower}) is after --until ({upper}); nothing can match")
    if lower is not None:
        clauses.append("ts >= ?")
        args.append(lower)
    if upper is not None:
        clauses.append("ts < ?")
        args.append(upper)
    kinds = _kinds(kind)
    if kinds:
        clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
        args.extend(kinds)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def iter_rows(
    db_path: str | os.PathLike[str],
    *,
    room: str | None = None,
    since: Any = None,
    until: Any = None,
    kind: str | list[str] | None = None,
    redact: bool = False,
    order: str = "id",
) -> Iterator[dict[str, Any]]:
    """Audit rows in id order (`order="ts"`: time order, then id), filtered, as export dicts
    (see `records.export_row`).

    `since` is inclusive and `until` exclusive: `--since 2026-11-27 --until 2026-11-28` is one day.
    Filters are validated before the database is opened, so a bad value fails fast.
    """
    where, args = _where(room, since, until, kind)
    ordering = "ts, id" if order == "ts" else "id"
    conn = connect(db_path, readonly=True)
    try:
        for row in conn.execute(f"SELECT {COLUMNS} FROM audit{where} ORDER BY {ordering}", args):
            out = export_row(row)
            yield redact_row(out) if redact else out
    finally:
        conn.close()


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ is run as a formula by spreadsheet programs, and
    # chat text is written by anyone: prefix a quote (OWASP "CSV injection").
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export(
    db_path: str | os.PathLike[str],
    out: TextIO,
    *,
    room: str | None = None,
    since: Any = None,
    until: Any = None,
    kind: str | list[str] | None = None,
    fmt: str = "jsonl",
    redact: bool = False,
) -> int:
    """Write the (filtered) audit log to `out` as JSON lines or CSV.

    Returns:
        The number of rows written.

    Raises:
        ChatError: an unknown format, a bad --since/--until/--kind, or no database at `db_path`.
    """
    check_format(fmt)
    rows = iter_rows(db_path, room=room, since=since, until=until, kind=kind, redact=redact)
    return write_rows(rows, out, fmt)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ChatError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


def write_rows(rows: Iterable[dict[str, Any]], out: TextIO, fmt: str, *, source: bool = False) -> int:
    """Write export rows as JSON lines or CSV (`source`: a first CSV column naming each row's file)."""
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(orjson.dumps(row).decode())
            out.write("\n")
            count += 1
        return count
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("source", *CSV_COLUMNS) if source else CSV_COLUMNS)
    for row in rows:
        detail = orjson.dumps(row["detail"], option=orjson.OPT_SORT_KEYS).decode() if row["detail"] else ""
        flat = (
            row["id"],
            row["ts"],
            row["room"],
            row["kind"],
            row["actor"]["session"],
            row["actor"]["name"],
            row["subject"],
            row["message_id"],
            row["text"],
            detail,
            row["seq"],
            row["prev_hash"],
            row["hash"],
        )
        writer.writerow([_csv_cell(v) for v in ((row["source"], *flat) if source else flat)])
        count += 1
    return count


def transcript(
    db_path: str | os.PathLike[str],
    room: str,
    since: Any = None,
    until: Any = None,
    *,
    redact: bool = False,
) -> list[dict[str, Any]]:
    """What the room's participants were shown: published and released messages, minus deleted ones
    (and minus those the broker failed to publish).

    Ordered by `seq` (the order everyone saw); a message whose seq was never recorded
    (the server died between publishing and annotating) comes last, in id order.
    Each item has the shape of a `message` frame; `redact` masks contact details as
    `redact_message` does.
    """
    where, args = _where(room, since, until, None)
    sql = MESSAGES_SQL + where.replace(" WHERE ", " AND ", 1) + " ORDER BY seq IS NULL, seq, id"
    conn = connect(db_path, readonly=True)
    try:
        messages = (message_of(row) for row in conn.execute(sql, args))
        return [redact_message(m) for m in messages] if redact else list(messages)
    finally:
        conn.close()
