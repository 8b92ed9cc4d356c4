"""Keeping the hash chain honest: `verify` checks it, `purge` shortens it without breaking it.

Each row stores `prev_hash` (the hash of the row before it) and `hash` (over its
own content, its id and `prev_hash`; see records.py). `verify` walks the rows in
id order and recomputes both, so an edited row, a removed row or rows put in a
different order show up as the first row where the chain breaks.

`purge` deletes a *prefix* of the chain (the rows older than the cutoff) and
first appends a `purge_checkpoint` row whose detail records `through_id` and
`through_hash`: the id and hash of the last row it deletes. That row is itself
chained and hashed, so `verify` can trust it to explain where the surviving
chain starts; a prefix removed without such a checkpoint is reported.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from chatserver.audit.records import (
    COLUMNS,
    GENESIS,
    PURGE_CHECKPOINT,
    canonical_body,
    chain_hash,
    decode_detail,
    encode_detail,
    row_hash,
)
from chatserver.db import connect, format_ts, utc_now, write_transaction
from chatserver.errors import ChatError

log = logging.getLogger(__name__)

#: Rows deleted per transaction: short transactions let the server's writers in between.
PURGE_CHUNK = 2000


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `verify`.

    `rows` counts the rows checked (all of them when `ok`); `first_bad_id` and
    `problem` say where and how the chain breaks. `head_id`/`head_hash` identify
    the last row: write them down elsewhere to detect, later, rows removed from
    the end (which no chain can reveal on its own).
    """

    ok: bool
    rows: int
    first_bad_id: int | None = None
    problem: str = ""
    head_id: int | None = None
    head_hash: str | None = None

    def describe(self) -> str:
        """One line for a person: what was checked, and what is wrong if anything."""
        if self.ok:
            if not self.rows:
                return "audit log is empty; nothing to verify"
            return f"ok: {self.rows} rows, chain intact up to row {self.head_id} (hash {self.head_hash})"
        return f"FAILED at row {self.first_bad_id}: {self.problem} ({self.rows} rows checked)"


def _checkpoints(conn: sqlite3.Connection) -> dict[int, str]:
    found: dict[int, str] = {}
    for (raw,) in conn.execute("SELECT detail FROM audit WHERE kind = ?", (PURGE_CHECKPOINT,)):
        detail = decode_detail(raw)
        through_id, through_hash = detail.get("through_id"), detail.get("through_hash")
        if isinstance(through_id, int) and isinstance(through_hash, str):
            found[through_id] = through_hash
    return found


def _start_problem(row: Any, checkpoints: dict[int, str]) -> str | None:
    row_id, prev_hash = row[0], row[11]
    if prev_hash == GENESIS:
        return None if row_id == 1 else f"row {row_id} claims to start the log, but the log starts at row 1"
    expected = checkpoints.get(row_id - 1)
    if expected is not None:
        if expected == prev_hash:
            return None
        return (
            f"row {row_id} does not follow the purge checkpoint for rows up to {row_id - 1}: "
            "its prev_hash differs from the recorded hash (rows altered or replaced)"
        )
    if any(through >= row_id for through in checkpoints):
        return None  # a purge was interrupted part-way through a prefix it recorded
    return f"rows before {row_id} are missing and no purge checkpoint accounts for them"


def verify(db_path: str | os.PathLike[str]) -> VerifyResult:
    """Recompute the whole chain and report the first row that was altered, removed or moved."""
    conn = connect(db_path, readonly=True)
    try:
        conn.execute("BEGIN")  # one snapshot for the checkpoints and the rows
        checkpoints = _checkpoints(conn)
        rows = 0
        prev_id: int | None = None
        prev_hash = ""
        for row in conn.execute(f"SELECT {COLUMNS} FROM audit ORDER BY id"):
            rows += 1
            row_id = row[0]
            problem = None
            if row_hash(row) != row[12]:
                problem = f"row {row_id} was altered: its content does not match its hash"
            elif prev_id is None:
                problem = _start_problem(row, checkpoints)
            elif row_id != prev_id + 1:
                gap = f"row {prev_id + 1}" if row_id == prev_id + 2 else f"rows {prev_id + 1}-{row_id - 1}"
                problem = f"{gap} missing: row {row_id} follows row {prev_id}"
            elif row[11] != prev_hash:
                problem = (
                    f"row {row_id} does not follow row {prev_id}: its prev_hash is not row {prev_id}'s hash "
                    "(a row was altered and re-hashed, replaced or reordered)"
                )
            if problem is not None:
                return VerifyResult(False, rows, row_id, problem, prev_id, prev_hash or None)
            prev_id, prev_hash = row_id, row[12]
        return VerifyResult(True, rows, None, "", prev_id, prev_hash or None)
    finally:
        conn.close()


def _append(conn: sqlite3.Connection, kind: str, detail: dict[str, Any]) -> int:
    """Append one chained row inside the caller's write transaction; returns its id."""
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    ts = utc_now()
    detail_json = encode_detail(detail)
    body = canonical_body(ts, None, kind, None, None, None, None, None, detail_json)
    digest = chain_hash(prev, row_id, body)
    conn.execute(
        "INSERT INTO audit (id, ts, kind, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
        (row_id, ts, kind, detail_json, prev, digest),
    )
    return row_id


def purge(db_path: str | os.PathLike[str], older_than_days: float) -> int:
    """Delete the rows older than `older_than_days`, keeping `verify` passing.

    Only a prefix of the chain is deleted (up to the first row that is not old
    enough), after appending a `purge_checkpoint` row that records where the
    surviving chain starts. Deletion runs in short transactions, so a running
    server keeps writing meanwhile; an interrupted purge leaves a verifiable log
    and the next purge finishes the job.

    Returns:
        How many rows were deleted.
    """
    if not isinstance(older_than_days, int | float) or math.isnan(older_than_days) or older_than_days < 0:
        raise ChatError(f"--older-than: expected a number of days >= 0, got {older_than_days!r}")
    cutoff = format_ts(time.time() - older_than_days * 86400)
    conn = connect(db_path, create=False)
    try:
        through = _checkpoint(conn, cutoff, older_than_days)
        if through is None:
            return 0
        deleted = _delete_through(conn, through)
        log.info("audit purge deleted %d rows older than %s (through row %d)", deleted, cutoff, through)
        return deleted
    finally:
        conn.close()


def _checkpoint(conn: sqlite3.Connection, cutoff: str, older_than_days: float) -> int | None:
    """Append the checkpoint for the rows older than `cutoff`; returns the last id to delete (None: none)."""
    with write_transaction(conn):
        # The first row young enough to keep, found by walking ids from the oldest: the
        # walk costs what is about to be deleted, not the whole log (the unary + keeps
        # SQLite off the ts index, which would visit every young row under the lock).
        young = conn.execute("SELECT id FROM audit WHERE +ts >= ? ORDER BY id LIMIT 1", (cutoff,)).fetchone()
        if young is None:
            last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        else:
            last = conn.execute(
                "SELECT id, hash FROM audit WHERE id < ? ORDER BY id DESC LIMIT 1", (young[0],)
            ).fetchone()
        if last is None:
            return None
        through, through_hash = last
        planned = conn.execute("SELECT count(*) FROM audit WHERE id <= ?", (through,)).fetchone()[0]
        _append(
            conn,
            PURGE_CHECKPOINT,
            {
                "through_id": through,
                "through_hash": through_hash,
                "rows": planned,
                "cutoff": cutoff,
                "older_than_days": older_than_days,
                "by": "chatserver audit purge",
            },
        )
        return int(through)


def _delete_through(conn: sqlite3.Connection, through: int) -> int:
    """Delete rows up to id `through` in chunks of PURGE_CHUNK; returns how many went."""
    deleted = 0
    while True:
        with write_transaction(conn):
            cursor = conn.execute(
                "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE id <= ? ORDER BY id LIMIT ?)",
                (through, PURGE_CHUNK),
            )
            count = cursor.rowcount
        deleted += count
        if count < PURGE_CHUNK:
            return deleted
        time.sleep(0.01)  # let waiting writers take the lock between chunks
