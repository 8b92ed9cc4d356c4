"""How many people are in each room, which of its hosts are on duty, across workers, and which
workers are alive.

Each worker counts its own members and on-duty hosts and tells the others on
every change and in a heartbeat every HEARTBEAT_S; a worker not heard for
WORKER_STALE_S no longer counts (its people are gone with it), and its claimed
names can be taken. A worker alone keeps its changes to itself (a reconnect storm
joins thousands a second, and nobody would read those events): it says who it is
when it starts, and answers a worker it has not heard before with a heartbeat at
once, so a newcomer knows every room's count and hosts within a round trip.

A host is on duty in a room while they are in it, host it (or are an admin) and
have not said they are taking a break.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.badges import badge
from chatserver.errors import ChatError

if TYPE_CHECKING:
    from chatserver.brokers.base import Broker
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
WORKER_STALE_S = 15.0


class Presence:
    """Member counts, hosts on duty and worker liveness for one worker."""

    def __init__(
        self, *, worker_id: str, broker: Broker, delivery: Delivery, rooms: dict[str, RoomState]
    ) -> None:
        self.worker_id = worker_id
        self.broker = broker
        self.delivery = delivery
        self.rooms = rooms
        #: Other workers, by id: when we last heard from them (monotonic).
        self.worker_seen: dict[str, float] = {}
        #: (room, worker) -> the titled hosts on duty there, as that worker last said.
        self.remote_staff: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: Told whenever a room shows a host on duty (hosting.py opens a room waiting for one).
        self.host_here: Callable[[RoomState], None] | None = None

    def members(self, room: RoomState) -> int:
        return room.member_count(time.monotonic(), WORKER_STALE_S)

    def local_hosts(self, room: RoomState) -> frozenset[str]:
        """Host names on duty in `room` on this worker. Every join and every message asks: only the
        room's staff (members signed in as hosts or admins) are looked at."""
        is_host_of = self.delivery.is_host_of
        return frozenset(c.host_name or c.name for c in room.staff if c.on_duty and is_host_of(c, room))

    def hosts_on_duty(self, room: RoomState, local: frozenset[str] | None = None) -> frozenset[str]:
        """Host names on duty in `room` on any live worker (`local`: this worker's, when known)."""
        now = time.monotonic()
        names = set(self.local_hosts(room) if local is None else local)
        for hosts, heard in room.remote_hosts.values():
            if now - heard < WORKER_STALE_S:
                names |= hosts
        return frozenset(names)

    def local_staff(self, room: RoomState) -> list[dict[str, Any]]:
        """The titled hosts on duty in `room` on this worker: display name, title, professional mark
        (and, for the other workers only, the host name they are on duty as)."""
        seen: dict[str, dict[str, Any]] = {}
        for c in room.staff:
            if c.title and c.on_duty and self.delivery.is_host_of(c, room):
                seen[c.session] = {"name": c.name, **badge(c.title, c.professional), "host": c.host_name}
        return sorted(seen.values(), key=lambda s: (not s.get("professional"), s["name"].casefold()))

    def staff(self, room: RoomState, local: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Every titled host on duty in `room`, on any live worker, as participants see them (`local`:
        this worker's, when known)."""
        now = time.monotonic()
        everyone = list(self.local_staff(room) if local is None else local)
        for origin, (hosts, heard) in room.remote_hosts.items():
            if now - heard < WORKER_STALE_S:
                everyone += [
                    s for s in self.remote_staff.get((room.id, origin), ()) if s.get("host") in hosts
                ]
        return [{k: v for k, v in s.items() if k != "host"} for s in everyone]

    def show(self, room: RoomState, **change: Any) -> None:
        """This worker's members see the room's count, its hosts on duty (and who came or went)."""
        self._show(room, self.local_hosts(room), self.local_staff(room), change)

    def _show(
        self, room: RoomState, hosts: frozenset[str], staff: list[dict[str, Any]], change: dict[str, Any]
    ) -> None:
        frame = frames.presence(room.id, self.members(room), **change)
        frame["hosts"] = on_duty = len(self.hosts_on_duty(room, hosts))
        frame["staff"] = self.staff(room, staff)
        room.later.add(frames.wire(frame))  # nobody waits for it: with the room's next tick
        if on_duty and self.host_here is not None:
            self.host_here(room)

    def changed(self, room: RoomState, **change: Any) -> None:
        """Someone joined, left, or went on or off duty here: show it, and tell the other workers.

        A titled host who joins is named with their badge (`title`, `professional`). This worker's
        hosts and staff are read once for both.
        """
        if "joined" in change:
            change.update(self._badge_of(room, str(change.get("session", ""))))
        hosts, staff = self.local_hosts(room), self.local_staff(room)
        self._show(room, hosts, staff, change)
        if not self.others_alive():
            return
        self.broker.publish_event(
            {
                "kind": "presence",
                "origin": self.worker_id,
                "room": room.id,
                "count": len(room.members),
                "hosts": sorted(hosts),
                "staff": staff,
                **change,
            }
        )

    def _badge_of(self, room: RoomState, session: str) -> dict[str, Any]:
        for c in self.delivery.by_session.get(session, ()):
            if c in room.staff and self.delivery.is_host_of(c, room):
                return badge(c.title, c.professional)
        return {}

    def set_duty(self, conn: Connection, on: bool) -> None:
        """A host goes on duty or takes a break: every room they host here counts them, or not."""
        if conn.host_name is None:
            raise ChatError("Only hosts go on and off duty", code="forbidden")
        if conn.on_duty != on:
            conn.on_duty = on
            for room_id in conn.rooms:
                room = self.rooms.get(room_id)
                if room is not None and self.delivery.is_host_of(conn, room):
                    self.changed(room)
        if on:
            text = "You are on duty: your rooms count you as here."
        else:
            text = "You are taking a break: your rooms no longer count you as here."
        conn.send(frames.notice("duty", text, on_duty=on))

    def others_alive(self) -> bool:
        """Whether another worker has been heard lately: only then is a change worth publishing."""
        now = time.monotonic()
        return any(now - heard < WORKER_STALE_S for heard in self.worker_seen.values())

    def alive_workers(self) -> set[str]:
        now = time.monotonic()
        alive = {w for w, heard in self.worker_seen.items() if now - heard < WORKER_STALE_S}
        alive.add(self.worker_id)
        return alive

    # ---- what other workers say ----------------------------------------------------------
    def heard(self, origin: str | None) -> None:
        """A worker spoke. One not heard lately (new, or back after an outage) is answered with a
        heartbeat at once: it learns this worker's counts and hosts now, not in HEARTBEAT_S."""
        if not origin or origin == self.worker_id:
            return
        now = time.monotonic()
        last = self.worker_seen.get(origin)
        self.worker_seen[origin] = now
        if last is None or now - last >= WORKER_STALE_S:
            self.broker.publish_event(self._heartbeat())

    def on_presence(self, room: RoomState, envelope: dict[str, Any]) -> None:
        origin = envelope.get("origin")
        if origin == self.worker_id or origin is None:
            return
        now = time.monotonic()
        room.remote_counts[origin] = (int(envelope.get("count", 0)), now)
        room.remote_hosts[origin] = (frozenset(envelope.get("hosts", ())), now)
        self.remote_staff[(room.id, origin)] = list(envelope.get("staff", ()))
        shown = ("joined", "left", "session", "title", "professional")
        self.show(room, **{k: envelope[k] for k in shown if k in envelope})

    def on_heartbeat(
        self,
        origin: str | None,
        counts: dict[str, int],
        hosts: dict[str, list[str]],
        staff: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        if origin is None or origin == self.worker_id:
            return
        now = time.monotonic()
        for room in self.rooms.values():
            if staff is not None:  # a worker that started after the host came still shows the badge
                self.remote_staff[(room.id, origin)] = list(staff.get(room.id, ()))
            count = int(counts.get(room.id, 0))
            names = frozenset(hosts.get(room.id, ()))
            before = room.remote_counts.get(origin, (0, 0.0))[0]
            hosts_before = room.remote_hosts.get(origin, (frozenset(), 0.0))[0]
            if count or origin in room.remote_counts:
                room.remote_counts[origin] = (count, now)
            if names or origin in room.remote_hosts:
                room.remote_hosts[origin] = (names, now)
            if count != before or names != hosts_before:
                self.show(room)

    # ---- the heartbeat ------------------------------------------------------------------
    async def heartbeat_loop(self) -> None:
        """The first heartbeat goes out at start: the workers already running hear of this one (and
        answer) before its people come."""
        while True:
            try:
                self.broker.publish_event(self._heartbeat())
                self._expire_workers()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat failed")
            await asyncio.sleep(HEARTBEAT_S)

    def _heartbeat(self) -> dict[str, Any]:
        counts = {rid: len(r.members) for rid, r in self.rooms.items() if r.members}
        hosts = {rid: sorted(names) for rid, r in self.rooms.items() if (names := self.local_hosts(r))}
        staff = {rid: people for rid, r in self.rooms.items() if (people := self.local_staff(r))}
        return {
            "kind": "heartbeat",
            "origin": self.worker_id,
            "counts": counts,
            "hosts": hosts,
            "staff": staff,
        }

    def _expire_workers(self) -> None:
        now = time.monotonic()
        for room in self.rooms.values():
            stale = [w for w, (_, heard) in room.remote_counts.items() if now - heard > WORKER_STALE_S]
            for worker in stale:
                del room.remote_counts[worker]
                room.remote_hosts.pop(worker, None)
                self.show(room)
