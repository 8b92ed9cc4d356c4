"""The hub: one worker's rooms and connections, and the parts that serve them.

It builds and owns the parts (dependencies point one way, downwards):

    hub ─┬─ sessions.SignIn      hello, identities, credentials that end when they change
         ├─ membership.Membership  join (history, `since` replay), leave, typing
         ├─ sending.SendPipeline   send → filters → hold | audit → publish → ack
         ├─ moderation.Moderation  held queue, host actions, reports, crisis alerts, escalation
         ├─ presence.Presence      member counts across workers, heartbeats
         ├─ room_loader.RoomLoader a room's log, numbering and sanctions, at start and on reload
         └─ delivery.Delivery      this worker's connections: to_room, to_hosts, to_session, leave

and is the broker's listener: every published message and event comes back
through `on_message` / `on_event` and is written to local sockets once encoded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from chatserver import frames, resync
from chatserver.connection import FLOOD_STRIKES, Connection
from chatserver.delivery import Delivery
from chatserver.errors import BadRequest, ChatError
from chatserver.hosting import Hosting
from chatserver.hours import iso_z
from chatserver.membership import Membership
from chatserver.moderation import Moderation
from chatserver.presence import WORKER_STALE_S, Presence
from chatserver.protocol import CLOSE_POLICY, HOST_ACTIONS, error_frame, parse_frame, ws_text_frame
from chatserver.room_loader import RoomLoader
from chatserver.rooms_state import RoomState
from chatserver.sending import SendPipeline
from chatserver.sessions import SignIn

if TYPE_CHECKING:
    from chatserver.audit import AuditLog
    from chatserver.auth import HostDirectory, HostRecord
    from chatserver.brokers.base import Broker
    from chatserver.metrics import Metrics
    from chatserver.rooms import RoomsConfig
    from chatserver.store import Store

log = logging.getLogger(__name__)

__all__ = ["WORKER_STALE_S", "Hub", "new_worker_id"]


class Hub:
    """Rooms and connections of one worker process."""

    def __init__(
        self,
        *,
        rooms: RoomsConfig,
        broker: Broker,
        store: Store,
        audit: AuditLog,
        hosts: HostDirectory,
        metrics: Metrics,
        worker_id: str | None = None,
    ) -> None:
        # Long on purpose: the composition root, one statement per part and what it is handed.
        self.broker = broker
        self.store = store
        self.audit = audit
        self.metrics = metrics
        self.worker_id = worker_id or secrets.token_hex(4)
        self.rooms: dict[str, RoomState] = {rid: RoomState(cfg) for rid, cfg in rooms.rooms.items()}
        self.loader = RoomLoader(broker, store, audit)
        self.delivery = Delivery()
        self.signin = SignIn(hosts=hosts, store=store, delivery=self.delivery, metrics=metrics)
        self.readers = self.signin.readers  # the language each connection reads (issue 19)
        self.presence = Presence(
            worker_id=self.worker_id, broker=broker, delivery=self.delivery, rooms=self.rooms
        )
        self.moderation = Moderation(
            audit=audit,
            broker=broker,
            store=store,
            delivery=self.delivery,
            room=self.room_or_error,
            publish=self._publish,
            spawn=self.spawn,
            readers=self.readers,
        )
        self.sending = SendPipeline(
            room=self.room_or_error,
            rooms=self.rooms,
            broker=broker,
            audit=audit,
            metrics=metrics,
            moderation=self.moderation,
            delivery=self.delivery,
            hosts_on_duty=self.presence.hosts_on_duty,
        )
        self.hosting = Hosting(
            rooms=self.rooms, presence=self.presence, delivery=self.delivery, spawn=self.spawn
        )
        self.presence.host_here = self.hosting.host_here
        self.membership = Membership(
            room=self.room_or_error,
            rooms=self.rooms,
            store=store,
            audit=audit,
            broker=broker,
            delivery=self.delivery,
            presence=self.presence,
            moderation=self.moderation,
            hosting=self.hosting,
            readers=self.readers,
        )
        self.delivery.leave = self.membership.leave
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        #: Set when shared state must be re-read at once (the broker reconnected).
        self.resync_now = asyncio.Event()
        #: Set by the app: reload rooms.yaml on this worker (asked by another worker).
        self.reload_hook: Callable[[str], None] | None = None

    def _publish(self, *args: Any, **kwargs: Any) -> None:
        # Moderation is built before the send pipeline it publishes through (releases).
        self.sending.publish(*args, **kwargs)

    # ---- what the app reads -------------------------------------------------------------
    @property
    def connections(self) -> set[Connection]:
        return self.delivery.connections

    @property
    def host_names(self) -> set[str]:
        return self.signin.host_names

    @host_names.setter
    def host_names(self, names: set[str]) -> None:
        self.signin.host_names = names

    def check_credentials(self, records: Iterable[HostRecord]) -> None:
        self.signin.check_credentials(records)

    # ---- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        known = await self.audit.room_max_seqs()
        await self.broker.start(self, list(self.rooms), known)
        for room in self.rooms.values():
            await self.loader.load(room)
        if not self.broker.distributed:
            await self._restore_held()
        self.hosting.refresh()  # nobody is connected yet: rooms start in their unhosted mode after the grace
        try:
            await resync.catch_up(self, announce=False)
        except Exception:
            log.warning("shared state not read at start; retrying in the background", exc_info=True)
        self._loops = [
            asyncio.create_task(self.presence.heartbeat_loop(), name="hub-heartbeat"),
            asyncio.create_task(self.moderation.escalation_loop(self.rooms), name="hub-escalation"),
            asyncio.create_task(resync.loop(self), name="hub-resync"),
            asyncio.create_task(self.hosting.loop(), name="hub-hosting"),
        ]

    async def _restore_held(self) -> None:
        """One process, in-memory store: rebuild the held queue from the audit log after a restart.

        Not done with Redis: the queue lives there, and a worker starting while
        another releases an item could otherwise bring a released item back.
        """
        for item in await self.audit.pending_held():
            if item["room"] in self.rooms:
                await self.store.put_held(item["room"], item)
                self.moderation.held_local[item["id"]] = (item["room"], item["held_at"], False)

    async def stop(self) -> None:
        tasks = [*self._loops, *self._tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("background task failed during shutdown")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a rare, slow path (held items, host actions) without blocking the reader."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task failed", exc_info=task.exception())

    # ---- a connection's life --------------------------------------------------------------
    def attach(self, conn: Connection) -> None:
        self.delivery.connections.add(conn)

    async def detach(self, conn: Connection) -> None:
        self.delivery.gone(conn)
        self.readers.forget(conn)
        self.signin.signed_out(conn)
        for room_id in list(conn.rooms):
            await self.membership.leave(conn, room_id, "disconnect")

    async def hello(self, conn: Connection, frame: dict[str, Any]) -> None:
        """Handle the first frame; raises BadRequest if it is not a usable hello."""
        await self.signin.hello(conn, frame, self._hosted)

    def _hosted(self, conn: Connection) -> list[str]:
        return [rid for rid, room in self.rooms.items() if self.delivery.is_host_of(conn, room)]

    async def handle(self, conn: Connection, raw: str | bytes) -> None:
        """One frame from a client that has said hello."""
        if not self.admit_frame(conn, raw):
            return
        try:
            frame = parse_frame(raw)
        except ChatError as exc:
            conn.send(error_frame(exc.code, exc.message))
            return
        kind = frame["type"]
        try:
            if kind == "send":
                self.sending.send(conn, frame)
            elif kind == "ping":
                conn.send({"type": "pong"})
            elif kind == "typing":
                self.membership.typing(conn, frame["room"])
            elif kind == "join":
                await self.membership.join(conn, frame)
            elif kind == "leave":
                if frame["room"] not in conn.rooms:
                    raise ChatError(f"You are not in {frame['room']!r}", code="not_joined")
                await self.membership.leave(conn, frame["room"], "leave")
            elif kind == "report":
                await self.moderation.report(conn, frame)
            elif kind == "acknowledge":
                await self.moderation.acknowledge(conn, frame)
            elif kind == "lang":
                self.membership.language(conn, frame["lang"])
            elif kind == "duty":
                self.presence.set_duty(conn, bool(frame["on"]))
            elif kind in HOST_ACTIONS:
                await self.moderation.host_action(conn, frame)
            elif kind == "hello":
                raise BadRequest("You already said hello on this connection")
        except ChatError as exc:
            error = error_frame(exc.code, exc.message, frame.get("client_id") if kind == "send" else None)
            if "room" in frame:
                error["room"] = frame["room"]
            error.update(exc.extra)
            conn.send(error)

    def admit_frame(self, conn: Connection, raw: str | bytes | None) -> bool:
        """The per-connection frame rate, from the very first frame: False when `raw` is refused.

        A refused send is still read by the crisis filter; a connection that keeps
        flooding is closed.
        """
        if conn.allow_frame():
            return True
        if conn.strikes >= FLOOD_STRIKES:
            conn.flooded = True
            conn.raw.abort(CLOSE_POLICY, "too many frames")
            return False
        loose = _loose_frame(raw) if raw is not None and conn.session else {}
        conn.send(error_frame("rate_limited", "Too many frames; slow down", loose.get("client_id")))
        if loose.get("type") == "send":
            self.sending.screen_throttled(conn, loose)
        return False

    def room_or_error(self, room_id: str) -> RoomState:
        room = self.rooms.get(room_id)
        if room is None or room.closed:
            raise ChatError(f"There is no room {room_id[:60]!r}", code="unknown_room")
        return room

    # ---- the broker calls these ------------------------------------------------------------
    def on_message(self, room_id: str, seq: int, message_id: str, frame: bytes) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        if room.remember(seq, message_id, frame):
            self.delivery.to_room(room, ws_text_frame(frame))
        self.sending.delivered(message_id)

    def on_event(self, envelope: dict[str, Any]) -> None:
        kind = envelope.get("kind")
        origin = envelope.get("origin")
        self.presence.heard(origin)
        room = self.rooms.get(envelope.get("room", ""))
        if kind == "heartbeat":
            self.presence.on_heartbeat(
                origin, envelope.get("counts", {}), envelope.get("hosts", {}), envelope.get("staff", {})
            )
        elif kind == "presence":
            if room is not None:
                self.presence.on_presence(room, envelope)
        elif kind == "hosts_changed":  # `hosts` run on some machine (chatserver/shared_hosts.py)
            self.signin.hosts_changed()
        elif kind == "reload":
            if origin != self.worker_id and self.reload_hook is not None:
                self.reload_hook(str(envelope.get("by", "another worker")))
        elif kind == "typing":
            if room is not None:
                wire = frames.wire(frames.typing(room.id, envelope["name"]))
                self.delivery.to_room(room, wire, skip_session=envelope.get("session"))
        else:
            self.moderation.on_event(room, envelope)

    def on_broker_state(self, healthy: bool, reason: str) -> None:
        self.metrics.broker_healthy.set(1 if healthy else 0)
        if not healthy:
            self.metrics.broker_reconnects.inc()
            notice = frames.notice(
                "broker_degraded",
                "We are having trouble delivering messages. Messages you send may not go through; "
                "you will be told if one did not.",
                level="warning",
            )
        else:
            self.resync_now.set()  # events sent while we were away are gone: re-read what they changed
            notice = frames.notice("broker_ok", "Connection restored: messages flow normally again.")
        self.delivery.to_all(self.delivery.connections, frames.wire(notice))

    # ---- reload and retention -----------------------------------------------------------------
    async def apply_rooms(self, config: RoomsConfig) -> dict[str, list[str]]:
        """Swap in a new rooms.yaml: add, update and close rooms; returns what changed.

        A room the file adds may have a past (it was in an earlier rooms.yaml): it is loaded as at
        start, before anyone can join it, so its numbering goes on and `join since` finds its history.
        """
        fresh = await self.loader.open_new({r: c for r, c in config.rooms.items() if r not in self.rooms})
        added, changed, removed = [], [], []
        for rid, cfg in config.rooms.items():
            room = self.rooms.get(rid)
            if room is None:
                self.rooms[rid] = fresh.get(rid) or RoomState(cfg)
                added.append(rid)
            elif room.config.source != cfg.source:
                room.config = cfg
                changed.append(rid)
        closed = frames.notice(
            "room_closed",
            "This room has been closed by the organisers. Thank you for being here.",
            level="warning",
        )
        for rid in [r for r in self.rooms if r not in config.rooms]:
            room = self.rooms.pop(rid)
            room.closed = True
            removed.append(rid)
            wire = frames.wire({**closed, "room": rid})
            for member in list(room.audience()):
                member.send_frame(wire)
                member.rooms.discard(rid)
            room.clear_members()
        return {"added": added, "changed": changed, "removed": removed}

    async def purge_before(self, cutoff: float) -> None:
        """Retention: forget messages and care notes older than `cutoff` (epoch seconds) everywhere
        this worker keeps them: its room logs, the broker's room histories, the store's notes."""
        stamp = iso_z(datetime.fromtimestamp(cutoff, UTC), "milliseconds")
        for room in list(self.rooms.values()):
            room.drop_older_than(stamp)
            await self.broker.purge_history(room.id, stamp)
        await self.store.purge_notes(stamp)


def _loose_frame(raw: str | bytes) -> dict[str, Any]:
    """A frame we refuse without handling, read just enough to answer it (its client_id, a crisis)."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return frame if isinstance(frame, dict) else {}


def new_worker_id() -> str:
    return f"{os.getpid():x}-{secrets.token_hex(3)}"
