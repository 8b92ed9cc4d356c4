"""Host and admin credentials: a random token shown once, only its hash kept.

`chatserver hosts add NAME [--admin] [--title T [--professional]]` calls `add_host`,
which prints the token it returns (`hosts title` changes a title alone: `set_title`); the
server checks a `hello` token with `HostDirectory.authenticate`. Whether a host may act in a
room is decided elsewhere (rooms.yaml `hosts:`); this module only answers "whose token is
this, is it still valid, and what title do admins show beside it".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Literal, cast

import aiosqlite

from chatserver.badges import check_title
from chatserver.db import connect, connect_async, utc_now, write_transaction
from chatserver.errors import ChatError

#: Random bytes per token (256 bits; 43 URL-safe characters).
TOKEN_BYTES = 32
#: Longest token `authenticate` will hash: anything longer is not one of ours.
MAX_TOKEN_LENGTH = 256
MAX_NAME_LENGTH = 32

_HASH_CONTEXT = b"chatserver host token v1\x00"
_COLUMNS = "name, is_admin, created_at, revoked_at, token_hash, title, professional"
# A re-add without a title keeps the one the host had: rotating a token is not a demotion.
_UPSERT = (
    "INSERT INTO hosts (name, token_hash, is_admin, created_at, revoked_at, title, professional)"
    " VALUES (?, ?, ?, ?, NULL, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, is_admin = excluded.is_admin,"
    " created_at = excluded.created_at, revoked_at = NULL,"
    " title = coalesce(excluded.title, title),"
    " professional = CASE WHEN excluded.title IS NULL THEN professional ELSE excluded.professional END"
)
_SET_TITLE = "UPDATE hosts SET title = ?, professional = ? WHERE name = ?"
_REVOKE = "UPDATE hosts SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"


@dataclass(frozen=True, slots=True)
class HostRecord:
    """A host or admin as stored; never carries the token."""

    name: str
    is_admin: bool
    created_at: str
    revoked_at: str | None = None
    #: Which token this record stands for (a prefix of its hash): a connection signed in with
    #: another one (since replaced) must lose its powers.
    credential: str = field(default="", repr=False)
    #: What admins say this host is ("Registered counsellor"), shown beside their name; None: no title.
    title: str | None = None
    #: A licensed professional, marked as such (only with a title).
    professional: bool = False

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def role(self) -> Literal["host", "admin"]:
        return "admin" if self.is_admin else "host"


def hash_token(token: str) -> str:
    """The stored form of a token.

    A plain SHA-256 is the right tool here, not bcrypt/scrypt/argon2: those slow
    hashes exist to protect low-entropy passwords from guessing, but a token is
    256 bits from `secrets`, so guessing is hopeless either way, and a slow hash
    would only add latency to every `hello`. A salt adds nothing either (every
    input is already unique). What matters is that a copy of the database holds
    no usable token, and SHA-256 gives that.
    """
    return hashlib.sha256(_HASH_CONTEXT + token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """The host name trimmed, or `ChatError` saying what is wrong with it.

    Same rule as a `hello` name: 1-32 printable characters, no control, format
    (bidi override, zero-width) or line-separator characters.
    """
    if not isinstance(name, str):
        raise ChatError(f"host name: expected text, got {type(name).__name__}")
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= MAX_NAME_LENGTH:
        raise ChatError(f"host name: expected 1-{MAX_NAME_LENGTH} characters, got {len(trimmed)}: {name!r}")
    for char in trimmed:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise ChatError(
                f"host name: {name!r} contains an invisible or control character (U+{ord(char):04X}); "
                "use printable characters only"
            )
    return trimmed


def title_of(title: str | None, professional: bool) -> str | None:
    """A title as stored (trimmed), or `ChatError` saying what is wrong with it."""
    if title is None:
        if professional:
            raise ChatError(
                "--professional needs a --title saying what they are, e.g. 'Registered counsellor'"
            )
        return None
    try:
        return check_title(title)
    except ValueError as exc:
        raise ChatError(f"title: {exc}") from None


def add_host(
    db_path: str | os.PathLike[str],
    name: str,
    *,
    admin: bool = False,
    title: str | None = None,
    professional: bool = False,
) -> str:
    """Create a host (or admin) credential and return its token, the only time it exists in clear.

    Re-adding an existing name replaces its token (the old one stops working at
    once), sets its admin flag to `admin`, and lifts a revocation: this is how a
    lost token is rotated. A title given replaces the host's title; none keeps it.
    """
    name = check_name(name)
    title = title_of(title, professional)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    conn = connect(db_path)
    try:
        with write_transaction(conn):
            row = (name, hash_token(token), int(bool(admin)), utc_now(), title, int(professional))
            conn.execute(_UPSERT, row)
    finally:
        conn.close()
    return token


def set_title(db_path: str | os.PathLike[str], name: str, title: str | None, *, professional: bool) -> bool:
    """Give a host a title (None: take it away) without touching their token; False: no such host.

    Signed-in connections show the new title within seconds (the server re-reads the table).
    """
    title = title_of(title, professional)
    conn = connect(db_path)
    try:
        with write_transaction(conn):
            return conn.execute(_SET_TITLE, (title, int(professional), name.strip())).rowcount > 0
    finally:
        conn.close()


#: One row of _COLUMNS.
_Row = tuple[str, int, str, str | None, str, str | None, int]


def _record(row: _Row) -> HostRecord:
    return HostRecord(
        name=row[0],
        is_admin=bool(row[1]),
        created_at=row[2],
        revoked_at=row[3],
        credential=row[4][:16],
        title=row[5] or None,
        professional=bool(row[6]) and bool(row[5]),
    )


def list_hosts(db_path: str | os.PathLike[str]) -> list[HostRecord]:
    """Every host and admin, revoked ones included, by name."""
    conn = connect(db_path)
    try:
        return [_record(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM hosts ORDER BY name")]
    finally:
        conn.close()


def revoke_host(db_path: str | os.PathLike[str], name: str) -> bool:
    """Revoke a host's token; False when there is no such host or it was already revoked."""
    conn = connect(db_path)
    try:
        with write_transaction(conn):
            cursor = conn.execute(_REVOKE, (utc_now(), name.strip()))
            return cursor.rowcount > 0
    finally:
        conn.close()


class HostDirectory:
    """The server's view of the hosts table: who a `hello` token belongs to.

    Reads the table on every call (one indexed lookup), so `hosts revoke` and
    `hosts add` take effect for the next `hello` without a restart.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, db_path: str | os.PathLike[str]) -> HostDirectory:
        """Open (creating if needed) the database at `db_path`."""
        return cls(await connect_async(db_path))

    async def __aenter__(self) -> HostDirectory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def authenticate(self, token: str | None) -> HostRecord | None:
        """The host or admin whose token this is; None for an unknown or revoked token."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(token)
        # The lookup is by hash, so its timing depends on the hash, which tells an
        # attacker nothing about any stored token; the compare is constant-time anyway.
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM hosts WHERE token_hash = ?", (digest,)
        ) as cursor:
            # aiosqlite types rows as sqlite3.Row; with no row_factory set they are plain tuples.
            row = cast(_Row | None, await cursor.fetchone())
        if row is None or not hmac.compare_digest(row[4], digest):
            return None
        record = _record(row)
        return None if record.revoked else record

    async def close(self) -> None:
        await self._conn.close()
