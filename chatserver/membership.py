"""Joining and leaving rooms: guidelines, names, history and `since` replay, presence, typing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from chatserver import frames
from chatserver.errors import ChatError, Unavailable
from chatserver.hosting import opens_at
from chatserver.readers import Readers, checked

if TYPE_CHECKING:
    from chatserver.audit import AuditLog
    from chatserver.brokers.base import Broker
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.hosting import Hosting
    from chatserver.moderation import Moderation
    from chatserver.presence import Presence
    from chatserver.rooms_state import RoomState
    from chatserver.store import Store

log = logging.getLogger(__name__)

TYPING_EVERY_S = 1.0
#: Messages per frame when a join replays history: a long absence comes in pages, never one huge frame.
REPLAY_PAGE = 200
#: How long a join with `since` waits for this worker to be handed what the joiner has seen elsewhere.
CATCH_UP_S = 2.0
DRAIN_POLL_S = 0.01


class Membership:
    """Who is in which room on this worker, and what they get when they come in."""

    def __init__(
        self,
        *,
        room: Callable[[str], RoomState],
        rooms: dict[str, RoomState],
        store: Store,
        audit: AuditLog,
        broker: Broker,
        delivery: Delivery,
        presence: Presence,
        moderation: Moderation,
        hosting: Hosting,
        readers: Readers,
    ) -> None:
        self.room = room
        #: The language each connection reads: the room's words in frames are served in it (issue 19).
        self.readers = readers
        self.hosting = hosting
        self.rooms = rooms
        self.store = store
        self.audit = audit
        self.broker = broker
        self.delivery = delivery
        self.presence = presence
        self.moderation = moderation

    async def join(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = self.room(frame["room"])
        cfg = room.config
        hosts_here = self.delivery.is_host_of(conn, room)
        if not self._admit(conn, room, frame, hosts_here):
            return
        rejoin = cfg.id in conn.rooms
        if not rejoin:
            await self._claim_name(conn, room)
        since = frame.get("since")
        since_seq: int | None = None
        older: list[tuple[int, bytes]] = []
        if since is not None and since != "":
            since_seq, older = await self._resolve_since(room, str(since))
        head = await self._head(conn, room, rejoin, hosts_here)
        head.update(await self.moderation.on_join(conn, room, frame, hosts_here=hosts_here, rejoin=rejoin))
        first: list[bytes] | None = None  # the page the joined frame carried, once sent
        if since_seq is not None and older and room.after(older[-1][0]) is None:
            first = [f for _, f in older]
            cursor = await self._page_out(conn, room, head, older[-1][0], first)
            if cursor is None:
                return
            since_seq, older = cursor, []
        if since_seq is not None and since_seq > room.last_seq:
            # They saw more on another worker than this one has been handed yet: wait for it (a moment,
            # usually), or what they have already seen would reach them again live.
            await room.reached(since_seq, CATCH_UP_S)
        # No await from here on: the snapshot and the membership change are one step,
        # so the joiner gets every message exactly once (history, then live).
        if since_seq is None:
            history = room.history(cfg.history)
        else:
            # A row is committed before its message is published: storage may hold messages this
            # worker has not delivered yet. They reach the joiner live, so the replay stops at them.
            older = [entry for entry in older if entry[0] <= room.last_seq]
            history = [f for _, f in older] + (room.after(older[-1][0] if older else since_seq) or [])
        room.add(conn)
        conn.rooms.add(cfg.id)
        pages = [history[i : i + REPLAY_PAGE] for i in range(0, len(history), REPLAY_PAGE)] or [[]]
        if first is None:
            conn.send_frame(frames.joined(head, pages[0], more=len(pages) > 1))
            pages = pages[1:]
        for i, page in enumerate(pages):
            conn.send_frame(frames.history(room.id, page, more=i < len(pages) - 1))
        if not rejoin:
            self.presence.changed(room, joined=conn.name, session=conn.session)
            self.audit.append(
                "join",
                room=cfg.id,
                actor_session=conn.session,
                actor_name=conn.name,
                detail={"role": conn.role},
            )

    def _admit(self, conn: Connection, room: RoomState, frame: dict[str, Any], hosts_here: bool) -> bool:
        """Raise when `conn` may not join; False (guidelines sent) when it must accept them first."""
        cfg = room.config
        if conn.session and room.is_banned(conn.session):
            raise ChatError("You cannot join this room: a host has banned you from it", code="banned")
        if room.mode == "closed" and not hosts_here:
            raise ChatError(
                "This room is closed right now. 'Get help now' lists people you can reach at any hour.",
                code="closed",
                opens_at=opens_at(room, self.hosting.clock()),
            )
        if cfg.guidelines_required and frame.get("accept_guidelines") is not True and not hosts_here:
            served = cfg.served(self.readers.of(conn))
            rules = list(cfg.moderation.rules)
            conn.send(frames.guidelines_required(cfg.id, served.guidelines, rules, served.guidelines_lang))
            return False
        return True

    async def _head(
        self, conn: Connection, room: RoomState, rejoin: bool, hosts_here: bool
    ) -> dict[str, Any]:
        """The `joined` frame without its messages: the room, its people, and a host's tools."""
        cfg = room.config
        served = cfg.served(self.readers.of(conn))  # resolved once per (room, language), then cached
        head = frames.joined_head(
            cfg.id,
            served.title,
            served.topic,
            served.guidelines,
            list(served.resources),
            self.presence.members(room) + (0 if rejoin else 1),
            room.slowmode,
            room.locked,
            "host" if hosts_here else "participant",
            await self.moderation.held_for(room) if hosts_here else None,
            lang=served.lang,
        )
        on_duty = self.presence.hosts_on_duty(room)
        if hosts_here and conn.on_duty:
            on_duty |= {conn.host_name or conn.name}
        head["hosts"] = len(on_duty)
        if hosts_here:  # what the console offers with one click
            head["snippets"] = dict(served.snippets)
            head["opening"], head["closing"] = cfg.opening, cfg.closing
        return head

    def language(self, conn: Connection, tag: Any) -> None:
        """A `lang` frame: read the rooms' own words in `tag` from now on, and get them again for every
        room joined (no rejoin: history, name and place stay)."""
        lang = checked(tag)
        assert lang is not None  # the frame's `lang` is a required string
        self.readers.set(conn, lang)
        rooms: dict[str, dict[str, Any]] = {}
        for room_id in sorted(conn.rooms):
            room = self.rooms.get(room_id)
            if room is not None:
                host = self.delivery.is_host_of(conn, room)
                rooms[room_id] = room.config.served(lang).texts(host=host)
        conn.send(frames.language(lang, rooms))

    async def _page_out(
        self, conn: Connection, room: RoomState, head: dict[str, Any], cursor: int, first: list[bytes]
    ) -> int | None:
        """After a long absence more than a page is only in storage: send `first` in the joined frame,
        then page the rest out, each page once the one before has left; the live room is joined
        after the last. Returns the last seq sent, None when the connection went away."""
        conn.send_frame(frames.joined(head, first, more=True))
        while room.after(cursor) is None:
            if not await _drained(conn):
                return None
            rows = await self.audit.messages_after(room.id, cursor, REPLAY_PAGE)
            if not rows:
                break
            page = [orjson.dumps(message_from_row(r)) for r in rows]
            conn.send_frame(frames.history(room.id, page, more=True))
            cursor = rows[-1]["seq"]
        return cursor

    async def _claim_name(self, conn: Connection, room: RoomState) -> None:
        key = conn.name.casefold()
        taken = ChatError(f"Someone in {room.id!r} already uses the name {conn.name!r}", code="name_taken")
        if room.name_used(conn.name, by_other_than=conn.session):
            raise taken
        try:
            free = await self.store.claim_name(
                room.id, key, conn.session, self.presence.worker_id, self.presence.alive_workers()
            )
        except Exception:
            raise Unavailable("Could not reach shared state; try joining again") from None
        if not free:
            raise taken

    async def _resolve_since(self, room: RoomState, since: str) -> tuple[int | None, list[tuple[int, bytes]]]:
        """The seq of message `since`, and the first page storage holds after it that the live log
        no longer does."""
        seq = room.index.get(since)
        if seq is None:
            try:
                seq = await self.audit.seq_of(room.id, since)
            except Exception:
                seq = None
        if seq is None:
            return None, []  # an id we never published here: plain history
        if room.after(seq) is not None:
            return seq, []
        rows = await self.audit.messages_after(room.id, seq, REPLAY_PAGE)
        return seq, [(r["seq"], orjson.dumps(message_from_row(r))) for r in rows]

    async def leave(self, conn: Connection, room_id: str, reason: str) -> None:
        room = self.rooms.get(room_id)
        conn.rooms.discard(room_id)
        if room is None or conn not in room.members:
            return
        last_of_session = room.discard(conn)
        self.presence.changed(room, left=conn.name, session=conn.session)
        self.audit.append(
            "leave", room=room_id, actor_session=conn.session, actor_name=conn.name, detail={"reason": reason}
        )
        if last_of_session:
            try:
                await self.store.release_name(room_id, conn.name.casefold(), conn.session)
            except Exception:
                log.warning("room %s: name not released (shared state unreachable)", room_id)

    def typing(self, conn: Connection, room_id: str) -> None:
        if room_id not in conn.rooms:
            raise ChatError(f"Join {room_id!r} first", code="not_joined")
        now = time.monotonic()
        if now - conn.last_typing < TYPING_EVERY_S:
            return
        conn.last_typing = now
        self.broker.publish_event(
            {"kind": "typing", "room": room_id, "session": conn.session, "name": conn.name}
        )


async def _drained(conn: Connection) -> bool:
    """Wait until the connection's send buffer is mostly empty; False if it closed meanwhile."""
    while conn.raw.buffered > conn.raw.max_buffer // 4:
        if conn.raw.closed:
            return False
        await asyncio.sleep(DRAIN_POLL_S)
    return not conn.raw.closed


def message_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row (MESSAGES_SQL) as the `message` frame it was."""
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
