"""Host and admin credentials: a random token shown once, only its hash kept.

`chatserver hosts add NAME [--admin]` calls `add_host`, which prints the token
it returns; the server checks a `hello` token with `HostDirectory.authenticate`.
Whether a host may act in a room is decided elsewhere (rooms.yaml `hosts:`);
this module only answers "whose token is this, and is it still valid".
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

from chatserver.db import connect, connect_async, utc_now, write_transaction
from chatserver.errors import ChatError

#: Random bytes per token (256 bits; 43 URL-safe characters).
TOKEN_BYTES = 32
#: Longest token `authenticate` will hash: anything longer is not one of ours.
MAX_TOKEN_LENGTH = 256
MAX_NAME_LENGTH = 32

_HASH_CONTEXT = b"chatserver host token v1\x00"
_COLUMNS = "name, is_admin, created_at, revoked_at, token_hash"
_UPSERT = (
    "INSERT INTO hosts (name, token_hash, is_admin, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL)"
    " ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, is_admin = excluded.is_admin,"
    " created_at = excluded.created_at, revoked_at = NULL"
)
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


def add_host(db_path: str | os.PathLike[str], name: str, *, admin: bool = False) -> str:
    """Create a host (or admin) credential and return its token, the only time it exists in clear.

    Re-adding an existing name replaces its token (the old one stops working at
    once), sets its admin flag to `admin`, and lifts a revocation: this is how a
    lost token is rotated.
    """
    name = check_name(name)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    conn = connect(db_path)
    try:
        with write_transaction(conn):
            conn.execute(_UPSERT, (name, hash_token(token), int(bool(admin)), utc_now()))
    finally:
        conn.close()
    return token


#: One row of _COLUMNS.
_Row = tuple[str, int, str, str | None, str]


def _record(row: _Row) -> HostRecord:
    return HostRecord(
        name=row[0], is_admin=bool(row[1]), created_at=row[2], revoked_at=row[3], credential=row[4][:16]
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
