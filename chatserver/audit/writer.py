"""The audit log's group commit: one task, one thread, one sqlite3 connection.

Rows are queued without awaiting and written once (a message's row already carries its seq). The
writer takes what is queued (up to `max_batch` rows) and writes it in ONE transaction (one fsync for
the batch; one statement when it knows where the log ends), then calls each row's `on_commit` in
queue order. One commit is out at a time, so batches grow with the load by themselves. The writer
thread takes the next batch itself, straight after its commit (a busy loop does not stand between
two commits), and waits a moment (LINGER_S) for a row when none is queued; rows nobody waits for
wait a moment (COMPANY_S) for company: a storm of sign-ins shares its commits. At a light load the
loop commits a small batch itself, with no hand-over (here.py). `commit_window` (none by default)
makes every batch wait for more. Several worker processes append to the same file: the hash chain is
extended from the last row read inside the write transaction (or checked there, in the one
statement), so it stays one valid chain whatever the interleaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chatserver.audit.answers import Barrier, Item, answer_all, tell, unavailable
from chatserver.audit.batch_sql import Row, write_rows
from chatserver.audit.gil import hand_the_gil_over_promptly
from chatserver.audit.here import CommitHere
from chatserver.errors import Unavailable

log = logging.getLogger(__name__)

#: Batches the writer thread commits in a row before it hands back to the loop (bounds `_run`'s wait).
_CHAIN_MAX = 32
#: How long the writer thread waits for the next row once the queue is empty before it hands back:
#: a row that comes meanwhile is taken at once (no turn of the event loop, no executor hand-over).
LINGER_S = 0.25
#: How long rows nobody waits for (sign-ins, joins, leaves) queued during a commit wait for company:
#: a reconnect storm's thousands go in ~10 commits a second (at 0.02 s, ~25 of ~60 joins each), each
#: costing turns of the GIL taken from a busy loop. A row somebody waits for, or a flush, ends it.
COMPANY_S = 0.1


#: `_first` between batches: a list no batch is.
_NO_BATCH: list[Any] = []


_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 2.0

#: How long /readyz keeps reporting a failed write when no later write has succeeded.
FAILURE_MEMORY_S = 30.0


class AuditWriter:
    """Writes queued rows in batches, one transaction each, in queue order.

    Must be created and used on one event loop; `db` is used by the one thread of `executor`, and by
    the loop for a batch here.py allows while that thread has nothing to do.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        *,
        commit_window: float,
        max_batch: int,
        max_queue: int,
    ) -> None:
        self._db = db
        self._executor = executor
        self._window = commit_window
        self._max_batch = max_batch
        # Bounded: a disk that cannot keep up makes senders `unavailable`, not the server grow, lose all.
        self._max_queue = max_queue
        self._pending: deque[Item] = deque()
        self._in_flight = 0
        #: Rows the writer thread took for its next commit (written by that thread only).
        self._chain_rows = 0
        #: Set when the writer stops (cancelled or closed): its thread takes no more rows.
        self._abandoned = False
        #: The batch `_run` handed to the thread, and whether its rows were answered (the thread's
        #: confirmation and a cancellation's failure race on the loop: the first one wins).
        self._first: list[Item] = _NO_BATCH
        self._first_answered = False
        self._oldest_at = 0.0
        self._wakeup = asyncio.Event()
        #: Set by the loop when the queue gets a row (or a barrier, or the writer stops) while the
        #: writer thread may be lingering for one.
        self._arrived = threading.Event()
        #: Rows with an `on_commit` queued (less those the loop took) / taken by the writer thread (each
        #: written by one thread), and whether rows nobody waits for wait for company (then one does).
        self._awaited_in = self._awaited_out = 0
        self._keeping_company = False
        self._barriers = 0
        self._closing = False
        self.closed = False
        self._failing = False
        self._failed_at = 0.0
        #: (id, hash) of the last row this writer committed: where the next batch probably goes
        self._tail: tuple[int, str] | None = None
        #: seconds from BEGIN to COMMIT of the last batch; transactions and rows written since open
        self.last_commit_seconds = 0.0
        self.commits = 0
        self.rows_written = 0
        #: Whether a small batch is committed on the loop itself (a light load's latency).
        self._here = CommitHere(db)
        hand_the_gil_over_promptly()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    @property
    def queue_depth(self) -> int:
        """Rows queued but not yet committed (queued + the batch being written)."""
        return len(self._pending) + self._in_flight + self._chain_rows

    def check_open(self, *, bounded: bool = True) -> None:
        """Raise `Unavailable` if nothing more can be queued (closed, stopped, or `bounded` and full)."""
        if self._closing:
            raise Unavailable("the audit log is closed")
        if self._task.done():
            raise Unavailable("the audit writer has stopped; see the server log")
        if bounded and self.queue_depth >= self._max_queue:
            raise Unavailable(
                f"the audit log is behind ({self.queue_depth} rows waiting for the disk); try again shortly"
            )

    def add(self, row: Row) -> None:
        """Queue a row; the caller has called `check_open()`."""
        self._enqueue(row)

    def healthy(self) -> bool:
        """The writer runs and its last batch did not fail (recently)."""
        if self._closing or self._task.done():
            return False
        # A failure is news for a while only: with no writes (a load balancer took us out) none clears it.
        return not (self._failing and time.monotonic() - self._failed_at < FAILURE_MEMORY_S)

    async def flush(self) -> None:
        """Wait until everything queued so far has been handled (committed, or its callbacks failed)."""
        if (not self._pending and not self._in_flight and not self._chain_rows) or self._task.done():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(Barrier(future))
        self._barriers += 1
        self._wakeup.set()
        self._arrived.set()
        await asyncio.shield(future)

    async def close(self) -> None:
        """Commit what is queued, stop the task, close the connection and the thread."""
        self._closing = True
        self._wakeup.set()
        self._arrived.set()
        try:
            await self._task
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise
        finally:
            self.closed = True
            self._abandoned = True  # the writer thread takes no more rows...
            self._arrived.set()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, lambda: None)  # ...and is done with what it had
            self._fail(list(self._pending), Unavailable("the audit log is closed"))
            self._pending.clear()
            await loop.run_in_executor(self._executor, self._db.close)
            self._executor.shutdown(wait=True)

    async def synchronous(self) -> str:
        """The connection's `PRAGMA synchronous` (OFF, NORMAL, FULL or EXTRA)."""
        self._arrived.set()  # (the thread may be waiting for rows: the question goes after it)
        value = await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: self._db.execute("PRAGMA synchronous").fetchone()[0]
        )
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(value, str(value))

    def _enqueue(self, item: Item) -> None:
        first = not self._pending
        if first:
            self._oldest_at = time.monotonic()
            self._wakeup.set()
        awaited = isinstance(item, Row) and item.on_commit is not None
        self._pending.append(item)
        if awaited:
            self._awaited_in += 1  # (after the append, before the check below: see _with_company)
        if len(self._pending) >= self._max_batch:
            self._wakeup.set()
            self._arrived.set()
        elif self._keeping_company:
            if awaited:
                self._arrived.set()
        elif first:
            self._arrived.set()  # (after the append: a lingering thread takes it when it wakes)

    async def _run(self) -> None:
        backoff = _MIN_BACKOFF
        while True:
            while not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._gather()
            batch = self._take()
            self._in_flight = sum(1 for item in batch if not isinstance(item, Barrier))
            self._first, self._first_answered = batch, False
            try:
                failed = await self._commit(batch)
            except asyncio.CancelledError:
                self._abandoned = True
                self._arrived.set()
                if not self._first_answered:  # (the thread may still commit it: nobody will hear)
                    self._first_answered = True
                    self._fail(batch, Unavailable("the audit log was stopped before this row was committed"))
                raise
            except Exception as exc:  # `batch` itself did not commit
                self._first_answered = True
                self._fail(batch, unavailable(exc))
                failed = (self._in_flight, exc)
            else:  # `batch` committed (a batch chained after it may have failed): the disk works
                backoff = _MIN_BACKOFF
            self._in_flight = 0
            self._first = _NO_BATCH  # (its rows' callbacks may hold connections: let them go)
            if failed is None:
                continue
            count, cause = failed
            # Never log row contents: they are people's words.
            log.error(
                "audit batch of %d rows failed (%s: %s); retrying in %.2fs",
                count,
                type(cause).__name__,
                cause,
                backoff,
            )
            self._failing = True
            self._failed_at = time.monotonic()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _gather(self) -> None:
        """Let more rows join the batch until the window closes, the batch is full, or a flush waits."""
        deadline = self._oldest_at + self._window
        while not self._closing and not self._barriers and len(self._pending) < self._max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()

    def _take(self) -> list[Item]:
        batch: list[Item] = []
        rows = 0
        pending = self._pending
        while pending and rows < self._max_batch:
            item = pending.popleft()
            batch.append(item)
            if isinstance(item, Row):
                rows += 1
                if item.on_commit is not None:
                    self._awaited_in -= 1  # (taken here: no longer queued; the loop's own count)
            elif isinstance(item, Barrier):
                self._barriers -= 1
        if pending:
            # Left over from a full batch: they have waited long enough already.
            self._oldest_at = 0.0
        return batch

    async def _commit(self, batch: list[Item]) -> tuple[int, BaseException] | None:
        """Write `batch` and whatever the writer thread takes after it; each batch is answered as it
        commits (or fails). Raises if `batch` fails; returns (rows, why) if a later batch failed."""
        rows = [item for item in batch if isinstance(item, Row)]
        if not rows:
            self._confirm(batch, wrote=False)
            return None
        if self._tail is not None and self._window <= 0:  # a small batch, the loop may commit itself
            tail, self._tail = self._tail, None  # (unknown if the write fails)
            self._tail = self._here.commit(rows, tail)
            if self._tail is not None:
                self._counted(rows, self._here.last_seconds)
                self._confirm(batch)
                return None
            self._tail = tail  # (nothing written: the writer thread's turn)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._write, loop, batch, rows)

    def _write(
        self, loop: asyncio.AbstractEventLoop, batch: list[Item], rows: list[Row]
    ) -> tuple[int, BaseException] | None:
        """Runs in the writer thread: commit `rows` (of `batch`), then the rows queued meanwhile, batch
        after batch (up to _CHAIN_MAX), each answered on the loop once in the file, or failed: handed
        over from a busy loop, each batch waited for it twice (to be given, to get the GIL back). It
        stops at a barrier (a flush: the loop confirms it in order), with a commit window, once the
        writer stops, when no row came for LINGER_S, and when the loop may commit the next itself.
        """
        self._commit_timed(rows)
        if not tell(loop, self._confirm, batch):
            return None
        for _ in range(_CHAIN_MAX):
            if self._window > 0 or self._abandoned:
                return None
            awaited_before = self._awaited_out  # (the take counts the rows somebody waits for)
            more = self._take_rows()
            if not more and self._here.has_room() and all(row.on_commit for row in rows):
                return None  # the next row somebody waits for, the loop may commit itself (here.py)
            if not more:
                more = self._wait_for_rows()
            elif self._awaited_out == awaited_before:
                more = self._with_company(more)
            if not more:
                return None
            try:
                self._commit_timed(more)
            except Exception as exc:
                tell(loop, self._fail, more, unavailable(exc))
                return len(more), exc
            finally:
                self._chain_rows = 0
            if not tell(loop, self._confirm, more):
                return None
            rows = more
        return None

    def _take_rows(self, rows: list[Row] | None = None) -> list[Row]:
        """In the writer thread: the rows at the head of the queue (after `rows`, if given), up to a
        barrier or a full batch (the loop only appends meanwhile; it takes nothing while a commit is out)."""
        pending = self._pending
        rows = [] if rows is None else rows
        while pending and len(rows) < self._max_batch:
            item = pending[0]
            if not isinstance(item, Row):
                break
            rows.append(item)
            self._chain_rows = len(rows)  # (before it leaves the queue: a flush sees it somewhere)
            pending.popleft()
            if item.on_commit is not None:
                self._awaited_out += 1
        return rows

    def _with_company(self, rows: list[Row]) -> list[Row]:
        """In the writer thread, `rows` nobody waits for that queued while it committed (a steady
        load): let more join them for up to COMPANY_S (until a row somebody waits for, a flush, a full
        batch or the writer's stop), so a storm of sign-ins and joins shares its commits."""
        if self._window > 0:
            return rows
        self._keeping_company = True
        self._arrived.clear()  # (then the checks: the loop counts a row before it reads the flag)
        quiet = self._awaited_in == self._awaited_out and not (self._barriers or self._stopped())
        if quiet and len(rows) + len(self._pending) < self._max_batch:
            self._arrived.wait(COMPANY_S)
        self._keeping_company = False
        return self._take_rows(rows)

    def _stopped(self) -> bool:
        return self._abandoned or self._closing

    def _wait_for_rows(self) -> list[Row]:
        """In the writer thread, the queue empty: the rows that come within LINGER_S ([] if none came,
        or a barrier did, or the writer stopped)."""
        self._arrived.clear()  # (before the checks: whoever changes what they read sets it after)
        if self._pending or self._stopped():
            return [] if self._stopped() else self._take_rows()
        if not self._arrived.wait(LINGER_S) or self._stopped():
            return []
        return self._take_rows()  # ([] when a flush's barrier came first: the loop answers it)

    def _counted(self, rows: list[Row], seconds: float) -> None:
        self.last_commit_seconds = seconds
        self.commits += 1
        self.rows_written += len(rows)

    def _commit_timed(self, rows: list[Row]) -> None:
        started = time.perf_counter()
        self._commit_sync(rows)
        self._counted(rows, time.perf_counter() - started)

    def _commit_sync(self, rows: list[Row]) -> None:
        """Runs in the writer thread, on its own sqlite3 connection (batch_sql.write_rows)."""
        tail, self._tail = self._tail, None  # (unknown if the write fails)
        self._tail = write_rows(self._db, rows, tail, self._max_batch)

    def _confirm(self, batch: Sequence[Item], wrote: bool = True) -> None:
        if batch is self._first:
            if self._first_answered:
                return  # failed already: the writer was stopped while the thread wrote it
            self._first_answered = True
            self._in_flight = 0  # in the file: no longer waiting (the thread may chain more)
        if wrote:
            self._failing = False  # rows are in the file: writes work (said before anyone hears so)
        answer_all(batch, None)

    def _fail(self, batch: Sequence[Item], error: BaseException) -> None:
        answer_all(batch, error)
