"""`AuditLog`: the server's side of the audit table, with group commit.

`append()` never awaits: it encodes the row, stamps its time and queues it for the writer
(writer.py), which commits whatever is queued in one transaction and then calls each row's
`on_commit` in the order the rows were appended. The hub publishes from those callbacks, so nothing
is shown to anyone before its row is durable, and published order equals append order.

Reads (history, seqs, readiness; queries.py) go through a second connection: WAL lets them run
beside the writer, and they never see a batch that has not committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiosqlite

from chatserver.audit import queries
from chatserver.audit.batch_sql import OnCommit, Row
from chatserver.audit.records import canonical_body, encode_detail
from chatserver.audit.writer import AuditWriter
from chatserver.db import BUSY_TIMEOUT, connect, connect_async, utc_now

log = logging.getLogger(__name__)


class AuditLog:
    """The append-only, hash-chained audit log, as the server writes and reads it.

    Create with `await AuditLog.open(path)`, or `async with await AuditLog.open(path) as audit:`.
    `append` must be called from the event loop that opened it.
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
        self._writer = AuditWriter(
            writer, executor, commit_window=commit_window, max_batch=max_batch, max_queue=max_queue
        )
        self._reader = reader

    @classmethod
    async def open(
        cls,
        db_path: str | os.PathLike[str],
        *,
        commit_window: float = 0.0,
        max_batch: int = 2000,
        max_queue: int = 100_000,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> AuditLog:
        """Open (creating if needed) the database at `db_path` and start the writer task.

        Args:
            commit_window: seconds the writer waits after the first queued row for more rows; 0
                by default: one commit is out at a time and the rows queued meanwhile go in the next,
                so a lone row is written at once (a light load's latency: 3.4 -> 1.4 ms p50 at a
                fixed 1,000 msg/s, bench run 11 notes) and a heavy load still fills its batches.
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
        return self._writer.queue_depth

    @property
    def last_commit_seconds(self) -> float:
        """Seconds from BEGIN to COMMIT of the last batch (for /metrics)."""
        return self._writer.last_commit_seconds

    @property
    def commits(self) -> int:
        """Transactions committed since open (for /metrics and tests)."""
        return self._writer.commits

    @property
    def rows_written(self) -> int:
        """Rows written since open (for /metrics and tests)."""
        return self._writer.rows_written

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
        self._writer.check_open()
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
        self._writer.add(Row(fields, body, on_commit))
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

    async def flush(self) -> None:
        """Wait until everything appended so far has been handled (committed, or its callbacks failed)."""
        await self._writer.flush()

    async def close(self) -> None:
        """Commit what is queued, stop the writer and close both connections. Idempotent."""
        if self._writer.closed:
            return
        try:
            await self._writer.close()
        finally:
            await self._reader.close()

    # ---- reading -------------------------------------------------------------

    async def ping(self, *, timeout: float = 2.0) -> bool:
        """True when the writer runs, its last batch committed, and a trivial query answers (for /readyz)."""
        if not self._writer.healthy():
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
        return await queries.room_max_seqs(self._reader)

    async def recent_messages(self, room: str, limit: int) -> list[dict[str, Any]]:
        """The room's last `limit` published messages still visible, oldest first (history on join)."""
        if limit <= 0:
            return []
        return await queries.recent_messages(self._reader, room, limit)

    async def synchronous(self) -> str:
        """The writer connection's `PRAGMA synchronous` (OFF, NORMAL, FULL or EXTRA), for benchmarks."""
        return await self._writer.synchronous()

    async def pending_held(self, limit: int = 10_000) -> list[dict[str, Any]]:
        """Held messages no host has released or rejected yet, oldest first.

        The in-process store forgets its held queue on restart; this rebuilds it
        from the log, so nobody's message is left waiting forever.
        """
        return await queries.pending_held(self._reader, limit)

    async def messages_after(self, room: str, seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` visible messages of the room with a seq above `seq`, in seq order (resume)."""
        if limit <= 0:
            return []
        return await queries.messages_after(self._reader, room, seq, limit)

    async def room_of(self, message_id: str) -> str | None:
        """The room a message was sent to (held, published or released), or None if none was."""
        return await queries.room_of(self._reader, message_id)

    async def about_person(self, session: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Rows by or about one person and of their messages, newest first (a host's person card), with
        what was appended before the host asked (rows nobody waits for may still wait for company)."""
        await self.flush()
        return await queries.about_person(self._reader, session, limit)

    async def seq_of(self, room: str, message_id: str) -> int | None:
        """The seq a message was published with in `room`, or None (unknown, held, never published,
        or another room's: seqs number each room on its own)."""
        return await queries.seq_of(self._reader, room, message_id)
