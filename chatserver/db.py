"""The one SQLite file: opening it safely, its PRAGMAs and its schema.

Several server workers and the CLI share one file (default `chat.db`), so every
connection gets the same settings: WAL (readers never block the writer),
`synchronous=FULL` (a committed row survives power loss, as PROTOCOL.md §6
promises), a busy timeout, and foreign keys on. Writers take the lock up front
with `BEGIN IMMEDIATE` and retry with backoff, so concurrent processes queue up
instead of failing with "database is locked".

The file holds participants' words, so it is created with mode 0600 and its
`-wal`/`-shm` companions are never readable by other users.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiosqlite

from chatserver.errors import ChatError, ConfigError, Unavailable

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

#: Seconds a connection waits for another process's write lock before SQLite gives up.
BUSY_TIMEOUT = 10.0

# sqlite3 looks for an adapter for every parameter that is not an int, float, str or bytearray,
# and for None, finding none, builds and drops two AttributeErrors: ~1 µs a parameter, in the
# writer thread with the GIL held, for every NULL of every audit row. Registered, it is a dict
# lookup and a call (~0.45 µs); the value bound is the same NULL.
sqlite3.register_adapter(type(None), lambda value: value)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS hosts (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    title       TEXT,
    professional INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS audit (
    id             INTEGER PRIMARY KEY,
    ts             TEXT NOT NULL,
    room           TEXT,
    kind           TEXT NOT NULL,
    actor_session  TEXT,
    actor_name     TEXT,
    subject        TEXT,
    message_id     TEXT,
    text           TEXT,
    detail         TEXT,
    seq            INTEGER,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_room_id ON audit (room, id);
CREATE INDEX IF NOT EXISTS audit_message_id ON audit (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_kind ON audit (kind);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
-- history replay and the startup seq scan read a room's messages by seq
CREATE INDEX IF NOT EXISTS audit_room_seq ON audit (room, seq) WHERE seq IS NOT NULL;
"""

#: What each older schema needs to become the current one (version -> statements).
_MIGRATIONS = {
    # 2: hosts carry a title and a professional mark (issue 20)
    1: (
        "ALTER TABLE hosts ADD COLUMN title TEXT",
        "ALTER TABLE hosts ADD COLUMN professional INTEGER NOT NULL DEFAULT 0",
    ),
}


def format_ts(t: float) -> str:
    """`2026-11-27T10:00:00.123Z` for a POSIX time: UTC, milliseconds, fixed width, so it sorts as text.

    Every timestamp column in the database uses this format.
    """
    second, ms = divmod(int(t * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{ms:03d}Z"


class _Clock:
    # strftime is most of the cost of a timestamp and audit rows arrive thousands per
    # second, so the "YYYY-MM-DDTHH:MM:SS" of the current second is kept, and the whole
    # text of the current millisecond (a busy second has dozens of rows in each). Each
    # is a tuple replaced whole, so threads sharing them never pair a time with another's text.
    __slots__ = ("_second", "_milli")

    def __init__(self) -> None:
        self._second = (-1, "")
        self._milli = (-1, "")

    def now(self) -> str:
        milli = time.time_ns() // 1_000_000
        cached, text = self._milli
        if cached == milli:
            return text
        second, ms = divmod(milli, 1000)
        cached, head = self._second
        if cached != second:
            head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, head)
        text = f"{head}.{ms:03d}Z"
        self._milli = (milli, text)
        return text


_clock = _Clock()  # a cache of one string, not shared state worth injecting


def utc_now() -> str:
    """The current time in the database's timestamp format."""
    return _clock.now()


def is_busy(exc: BaseException) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock; worth retrying."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    msg = str(exc)
    return "locked" in msg or "busy" in msg


def _create_private(path: Path) -> bool:
    """Create an empty file readable by its owner only; False if it already existed."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _warn_if_exposed(path: Path) -> None:
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            log.warning("database %s is readable by other users (mode %o); chmod 600 it", path, mode)


def _apply_pragmas(conn: sqlite3.Connection, busy_timeout: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        log.warning("SQLite refused WAL mode (got %r); concurrent writers will be slower", mode)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def _version(conn: sqlite3.Connection) -> int | None:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone():
        return None
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone()
    if has:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] if row else None
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise ConfigError(
                [
                    f"{path}: the database was written by a newer chatserver (schema {version}; "
                    f"this one knows {SCHEMA_VERSION}); upgrade chatserver or use another --db"
                ]
            )
    with write_transaction(conn):
        # A table made by an older version keeps its columns under CREATE IF NOT EXISTS: add them.
        # Read again under the write lock: another process may have just done it.
        for old in range(_version(conn) or SCHEMA_VERSION, SCHEMA_VERSION):
            for statement in _MIGRATIONS.get(old, ()):
                conn.execute(statement)
        # executescript() would COMMIT our transaction first; run the statements one by one.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def connect(
    path: str | os.PathLike[str],
    *,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = BUSY_TIMEOUT,
) -> sqlite3.Connection:
    """Open the shared database with the house PRAGMAs, creating it (mode 0600) and its schema.

    Args:
        create: make the file and schema when missing; when False a missing file is a `ChatError`.
        readonly: open with `mode=ro` (export, verify); implies create=False.

    Returns:
        A connection in autocommit mode (`isolation_level=None`): write through `write_transaction`.
    """
    path = Path(path)
    if readonly or not create:
        if not path.exists():
            raise ChatError(f"no database at {path}: check --db (or CHATSERVER_DB)")
    old_umask = None
    try:
        if not readonly and create and not path.exists():
            # umask covers the -wal/-shm files the first connection creates; SQLite also
            # gives them the main file's mode, so later connections need no umask.
            old_umask = os.umask(0o077)
            path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(path)
        else:
            _warn_if_exposed(path)
        if readonly:
            uri = path.resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            if readonly:
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit'").fetchone():
                    raise ChatError(f"{path} holds no chatserver data yet: check --db (or CHATSERVER_DB)")
            else:
                _retry_busy(lambda: _apply_pragmas(conn, busy_timeout))
                _ensure_schema(conn, path)
        except BaseException:
            conn.close()
            raise
        return conn
    except sqlite3.DatabaseError as exc:
        if is_busy(exc):
            raise Unavailable(
                f"{path} stayed locked by another process for {busy_timeout:g}s; try again"
            ) from exc
        raise ChatError(f"cannot use {path} as the chatserver database: {exc}") from exc
    finally:
        if old_umask is not None:
            os.umask(old_umask)


def _retry_busy(fn: Callable[[], object], *, attempts: int = 5) -> None:
    delay = 0.05
    for attempt in range(attempts):
        try:
            fn()
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def begin_immediate(conn: sqlite3.Connection, *, attempts: int = 5) -> None:
    """Start a write transaction, waiting (busy_timeout, then backoff) while another process writes.

    Raises:
        Unavailable: the lock stayed taken through every attempt.
    """
    try:
        _retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), attempts=attempts)
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise Unavailable("the database stayed locked by another process; try again") from exc
        raise


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` … `COMMIT`, or `ROLLBACK` on any error."""
    begin_immediate(conn)
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


async def connect_async(
    path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT
) -> aiosqlite.Connection:
    """An aiosqlite connection with the house PRAGMAs; creates the file and schema first if needed."""
    # File creation, WAL switch and schema run once in a plain thread, so the
    # umask dance and any lock wait never happen on the event loop.
    await asyncio.to_thread(lambda: connect(path, busy_timeout=busy_timeout).close())
    conn = await aiosqlite.connect(Path(path), isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


async def abegin_immediate(conn: aiosqlite.Connection, *, attempts: int = 5) -> None:
    """The async twin of `begin_immediate`: the backoff sleeps on the loop, not in SQLite's thread."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            await conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
