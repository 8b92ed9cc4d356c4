"""Which machines a deployment has, for one audit view across them (issue 18).

Every machine keeps its own audit file; to show an admin the whole deployment, a worker must know
the others and where their HTTP servers are. With a shared Redis, each worker writes its machine's
entry, `{name, url, seen}`, into one hash (`chatserver:machines`, field = machine name) at start and
every `REGISTER_S`; one hash is one key, so this works on a Redis Cluster too. Entries not seen for
`FORGET_S` are dropped when the hash is read: a machine that is merely down stays listed (and an
audit view names it as missing), one that was retired a day ago is forgotten.

Without Redis there is one machine and no registry. Nothing here is on the message path.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from chatserver.brokers.redis_scripts import PREFIX
from chatserver.errors import ChatError

if TYPE_CHECKING:
    from chatserver.brokers.redis_url import RedisClient

log = logging.getLogger(__name__)

MACHINES_KEY = f"{PREFIX}:machines"
#: How often a worker says its machine is still here.
REGISTER_S = 10.0
#: A machine not heard of for this long is taken as retired, and forgotten.
FORGET_S = 24 * 3600.0

#: Names go into a response header and a log line: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True, slots=True)
class Machine:
    """One machine of the deployment: its name, the base URL its HTTP server is reached at (None when
    it was started without CHATSERVER_MACHINE_URL), and when a worker of it last said it was here."""

    name: str
    url: str | None
    seen: float

    def to_json(self) -> bytes:
        return orjson.dumps({"name": self.name, "url": self.url, "seen": self.seen})


def check_name(name: str) -> str:
    """The machine name as given, or ChatError saying what a name may be."""
    if not _NAME.fullmatch(name):
        raise ChatError(
            f"--machine-name: expected letters, digits, '.', '-' or '_' (up to 63, such as a host name), "
            f"got {name!r}"
        )
    return name


def check_url(url: str) -> str:
    """The machine URL without a trailing slash, or ChatError: it must be http(s)://host[:port]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ChatError(
            "--machine-url: expected the base URL other machines reach this one's HTTP server at, "
            f"such as http://10.0.0.12:8000, got {url!r}"
        )
    return url.rstrip("/")


def check_machine(name: str, url: str | None) -> None:
    """ChatError when `serve`'s --machine-name or --machine-url cannot be used."""
    check_name(name)
    if url:
        check_url(url)


def decode(raw: Mapping[Any, Any], now: float) -> tuple[list[Machine], list[str]]:
    """(machines seen within FORGET_S, sorted by name; the fields to forget) from the hash's entries.

    A malformed entry is forgotten too: one bad entry must not stop the view."""
    machines, stale = [], []
    for field, value in raw.items():
        key = field.decode() if isinstance(field, bytes) else str(field)
        try:
            data = orjson.loads(value)
            url = check_url(data["url"]) if data.get("url") else None
            machine = Machine(check_name(str(data["name"])), url, float(data["seen"]))
        except (ValueError, KeyError, TypeError, ChatError):
            log.warning("forgot a malformed machine entry in Redis")
            stale.append(key)
            continue
        if now - machine.seen > FORGET_S or machine.name != key:
            stale.append(key)
        else:
            machines.append(machine)
    return sorted(machines, key=lambda m: m.name), stale


class MachineRegistry:
    """The deployment's machines in the shared Redis (see the module docstring)."""

    def __init__(self, client: RedisClient, name: str, url: str | None) -> None:
        self._redis = client
        self.name = name
        self.url = url

    @classmethod
    def for_broker(cls, broker: object, name: str, url: str | None) -> MachineRegistry | None:
        """On the Redis broker's own client; None without Redis (one machine: no registry)."""
        client = getattr(broker, "client", None)
        return cls(client, name, url) if client is not None else None

    async def register(self) -> None:
        """Say this machine is here (every worker of it writes the same entry)."""
        me = Machine(self.name, self.url, time.time())
        await self._redis.hset(MACHINES_KEY, self.name, me.to_json())

    async def machines(self) -> list[Machine]:
        """Every machine seen in the last day, this one included, by name; older entries are dropped."""
        machines, stale = decode(await self._redis.hgetall(MACHINES_KEY), time.time())
        if stale:
            await self._redis.hdel(MACHINES_KEY, *stale)
        return machines

    async def loop(self) -> None:
        """Register now and every REGISTER_S; a Redis that does not answer is retried, never fatal."""
        failing = False
        while True:
            try:
                await self.register()
                if failing:
                    log.info("machine %s registered again", self.name)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning("machine %s not registered (%s); will retry", self.name, type(exc).__name__)
                failing = True
            await asyncio.sleep(REGISTER_S)
