"""The audit log: group commit, callback order, hash chain, export, purge, durability."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import chatserver
from chatserver.audit import AuditLog, export, parse_time, purge, redact_text, transcript, verify
from chatserver.audit import chain as chain_module
from chatserver.audit import store as store_module
from chatserver.audit.records import chain_hash, row_hash
from chatserver.db import begin_immediate, connect, utc_now
from chatserver.errors import BadRequest, ChatError, ConfigError, Unavailable

ROOT = Path(chatserver.__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "chat.db"


@pytest.fixture
async def audit(db: Path):
    log = await AuditLog.open(db)
    try:
        yield log
    finally:
        await log.close()


def rows(db: Path, sql: str = "SELECT id, kind, room, message_id, text, seq FROM audit ORDER BY id", args=()):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def tamper(db: Path, sql: str, args=()) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


async def fill(log: AuditLog, n: int, *, room: str = "r", kind: str = "published") -> None:
    for i in range(n):
        log.append(
            kind, room=room, actor_session=f"s{i}", actor_name="ann", message_id=f"{room}-{i}", text=f"t{i}"
        )
    await log.flush()


def run_script(tmp_path: Path, name: str, body: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / name
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


# ---- writing ------------------------------------------------------------------


async def test_on_commit_runs_in_append_order(audit: AuditLog):
    """Every on_commit is called once, with None, in the order the rows were appended."""
    seen: list[int] = []
    for i in range(700):
        audit.append("join", room="r", on_commit=lambda exc, i=i: seen.append(i if exc is None else -1))
        if i % 97 == 0:
            await asyncio.sleep(0.003)  # spread the rows over several batches
    await audit.flush()
    assert seen == list(range(700))
    assert audit.commits > 1


async def test_row_is_committed_before_its_callback(audit: AuditLog, db: Path):
    """When on_commit runs, another connection already sees the row."""
    visible: list[bool] = []

    def check(exc: BaseException | None) -> None:
        visible.append(exc is None and bool(rows(db, "SELECT 1 FROM audit WHERE message_id = 'm1'")))

    audit.append("published", room="r", message_id="m1", text="hi", on_commit=check)
    await audit.flush()
    assert visible == [True]


async def test_group_commit_puts_many_rows_in_few_transactions(db: Path):
    """5,000 rows appended at once are written in a handful of transactions, not 5,000."""
    async with await AuditLog.open(db, commit_window=0.01, max_batch=2000) as log:
        await fill(log, 5000)
        assert log.rows_written == 5000
        assert log.commits <= 4
        assert log.last_commit_seconds > 0
    assert rows(db, "SELECT count(*) FROM audit") == [(5000,)]


async def test_append_and_wait_returns_after_commit(audit: AuditLog, db: Path):
    """append_and_wait returns once the row is in the file."""
    await audit.append_and_wait("lock", room="r", actor_name="bob", detail={"locked": True})
    assert rows(db, "SELECT kind, detail FROM audit") == [("lock", '{"locked":true}')]


async def test_queue_over_max_queue_raises_unavailable(db: Path):
    """Past max_queue, append raises Unavailable instead of dropping or growing without bound."""
    async with await AuditLog.open(db, max_queue=10) as log:
        for _ in range(10):
            log.append("join", room="r")
        assert log.queue_depth == 10
        with pytest.raises(Unavailable):
            log.append("join", room="r")
        await log.flush()
        assert log.queue_depth == 0
        log.append("join", room="r")  # room again once the disk caught up


async def test_failed_batch_fails_its_callbacks_and_the_writer_recovers(db: Path):
    """A batch that cannot commit fails every callback with Unavailable; later rows commit fine."""
    async with await AuditLog.open(db, busy_timeout=0.05) as log:
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock for too long
        results: list[BaseException | None] = []
        for _ in range(3):
            log.append("join", room="r", on_commit=results.append)
        await log.flush()
        assert len(results) == 3
        assert all(isinstance(r, Unavailable) for r in results)
        assert isinstance(results[0].__cause__, sqlite3.OperationalError)
        assert not await log.ping()  # /readyz reports the database while writes fail
        blocker.execute("ROLLBACK")
        blocker.close()
        await log.append_and_wait("join", room="r")
        assert await log.ping()
    assert rows(db, "SELECT count(*) FROM audit") == [(1,)]
    assert verify(db).ok


async def test_raising_callback_is_logged_and_writer_keeps_going(audit: AuditLog, caplog):
    """A callback that raises does not stop the others or the writer."""
    seen: list[str] = []

    def boom(exc: BaseException | None) -> None:
        raise RuntimeError("callback bug")

    audit.append("join", room="r", on_commit=boom)
    audit.append("join", room="r", on_commit=lambda exc: seen.append("second"))
    await audit.flush()
    await audit.append_and_wait("leave", room="r")
    assert seen == ["second"]
    assert "on_commit callback raised" in caplog.text


async def test_append_rejects_fields_that_cannot_be_stored(audit: AuditLog):
    """A non-str field is a TypeError and invalid Unicode a BadRequest, raised to the caller at once."""
    with pytest.raises(TypeError):
        audit.append("join", room=5)  # type: ignore[arg-type]
    with pytest.raises(BadRequest):
        audit.append("published", room="r", text="bad \ud800 surrogate")
    assert audit.queue_depth == 0


async def test_close_flushes_and_later_appends_are_refused(db: Path):
    """close() commits what is queued; append afterwards raises Unavailable."""
    log = await AuditLog.open(db, commit_window=1.0)
    log.append("join", room="r")
    await log.close()
    assert rows(db, "SELECT count(*) FROM audit") == [(1,)]
    with pytest.raises(Unavailable):
        log.append("join", room="r")
    assert not await log.ping()


async def test_ping_answers_while_open(audit: AuditLog):
    """ping() is True for a working log (the /readyz check)."""
    assert await audit.ping()


async def test_database_file_is_private(db: Path, audit: AuditLog):
    """The database and its -wal/-shm files are created readable by their owner only."""
    await audit.append_and_wait("join", room="r")
    files = sorted(db.parent.glob(db.name + "*"))
    assert db in files and len(files) >= 2  # WAL mode: -wal and -shm exist while open
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_write_lock_held_too_long_is_unavailable(db: Path):
    """A sync writer that cannot get the lock through its retries gets Unavailable, not a raw sqlite error."""
    conn = connect(db, busy_timeout=0.01)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Unavailable, match="locked"):
            begin_immediate(conn)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    begin_immediate(conn)  # free again
    conn.execute("ROLLBACK")
    conn.close()


def test_newer_schema_is_refused(db: Path):
    """A database from a newer chatserver is refused with a message saying so."""
    connect(db).close()
    tamper(db, "UPDATE schema_version SET version = 99")
    with pytest.raises(ConfigError, match="newer chatserver"):
        connect(db)


# ---- the hash chain -----------------------------------------------------------


async def test_chain_verifies_and_links_each_row_to_the_one_before(audit: AuditLog, db: Path):
    """Each row's prev_hash is the previous row's hash, and verify() passes."""
    await fill(audit, 50)
    chain = rows(db, "SELECT id, prev_hash, hash FROM audit ORDER BY id")
    assert chain[0][1] == "0" * 64
    assert all(chain[i][1] == chain[i - 1][2] for i in range(1, len(chain)))
    result = verify(db)
    assert result.ok and result.rows == 50 and result.head_id == 50 and result.head_hash == chain[-1][2]


async def test_verify_reports_an_edited_row(audit: AuditLog, db: Path):
    """Changing a row's text is reported at that row."""
    await fill(audit, 20)
    tamper(db, "UPDATE audit SET text = 'nothing to see' WHERE id = 7")
    result = verify(db)
    assert not result.ok
    assert result.first_bad_id == 7
    assert "altered" in result.problem


async def test_verify_reports_an_edited_detail_or_kind(audit: AuditLog, db: Path):
    """Every hashed field counts: detail and kind edits are caught too."""
    for i in range(5):
        audit.append("held", room="r", message_id=f"m{i}", detail={"reasons": ["crisis"]})
    await audit.flush()
    tamper(db, "UPDATE audit SET detail = '{\"reasons\":[]}' WHERE id = 2")
    assert verify(db).first_bad_id == 2
    tamper(db, 'UPDATE audit SET detail = \'{"reasons":["crisis"]}\' WHERE id = 2')
    assert verify(db).ok
    tamper(db, "UPDATE audit SET kind = 'published' WHERE id = 4")
    assert verify(db).first_bad_id == 4


async def test_verify_reports_a_deleted_row(audit: AuditLog, db: Path):
    """Removing a row in the middle is reported at the row after the gap."""
    await fill(audit, 20)
    tamper(db, "DELETE FROM audit WHERE id = 9")
    result = verify(db)
    assert not result.ok
    assert result.first_bad_id == 10
    assert "row 9 missing" in result.problem


async def test_verify_reports_reordered_rows(audit: AuditLog, db: Path):
    """Swapping two rows (ids exchanged) is caught at the first of them."""
    await fill(audit, 10)
    tamper(db, "UPDATE audit SET id = -4 WHERE id = 4")
    tamper(db, "UPDATE audit SET id = 4 WHERE id = 5")
    tamper(db, "UPDATE audit SET id = 5 WHERE id = -4")
    result = verify(db)
    assert not result.ok and result.first_bad_id == 4


async def test_verify_reports_an_edit_whose_hash_was_recomputed(audit: AuditLog, db: Path):
    """Re-hashing an edited row breaks the link to the next row, which is reported."""
    await fill(audit, 10)
    tamper(db, "UPDATE audit SET text = 'edited' WHERE id = 5")
    (row,) = rows(db, "SELECT * FROM audit WHERE id = 5")
    tamper(db, "UPDATE audit SET hash = ? WHERE id = 5", (row_hash(row),))
    result = verify(db)
    assert not result.ok and result.first_bad_id == 6
    assert "does not follow row 5" in result.problem


async def test_verify_reports_a_removed_prefix(audit: AuditLog, db: Path):
    """Deleting the oldest rows without a purge checkpoint is reported."""
    await fill(audit, 10)
    tamper(db, "DELETE FROM audit WHERE id <= 3")
    result = verify(db)
    assert not result.ok and result.first_bad_id == 4
    assert "no purge checkpoint" in result.problem


async def test_documented_recipe_recomputes_every_hash(audit: AuditLog, db: Path):
    """The stdlib-json recipe in docs/audit.md reproduces the stored hashes, odd characters included."""
    odd = 'é 😀 \u2028 \x7f \x00 \x1f \\ " </script>'
    audit.append(
        "published", room="r", actor_name=odd, text=odd, detail={"z": odd, "a": [1, 2.5, None, True]}
    )
    audit.append("join", room=None, detail={})
    await audit.flush()
    prev = None
    select = (
        "SELECT prev_hash, id, ts, room, kind, actor_session, actor_name, subject, message_id, text, detail,"
        " hash FROM audit ORDER BY id"
    )
    for *fields, stored in rows(db, select):
        encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        assert hashlib.sha256(b"chatserver-audit-v1\n" + encoded).hexdigest() == stored
        assert prev is None or fields[0] == prev
        prev = stored
    assert rows(db, "SELECT text FROM audit WHERE id = 1") == [(odd,)]


def test_hash_covers_id_and_prev_hash():
    """The same content under another id or predecessor hashes differently."""
    body = b"1:x,"
    assert chain_hash("0" * 64, 1, body) != chain_hash("0" * 64, 2, body)
    assert chain_hash("0" * 64, 1, body) != chain_hash("1" * 64, 1, body)


# ---- several processes, crashes ------------------------------------------------

APPENDER = """
    import asyncio, sys, time
    from chatserver.audit import AuditLog

    async def main(path, name, seconds):
        log = await AuditLog.open(path, commit_window=0.001)
        ok, failed = 0, []

        def done(exc):
            nonlocal ok
            if exc is None:
                ok += 1
            else:
                failed.append(repr(exc.__cause__ or exc))

        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            for _ in range(20):
                log.append("published", room=name, message_id=f"{name}-{i}", text="x" * 40, on_commit=done)
                i += 1
            await asyncio.sleep(0.002)
        await log.close()
        print(ok, len(failed), failed[:3])

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


async def test_two_processes_append_to_one_file(tmp_path: Path, db: Path):
    """Two processes appending at once for seconds: nothing fails, nothing is lost, one valid chain."""
    connect(db).close()
    procs = [run_script(tmp_path, "append.py", APPENDER, str(db), name, "3") for name in ("a", "b")]
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    counts = {}
    for name, (out, _) in zip(("a", "b"), outputs, strict=True):
        ok, failed, _errors = out.split(" ", 2)
        assert failed == "0", out
        counts[name] = int(ok)
        assert rows(db, "SELECT count(*) FROM audit WHERE room = ?", (name,)) == [(int(ok),)]
    assert min(counts.values()) > 100
    result = verify(db)
    assert result.ok, result.describe()
    assert result.rows == sum(counts.values())
    # the two writers really interleaved in the file
    rooms = [r for (r,) in rows(db, "SELECT room FROM audit ORDER BY id")]
    assert sum(1 for x, y in zip(rooms, rooms[1:], strict=False) if x != y) > 2


CRASHER = """
    import asyncio, sys
    from chatserver.audit import AuditLog

    async def main(path):
        log = await AuditLog.open(path, commit_window=0.001)

        def confirmed(message_id):
            def done(exc):
                if exc is None:
                    sys.stdout.write(message_id + "\\n")
                    sys.stdout.flush()
            return done

        i = 0
        while True:
            for _ in range(10):
                mid = f"m{i}"
                log.append("published", room="r", message_id=mid, text="hello", on_commit=confirmed(mid))
                i += 1
            await asyncio.sleep(0.001)

    asyncio.run(main(sys.argv[1]))
"""


async def test_sigkill_loses_no_confirmed_row(tmp_path: Path, db: Path):
    """Every row whose on_commit ran before SIGKILL is in the file afterwards, and the chain verifies."""
    proc = run_script(tmp_path, "crash.py", CRASHER, str(db))
    confirmed: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while len(confirmed) < 2000 and time.monotonic() < deadline:
        line = await asyncio.to_thread(proc.stdout.readline)
        if not line:
            break
        confirmed.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    rest, err = await asyncio.to_thread(proc.communicate, timeout=30)
    confirmed += [line for line in rest.splitlines() if line]
    assert proc.returncode == -signal.SIGKILL
    assert len(confirmed) >= 2000, err
    stored = {m for (m,) in rows(db, "SELECT message_id FROM audit")}
    missing = [m for m in confirmed if m not in stored]
    assert not missing, f"{len(missing)} confirmed rows lost, e.g. {missing[:5]}"
    assert verify(db).ok


# ---- history reads --------------------------------------------------------------


async def test_message_rows_carry_their_seq_and_feed_history_and_room_max_seqs(audit: AuditLog, db: Path):
    """A message row is written once, with its seq; history gives visible messages by seq; max per room."""
    for i in range(1, 6):
        audit.append(
            "published",
            room="a",
            actor_session=f"s{i}",
            actor_name="ann",
            message_id=f"m{i}",
            text=f"text {i}",
            detail={"role": "participant", **({"cw": "self-harm"} if i == 2 else {})},
            seq=i,
        )
    audit.append("held", room="a", actor_session="s9", actor_name="zed", message_id="h1", text="held text")
    audit.append("published", room="b", message_id="b1", text="other room", detail={"role": "host"}, seq=1)
    await audit.flush()
    assert await audit.seq_of("a", "m3") == 3
    audit.append(
        "released",
        room="a",
        actor_session="host-s",
        actor_name="bob",
        message_id="h1",
        text="held text",
        detail={"role": "participant", "by": "bob"},
        seq=6,
    )
    audit.append("published", room="a", message_id="lost", text="never shown", seq=7)
    audit.append("publish_failed", room="a", message_id="lost")
    audit.append("deleted", room="a", actor_name="bob", message_id="m4")
    await audit.flush()

    assert rows(db, "SELECT kind, seq FROM audit WHERE message_id = 'h1' ORDER BY id") == [
        ("held", None),
        ("released", 6),
    ]
    # 7 is held by a row never shown: numbering must not take it again
    assert await audit.room_max_seqs() == {"a": 7, "b": 1}
    recent = await audit.recent_messages("a", 3)
    assert [m["id"] for m in recent] == ["m3", "m5", "h1"]  # m4 was deleted
    assert recent[-1]["from"] == {"name": "zed", "session": "s9", "role": "participant"}
    assert recent[0] == {
        "id": "m3",
        "seq": 3,
        "room": "a",
        "text": "text 3",
        "ts": recent[0]["ts"],
        "from": {"name": "ann", "session": "s3", "role": "participant"},
    }
    after = await audit.messages_after("a", 1, 10)
    assert [(m["id"], m["seq"]) for m in after] == [("m2", 2), ("m3", 3), ("m5", 5), ("h1", 6)]
    assert after[0]["cw"] == "self-harm"
    assert await audit.seq_of("a", "m1") == 1
    assert await audit.seq_of("b", "m1") is None  # another room's message: no place in b's numbering
    assert await audit.seq_of("a", "nope") is None
    assert [m["id"] for m in transcript(db, "a")] == ["m1", "m2", "m3", "m5", "h1"]
    assert verify(db).ok  # seq is outside the hash


# ---- export -------------------------------------------------------------------


async def test_export_filters_by_room_kind_and_time(audit: AuditLog, db: Path):
    """--room, --kind (comma list) and --since/--until select the right rows, in id order."""
    audit.append("join", room="a", actor_session="s1", actor_name="ann")
    audit.append("published", room="a", actor_session="s1", actor_name="ann", message_id="m1", text="hi")
    audit.append("join", room="b", actor_session="s2", actor_name="bo")
    await audit.flush()
    await asyncio.sleep(0.02)
    mark = utc_now()
    await asyncio.sleep(0.02)
    audit.append("leave", room="a", actor_session="s1", actor_name="ann")
    audit.append("muted", room="b", actor_name="bob", subject="s2", detail={"minutes": 5})
    await audit.flush()

    def run(**kw) -> list[dict]:
        out = io.StringIO()
        n = export(db, out, **kw)
        parsed = [json.loads(line) for line in out.getvalue().splitlines()]
        assert n == len(parsed)
        return parsed

    everything = run()
    assert [r["id"] for r in everything] == [1, 2, 3, 4, 5]
    assert set(everything[0]) >= {
        "id",
        "ts",
        "room",
        "kind",
        "actor",
        "subject",
        "message_id",
        "text",
        "detail",
    }
    assert everything[0]["actor"] == {"session": "s1", "name": "ann"}
    assert everything[4]["detail"] == {"minutes": 5}
    assert [r["kind"] for r in run(room="a")] == ["join", "published", "leave"]
    assert [r["id"] for r in run(kind="join")] == [1, 3]
    assert [r["id"] for r in run(kind="join, muted")] == [1, 3, 5]
    assert [r["id"] for r in run(since=mark)] == [4, 5]
    assert [r["id"] for r in run(until=mark)] == [1, 2, 3]
    assert [r["id"] for r in run(room="b", since=mark, kind="muted")] == [5]
    assert run(since="2000-01-01", until="2000-01-02") == []


async def test_export_csv_flat_columns(audit: AuditLog, db: Path):
    """CSV has one flat column per field, detail as JSON text, and defuses spreadsheet formulas."""
    audit.append(
        "published", room="a", actor_name="ann", message_id="m1", text="=HYPERLINK(1)", detail={"k": 1}
    )
    await audit.flush()
    out = io.StringIO()
    assert export(db, out, fmt="csv") == 1
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["room"] == "a" and row["actor_name"] == "ann" and row["message_id"] == "m1"
    assert json.loads(row["detail"]) == {"k": 1}
    assert row["text"] == "'=HYPERLINK(1)"
    assert len(row["hash"]) == 64


def test_export_rejects_bad_arguments(db: Path):
    """Bad --since, --format, --kind values and a missing database are ChatErrors that say what is wrong."""
    with pytest.raises(ChatError, match="no database"):
        export(db, io.StringIO())
    db.write_bytes(b"this is not a database file, just some text" * 100)
    with pytest.raises(ChatError, match="cannot use"):
        verify(db)
    db.unlink()
    connect(db).close()
    with pytest.raises(ChatError, match="--since: expected an ISO-8601"):
        export(db, io.StringIO(), since="last tuesday")
    with pytest.raises(ChatError, match="--format"):
        export(db, io.StringIO(), fmt="xml")
    with pytest.raises(ChatError, match="--kind"):
        export(db, io.StringIO(), kind=" , ")
    with pytest.raises(ChatError, match="after --until"):
        export(db, io.StringIO(), since="2026-02-01", until="2026-01-01")


def test_parse_time_accepts_common_iso_forms():
    """Dates, minutes, Z and offsets all become UTC timestamps in the log's format."""
    assert parse_time("2026-11-27") == "2026-11-27T00:00:00.000Z"
    assert parse_time("2026-11-27T10:00") == "2026-11-27T10:00:00.000Z"
    assert parse_time("2026-11-27T10:00Z") == "2026-11-27T10:00:00.000Z"
    assert parse_time("2026-11-27 10:00:05.250") == "2026-11-27T10:00:05.250Z"
    assert parse_time("2026-11-27T12:00+02:00") == "2026-11-27T10:00:00.000Z"


async def test_export_redact_masks_emails_and_phones(audit: AuditLog, db: Path):
    """--redact masks e-mail addresses and phone numbers in text and detail, and leaves the rest."""
    audit.append(
        "published",
        room="a",
        actor_name="ann",
        message_id="m-20261127",
        text="mail me at ann.lee+x@example.co.uk or call +44 20 7946 0958, (555) 123-4567 on 2026-11-27",
        detail={"action": "redacted", "original": "ring 0612345678", "nested": [{"e": "bob@example.org"}]},
    )
    await audit.flush()
    out = io.StringIO()
    export(db, out, redact=True)
    row = json.loads(out.getvalue())
    assert "example" not in row["text"] and "7946" not in row["text"] and "4567" not in row["text"]
    assert row["text"].count("[email]") == 1 and row["text"].count("[phone]") == 2
    assert row["text"].endswith("on 2026-11-27")
    assert row["detail"] == {"action": "redacted", "original": "ring [phone]", "nested": [{"e": "[email]"}]}
    assert row["message_id"] == "m-20261127"
    assert redact_text("the line is 112 / 911 / 999") == "the line is 112 / 911 / 999"


# ---- purge --------------------------------------------------------------------


async def old_and_new_rows(db: Path, monkeypatch, old: int, new: int) -> None:
    """Write `old` rows stamped in 2020, then `new` rows stamped now."""
    async with await AuditLog.open(db) as log:
        monkeypatch.setattr(store_module, "utc_now", lambda: "2020-01-01T00:00:00.000Z")
        await fill(log, old, room="old")
        monkeypatch.undo()
        await fill(log, new, room="new")


async def test_purge_deletes_old_rows_and_verify_still_passes(db: Path, monkeypatch):
    """purge removes rows older than N days, says how many, and the chain still verifies."""
    await old_and_new_rows(db, monkeypatch, 120, 30)
    assert purge(db, 30) == 120
    result = verify(db)
    assert result.ok, result.describe()
    remaining = rows(db, "SELECT kind, room FROM audit ORDER BY id")
    assert remaining[:-1] == [("published", "new")] * 30
    assert remaining[-1] == ("purge_checkpoint", None)
    assert purge(db, 30) == 0
    # the log keeps growing and verifying after a purge
    async with await AuditLog.open(db) as log:
        await fill(log, 5, room="later")
    assert verify(db).ok
    assert purge(db, 0) == 36
    assert verify(db).ok


async def test_interrupted_purge_leaves_a_verifiable_log(db: Path, monkeypatch):
    """A purge that dies between chunks leaves a log that verifies; the next purge finishes."""
    await old_and_new_rows(db, monkeypatch, 50, 5)
    monkeypatch.setattr(chain_module, "PURGE_CHUNK", 20)

    def die(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(chain_module.time, "sleep", die)
    with pytest.raises(KeyboardInterrupt):
        purge(db, 30)
    monkeypatch.undo()
    assert rows(db, "SELECT count(*) FROM audit WHERE room = 'old'") == [(30,)]
    assert verify(db).ok
    assert purge(db, 30) == 30
    assert verify(db).ok


def test_purge_rejects_negative_days(db: Path):
    """A negative retention is a ChatError, and deletes nothing."""
    connect(db).close()
    with pytest.raises(ChatError, match="--older-than"):
        purge(db, -1)


async def test_rows_that_come_while_a_commit_is_out_share_the_next_one(db: Path):
    """The writer waits for nobody by default (a lone row goes at once), so under load it is the
    commit in flight that gathers the next batch: one row, then 300 while it is out, make two
    transactions, not 301."""
    async with await AuditLog.open(db) as log:
        log.append("join", room="r", actor_session="first")
        while log.commits == 0 and not log._writer._in_flight:  # until it is taken and being written
            await asyncio.sleep(0)
        for i in range(300):
            log.append("join", room="r", actor_session=f"s{i}")
        await log.flush()
        assert log.rows_written == 301 and log.commits == 2


def hold_the_first_commit(writer: Any) -> tuple[threading.Event, threading.Event, Any]:
    """Make the writer thread's next commit (and the first after `inside` is cleared again) wait: it
    sets `inside` and goes on when `go_on` is set. Returns them and the writer's own commit."""
    inside, go_on = threading.Event(), threading.Event()
    commit = writer._commit_sync
    writer._here.allows = lambda rows: False  # (these tests are about the writer thread's commits)

    def first_waits(rows: list) -> None:
        if not inside.is_set():
            inside.set()
            go_on.wait(5)
        commit(rows)

    writer._commit_sync = first_waits
    return inside, go_on, commit


async def test_rows_queued_during_a_commit_are_written_without_waiting_for_the_event_loop(db: Path):
    """The writer thread takes the rows queued while it commits and writes them straight after, even
    while the event loop is busy (it used to hand over each batch, waiting for the loop each time);
    each batch is confirmed on the loop, in order, and a later one's failure fails its rows only."""
    async with await AuditLog.open(db) as log:
        writer = log._writer
        inside, go_on, commit = hold_the_first_commit(writer)
        first_waits = writer._commit_sync
        confirmed: list[str] = []
        log.append("join", room="r", actor_session="first", on_commit=lambda e: confirmed.append("first"))
        await asyncio.to_thread(inside.wait, 5)  # the first commit is under way
        for i in range(3):
            log.append(
                "join", room="r", actor_session=f"s{i}", on_commit=lambda e, i=i: confirmed.append(f"s{i}")
            )
        go_on.set()
        deadline = time.monotonic() + 5
        while writer.rows_written < 4 and time.monotonic() < deadline:
            time.sleep(0.001)  # the event loop is busy (blocked here) all along
        assert writer.rows_written == 4 and writer.commits == 2
        await log.flush()
        assert confirmed == ["first", "s0", "s1", "s2"]

        def later_fails(rows: list) -> None:
            if any(r.fields[3] == "doomed" for r in rows):
                raise sqlite3.OperationalError("disk I/O error")
            first_waits(rows)

        inside.clear()
        go_on.clear()
        writer._commit_sync = later_fails  # type: ignore[method-assign]
        results: dict[str, BaseException | None] = {}
        log.append("join", room="r", actor_session="fine", on_commit=lambda e: results.setdefault("fine", e))
        await asyncio.to_thread(inside.wait, 5)
        log.append(
            "join", room="r", actor_session="doomed", on_commit=lambda e: results.setdefault("doomed", e)
        )
        go_on.set()
        await log.flush()
        assert results["fine"] is None and isinstance(results["doomed"], Unavailable), results
        writer._commit_sync = commit  # type: ignore[method-assign]
        await log.append_and_wait("join", room="r")
    assert rows(db, "SELECT actor_session FROM audit ORDER BY id") == [
        ("first",),
        ("s0",),
        ("s1",),
        ("s2",),
        ("fine",),
        (None,),
    ]
    assert verify(db).ok


async def test_a_writer_stopped_while_its_thread_writes_answers_every_row_once(db: Path):
    """Cancelled while its thread is still writing (a shutdown that would not wait): the batch being
    written is failed at once and its late confirmation dropped, the thread takes nothing more, and
    close() fails what is still queued: every caller hears exactly one answer."""
    log = await AuditLog.open(db)
    writer = log._writer
    inside, go_on, _ = hold_the_first_commit(writer)
    answers: dict[str, list[BaseException | None]] = {}

    def append(name: str) -> None:
        log.append(
            "join", room="r", actor_session=name, on_commit=lambda e: answers.setdefault(name, []).append(e)
        )

    append("a")
    await asyncio.to_thread(inside.wait, 5)  # "a" is being written
    append("b")
    append("c")
    writer._task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer._task
    go_on.set()  # the thread finishes "a" after its caller was told
    await log.close()
    assert sorted(answers) == ["a", "b", "c"]
    assert all(len(said) == 1 and isinstance(said[0], Unavailable) for said in answers.values()), answers
    assert rows(db, "SELECT actor_session FROM audit") == [("a",)]  # written, though its caller heard no


async def test_a_writer_that_knows_where_the_log_ends_commits_in_one_statement(db: Path):
    """After its own commit the writer knows the log's last row: the next batch is one statement
    that checks that row is still last (each statement makes the writer thread wait for the GIL
    again). When another process has appended meanwhile, it reads the end under the write lock
    instead, and the chain stays whole."""
    async with await AuditLog.open(db) as log, await AuditLog.open(db) as other:
        await fill(log, 2)
        statements: list[str] = []
        log._writer._here.allows = lambda rows: False  # (the writer thread's statements)
        log._writer._db.set_trace_callback(statements.append)
        commits = log.commits
        await fill(log, 3)
        assert len(statements) == log.commits - commits
        assert all(s.startswith("INSERT INTO audit") and "ORDER BY id DESC LIMIT 1" in s for s in statements)

        await fill(other, 1, room="elsewhere")
        statements.clear()
        await fill(log, 1)
        assert [s.split()[0] for s in statements] == ["INSERT", "BEGIN", "SELECT", "INSERT", "COMMIT"]
        statements.clear()
        await fill(log, 1)  # and knows the end again
        assert len(statements) == 1
    result = verify(db)
    assert result.ok and result.rows == 8, result.describe()


async def test_the_writer_thread_gets_the_gil_back_within_a_millisecond(db: Path):
    """The writer thread needs the GIL back after each SQLite step: a worker with an audit log lowers
    the interpreter's switch interval from CPython's 5 ms to 1 ms, and never raises a lower one."""
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        async with await AuditLog.open(db):
            assert sys.getswitchinterval() == pytest.approx(0.001)
        sys.setswitchinterval(0.0002)
        async with await AuditLog.open(db):
            assert sys.getswitchinterval() == pytest.approx(0.0002)
    finally:
        sys.setswitchinterval(before)
