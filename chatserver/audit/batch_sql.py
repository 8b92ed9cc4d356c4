"""The SQL of an audit batch: rows chained after the log's end and inserted in as few statements as
SQLite allows (the writer thread runs it; writer.py is the queue and the thread around it)."""

from __future__ import annotations

import bisect
import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from chatserver.audit.records import GENESIS, chain_hash
from chatserver.db import is_busy, write_transaction

log = logging.getLogger(__name__)

OnCommit = Callable[[BaseException | None], None]

#: A commit slower than this is logged: messages wait on it (past the broker's hold, they fail).
SLOW_COMMIT_S = 1.0

_INSERT_HEAD = (
    "INSERT INTO audit (id, ts, room, kind, actor_session, actor_name, subject, message_id, text, detail,"
    " seq, prev_hash, hash) VALUES "
)
_COLUMNS_PER_ROW = 13


def _chained(rows: list[Row], row_id: int, prev: str) -> tuple[list[Any], tuple[int, str]]:
    """The INSERT parameters of `rows` chained after row `row_id` (hash `prev`), and the new end."""
    params: list[Any] = []
    for r in rows:
        row_id += 1
        digest = chain_hash(prev, row_id, r.body)
        params += (row_id, *r.fields, prev, digest)
        prev = digest
    return params, (row_id, prev)


def _max_variables() -> int:
    conn = sqlite3.connect(":memory:")
    try:
        return conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        conn.close()


def _statement_sizes(most: int) -> tuple[int, ...]:
    """Row counts from 1 to `most`, each about 1.4 times the one before."""
    sizes, size = [], 1
    while size < most:
        sizes.append(size)
        size = max(size + 1, size * 7 // 5)
    return (*sizes, most)


# As many rows per INSERT statement as this SQLite allows (2,520 with the 32,766 variables of
# SQLite 3.32 and later, 76 before, more in builds that raise the limit; the tail check takes two
# variables): the sqlite3 module takes the GIL back after every statement it steps, and while the
# event loop is busy each of those handoffs can wait out the switch interval (gil.GIL_SWITCH_S).
_ROWS_PER_INSERT = max(1, (_max_variables() - 2) // _COLUMNS_PER_ROW)
# A batch goes in the smallest of these statements that holds it, padded with rows of NULLs the
# statement leaves out. A statement for every row count was parsed afresh for nearly every batch
# (~10 µs a row, more than inserting it, at 2,000 rows of 13 parameters), and sqlite3's statement
# cache kept up to 128 of them (180 MB); the 24 up to 2,000 rows stay prepared (~19 MB).
_SIZES = _statement_sizes(_ROWS_PER_INSERT)


def _values(rows: int) -> str:
    return ", ".join(["(" + ", ".join(["?"] * _COLUMNS_PER_ROW) + ")"] * rows)


@functools.cache
def _insert_sql(rows: int, after_tail: bool) -> str:
    """One statement that inserts up to `rows` rows, leaving out padding (rows whose id is NULL).
    `after_tail`: only if the log still ends at the row they were chained to (its id and hash are
    the last two parameters); autocommit makes it a transaction of its own."""
    keep = "column1 IS NOT NULL"
    if after_tail:
        keep += " AND (SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1) IS (?, ?)"
    return _INSERT_HEAD.replace(" VALUES ", " SELECT * FROM (VALUES ") + _values(rows) + ") WHERE " + keep


def _statement(params: list[Any], after_tail: bool) -> tuple[str, list[Any]]:
    """The statement for `params` (at most _ROWS_PER_INSERT rows: the smallest size that holds them)
    and `params` padded to its size."""
    rows = len(params) // _COLUMNS_PER_ROW
    size = _SIZES[bisect.bisect_left(_SIZES, rows)]
    if size > rows:
        params += [None] * ((size - rows) * _COLUMNS_PER_ROW)
    return _insert_sql(size, after_tail), params


class Row(NamedTuple):
    """One audit row, encoded and ready to chain."""

    # (ts, room, kind, actor_session, actor_name, subject, message_id, text, detail, seq):
    # the INSERT's columns between id and prev_hash, in order.
    fields: tuple[Any, ...]
    body: bytes
    on_commit: OnCommit | None


def write_rows(
    db: sqlite3.Connection, rows: list[Row], tail: tuple[int, str] | None, max_batch: int
) -> tuple[int, str]:
    """Append `rows` to the chain in one transaction; returns the log's new end (id, hash). A slow
    commit is logged: an operator reading why messages failed wants to know the disk stalled."""
    started = time.monotonic()
    end = _append(db, rows, tail, max_batch)
    took = time.monotonic() - started
    if took > SLOW_COMMIT_S:
        log.warning(
            "an audit commit of %d rows took %.1f s (a slow disk, or another writer)", len(rows), took
        )
    return end


def append_now(
    db: sqlite3.Connection, rows: list[Row], tail: tuple[int, str], busy_timeout_ms: int
) -> tuple[int, str] | None:
    """The one-statement append of `_append`, made only if it can go at once (for the event loop,
    which must not wait for a lock): the log's new end, or None when another connection holds the
    write lock or the log no longer ends at `tail` (then nothing was written)."""
    if db.in_transaction or len(rows) > _ROWS_PER_INSERT:
        return None
    db.execute("PRAGMA busy_timeout = 0")
    try:
        return _append_after(db, rows, tail)
    finally:
        db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")


def _append_after(db: sqlite3.Connection, rows: list[Row], tail: tuple[int, str]) -> tuple[int, str] | None:
    """The one statement that appends `rows` if the log still ends at `tail`: the new end, or None
    (nothing written) when it does not, or another process holds the write lock."""
    params, end = _chained(rows, *tail)
    sql, params = _statement(params, after_tail=True)
    params += tail  # the end the statement checks, after the rows
    try:
        appended = db.execute(sql, params).rowcount
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise
        return None
    return end if appended else None  # (all of them or none: the condition is the same for every row)


def _append(
    db: sqlite3.Connection, rows: list[Row], tail: tuple[int, str] | None, max_batch: int
) -> tuple[int, str]:
    """`write_rows` without the clock.

    `tail` is where this connection's last commit left the log's end (None: not known). Then the
    batch goes in ONE statement that checks the end is still there: every statement the writer
    thread runs hands the GIL back and waits to take it again from a busy event loop (at 1,000
    messages a second, the four statements of the long way took 0.3 to 0.9 ms against this disk's
    0.2 ms fsync; one takes 0.3). Another process's append (or a purge, or anything unexpected)
    sends it the long way, which reads the end under the write lock.
    """
    if db.in_transaction:  # a failed ROLLBACK must not wedge every later batch
        db.execute("ROLLBACK")
    if tail is not None and len(rows) <= _ROWS_PER_INSERT:
        end = _append_after(db, rows, tail)
        if end is not None:
            return end  # (else the long way, which waits for another process's lock)
    with write_transaction(db):
        # Read the chain's tail under the write lock: another process may have appended.
        last = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        params, end = _chained(rows, *((last[0], last[1]) if last else (0, GENESIS)))
        step = min(_ROWS_PER_INSERT, max_batch) * _COLUMNS_PER_ROW
        for start in range(0, len(params), step):
            db.execute(*_statement(params[start : start + step], after_tail=False))
    return end
