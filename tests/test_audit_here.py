"""A small batch somebody waits for is committed on the event loop's own thread at a light load
(audit/here.py): when it may be, and that it never waits there for another writer's lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from chatserver.audit import AuditLog, verify
from chatserver.audit import here as here_module
from chatserver.audit.batch_sql import Row
from chatserver.audit.here import CommitHere


class Threads:
    """Which thread ran each INSERT on the writer's connection (SQLite calls its trace callback on
    the thread that runs the statement)."""

    def __init__(self, log: AuditLog) -> None:
        self.inserts: list[int] = []
        self.started = threading.Event()
        log._writer._db.set_trace_callback(self._saw)

    def _saw(self, statement: str) -> None:
        if statement.startswith("INSERT"):
            self.inserts.append(threading.get_ident())
            self.started.set()


async def answer_of(log: AuditLog, **fields: str) -> BaseException | None:
    """Append a row somebody waits for and wait for its answer."""
    heard: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    log.append("message", room="r", on_commit=heard.set_result, **fields)
    return await asyncio.wait_for(heard, 10)


async def test_a_lone_row_somebody_waits_for_is_committed_on_the_loop_and_others_on_the_thread(
    tmp_path: Path,
) -> None:
    loop_thread = threading.get_ident()
    async with await AuditLog.open(tmp_path / "a.db") as log:
        await log.append_and_wait("join", room="r")  # the first commit learns where the log ends
        await log.flush()  # (and ends the writer thread's wait for more rows)
        seen = Threads(log)
        assert await answer_of(log, actor_session="one") is None
        assert seen.inserts == [loop_thread]

        await log.flush()
        seen.inserts.clear()
        log.append("join", room="r", actor_session="nobody waits")
        await log.flush()
        assert seen.inserts and loop_thread not in seen.inserts  # rows nobody waits for: the thread's

        await log.flush()
        seen.inserts.clear()
        heard: list[BaseException | None] = []
        for i in range(here_module.MAX_ROWS + 1):  # queued in one turn: one batch, too big for here
            log.append("message", room="r", actor_session=f"s{i}", on_commit=heard.append)
        await log.flush()
        assert heard == [None] * (here_module.MAX_ROWS + 1)
        assert seen.inserts and loop_thread not in seen.inserts
    assert verify(tmp_path / "a.db").ok


async def test_a_commit_on_the_loop_never_waits_for_another_writers_lock(tmp_path: Path) -> None:
    """Another process holds the write lock: the loop's attempt gives up at once (it must not stall
    every connection for the busy timeout) and the writer thread waits for the lock instead."""
    db = tmp_path / "a.db"
    loop_thread = threading.get_ident()
    async with await AuditLog.open(db, busy_timeout=20.0) as log:
        await log.append_and_wait("join", room="r")
        await log.flush()
        seen = Threads(log)
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        heard: list[BaseException | None] = []
        log.append("message", room="r", actor_session="one", on_commit=heard.append)
        # The loop runs on (a commit here that waited would hold it for the 20 s busy timeout)...
        while not any(thread != loop_thread for thread in seen.inserts):
            await asyncio.sleep(0.005)
        assert seen.inserts[0] == loop_thread and log._writer._here.last_seconds < 20.0
        assert heard == []  # ...and the thread waits for the lock
        other.execute("COMMIT")
        other.close()
        await log.flush()
        assert heard == [None]
    assert verify(db).ok


@pytest.fixture
def clock() -> list[float]:
    return [100.0]


def policy(clock: list[float]) -> CommitHere:
    return CommitHere(sqlite3.connect(":memory:"), clock=lambda: clock[0])


def awaited(n: int) -> list[Row]:
    return [Row(fields=(), body=b"", on_commit=lambda error: None)] * n


def test_only_small_batches_somebody_waits_for_are_allowed(clock: list[float]) -> None:
    here = policy(clock)
    assert here.allows(awaited(1)) and here.allows(awaited(here_module.MAX_ROWS))
    assert not here.allows(awaited(here_module.MAX_ROWS + 1))
    assert not here.allows([Row(fields=(), body=b"", on_commit=None)])
    assert not here.allows([*awaited(1), Row(fields=(), body=b"", on_commit=None)])


def test_commits_made_here_may_take_only_their_share_of_the_loops_recent_time(clock: list[float]) -> None:
    here = policy(clock)
    share = here_module.BUDGET * here_module.WINDOW_S
    each = here_module.SLOW_S / 2  # (none of them slow)
    for _ in range(int(share / each)):
        assert here.allows(awaited(1))
        here.took(each)
    here.took(each)  # over the share now
    assert not here.allows(awaited(1)) and not here.has_room()
    clock[0] += here_module.WINDOW_S  # it fades
    assert here.allows(awaited(1)) and here.has_room()


def test_a_slow_commit_sends_the_next_ones_to_the_thread_for_a_while(clock: list[float]) -> None:
    here = policy(clock)
    here.took(here_module.SLOW_S * 1.5)
    clock[0] += here_module.COOL_S / 2  # long faded from the share...
    assert not here.allows(awaited(1))  # ...but the disk was slow a moment ago
    clock[0] += here_module.COOL_S / 2
    assert here.allows(awaited(1))
