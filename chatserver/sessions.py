"""Signing in: the `hello` frame, identities that `resume` restores, and host credentials that
end when they change."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.badges import imitates_badge
from chatserver.errors import BadRequest
from chatserver.identity import imitates_staff
from chatserver.protocol import CLOSE_POLICY, clean_name
from chatserver.readers import Readers, checked
from chatserver.shared_hosts import host_source

if TYPE_CHECKING:
    from chatserver.auth import HostDirectory, HostRecord
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.metrics import Metrics
    from chatserver.store import Store

log = logging.getLogger(__name__)

#: How often each worker re-reads the host list (revocations take effect within this).
HOST_REFRESH_S = 3.0

#: Where the host list comes from: this machine's file, or Redis kept in step with it (shared_hosts).
HostSource = Callable[[], Awaitable[list["HostRecord"]]]


def token_hash(token: str) -> str:
    """How a resume token is kept: only its hash."""
    return hashlib.sha256(token.encode()).hexdigest()


class SignIn:
    """Who a connection is: name, session, role and the credential it signed in with."""

    def __init__(
        self,
        *,
        hosts: HostDirectory,
        store: Store,
        delivery: Delivery,
        metrics: Metrics,
        readers: Readers | None = None,
    ) -> None:
        self.hosts = hosts
        #: The language each connection reads (issue 19): `hello` may say it.
        self.readers = readers or Readers()
        self.store = store
        self.delivery = delivery
        self.metrics = metrics
        #: Names of hosts and admins, which participants may not pass themselves off as.
        self.host_names: set[str] = set()
        #: Hosts' titles, which nobody else may write into their name.
        self.host_titles: set[str] = set()
        self._wake = asyncio.Event()
        self._gauges: dict[str, Any] = {}

    async def hello(
        self, conn: Connection, frame: dict[str, Any], hosted: Callable[[Connection], list[str]]
    ) -> None:
        """Handle the first frame; raises BadRequest if it is not a usable hello.

        `hosted` lists the rooms a signed-in host or admin moderates (for the welcome).
        """
        if frame.get("type") != "hello":
            raise BadRequest(f'Expected "hello" as the first frame, got {frame.get("type")!r}')
        name = clean_name(frame["name"])
        lang = checked(frame.get("lang"))
        role, host_name, credential = "participant", None, ""
        # Judged against the hosts as they were when the hello began: a refresh that lands while
        # the token is looked up must not reserve the name of the host whose token it just missed.
        reserved_names, reserved_titles = self.host_names, self.host_titles
        record = await self.hosts.authenticate(frame.get("token")) if frame.get("token") else None
        if record is not None:
            role, host_name, credential = record.role, record.name, record.credential
        if role == "participant" and imitates_staff(name, reserved_names):
            raise BadRequest("That name could be mistaken for a host's; please choose another")
        if not (record and record.professional) and imitates_badge(name, reserved_titles):
            raise BadRequest(
                "That name could be mistaken for a professional's title. Titles are shown only for "
                "people the organisers have marked; please choose another name"
            )
        session, resume_token, conn.resumed = await self._identity(frame.get("resume"))
        conn.session, conn.name, conn.role, conn.host_name = session, name, role, host_name
        conn.credential = credential
        conn.title, conn.professional = (record.title, record.professional) if record else (None, False)
        self.readers.set(conn, lang)
        self.delivery.signed_in(conn)
        self._connections(role).inc()
        conn.send(
            frames.welcome(session, resume_token, name, role, hosted(conn) if role != "participant" else None)
        )

    async def _identity(self, resume: Any) -> tuple[str, str, bool]:
        """(session, resume token, restored): the one `resume` restores, or a new one, stored only now
        (the hello will be welcomed)."""
        if resume:
            try:
                identity = await self.store.load_identity(token_hash(resume))
            except Exception:
                identity = None
            if identity:
                return identity["session"], resume, True
        session = "s" + secrets.token_urlsafe(12)
        resume_token = secrets.token_urlsafe(32)
        try:
            await self.store.save_identity(
                token_hash(resume_token), {"session": session, "created": time.time()}
            )
        except Exception:
            log.warning("identity not saved: resume will not work for this session")
        return session, resume_token, False

    def signed_out(self, conn: Connection) -> None:
        if conn.session:
            self._connections(conn.role).dec()

    def _connections(self, role: str) -> Any:
        """The connections gauge of `role`, looked up once (every hello and goodbye counts)."""
        gauge = self._gauges.get(role)
        if gauge is None:
            gauge = self._gauges[role] = self.metrics.connections.labels(role)
        return gauge

    def hosts_changed(self) -> None:
        """Another process changed the hosts (a `hosts_changed` event): refresh now."""
        self._wake.set()

    async def refresh(self, source: HostSource) -> None:
        """Read the hosts once: new hosts' names and titles are reserved; revoked, replaced or
        re-roled credentials are signed out; a changed title shows from the next message."""
        records = await source()
        self.host_names = {r.name for r in records if not r.revoked}
        self.host_titles = {r.title for r in records if r.title and not r.revoked}
        self.check_credentials(records)

    async def refresh_first(self, db: str | os.PathLike[str], broker: object = None) -> HostSource:
        """Read the hosts before the worker takes its first hello (else, for a moment after a start,
        anyone could take a host's name), and return where to read them from again (`refresh_loop`).
        With a Redis broker the hosts are the deployment's (chatserver/shared_hosts.py), else this file's."""
        source = host_source(broker, db)
        await self._refresh_logged(source)
        return source

    async def refresh_loop(self, source: HostSource) -> None:
        """After `refresh_first`: refresh every HOST_REFRESH_S, and at once when woken (`hosts_changed`)."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), HOST_REFRESH_S)
            self._wake.clear()
            await self._refresh_logged(source)

    async def _refresh_logged(self, source: HostSource) -> None:
        try:
            await self.refresh(source)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("host names not refreshed", exc_info=True)

    def check_credentials(self, records: Iterable[HostRecord]) -> None:
        """Powers follow the credential a connection signed in with: sign out every host or admin
        whose token was revoked or replaced, or whose role changed, since."""
        current = {r.name: r for r in records if not r.revoked}
        for conn in list(self.delivery.connections):
            if conn.host_name is None:
                continue
            record = current.get(conn.host_name)
            if record is None or record.credential != conn.credential or record.role != conn.role:
                log.info("signing out host %s: credentials changed", conn.host_name)
                conn.raw.abort(CLOSE_POLICY, "your host credentials changed; please sign in again")
            else:  # a new title (hosts title) shows from the next message on
                conn.title, conn.professional = record.title, record.professional
