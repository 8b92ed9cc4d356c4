"""When the event loop commits an audit batch itself instead of handing it to the writer thread.

At a light load the hand-over is most of a message's wait: the row goes to the thread (a wake-up),
the thread waits for the GIL behind the loop, commits, and hands the answer back (another wake-up,
and the loop's turn). On this project's 2-core VM, at the fixed offer of 1,000 msg/s, committing
here took the median from 1.33-2.51 ms to 1.16-1.60 ms (three alternating pairs, lower in each) at
less CPU (bench/RESULTS.md, run 32). But the loop waits for the disk meanwhile, and under a heavy
load that time belongs to other people's messages: with every batch of up to 8 rows committed
here, the chat mix's highest sustained rate fell from 7,611 to 5,043 msg/s in one pair. So a
batch is committed here only while it is small, someone waits for each row, and commits made here
have taken a small share of the loop's recent time; never for a while after one was slow (a disk
that stalls must not stall every connection of the worker), and never by waiting for another
process's write lock.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable

from chatserver.audit.batch_sql import Row, append_now

#: The most rows a batch committed on the loop may hold: more queued means the loop is busy.
MAX_ROWS = 4
#: The share of the loop's recent time commits made here may take, over about WINDOW_S.
BUDGET = 0.5
WINDOW_S = 0.05
#: A commit made here that took longer than this sends every batch to the thread for COOL_S.
SLOW_S = 0.005
COOL_S = 1.0


class CommitHere:
    """Decides, batch by batch, whether the loop commits it itself; told how long each one took."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.perf_counter) -> None:
        self._db = db
        #: What the connection waits for another's write lock: restored after each commit made here.
        self._busy_timeout_ms = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
        self._clock = clock
        #: Seconds of the loop's time taken by commits made here, fading with WINDOW_S.
        self._blocked = 0.0
        self._at = clock()
        self._cool_until = -math.inf
        #: How long the last commit made here took.
        self.last_seconds = 0.0

    def commit(self, rows: list[Row], tail: tuple[int, str]) -> tuple[int, str] | None:
        """Commit `rows` after the log's end `tail` on the calling (loop's) thread if allowed and
        possible at once: the new end, or None (nothing written: the writer thread's turn)."""
        if not self.allows(rows):
            return None
        started = self._clock()
        try:
            return append_now(self._db, rows, tail, self._busy_timeout_ms)
        finally:
            self.took(self._clock() - started)

    def allows(self, rows: list[Row]) -> bool:
        """Whether `rows` may be committed on the loop now: someone waits for each of them (rows
        nobody waits for, a storm's sign-ins and joins, share the thread's commits instead; a loop
        taking thousands of people back has no moment to spare), and see above."""
        if len(rows) > MAX_ROWS or not all(row.on_commit for row in rows):
            return False
        return self.has_room()

    def has_room(self) -> bool:
        """Whether the loop may commit the next small batch itself (read by the writer thread too:
        then it need not wait for that batch)."""
        now = self._clock()
        return now >= self._cool_until and self._faded(now) < BUDGET * WINDOW_S

    def took(self, seconds: float) -> None:
        """A commit made here took `seconds` of the loop's time (on the loop only)."""
        self.last_seconds = seconds
        now = self._clock()
        self._blocked, self._at = self._faded(now) + seconds, now
        if seconds > SLOW_S:
            self._cool_until = now + COOL_S

    def _faded(self, now: float) -> float:
        return self._blocked * math.exp(min(0.0, self._at - now) / WINDOW_S)
