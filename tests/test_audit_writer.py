"""The audit writer's bookkeeping while its thread chains batches: what it says is waiting, and how
long it waits before retrying after a failure."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chatserver import auth
from chatserver.app import chat_state, create_app, lifespan
from chatserver.audit import AuditLog, batch_sql, verify
from chatserver.audit import writer as writer_module
from chatserver.settings import Settings


class HeldCommits:
    """Stands in for the writer thread's commit: commit number `n` (from 1) waits at `gate[n]` when
    one is set up, and fails when `n` is in `fail`; the rest are the writer's own commits."""

    def __init__(self, writer: Any, *, hold: tuple[int, ...] = (), fail: tuple[int, ...] = ()) -> None:
        self.commit = writer._commit_sync
        writer._here.allows = lambda rows: False  # (the writer thread's commits are what is held)
        self.calls = 0
        self.inside = {n: threading.Event() for n in hold}
        self.go_on = {n: threading.Event() for n in hold}
        self.fail = fail
        writer._commit_sync = self

    def __call__(self, rows: list[Any]) -> None:
        self.calls += 1
        n = self.calls
        if n in self.inside:
            self.inside[n].set()
            self.go_on[n].wait(5)
        if n in self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        self.commit(rows)

    async def until_inside(self, n: int) -> None:
        assert await asyncio.to_thread(self.inside[n].wait, 5), f"commit {n} never started"


def append(log: AuditLog, name: str, heard: dict[str, BaseException | None]) -> None:
    def note(error: BaseException | None) -> None:
        heard.setdefault(name, error)

    log.append("join", room="r", actor_session=name, on_commit=note)


async def answered(heard: dict[str, BaseException | None], name: str) -> None:
    """Until `name`'s row has been answered (committed or failed) on the loop."""
    async with asyncio.timeout(5):
        while name not in heard:
            await asyncio.sleep(0.001)


async def test_queue_depth_counts_only_rows_not_yet_committed_while_batches_chain(tmp_path: Path) -> None:
    """While the thread writes a chained batch, the batch before it is already in the file: the
    depth (which refuses senders when it reaches the limit) counts the chained rows and the queue,
    not the committed batch again."""
    async with await AuditLog.open(tmp_path / "chat.db") as log:
        writer = log._writer
        commits = HeldCommits(writer, hold=(1, 2))
        heard: dict[str, BaseException | None] = {}
        append(log, "first", heard)
        await commits.until_inside(1)
        for i in range(3):
            append(log, f"s{i}", heard)
        commits.go_on[1].set()
        await commits.until_inside(2)  # s0..s2 taken by the thread, being written
        await answered(heard, "first")
        append(log, "queued", heard)
        assert writer.queue_depth == 4  # s0, s1, s2 and "queued"; "first" is committed
        commits.go_on[2].set()
        await log.flush()
        assert writer.queue_depth == 0
        assert heard == dict.fromkeys(["first", "s0", "s1", "s2", "queued"])
    assert verify(tmp_path / "chat.db").ok


async def test_a_chain_whose_first_batch_commits_retries_soon_after_its_later_batch_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The retry delay doubles while commits keep failing and starts again from the shortest once one
    commits. A batch that commits and then a chained batch that fails is a commit that worked: the
    retry after it is the shortest again, not the doubled delay of the failure before."""
    caplog.set_level(logging.ERROR, logger=writer_module.__name__)
    async with await AuditLog.open(tmp_path / "chat.db") as log:
        writer = log._writer
        # commit 1 fails ("unlucky"; the delay: the shortest, then doubled); commit 2 ("fine") waits
        # while "doomed" queues; it commits, then commit 3 (the chained "doomed") fails.
        commits = HeldCommits(writer, hold=(2,), fail=(1, 3))
        heard: dict[str, BaseException | None] = {}
        append(log, "unlucky", heard)
        await answered(heard, "unlucky")
        append(log, "fine", heard)
        await commits.until_inside(2)
        append(log, "doomed", heard)
        commits.go_on[2].set()
        await log.flush()
        assert heard["fine"] is None, heard
        assert heard["unlucky"] is not None and heard["doomed"] is not None, heard
        assert commits.calls == 3
        delays = [r.args[-1] for r in caplog.records if "retrying" in r.getMessage()]  # type: ignore[index]
        assert delays == [writer_module._MIN_BACKOFF, writer_module._MIN_BACKOFF], delays


def _in_the_file(path: Path, session: str) -> bool:
    with contextlib.closing(sqlite3.connect(path)) as reader:
        found = reader.execute("SELECT count(*) FROM audit WHERE actor_session = ?", (session,)).fetchone()
    return bool(found[0] == 1)


async def test_a_row_queued_while_the_thread_lingers_is_committed_without_a_turn_of_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a commit the writer thread waits a while for the next row and takes it itself: the row
    reaches the file while the event loop is still busy (blocked here), not at the loop's next turn.
    (It waits so while the loop may not commit the row itself: here.py; a busy loop.)"""
    monkeypatch.setattr(writer_module, "LINGER_S", 60.0)
    path = tmp_path / "chat.db"
    async with await AuditLog.open(path) as log:
        monkeypatch.setattr(log._writer._here, "has_room", lambda: False)
        heard: dict[str, BaseException | None] = {}
        append(log, "first", heard)
        await answered(heard, "first")
        append(log, "second", heard)
        found, deadline = False, time.monotonic() + 5
        while not found and time.monotonic() < deadline:  # the loop stays blocked all along
            found = _in_the_file(path, "second")
        assert found, "the row waited for the event loop"
        await answered(heard, "second")
        assert heard == {"first": None, "second": None}
    assert verify(path).ok


async def test_a_flush_and_a_close_wake_a_lingering_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush's barrier, a question for its connection and a close reach the writer thread while it
    waits for rows: none of them waits out the thread's lingering (a minute here)."""
    monkeypatch.setattr(writer_module, "LINGER_S", 60.0)
    path = tmp_path / "chat.db"
    heard: dict[str, BaseException | None] = {}
    log = await AuditLog.open(path)
    try:
        append(log, "first", heard)
        await answered(heard, "first")
        append(log, "second", heard)
        async with asyncio.timeout(10):
            await log.flush()
        assert heard == {"first": None, "second": None}
        append(log, "last", heard)
        await answered(heard, "last")
        async with asyncio.timeout(10):  # a question for the thread's connection
            assert await log.synchronous() == "FULL"
    finally:
        async with asyncio.timeout(10):
            await log.close()
    assert heard["last"] is None
    assert _in_the_file(path, "last") and verify(path).ok


async def _quiet_rows_taken_after_a_held_commit(
    log: AuditLog, heard: dict[str, BaseException | None]
) -> HeldCommits:
    """Commit 1 held while five rows nobody waits for are queued, then let go: returns once the writer
    thread has taken the five (as under a steady load: they queued while it committed)."""
    writer = log._writer
    held = HeldCommits(writer, hold=(1,))
    append(log, "first", heard)
    await held.until_inside(1)
    for n in range(5):
        log.append("join", room="r", actor_session=f"quiet{n}")
    held.go_on[1].set()
    await answered(heard, "first")
    async with asyncio.timeout(5):
        while writer._pending:
            await asyncio.sleep(0.001)
    return held


async def test_rows_nobody_waits_for_wait_for_company_until_a_row_somebody_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a steady load (a reconnect storm's sign-ins and joins), rows nobody waits for that queued
    during a commit wait for more before the next commit; a row somebody waits for (a message) ends
    the wait at once, and goes in the same commit."""
    monkeypatch.setattr(writer_module, "COMPANY_S", 60.0)
    path = tmp_path / "chat.db"
    heard: dict[str, BaseException | None] = {}
    async with await AuditLog.open(path) as log:
        held = await _quiet_rows_taken_after_a_held_commit(log, heard)
        append(log, "awaited", heard)
        await answered(heard, "awaited")
        assert heard == {"first": None, "awaited": None}
        assert held.calls == 2, "the five rows had a commit of their own"
        assert all(_in_the_file(path, f"quiet{n}") for n in range(5))
    assert verify(path).ok


async def test_a_flush_and_a_close_end_the_wait_for_company(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows waiting for company (a minute here) are committed as soon as a flush asks for them, and
    a close does not wait the minute out either."""
    monkeypatch.setattr(writer_module, "COMPANY_S", 60.0)
    heard: dict[str, BaseException | None] = {}
    flushed = tmp_path / "flushed.db"
    async with await AuditLog.open(flushed) as log:
        held = await _quiet_rows_taken_after_a_held_commit(log, heard)
        async with asyncio.timeout(10):
            await log.flush()
        assert all(_in_the_file(flushed, f"quiet{n}") for n in range(5))
        assert held.calls == 2
    closed = tmp_path / "closed.db"
    log = await AuditLog.open(closed)
    try:
        await _quiet_rows_taken_after_a_held_commit(log, heard)
    finally:
        async with asyncio.timeout(10):
            await log.close()
    assert all(_in_the_file(closed, f"quiet{n}") for n in range(5))
    assert verify(flushed).ok and verify(closed).ok


async def test_api_audit_answers_with_the_rows_still_waiting_for_company(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Joins nobody waits for may wait a moment for company before their commit (a minute here):
    /api/audit has them all the same, because it asks the writer for what is queued first."""
    monkeypatch.setattr(writer_module, "COMPANY_S", 60.0)
    db = tmp_path / "chat.db"
    token = auth.add_host(db, "root", admin=True)
    front = create_app(Settings(db=db))
    app = front
    while not hasattr(app, "routes"):
        app = app.app  # type: ignore[attr-defined]
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=front)) as http:
        await _quiet_rows_taken_after_a_held_commit(chat_state(app).audit, {})
        response = await http.get(
            "http://chat.test/api/audit?kind=join", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    sessions = {orjson.loads(line)["actor"]["session"] for line in response.content.splitlines()}
    assert {f"quiet{n}" for n in range(5)} <= sessions, sessions


async def test_a_person_card_has_the_rows_still_waiting_for_company(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host's person card reads the log too: what the person did before the host asked is on it,
    though it may still be waiting for company (a minute here)."""
    monkeypatch.setattr(writer_module, "COMPANY_S", 60.0)
    async with await AuditLog.open(tmp_path / "chat.db") as log:
        await _quiet_rows_taken_after_a_held_commit(log, {})
        async with asyncio.timeout(10):
            rows = await log.about_person("quiet3")
    assert [row["kind"] for row in rows] == ["join"]


async def test_a_commit_kept_waiting_by_another_writer_is_logged_without_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the write lock past SLOW_COMMIT_S: the commit goes through when it lets
    go, and the log says how long it took (what explains a message refused after its hold lapsed),
    never what the rows say."""
    monkeypatch.setattr(batch_sql, "SLOW_COMMIT_S", 0.2)
    async with await AuditLog.open(tmp_path / "chat.db") as log:
        other = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        heard: list[BaseException | None] = []
        log.append("message", room="r", actor_session="s", text="a private word", on_commit=heard.append)
        await asyncio.sleep(0.4)  # (the lock is held this long on purpose: it is what is measured)
        assert not heard, "committed while another writer held the lock"
        other.execute("COMMIT")
        other.close()
        await log.flush()
        assert heard == [None], "committed once the lock was let go"
    slow = [r.getMessage() for r in caplog.records if "audit commit" in r.getMessage()]
    assert len(slow) == 1 and slow[0].startswith("an audit commit of 1 rows took "), slow
    assert "private" not in caplog.text
