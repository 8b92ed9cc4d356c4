"""The hub: local connections ↔ rooms, and the path of every message.

Inbound: parse → room checks → filter chain → audit (group commit) → publish
through the broker (which numbers it) → every worker writes the same frame
bytes to its local members. Nothing on that path awaits per message: audit and
broker take callbacks and keep order, so members see messages in one order
and a sender's messages in the order sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from chatserver import moderation, resync
from chatserver.connection import FLOOD_STRIKES, Connection
from chatserver.errors import BadRequest, ChatError, Unavailable
from chatserver.filters.base import MessageContext
from chatserver.identity import imitates_staff
from chatserver.protocol import (
    CLOSE_POLICY,
    HOST_ACTIONS,
    clean_name,
    dumps,
    error_frame,
    parse_frame,
    ws_text_frame,
)
from chatserver.rooms_state import RoomState

if TYPE_CHECKING:
    from chatserver.audit import AuditLog
    from chatserver.auth import HostDirectory, HostRecord
    from chatserver.brokers.base import Broker
    from chatserver.metrics import Metrics
    from chatserver.rooms import RoomsConfig
    from chatserver.store import Store

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
WORKER_STALE_S = 15.0
CW_MAX = 64
TYPING_EVERY_S = 1.0
#: Messages per frame when a join replays history: a long absence comes in pages, never one huge frame.
REPLAY_PAGE = 200
DRAIN_POLL_S = 0.01


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class IdMaker:
    """Message ids: unique across the deployment and, per worker, sorting in creation order."""

    def __init__(self) -> None:
        self._tag = secrets.token_hex(3)
        self._last_ms = 0
        self._counter = 0

    def next(self) -> str:
        ms = max(int(time.time() * 1000), self._last_ms)
        self._last_ms = ms
        self._counter += 1
        return f"m{ms:011x}{self._counter:08x}{self._tag}"


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
        self.broker = broker
        self.store = store
        self.audit = audit
        self.hosts = hosts
        self.metrics = metrics
        self.worker_id = worker_id or secrets.token_hex(4)
        self.ids = IdMaker()
        self.rooms: dict[str, RoomState] = {rid: RoomState(cfg) for rid, cfg in rooms.rooms.items()}
        self.connections: set[Connection] = set()
        self.by_session: dict[str, set[Connection]] = {}
        self.worker_seen: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._escalator: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None
        #: Set when shared state must be re-read at once (the broker reconnected).
        self.resync_now = asyncio.Event()
        self._publish_started: dict[str, float] = {}
        #: Names of hosts and admins, which participants may not pass themselves off as.
        self.host_names: set[str] = set()
        #: Set by the app: reload rooms.yaml on this worker (asked by another worker).
        self.reload_hook: Callable[[str], None] | None = None
        #: Items this worker held: id -> (room, held_at epoch, escalated yet).
        self.held_local: dict[str, tuple[str, float, bool]] = {}

    # ---- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        known = await self.audit.room_max_seqs()
        await self.broker.start(self, list(self.rooms), known)
        for room in self.rooms.values():
            await self._load_room(room, known.get(room.id, 0))
        if not self.broker.distributed:
            await self._restore_held()
        try:
            await resync.catch_up(self, announce=False)
        except Exception:
            log.warning("shared state not read at start; retrying in the background", exc_info=True)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="hub-heartbeat")
        self._escalator = asyncio.create_task(moderation.escalation_loop(self), name="hub-escalation")
        self._resync = asyncio.create_task(resync.loop(self), name="hub-resync")

    async def _load_room(self, room: RoomState, known_seq: int) -> None:
        """Fill a room's recent log from the broker (freshest) or else the audit log."""
        keep = room.log.maxlen or 0
        entries = await self.broker.recent(room.id, keep)
        if not entries:
            rows = await self.audit.recent_messages(room.id, keep)
            entries = [(r["seq"], r["id"], orjson.dumps(_message_from_row(r))) for r in rows]
        for seq, message_id, frame in entries:
            room.remember(seq, message_id, frame)
        room.last_seq = max(room.last_seq, known_seq)
        try:
            room.apply_sanctions(await self.store.sanctions(room.id))
            flags = await self.store.flags(room.id)
        except Exception:
            log.warning("room %s: moderation state not loaded", room.id, exc_info=True)
            flags = {}
        room.slowmode = float(flags.get("slowmode", 0) or 0)
        room.locked = bool(flags.get("locked", False))

    async def _restore_held(self) -> None:
        """One process, in-memory store: rebuild the held queue from the audit log after a restart.

        Not done with Redis: the queue lives there, and a worker starting while
        another releases an item could otherwise bring a released item back.
        """
        for item in await self.audit.pending_held():
            if item["room"] in self.rooms:
                await self.store.put_held(item["room"], item)
                self.held_local[item["id"]] = (item["room"], item["held_at"], False)

    async def stop(self) -> None:
        for task in (self._heartbeat, self._escalator, self._resync, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._heartbeat, self._escalator, self._resync, *self._tasks):
            if task is not None:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:
                    log.exception("background task failed during shutdown")

    def spawn(self, coro: Any) -> None:
        """Run a rare, slow path (held items, host actions) without blocking the reader."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task failed", exc_info=task.exception())

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                counts = {rid: len(r.members) for rid, r in self.rooms.items() if r.members}
                self.broker.publish_event({"kind": "heartbeat", "origin": self.worker_id, "counts": counts})
                self._expire_workers()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat failed")

    def _expire_workers(self) -> None:
        now = time.monotonic()
        for room in self.rooms.values():
            stale = [w for w, (_, heard) in room.remote_counts.items() if now - heard > WORKER_STALE_S]
            for worker in stale:
                del room.remote_counts[worker]
                self._send_presence(room)

    def alive_workers(self) -> set[str]:
        now = time.monotonic()
        alive = {w for w, heard in self.worker_seen.items() if now - heard < WORKER_STALE_S}
        alive.add(self.worker_id)
        return alive

    # ---- a connection's life -----------------------------------------------
    def attach(self, conn: Connection) -> None:
        self.connections.add(conn)

    async def detach(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if conn.session:
            peers = self.by_session.get(conn.session)
            if peers is not None:
                peers.discard(conn)
                if not peers:
                    del self.by_session[conn.session]
            self.metrics.connections.labels(conn.role).dec()
        for room_id in list(conn.rooms):
            await self._leave(conn, room_id, reason="disconnect")

    async def hello(self, conn: Connection, frame: dict[str, Any]) -> None:
        """Handle the first frame; raises BadRequest if it is not a usable hello."""
        if frame.get("type") != "hello":
            raise BadRequest(f'Expected "hello" as the first frame, got {frame.get("type")!r}')
        name = clean_name(frame["name"])
        role, host_name, credential = "participant", None, ""
        token = frame.get("token")
        if token:
            record = await self.hosts.authenticate(token)
            if record is not None:
                role, host_name, credential = record.role, record.name, record.credential
        if role == "participant" and imitates_staff(name, self.host_names):
            raise BadRequest("That name could be mistaken for a host's; please choose another")
        session = ""
        resume = frame.get("resume")
        if resume:
            try:
                identity = await self.store.load_identity(token_hash(resume))
            except Exception:
                identity = None
            if identity:
                session = identity["session"]
                conn.resume_hash = token_hash(resume)
        resume_token = resume if session else secrets.token_urlsafe(32)
        if not session:
            # Only a hello that is answered with a welcome stores an identity.
            session = "s" + secrets.token_urlsafe(12)
            conn.resume_hash = token_hash(resume_token)
            try:
                await self.store.save_identity(conn.resume_hash, {"session": session, "created": time.time()})
            except Exception:
                log.warning("identity not saved: resume will not work for this session")
        conn.session, conn.name, conn.role, conn.host_name = session, name, role, host_name
        conn.credential = credential
        self.by_session.setdefault(session, set()).add(conn)
        self.metrics.connections.labels(role).inc()
        welcome: dict[str, Any] = {
            "type": "welcome",
            "session": session,
            "resume_token": resume_token,
            "name": name,
            "role": role,
        }
        if role != "participant":
            welcome["rooms"] = [rid for rid, room in self.rooms.items() if self.is_host_of(conn, room)]
        conn.send(welcome)

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
        ref = frame.get("client_id") if kind == "send" else None
        try:
            if kind == "send":
                self._send(conn, frame)
            elif kind == "ping":
                conn.send({"type": "pong"})
            elif kind == "typing":
                self._typing(conn, frame["room"])
            elif kind == "join":
                await self._join(conn, frame)
            elif kind == "leave":
                if frame["room"] not in conn.rooms:
                    raise ChatError(f"You are not in {frame['room']!r}", code="not_joined")
                await self._leave(conn, frame["room"], reason="leave")
            elif kind == "report":
                await moderation.report(self, conn, frame)
            elif kind in HOST_ACTIONS:
                await moderation.host_action(self, conn, frame)
            elif kind == "hello":
                raise BadRequest("You already said hello on this connection")
        except ChatError as exc:
            error = error_frame(exc.code, exc.message, ref)
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
            self._screen_throttled(conn, loose)
        return False

    # ---- joining and leaving ----------------------------------------------
    def room_or_error(self, room_id: str) -> RoomState:
        room = self.rooms.get(room_id)
        if room is None or room.closed:
            raise ChatError(f"There is no room {room_id[:60]!r}", code="unknown_room")
        return room

    def is_host_of(self, conn: Connection, room: RoomState) -> bool:
        return self.role_in(conn, room) != "participant"

    async def _join(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = self.room_or_error(frame["room"])
        cfg = room.config
        if conn.session and room.is_banned(conn.session):
            raise ChatError("You cannot join this room: a host has banned you from it", code="banned")
        if (
            cfg.guidelines_required
            and frame.get("accept_guidelines") is not True
            and not self.is_host_of(conn, room)
        ):
            conn.send(
                {
                    "type": "error",
                    "code": "guidelines_required",
                    "message": "Please read and accept the room's guidelines "
                    "(join with accept_guidelines: true)",
                    "room": cfg.id,
                    "guidelines": cfg.guidelines,
                }
            )
            return
        rejoin = cfg.id in conn.rooms
        if not rejoin:
            key = conn.name.casefold()
            if any(m.name.casefold() == key and m.session != conn.session for m in room.members):
                raise ChatError(
                    f"Someone in {cfg.id!r} already uses the name {conn.name!r}", code="name_taken"
                )
            try:
                free = await self.store.claim_name(
                    cfg.id, key, conn.session, self.worker_id, self.alive_workers()
                )
            except Exception:
                raise Unavailable("Could not reach shared state; try joining again") from None
            if not free:
                raise ChatError(
                    f"Someone in {cfg.id!r} already uses the name {conn.name!r}", code="name_taken"
                )
        since = frame.get("since")
        since_seq: int | None = None
        older: list[tuple[int, bytes]] = []
        if since is not None and since != "":
            since_seq, older = await self._resolve_since(room, str(since))
        held = await moderation.held_for(self, conn, room) if self.is_host_of(conn, room) else None
        head = {
            "type": "joined",
            "room": cfg.id,
            "title": cfg.title,
            "topic": cfg.topic,
            "guidelines": cfg.guidelines,
            "resources": list(cfg.resources),
            "members": room.member_count(time.monotonic(), WORKER_STALE_S) + (0 if rejoin else 1),
            "slowmode": room.slowmode,
            "locked": room.locked,
            "role": "host" if self.is_host_of(conn, room) else "participant",
        }
        if held is not None:
            head["held"] = held
        first: list[bytes] | None = None  # the page the joined frame carried, once sent
        if since_seq is not None and older:
            cursor = older[-1][0]
            if room.after(cursor) is None:
                # A long absence: more than a page is only in storage. Page it out, each page once
                # the one before has left, and join the live room only after the last.
                first = [f for _, f in older]
                conn.send_frame(_joined_frame(head, first, more=True))
                while room.after(cursor) is None:
                    if not await _drained(conn):
                        return
                    rows = await self.audit.messages_after(room.id, cursor, REPLAY_PAGE)
                    if not rows:
                        break
                    conn.send_frame(
                        _history_frame(room.id, [orjson.dumps(_message_from_row(r)) for r in rows], True)
                    )
                    cursor = rows[-1]["seq"]
            since_seq, older = cursor, []
        # No await from here on: the snapshot and the membership change are one step,
        # so the joiner gets every message exactly once (history, then live).
        if since_seq is None:
            history = room.history(cfg.history)
        else:
            history = [f for _, f in older] + (room.after(older[-1][0] if older else since_seq) or [])
        room.members[conn] = None
        conn.rooms.add(cfg.id)
        conn.sent.setdefault(cfg.id, 0)
        pages = [history[i : i + REPLAY_PAGE] for i in range(0, len(history), REPLAY_PAGE)] or [[]]
        if first is None:
            conn.send_frame(_joined_frame(head, pages[0], more=len(pages) > 1))
            pages = pages[1:]
        for i, page in enumerate(pages):
            conn.send_frame(_history_frame(room.id, page, i < len(pages) - 1))
        if not rejoin:
            self._send_presence(room, joined=conn.name)
            self.broker.publish_event(
                {
                    "kind": "presence",
                    "origin": self.worker_id,
                    "room": cfg.id,
                    "count": len(room.members),
                    "joined": conn.name,
                }
            )
            self.audit.append(
                "join",
                room=cfg.id,
                actor_session=conn.session,
                actor_name=conn.name,
                detail={"role": conn.role},
            )

    async def _resolve_since(self, room: RoomState, since: str) -> tuple[int | None, list[tuple[int, bytes]]]:
        """The seq of message `since`, and what storage holds after it that the live log no longer does."""
        seq = room.index.get(since)
        if seq is None:
            try:
                seq = await self.audit.seq_of(since)
            except Exception:
                seq = None
        if seq is None:
            return None, []  # an id we never published here: plain history
        if room.after(seq) is not None:
            return seq, []
        rows = await self.audit.messages_after(room.id, seq, REPLAY_PAGE)
        return seq, [(r["seq"], orjson.dumps(_message_from_row(r))) for r in rows]

    async def _leave(self, conn: Connection, room_id: str, *, reason: str) -> None:
        room = self.rooms.get(room_id)
        conn.rooms.discard(room_id)
        if room is None or conn not in room.members:
            return
        del room.members[conn]
        self._send_presence(room, left=conn.name)
        self.broker.publish_event(
            {
                "kind": "presence",
                "origin": self.worker_id,
                "room": room_id,
                "count": len(room.members),
                "left": conn.name,
            }
        )
        self.audit.append(
            "leave", room=room_id, actor_session=conn.session, actor_name=conn.name, detail={"reason": reason}
        )
        if not any(m.session == conn.session for m in room.members):
            try:
                await self.store.release_name(room_id, conn.name.casefold(), conn.session)
            except Exception:
                log.warning("room %s: name not released (shared state unreachable)", room_id)

    def _send_presence(self, room: RoomState, **change: str) -> None:
        frame: dict[str, Any] = {
            "type": "presence",
            "room": room.id,
            "members": room.member_count(time.monotonic(), WORKER_STALE_S),
        }
        frame.update(change)
        self.to_room(room, ws_text_frame(dumps(frame)))

    def _typing(self, conn: Connection, room_id: str) -> None:
        if room_id not in conn.rooms:
            raise ChatError(f"Join {room_id!r} first", code="not_joined")
        now = time.monotonic()
        if now - conn.last_typing < TYPING_EVERY_S:
            return
        conn.last_typing = now
        self.broker.publish_event(
            {"kind": "typing", "room": room_id, "session": conn.session, "name": conn.name}
        )

    # ---- sending -----------------------------------------------------------
    def _send(self, conn: Connection, frame: dict[str, Any]) -> None:
        room_id = frame["room"]
        client_id = frame["client_id"]
        room = self.room_or_error(room_id)
        text = frame["text"]
        if not text.strip():
            raise BadRequest("A message needs some text")
        role = self.role_in(conn, room)
        now = time.monotonic()
        ctx = MessageContext(
            room=room_id,
            session=conn.session,
            name=conn.name,
            role=role,
            text=text,
            now=now,
            sent_in_room=conn.sent.get(room_id, 0),
        )
        refusal = self._refusal(conn, room)
        if refusal is not None:
            self._screen_refused(conn, room, ctx, refusal, client_id)
            raise refusal
        cw = frame.get("cw")
        if cw is not None:
            cw = cw.strip()[:CW_MAX] or None
        result = room.config.chain.run(ctx)
        if result.resources:
            # Help first, whatever happens to the message: a person in crisis who is also
            # rate limited still gets the resources at once.
            moderation.send_resources(self, conn, room, result.resources)
        if result.status == "rejected":
            self.metrics.count_message("rejected", result.reasons)
            if result.urgent:
                moderation.alert_hosts_crisis(self, conn, room, None, result.level)
            self.audit.append(
                "rejected",
                room=room_id,
                actor_session=conn.session,
                actor_name=conn.name,
                text=text,
                detail={
                    "by": "filter",
                    "reasons": result.reasons,
                    "explanations": result.explanations,
                    "client_id": str(client_id),
                },
            )
            ack: dict[str, Any] = {
                "type": "ack",
                "client_id": client_id,
                "id": None,
                "status": "rejected",
                "reason": result.reasons[0] if result.reasons else "rejected",
                "message": "; ".join(result.explanations),
            }
            if result.retry_after is not None:
                ack["retry_after"] = round(result.retry_after, 2)
            conn.send(ack)
            return
        if result.errors:
            self.audit.append(
                "filter_error",
                room=room_id,
                actor_session=conn.session,
                actor_name=conn.name,
                detail={"errors": result.errors},
            )
        room.last_sent[conn.session] = now
        conn.sent[room_id] = conn.sent.get(room_id, 0) + 1
        message_id = self.ids.next()
        ts = utc_now()
        body: dict[str, Any] = {
            "type": "message",
            "room": room_id,
            "id": message_id,
            "from": {"name": conn.name, "session": conn.session, "role": role},
            "text": result.text,
            "ts": ts,
        }
        if cw:
            body["cw"] = cw
        if result.status == "held":
            self.metrics.count_message("held", result.reasons)
            conn.raw.in_flight += 1
            moderation.hold(self, conn, room, body, result, client_id, original=text)
            return
        detail: dict[str, Any] = {"role": role}
        if cw:
            detail["cw"] = cw
        if result.redacted:
            detail.update(action="redacted", reasons=result.reasons, original=text)
        if result.urgent:
            detail["urgent"] = True
            moderation.alert_hosts_crisis(self, conn, room, message_id, result.level)
        conn.raw.in_flight += 1
        self.publish(room, body, detail, conn, client_id)

    def _refusal(self, conn: Connection, room: RoomState) -> ChatError | None:
        """Why `conn` may not post to `room` right now, if it may not."""
        if room.id not in conn.rooms:
            return ChatError(f"Join {room.id!r} before sending to it", code="not_joined")
        try:
            moderation.check_sender(self, conn, room)
        except ChatError as exc:
            return exc
        return None

    def _screen_refused(
        self, conn: Connection, room: RoomState, ctx: MessageContext, refusal: ChatError, client_id: Any
    ) -> None:
        """A refused send still passes the crisis filter: no sanction may keep help from a person.

        The message stays refused; the person gets the room's resources privately, the
        hosts the urgent alert, and the audit log the row.
        """
        result = room.config.chain.run(ctx, refused=True)
        if not (result.urgent or result.resources):
            return
        if result.resources:
            moderation.send_resources(self, conn, room, result.resources)
        if result.urgent:
            moderation.alert_hosts_crisis(self, conn, room, None, result.level)
        self.audit.append(
            "rejected",
            room=room.id,
            actor_session=conn.session,
            actor_name=conn.name,
            text=ctx.text,
            detail={
                "by": refusal.code,
                "reasons": result.reasons,
                "explanations": result.explanations,
                "urgent": result.urgent,
                "client_id": str(client_id),
            },
        )

    def _screen_throttled(self, conn: Connection, frame: dict[str, Any]) -> None:
        """A send refused for flooding frames is still read by the crisis filter."""
        room = self.rooms.get(frame.get("room")) if isinstance(frame.get("room"), str) else None
        text = frame.get("text")
        if room is None or room.closed or not isinstance(text, str) or not text.strip():
            return
        ctx = MessageContext(
            room.id, conn.session, conn.name, self.role_in(conn, room), text, time.monotonic()
        )
        refusal = ChatError("Too many frames; slow down", code="rate_limited")
        self._screen_refused(conn, room, ctx, refusal, frame.get("client_id"))

    def role_in(self, conn: Connection, room: RoomState) -> str:
        """What a connection is in this room: a host's powers and badge belong to the rooms they host."""
        if conn.role == "admin":
            return "admin"
        if conn.role == "host" and conn.host_name in room.config.hosts:
            return "host"
        return "participant"

    def publish(
        self,
        room: RoomState,
        body: dict[str, Any],
        detail: dict[str, Any],
        sender: Connection | None,
        client_id: Any,
        *,
        kind: str = "published",
        actor: tuple[str, str] | None = None,
        on_published: Callable[[int], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Commit the message to the audit log, then publish it; ack the sender when it is out.

        Whatever fails (the audit commit, the publish), the sender hears `unavailable`
        and `on_failed` gets the error: nothing accepted is dropped without a word.
        """
        message_id = body["id"]
        encoded = dumps(body)
        started = time.perf_counter()
        actor_session, actor_name = actor or (body["from"]["session"], body["from"]["name"])

        def published(seq: int | None, error: BaseException | None) -> None:
            if error is not None or seq is None:
                self._publish_started.pop(message_id, None)
                self.metrics.count_message("unavailable", ())
                self.audit.append(
                    "publish_failed",
                    room=room.id,
                    message_id=message_id,
                    actor_session=actor_session,
                    actor_name=actor_name,
                    detail={"error": error.__class__.__name__ if error else "unknown"},
                )
                if on_failed is not None:
                    on_failed(error or Unavailable("not published"))
                if sender is not None:
                    sender.answer(
                        error_frame(
                            "unavailable",
                            "The message could not be delivered right now; "
                            "nothing was published. Please try again.",
                            client_id,
                        )
                    )
                return
            self.metrics.count_message("published", detail.get("reasons", ()))
            self.audit.annotate_seq(message_id, seq)
            if sender is not None:
                sender.answer(
                    {"type": "ack", "client_id": client_id, "id": message_id, "status": "published"}
                )
            if on_published is not None:
                on_published(seq)

        def committed(error: BaseException | None) -> None:
            if error is not None:
                self.metrics.count_message("unavailable", ())
                log.error("audit commit failed (%s): message not published", error.__class__.__name__)
                if on_failed is not None:
                    on_failed(error)
                if sender is not None:
                    sender.answer(
                        error_frame(
                            "unavailable",
                            "The message could not be recorded, so it was "
                            "not published. Please try again in a moment.",
                            client_id,
                        )
                    )
                return
            self._publish_started[message_id] = started
            self.broker.publish_message(room.id, message_id, encoded, published)

        try:
            self.audit.append(
                kind,
                room=room.id,
                actor_session=actor_session,
                actor_name=actor_name,
                message_id=message_id,
                text=body["text"],
                detail=detail,
                on_commit=committed,
            )
        except Unavailable as exc:
            if on_failed is not None:
                on_failed(exc)
            if sender is not None:
                sender.answer(error_frame("unavailable", exc.message, client_id))

    # ---- the broker calls these ---------------------------------------------
    def on_message(self, room_id: str, seq: int, message_id: str, frame: bytes) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        if room.remember(seq, message_id, frame):
            self.to_room(room, ws_text_frame(frame))
        started = self._publish_started.pop(message_id, None)
        if started is not None:
            self.metrics.fanout_latency.observe(time.perf_counter() - started)

    def to_room(self, room: RoomState, wire: bytes, *, skip_session: str | None = None) -> None:
        """Write one ready frame to every local member; a dead socket never stops the rest."""
        for member in room.members:
            if member.session != skip_session:
                member.raw.write(wire)

    def to_hosts(self, room: RoomState, wire: bytes) -> None:
        for member in room.members:
            if self.is_host_of(member, room):
                member.raw.write(wire)

    def to_session(self, session: str, wire: bytes) -> None:
        for conn in self.by_session.get(session, ()):
            conn.raw.write(wire)

    def on_event(self, envelope: dict[str, Any]) -> None:
        kind = envelope.get("kind")
        origin = envelope.get("origin")
        if origin and origin != self.worker_id:
            self.worker_seen[origin] = time.monotonic()
        room = self.rooms.get(envelope.get("room", ""))
        if kind == "heartbeat":
            if origin != self.worker_id:
                self._heartbeat_counts(origin, envelope.get("counts", {}))
        elif kind == "presence":
            if origin != self.worker_id and room is not None:
                room.remote_counts[origin] = (int(envelope.get("count", 0)), time.monotonic())
                change = {k: envelope[k] for k in ("joined", "left") if k in envelope}
                self._send_presence(room, **change)
        elif kind == "reload":
            if origin != self.worker_id and self.reload_hook is not None:
                self.reload_hook(str(envelope.get("by", "another worker")))
        elif kind == "typing":
            if room is not None:
                wire = ws_text_frame(dumps({"type": "typing", "room": room.id, "name": envelope["name"]}))
                self.to_room(room, wire, skip_session=envelope.get("session"))
        else:
            moderation.on_event(self, kind, room, envelope)

    def _heartbeat_counts(self, origin: str, counts: dict[str, int]) -> None:
        now = time.monotonic()
        for room in self.rooms.values():
            count = int(counts.get(room.id, 0))
            before = room.remote_counts.get(origin, (0, 0.0))[0]
            if count or origin in room.remote_counts:
                room.remote_counts[origin] = (count, now)
            if count != before:
                self._send_presence(room)

    def on_broker_state(self, healthy: bool, reason: str) -> None:
        self.metrics.broker_healthy.set(1 if healthy else 0)
        if not healthy:
            self.metrics.broker_reconnects.inc()
        else:
            self.resync_now.set()  # events sent while we were away are gone: re-read what they changed
        text = (
            "Connection restored: messages flow normally again."
            if healthy
            else "We are having trouble delivering messages. Messages you send may not go through; "
            "you will be told if one did not."
        )
        wire = ws_text_frame(
            dumps(
                {
                    "type": "notice",
                    "text": text,
                    "level": "info" if healthy else "warning",
                    "code": "broker_ok" if healthy else "broker_degraded",
                }
            )
        )
        for conn in self.connections:
            if conn.session:
                conn.raw.write(wire)

    # ---- reload -------------------------------------------------------------
    def apply_rooms(self, config: RoomsConfig) -> dict[str, list[str]]:
        """Swap in a new rooms.yaml: add, update and close rooms; returns what changed."""
        added, changed, removed = [], [], []
        for rid, cfg in config.rooms.items():
            room = self.rooms.get(rid)
            if room is None:
                self.rooms[rid] = RoomState(cfg)
                added.append(rid)
            elif room.config.source != cfg.source:
                room.config = cfg
                changed.append(rid)
        for rid in [r for r in self.rooms if r not in config.rooms]:
            room = self.rooms.pop(rid)
            room.closed = True
            removed.append(rid)
            wire = ws_text_frame(
                dumps(
                    {
                        "type": "notice",
                        "room": rid,
                        "level": "warning",
                        "code": "room_closed",
                        "text": "This room has been closed by the organisers. Thank you for being here.",
                    }
                )
            )
            for member in list(room.members):
                member.raw.write(wire)
                member.rooms.discard(rid)
            room.members.clear()
        if added:
            self.broker.add_rooms(added, {})
        return {"added": added, "changed": changed, "removed": removed}

    def check_credentials(self, records: Iterable[HostRecord]) -> None:
        """Powers follow the credential a connection signed in with: sign out every host or admin
        whose token was revoked or replaced, or whose role changed, since."""
        current = {r.name: r for r in records if not r.revoked}
        for conn in list(self.connections):
            if conn.host_name is None:
                continue
            record = current.get(conn.host_name)
            if record is None or record.credential != conn.credential or record.role != conn.role:
                log.info("signing out host %s: credentials changed", conn.host_name)
                conn.raw.abort(CLOSE_POLICY, "your host credentials changed; please sign in again")

    async def purge_before(self, cutoff: float) -> None:
        """Retention: forget messages and care notes older than `cutoff` (epoch seconds) everywhere
        this worker keeps them: its room logs, the broker's room histories, the store's notes."""
        stamp = datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for room in list(self.rooms.values()):
            room.drop_older_than(stamp)
            await self.broker.purge_history(room.id, stamp)
        await self.store.purge_notes(stamp)

    # ---- status -------------------------------------------------------------
    async def held_summary(self) -> list[dict[str, Any]]:
        """Per room: how many messages wait for a host, and for how long the oldest has."""
        now = time.time()
        out = []
        for rid in self.rooms:
            try:
                items = await self.store.list_held(rid)
            except Exception:
                continue
            oldest = min((float(i.get("held_at", now)) for i in items), default=now)
            out.append({"id": rid, "held": len(items), "oldest_held_s": round(now - oldest, 1)})
        return out

    def room_summaries(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "id": rid,
                "title": room.config.title,
                "topic": room.config.topic,
                "members": room.member_count(now, WORKER_STALE_S),
                "guidelines_required": room.config.guidelines_required,
            }
            for rid, room in self.rooms.items()
        ]


def _joined_frame(head: dict[str, Any], history: list[bytes], *, more: bool) -> bytes:
    """The joined frame with its first page of history (ready message frames, spliced in as they are)."""
    tail = b'],"more":true}' if more else b"]}"
    return ws_text_frame(dumps(head)[:-1] + b',"history":[' + b",".join(history) + tail)


def _history_frame(room_id: str, messages: list[bytes], more: bool) -> bytes:
    """One more page of a long replay (after `joined`, before anything live)."""
    head = b'{"type":"history","room":' + orjson.dumps(room_id) + b',"messages":['
    return ws_text_frame(head + b",".join(messages) + (b'],"more":true}' if more else b'],"more":false}'))


async def _drained(conn: Connection) -> bool:
    """Wait until the connection's send buffer is mostly empty; False if it closed meanwhile."""
    while conn.raw.buffered > conn.raw.max_buffer // 4:
        if conn.raw.closed:
            return False
        await asyncio.sleep(DRAIN_POLL_S)
    return not conn.raw.closed


def _loose_frame(raw: str | bytes) -> dict[str, Any]:
    """A frame we refuse without handling, read just enough to answer it (its client_id, a crisis)."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return frame if isinstance(frame, dict) else {}


def _message_from_row(row: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "message",
        "seq": row["seq"],
        "room": row["room"],
        "id": row["id"],
        "from": row["from"],
        "text": row["text"],
        "ts": row["ts"],
    }
    if row.get("cw"):
        message["cw"] = row["cw"]
    return message


def new_worker_id() -> str:
    return f"{os.getpid():x}-{secrets.token_hex(3)}"
