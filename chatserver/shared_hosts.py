"""One set of hosts for a deployment that shares Redis (issue 18).

Redis holds the deployment's host credentials in one hash, `chatserver:hosts` (name -> the row as
JSON: token *hash*, role, dates, title); each machine's SQLite `hosts` table stays its working copy,
which `HostDirectory` reads at every sign-in, so a hello needs no Redis round trip and a short Redis
outage signs nobody out. `SharedHosts.sync` makes the two agree, name by name: the row with the
later change wins (its `version`: the later of added and revoked, a revocation before an addition of
the same instant, then the token hash so every machine picks the same). A newer local row goes up
(a `hosts` command run without `--redis`, or a machine's hosts from before it shared Redis), a newer
or different shared row comes down. Every worker syncs at start, on a `hosts_changed` event and
every few seconds (sessions.HOST_REFRESH_S), then signs out whoever's credential ended.

Titles carry no date of their own, so a title is changed in Redis first (`set_title`) and comes
down from there; a title changed in one machine's file alone is put back by the next sync.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import orjson

from chatserver.auth import HostRecord, check_name, hash_token, list_hosts, revoke_host
from chatserver.brokers.redis_scripts import EVT_CHANNEL, PREFIX
from chatserver.db import connect, write_transaction
from chatserver.errors import ChatError

if TYPE_CHECKING:
    from chatserver.brokers.redis_url import RedisClient
    from chatserver.sessions import HostSource

T = TypeVar("T")
log = logging.getLogger(__name__)

HOSTS_KEY = f"{PREFIX}:hosts"
#: The event every worker wakes its host sync on (hub.on_event).
CHANGED = orjson.dumps({"kind": "hosts_changed"})

# KEYS: the hosts hash. ARGV: name, version, row JSON. Only a newer row replaces the stored one, so
# two machines pushing at once end with the newer, whatever the order.
_PUSH_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cjson.decode(cur)['version'] >= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""
# KEYS: the hosts hash. ARGV: name, title ('' for none), professional (0/1). The token is untouched.
_TITLE_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local row = cjson.decode(cur)
if ARGV[2] == '' then row['title'] = cjson.null else row['title'] = ARGV[2] end
row['professional'] = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(row))
return 1
"""

_COLUMNS = ("name", "token_hash", "is_admin", "created_at", "revoked_at", "title", "professional")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM hosts"
_UPSERT = (
    f"INSERT INTO hosts ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    " ON CONFLICT (name) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "name")
)


@dataclass(frozen=True, slots=True)
class HostRow:
    """One row of the hosts table, token hash included (never a token)."""

    name: str
    token_hash: str
    is_admin: int
    created_at: str
    revoked_at: str | None
    title: str | None
    professional: int

    @property
    def version(self) -> str:
        """What orders two rows of one name, as text of digits and hex of one width: it sorts the same
        in Python and in Redis's Lua (which compares with the server's locale)."""
        changed = re.sub(r"\D", "", max(self.created_at, self.revoked_at or ""))
        return f"{changed}{int(self.revoked_at is not None)}{self.token_hash}"

    def to_json(self) -> bytes:
        return orjson.dumps({**asdict(self), "version": self.version})

    @classmethod
    def from_json(cls, raw: bytes | str) -> HostRow:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(
            name=str(data["name"]),
            token_hash=str(data["token_hash"]),
            is_admin=int(data["is_admin"]),
            created_at=str(data["created_at"]),
            revoked_at=data.get("revoked_at") or None,
            title=data.get("title") or None,
            professional=int(data.get("professional") or 0),
        )

    def record(self) -> HostRecord:
        return HostRecord(
            name=self.name,
            is_admin=bool(self.is_admin),
            created_at=self.created_at,
            revoked_at=self.revoked_at,
            credential=self.token_hash[:16],
            title=self.title,
            professional=bool(self.professional) and bool(self.title),
        )


def plan(local: dict[str, HostRow], shared: dict[str, HostRow]) -> tuple[list[HostRow], list[HostRow]]:
    """(rows to copy down into SQLite, rows to push up to Redis): the newer row of each name wins,
    and a tie that still differs (a title) is settled by Redis."""
    down, up = [], []
    for name in sorted(local.keys() | shared.keys()):
        mine, theirs = local.get(name), shared.get(name)
        if theirs is None or (mine is not None and mine.version > theirs.version):
            assert mine is not None
            up.append(mine)
        elif mine != theirs:
            down.append(theirs)
    return down, up


def _local(conn: Any) -> dict[str, HostRow]:
    rows = (
        HostRow(n, h, int(a), c, r or None, t or None, int(p))
        for n, h, a, c, r, t, p in conn.execute(_SELECT)
    )
    return {row.name: row for row in rows}


def merge_local(
    db: str | os.PathLike[str], shared: dict[str, HostRow]
) -> tuple[list[HostRow], list[HostRow]]:
    """Copy newer shared rows into the file at `db`; returns (its rows now, rows Redis should get).

    Reads first and takes the write lock only when something comes down; then it reads again under
    the lock, so a `hosts` command that wrote meanwhile is never overwritten by an older row.
    """
    conn = connect(db)
    try:
        down, _ = plan(_local(conn), shared)
        if down:
            with write_transaction(conn):
                down, _ = plan(_local(conn), shared)
                conn.executemany(_UPSERT, [tuple(asdict(row).values()) for row in down])
        local = _local(conn)
    finally:
        conn.close()
    _, up = plan(local, shared)
    return sorted(local.values(), key=lambda r: r.name), up


def _decoded(values: Iterable[bytes | str]) -> Iterator[HostRow]:
    for raw in values:
        try:
            yield HostRow.from_json(raw)
        except (ValueError, KeyError, TypeError):  # one bad entry must not stop every sign-out
            log.warning("ignored a malformed host row in Redis")


class SharedHosts:
    """The deployment's hosts in Redis, kept in step with this machine's SQLite file."""

    def __init__(self, client: RedisClient, db: str | os.PathLike[str]) -> None:
        self._redis = client
        self._db = db
        self._push = client.register_script(_PUSH_LUA)
        self._title = client.register_script(_TITLE_LUA)
        self._degraded = False

    @classmethod
    def for_broker(cls, broker: object, db: str | os.PathLike[str]) -> SharedHosts | None:
        """On the Redis broker's own client (one pool per worker); None without Redis."""
        client = getattr(broker, "client", None)
        return cls(client, db) if client is not None else None

    async def sync(self) -> list[HostRecord]:
        """Make Redis and the file agree (see the module docstring); every host, revoked included."""
        raw = await self._redis.hgetall(HOSTS_KEY)
        shared = {r.name: r for r in _decoded(raw.values())}
        rows, up = await asyncio.to_thread(merge_local, self._db, shared)
        pushed = 0
        for row in up:
            pushed += int(await self._push(keys=[HOSTS_KEY], args=[row.name, row.version, row.to_json()]))
        if pushed:
            await self.announce()
        return [row.record() for row in rows]

    async def records(self) -> list[HostRecord]:
        """`sync` for a worker's refresh: while Redis does not answer, this machine's file alone, so
        a revocation made here still signs people out here."""
        try:
            records = await self.sync()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._degraded:
                log.warning("hosts not synced with Redis (%s); using this machine's file", type(exc).__name__)
            self._degraded = True
            return await asyncio.to_thread(list_hosts, self._db)
        if self._degraded:
            log.info("hosts synced with Redis again")
        self._degraded = False
        return records

    async def announce(self) -> None:
        """Wake every worker's sync now, rather than at its next round."""
        await self._redis.publish(EVT_CHANNEL, CHANGED)

    async def set_title(self, name: str, title: str | None, professional: bool) -> bool:
        """Change a title where it is shared; False when Redis has no such host."""
        flag = int(bool(title) and professional)
        return bool(await self._title(keys=[HOSTS_KEY], args=[name, title or "", flag]))


def host_source(broker: object, db: str | os.PathLike[str]) -> HostSource:
    """What a worker's host refresh reads: Redis in step with the file, or the file alone."""
    shared = SharedHosts.for_broker(broker, db)
    if shared is not None:
        return shared.records
    return functools.partial(asyncio.to_thread, list_hosts, db)


def open_client(url: str) -> RedisClient:
    """A client of its own for the `hosts` command (the server uses its broker's)."""
    from chatserver.brokers.redis_url import cluster_client, is_cluster_url

    if is_cluster_url(url):
        return cluster_client(url)
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url)


def check_won(records: Iterable[HostRecord], name: str, *, revoked: bool, credential: str = "") -> None:
    """ChatError when a change made here lost to a newer one from another machine (clock skew)."""
    record = next((r for r in records if r.name == name), None)
    if record is None or record.revoked != revoked or (credential and record.credential != credential):
        raise ChatError(
            f"another machine changed {name!r} at a later time, and its change stands; "
            "check that the machines' clocks agree (NTP), see `chatserver hosts list`, and try again"
        )


def _redis_error(url: str, exc: Exception, what: str) -> ChatError:
    where = url.split("@")[-1]
    return ChatError(f"Redis at {where} did not answer ({type(exc).__name__}): {what}")


async def _around(
    url: str,
    db: str | os.PathLike[str],
    change: Callable[[], T] | None,
    title: tuple[str, str | None, bool] | None,
) -> tuple[T | bool | None, list[HostRecord]]:
    from redis.exceptions import RedisError

    client = open_client(url)
    try:
        shared = SharedHosts(client, db)
        try:
            await shared.sync()  # first, so a host made on another machine is here to change
            result: T | bool | None = await shared.set_title(*title) if title else None
        except (RedisError, OSError) as exc:
            raise _redis_error(url, exc, "nothing was changed; fix --redis or start Redis") from None
        if change is not None:
            result = change()
        try:
            records = await shared.sync()
            if change is not None or result:
                await shared.announce()
        except (RedisError, OSError) as exc:
            raise _redis_error(
                url, exc, "changed in this machine's file only; its server shares it once Redis answers"
            ) from None
        return result, records
    finally:
        await client.aclose()


def around(
    url: str, db: str | os.PathLike[str], change: Callable[[], T] | None = None
) -> tuple[T, list[HostRecord]]:
    """For the `hosts` command: `change` this machine's file between two syncs with Redis, then wake
    every worker. Returns what `change` returned and every host as the deployment now has them."""
    result, records = asyncio.run(_around(url, db, change, None))
    return cast(T, result), records


def shared_add(url: str, db: str | os.PathLike[str], add: Callable[[], str], name: str) -> str:
    """`hosts add` where the hosts are shared: the token `add` made, once it stands everywhere."""
    token, records = around(url, db, add)
    check_won(records, check_name(name), revoked=False, credential=hash_token(token)[:16])
    return token


def shared_revoke(url: str, db: str | os.PathLike[str], name: str) -> bool:
    """`hosts revoke` where the hosts are shared; False: no such host, or already revoked."""
    revoked, records = around(url, db, lambda: revoke_host(db, name))
    if revoked:
        check_won(records, name.strip(), revoked=True)
    return revoked


def shared_title(
    url: str, db: str | os.PathLike[str], name: str, title: str | None, professional: bool
) -> bool:
    """`hosts title` where the hosts are shared: changed in Redis, then copied down here."""
    found, _ = asyncio.run(_around(url, db, None, (name, title, professional)))
    return bool(found)
