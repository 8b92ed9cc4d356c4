"""The SQL under the audit writer (audit/batch_sql.py, db.py): few statements for every batch size,
padding that never reaches the table, NULLs bound cheaply, and the clock the rows carry."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from chatserver import db as db_module
from chatserver.audit import batch_sql, verify
from chatserver.audit.batch_sql import Row
from chatserver.audit.records import canonical_body, encode_detail
from chatserver.db import connect


def row(i: int) -> Row:
    """A row as `AuditLog.append` makes it; every other one has NULLs where a join's row has them."""
    message = i % 2 == 0
    fields = (
        "2026-12-07T22:00:00.000Z",
        "r",
        "published" if message else "joined",
        f"s{i}",
        "ann",
        None,
        f"m{i}" if message else None,
        f"t{i}" if message else None,
        encode_detail({"i": i}),
        i if message else None,
    )
    return Row(fields, canonical_body(*fields[:9]), None)


class Recording:
    """The writer's connection, recording the text of every statement it is given."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.texts: list[str] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.texts.append(sql)
        return self.db.execute(sql, *args)

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction


def test_batches_of_every_size_share_a_few_prepared_statements(tmp_path: Path) -> None:
    """SQLite parses a statement it has not prepared before: one text per batch size was parsed
    again for nearly every batch (more work than inserting the rows), and sqlite3's cache kept up to
    128 of them. Sizes go up by ~1.4 times, and the rows that pad a batch to its size are left out."""
    path = tmp_path / "chat.db"
    conn = connect(path)
    recording = Recording(conn)
    tail, written = None, 0
    for size in range(1, 121):
        tail = batch_sql.write_rows(recording, [row(written + i) for i in range(size)], tail, 2000)  # type: ignore[arg-type]
        written += size
    conn.close()

    inserts = {text for text in recording.texts if text.startswith("INSERT")}
    assert len(inserts) <= 16, len(inserts)  # (1, 2, 3, 4, 5, 7, 9, 12, 16, 22, 30, 42, 58, 81, 113, 158)
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT count(*), min(id), max(id) FROM audit").fetchone() == (
            written,
            1,
            written,
        )
        assert check.execute("SELECT count(*) FROM audit WHERE ts IS NULL OR hash IS NULL").fetchone() == (0,)
        stored = check.execute("SELECT subject, message_id, seq FROM audit WHERE id = 2").fetchone()
    finally:
        check.close()
    assert stored == (None, None, None)  # (row 1, a join's: its NULLs stay NULL)
    result = verify(path)
    assert result.ok and result.rows == written, result.describe()


def test_none_is_bound_through_a_registered_adapter() -> None:
    """Without one, sqlite3 builds and drops two AttributeErrors for every None it binds (~1 µs
    with the GIL held, several times an audit row); the value stored is still NULL."""
    assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
    conn = sqlite3.connect(":memory:")
    try:
        assert conn.execute("SELECT typeof(?), ? IS NULL", (None, None)).fetchone() == ("null", 1)
    finally:
        conn.close()


def test_the_clock_says_the_millisecond_it_was_read_in() -> None:
    """utc_now keeps the text of the current second and of the current millisecond: each reading is
    still the time it was read at, across millisecond boundaries and a second's."""
    first_second = time.time_ns() // 1_000_000_000
    while True:
        before = time.time_ns() // 1_000_000
        text = db_module.utc_now()
        after = time.time_ns() // 1_000_000
        assert text in {db_module.format_ts(ms / 1000) for ms in range(before, after + 1)}, text
        if before // 1000 > first_second + 1:
            break
