"""`AuditLog`: the server's side of the audit table, with group commit.

One writer task owns one aiosqlite connection. `append()` never awaits: it
encodes the row, stamps its time and queues it. The writer takes whatever is
queued within `commit_window` (or `max_batch` rows), writes it in ONE
`BEGIN IMMEDIATE … COMMIT` (so one fsync covers the whole batch), then calls
each row's `on_commit` in the order the rows were appended. The hub publishes
from those callbacks, so nothing is shown to anyone before its row is durable,
and published order equals append order.

Several worker processes append to the same file: the hash chain is extended
from the last row *read inside the write transaction*, so it stays one valid
chain whatever the interleaving of processes.

Reads (history, seqs, readiness) go through a second connection: WAL lets them
run beside the writer, and they never see a batch that has not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import aiosqlite

from chatserver.audit.records import (
    GENESIS,
    MESSAGE_KINDS,
    MESSAGES_SQL,
    canonical_body,
    chain_hash,
    decode_detail,
    encode_detail,
    message_of,
)
from chatserver.db import BUSY_TIMEOUT, connect, connect_async, utc_now, write_transaction
from chatserver.errors import Unavailable

log = logging.getLogger(__name__)

OnCommit = Callable[[BaseException | None], None]

_INSERT_HEAD = (
    "INSERT INTO audit (id, ts, room, kind, actor_session, actor_name, subject, message_id, text, detail,"
    " seq, prev_hash, hash) VALUES "
)
_COLUMNS_PER_ROW = 13


def _max_variables() -> int:
    conn = sqlite3.connect(":memory:")
    try:
        return conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        conn.close()


# As many rows per INSERT statement as SQLite allows (2,520 since SQLite 3.32, 76 before):
# the sqlite3 module takes the GIL back after every statement it steps, and while the
# event loop is busy each of those handoffs can wait out the 5 ms switch interval.
_ROWS_PER_INSERT = max(1, _max_variables() // _COLUMNS_PER_ROW)


def _insert_sql(rows: int) -> str:
    return _INSERT_HEAD + ", ".join(["(" + ", ".join(["?"] * _COLUMNS_PER_ROW) + ")"] * rows)


_KINDS_SQL = ", ".join(f"'{k}'" for k in MESSAGE_KINDS)
# Only the row that put the message in front of the room carries its seq.
_ANNOTATE = f"UPDATE audit SET seq = ? WHERE message_id = ? AND seq IS NULL AND kind IN ({_KINDS_SQL})"
_ROOM_OF = f"SELECT room FROM audit WHERE message_id = ? AND kind IN ('held', {_KINDS_SQL}) LIMIT 1"
_MESSAGES = MESSAGES_SQL + " AND room = ? AND seq IS NOT NULL"
_SEQ_OF = f"SELECT seq FROM audit WHERE message_id = ? AND seq IS NOT NULL AND kind IN ({_KINDS_SQL}) LIMIT 1"

_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 2.0


class _Row(NamedTuple):
    # (ts, room, kind, actor_session, actor_name, subject, message_id, text, detail, seq):
    # the INSERT's columns between id and prev_hash, in order.
    fields: tuple[Any, ...]
    body: bytes
    on_commit: OnCommit | None


class _SeqNote:
    __slots__ = ("message_id", "seq")

    def __init__(self, message_id: str, seq: int) -> None:
        self.message_id = message_id
        self.seq = seq


class _Barrier:
    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future


_Item = _Row | _SeqNote | _Barrier


def _epoch(ts: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


#: How long /readyz keeps reporting a failed write when no later write has succeeded.
FAILURE_MEMORY_S = 30.0


class AuditLog:
    """The append-only, hash-chained audit log, as the server writes and reads it.

    Create with `await AuditLog.open(path)`, or `async with await AuditLog.open(path) as audit:`.
    `append` and `annotate_seq` must be called from the event loop that opened it.
    """

    def __init__(
        self,
        writer: sqlite3.Connection,
        reader: aiosqlite.Connection,
        executor: ThreadPoolExecutor,
        *,
        commit_window: float,
        max_batch: int,
        max_queue: int,
    ) -> None:
        # Writes: a plain sqlite3 connection used only by the one thread of `executor`.
        # Reads: aiosqlite, so a slow history query never waits behind a commit.
        self._db = writer
        self._executor = executor
        self._reader = reader
        self._window = commit_window
        self._max_batch = max_batch
        # Bounded on purpose: when the disk cannot keep up, senders get `unavailable`
        # instead of the server growing without limit and losing it all on a crash.
        self._max_queue = max_queue
        self._pending: deque[_Item] = deque()
        self._in_flight = 0
        self._oldest_at = 0.0
        self._wakeup = asyncio.Event()
        self._pending_seqs: dict[str, int] = {}
        self._barriers = 0
        self._closing = False
        self._closed = False
        self._failing = False
        self._failed_at = 0.0
        #: seconds from BEGIN to COMMIT of the last batch (for /metrics)
        self.last_commit_seconds = 0.0
        #: transactions committed and rows written since open (for /metrics and tests)
        self.commits = 0
        self.rows_written = 0
        self._writer = asyncio.create_task(self._run(), name="audit-writer")

    @classmethod
    async def open(
        cls,
        db_path: str | os.PathLike[str],
        *,
        commit_window: float = 0.002,
        max_batch: int = 2000,
        max_queue: int = 100_000,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> AuditLog:
        """Open (creating if needed) the database at `db_path` and start the writer task.

        Args:
            commit_window: seconds the writer waits after the first queued row for more rows.
            max_batch: most rows in one transaction.
            max_queue: rows waiting for the disk before `append` raises `Unavailable`.
            busy_timeout: seconds SQLite waits for another process's write lock.
        """
        if commit_window < 0 or max_batch < 1 or max_queue < 1:
            raise ValueError("commit_window must be >= 0, max_batch and max_queue >= 1")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        loop = asyncio.get_running_loop()
        try:
            writer = await loop.run_in_executor(
                executor, functools.partial(connect, db_path, busy_timeout=busy_timeout)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        try:
            reader = await connect_async(db_path, busy_timeout=busy_timeout)
        except BaseException:
            await loop.run_in_executor(executor, writer.close)
            executor.shutdown(wait=False)
            raise
        return cls(
            writer, reader, executor, commit_window=commit_window, max_batch=max_batch, max_queue=max_queue
        )

    async def __aenter__(self) -> AuditLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- writing -------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Rows and annotations appended but not yet committed (queued + the batch being written)."""
        return len(self._pending) + self._in_flight

    def append(
        self,
        kind: str,
        *,
        room: str | None = None,
        actor_session: str | None = None,
        actor_name: str | None = None,
        subject: str | None = None,
        message_id: str | None = None,
        text: str | None = None,
        detail: dict[str, Any] | None = None,
        seq: int | None = None,
        on_commit: OnCommit | None = None,
    ) -> str:
        """Queue one row; never blocks.

        `on_commit(None)` is called from the writer task right after the row's
        transaction commits, in append order; `on_commit(exc)` (an `Unavailable`
        whose cause is the database error) if that transaction failed.

        Returns:
            The row's `ts`, so a frame built from the same event can carry the same time.

        Raises:
            Unavailable: more than `max_queue` rows are waiting, or the log is closed.
            BadRequest: a field cannot be stored (invalid Unicode).
            TypeError: a field has the wrong type (a bug in the caller).
        """
        self._check_open()
        if not isinstance(kind, str) or not kind:
            raise TypeError("audit kind must be a non-empty str")
        for value in (room, actor_session, actor_name, subject, message_id, text):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"audit fields must be str or None, got {type(value).__name__}")
        if seq is not None and type(seq) is not int:
            raise TypeError("audit seq must be an int or None")
        ts = utc_now()
        detail_json = encode_detail(detail)
        body = canonical_body(
            ts, room, kind, actor_session, actor_name, subject, message_id, text, detail_json
        )
        fields = (ts, room, kind, actor_session, actor_name, subject, message_id, text, detail_json, seq)
        self._enqueue(_Row(fields, body, on_commit))
        return ts

    async def append_and_wait(self, kind: str, **fields: Any) -> None:
        """`append` and wait until the row is committed; raises what the commit raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(exc: BaseException | None) -> None:
            if future.done():
                return
            if exc is None:
                future.set_result(None)
            else:
                future.set_exception(exc)

        self.append(kind, on_commit=done, **fields)
        await future

    def annotate_seq(self, message_id: str, seq: int) -> None:
        """Record the room `seq` a message was published with, on its `published`/`released` row.

        Queued behind the rows appended before it and written in the same batches;
        a row that already has a seq keeps it.
        """
        # Not bounded by max_queue: each note belongs to a row that is already committed and
        # published, and dropping it would leave a shown message out of history replay.
        self._check_open(bounded=False)
        self._pending_seqs[message_id] = seq
        self._enqueue(_SeqNote(message_id, seq))

    async def flush(self) -> None:
        """Wait until everything appended so far has been handled (committed, or its callbacks failed)."""
        if not self._pending and not self._in_flight:
            return
        if self._writer.done():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Barrier(future))
        self._barriers += 1
        self._wakeup.set()
        await asyncio.shield(future)

    async def close(self) -> None:
        """Commit what is queued, stop the writer and close both connections. Idempotent."""
        if self._closed:
            return
        self._closing = True
        self._wakeup.set()
        try:
            await self._writer
        except asyncio.CancelledError:
            if not self._writer.cancelled():
                raise
        finally:
            self._closed = True
            self._fail(list(self._pending), Unavailable("the audit log is closed"))
            self._pending.clear()
            await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
            self._executor.shutdown(wait=True)
            await self._reader.close()

    def _check_open(self, *, bounded: bool = True) -> None:
        if self._closing:
            raise Unavailable("the audit log is closed")
        if self._writer.done():
            raise Unavailable("the audit writer has stopped; see the server log")
        if bounded and len(self._pending) + self._in_flight >= self._max_queue:
            raise Unavailable(
                f"the audit log is behind ({self.queue_depth} rows waiting for the disk); try again shortly"
            )

    def _enqueue(self, item: _Item) -> None:
        if not self._pending:
            self._oldest_at = time.monotonic()
            self._wakeup.set()
        self._pending.append(item)
        if len(self._pending) >= self._max_batch:
            self._wakeup.set()

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
            self._in_flight = sum(1 for item in batch if not isinstance(item, _Barrier))
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                self._fail(batch, Unavailable("the audit log was stopped before this row was committed"))
                raise
            except Exception as exc:
                # Never log row contents: they are people's words.
                log.error(
                    "audit batch of %d rows failed (%s: %s); retrying in %.2fs",
                    self._in_flight,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                error = Unavailable("the audit log could not be written; nothing was published")
                # The SQLite error itself, also when the lock helper wrapped it.
                error.__cause__ = exc.__cause__ if isinstance(exc, Unavailable) and exc.__cause__ else exc
                self._fail(batch, error)
                self._in_flight = 0
                self._failing = True
                self._failed_at = time.monotonic()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            else:
                self._in_flight = 0
                self._failing = False
                backoff = _MIN_BACKOFF
                self._confirm(batch)

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

    def _take(self) -> list[_Item]:
        batch: list[_Item] = []
        rows = 0
        pending = self._pending
        while pending and rows < self._max_batch:
            item = pending.popleft()
            batch.append(item)
            if isinstance(item, _Row):
                rows += 1
            elif isinstance(item, _Barrier):
                self._barriers -= 1
        if pending:
            # Left over from a full batch: they have waited long enough already.
            self._oldest_at = 0.0
        return batch

    async def _commit(self, batch: list[_Item]) -> None:
        rows = [item for item in batch if isinstance(item, _Row)]
        notes = [(item.seq, item.message_id) for item in batch if isinstance(item, _SeqNote)]
        if not rows and not notes:
            return
        started = time.perf_counter()
        # One hop to the writer thread per batch: under load every hop waits its turn on a busy
        # event loop, so BEGIN, tail read, INSERTs, annotations and COMMIT travel together.
        await asyncio.get_running_loop().run_in_executor(self._executor, self._commit_sync, rows, notes)
        self.last_commit_seconds = time.perf_counter() - started
        self.commits += 1
        self.rows_written += len(rows)
        for seq, message_id in notes:
            if self._pending_seqs.get(message_id) == seq:
                del self._pending_seqs[message_id]

    def _commit_sync(self, rows: list[_Row], notes: list[tuple[int, str]]) -> None:
        """Runs in the writer thread, on its own sqlite3 connection."""
        db = self._db
        if db.in_transaction:  # a failed ROLLBACK must not wedge every later batch
            db.execute("ROLLBACK")
        with write_transaction(db):
            # Read the chain's tail under the write lock: another process may have appended.
            last = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            row_id, prev = (last[0], last[1]) if last else (0, GENESIS)
            params: list[Any] = []
            for r in rows:
                row_id += 1
                digest = chain_hash(prev, row_id, r.body)
                params += (row_id, *r.fields, prev, digest)
                prev = digest
            step = min(_ROWS_PER_INSERT, self._max_batch) * _COLUMNS_PER_ROW
            full = len(params) // step * step
            if full:
                sql = _insert_sql(step // _COLUMNS_PER_ROW)
                db.executemany(sql, [params[i : i + step] for i in range(0, full, step)])
            if full < len(params):
                rest = params[full:]
                db.execute(_insert_sql(len(rest) // _COLUMNS_PER_ROW), rest)
            if notes:
                db.executemany(_ANNOTATE, notes)

    def _confirm(self, batch: list[_Item]) -> None:
        for item in batch:
            if isinstance(item, _Row):
                if item.on_commit is not None:
                    try:
                        item.on_commit(None)
                    except Exception:
                        log.exception("an audit on_commit callback raised (kind %s)", item.fields[2])
            elif isinstance(item, _Barrier) and not item.future.done():
                item.future.set_result(None)

    def _fail(self, batch: list[_Item], error: BaseException) -> None:
        for item in batch:
            if isinstance(item, _Row):
                if item.on_commit is not None:
                    try:
                        item.on_commit(error)
                    except Exception:
                        log.exception("an audit on_commit callback raised (kind %s)", item.fields[2])
            elif isinstance(item, _SeqNote):
                self._pending_seqs.pop(item.message_id, None)
            elif not item.future.done():
                item.future.set_result(None)

    # ---- reading -------------------------------------------------------------

    async def ping(self, *, timeout: float = 2.0) -> bool:
        """True when the writer runs, its last batch committed, and a trivial query answers (for /readyz)."""
        if self._closing or self._writer.done():
            return False
        # A failure is only news for a while: with no writes coming (a load balancer took us out),
        # nothing would ever clear it. The next write that fails sets it again.
        if self._failing and time.monotonic() - self._failed_at < FAILURE_MEMORY_S:
            return False
        try:
            async with asyncio.timeout(timeout):
                async with self._reader.execute("SELECT 1") as cursor:
                    return (await cursor.fetchone()) == (1,)
        except Exception:
            log.warning("audit database did not answer the readiness query", exc_info=True)
            return False

    async def room_max_seqs(self) -> dict[str, int]:
        """The highest committed seq of every room that has one (where a fresh broker resumes counting)."""
        rows = await self._reader.execute_fetchall(
            "SELECT room, max(seq) FROM audit WHERE seq IS NOT NULL AND room IS NOT NULL GROUP BY room"
        )
        return {room: seq for room, seq in rows}

    async def recent_messages(self, room: str, limit: int) -> list[dict[str, Any]]:
        """The room's last `limit` published messages still visible, oldest first (history on join)."""
        if limit <= 0:
            return []
        rows = await self._reader.execute_fetchall(_MESSAGES + " ORDER BY seq DESC LIMIT ?", (room, limit))
        return [message_of(row) for row in reversed(list(rows))]

    async def synchronous(self) -> str:
        """The writer connection's `PRAGMA synchronous` (OFF, NORMAL, FULL or EXTRA), for benchmarks."""
        value = await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: self._db.execute("PRAGMA synchronous").fetchone()[0]
        )
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(value, str(value))

    async def pending_held(self, limit: int = 10_000) -> list[dict[str, Any]]:
        """Held messages no host has released or rejected yet, oldest first.

        The in-process store forgets its held queue on restart; this rebuilds it
        from the log, so nobody's message is left waiting forever.
        """
        rows = await self._reader.execute_fetchall(
            "SELECT a.message_id, a.room, a.text, a.ts, a.actor_name, a.actor_session, a.detail FROM audit a"
            " WHERE a.kind = 'held' AND NOT EXISTS (SELECT 1 FROM audit r WHERE r.message_id = a.message_id"
            " AND r.kind IN ('released', 'rejected', 'deleted')) ORDER BY a.id LIMIT ?",
            (limit,),
        )
        items = []
        for message_id, room, text, ts, name, session, detail_text in rows:
            detail = decode_detail(detail_text)
            item: dict[str, Any] = {
                "type": "held",
                "room": room,
                "id": message_id,
                "from": {"name": name, "session": session, "role": detail.get("role") or "participant"},
                "text": text,
                "ts": ts,
                "reasons": detail.get("reasons", []),
                "explanations": detail.get("explanations", []),
                "urgent": bool(detail.get("urgent")),
                "held_at": _epoch(ts),
            }
            if detail.get("cw"):
                item["cw"] = detail["cw"]
            items.append(item)
        return items

    async def messages_after(self, room: str, seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` visible messages of the room with a seq above `seq`, in seq order (resume)."""
        if limit <= 0:
            return []
        rows = await self._reader.execute_fetchall(
            _MESSAGES + " AND seq > ? ORDER BY seq ASC LIMIT ?", (room, seq, limit)
        )
        return [message_of(row) for row in rows]

    async def room_of(self, message_id: str) -> str | None:
        """The room a message was sent to (held, published or released), or None if none was."""
        rows = await self._reader.execute_fetchall(_ROOM_OF, (message_id,))
        rows = list(rows)
        return rows[0][0] if rows else None

    async def seq_of(self, message_id: str) -> int | None:
        """The seq a message was published with, or None (unknown, held, or never published)."""
        pending = self._pending_seqs.get(message_id)
        if pending is not None:
            return pending
        rows = await self._reader.execute_fetchall(_SEQ_OF, (message_id,))
        rows = list(rows)
        return rows[0][0] if rows else None
