"""Host and admin credentials: random tokens, stored as hashes only, revocable."""

from __future__ import annotations

import re
import sqlite3
import stat
from pathlib import Path

import pytest

from chatserver import auth
from chatserver.auth import HostDirectory, add_host, hash_token, list_hosts, revoke_host
from chatserver.errors import ChatError


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "chat.db"


def test_hosts_add_list_revoke_store_only_a_hash(db: Path):
    """add returns distinct tokens, list shows names and roles but no token, and no file holds a token."""
    dora = add_host(db, "dora")
    eve = add_host(db, "eve", admin=True)
    assert dora != eve
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", dora), "a 256-bit URL-safe token"
    listing = list_hosts(db)
    assert [(h.name, h.role, h.revoked) for h in listing] == [
        ("dora", "host", False),
        ("eve", "admin", False),
    ]
    assert dora not in repr(listing) and eve not in repr(listing)
    assert revoke_host(db, "dora") is True
    assert revoke_host(db, "dora") is False  # already revoked
    assert revoke_host(db, "nobody") is False
    assert [h.revoked for h in list_hosts(db)] == [True, False]
    files = sorted(db.parent.glob(db.name + "*"))
    assert files
    for f in files:
        data = f.read_bytes()
        assert dora.encode() not in data and eve.encode() not in data, f"token in clear in {f.name}"
    conn = sqlite3.connect(db)
    stored = {name: h for name, h in conn.execute("SELECT name, token_hash FROM hosts")}
    conn.close()
    assert stored == {"dora": hash_token(dora), "eve": hash_token(eve)}
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


async def test_authenticate_returns_role_then_none_after_revoke(db: Path, monkeypatch):
    """A valid token yields its host and role via a constant-time compare; revoked or unknown yield None."""
    alice = add_host(db, "alice")
    root = add_host(db, "root", admin=True)
    compared: list[tuple[str, str]] = []
    real = auth.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    async with await HostDirectory.open(db) as hosts:
        record = await hosts.authenticate(alice)
        assert record is not None and record.name == "alice" and record.role == "host"
        assert compared == [(hash_token(alice), hash_token(alice))]
        admin = await hosts.authenticate(root)
        assert admin is not None and admin.role == "admin" and admin.is_admin
        assert await hosts.authenticate(alice[:-1] + ("A" if alice[-1] != "A" else "B")) is None
        revoke_host(db, "alice")  # the CLI, while the server runs
        assert await hosts.authenticate(alice) is None
        assert (await hosts.authenticate(root)) is not None


async def test_authenticate_ignores_empty_oversized_and_non_string_tokens(db: Path):
    """Tokens that cannot be ours are refused without a lookup error."""
    add_host(db, "alice")
    async with await HostDirectory.open(db) as hosts:
        for token in ("", None, "x" * 10_000, 12345):
            assert await hosts.authenticate(token) is None  # type: ignore[arg-type]


async def test_re_adding_a_host_replaces_its_token(db: Path):
    """hosts add on an existing name rotates the token, updates the role and lifts a revocation."""
    old = add_host(db, "bob")
    revoke_host(db, "bob")
    new = add_host(db, "bob", admin=True)
    assert new != old
    async with await HostDirectory.open(db) as hosts:
        assert await hosts.authenticate(old) is None
        record = await hosts.authenticate(new)
        assert record is not None and record.role == "admin" and not record.revoked
    assert [h.name for h in list_hosts(db)] == ["bob"]


def test_host_names_are_checked(db: Path):
    """Empty, too long and invisible-character names are refused with a reason; names are trimmed."""
    for bad in ("", "   ", "x" * 33, "ali\u202ece", "bob\n"[:-1] + "\x07"):
        with pytest.raises(ChatError, match="host name"):
            add_host(db, bad)
    add_host(db, "  carol  ")
    assert [h.name for h in list_hosts(db)] == ["carol"]
