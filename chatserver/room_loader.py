"""Bringing a room into a worker: its recent log, its numbering and its moderation state.

Done for every room at start and for the rooms a rooms.yaml reload adds, the same way: a room that
was in an earlier rooms.yaml has a past (numbered messages in the audit log, perhaps in Redis), and
its numbering must go on from there and `join since` must find its history.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from chatserver.membership import message_from_row
from chatserver.rooms_state import RoomState

if TYPE_CHECKING:
    from chatserver.audit import AuditLog
    from chatserver.brokers.base import Broker
    from chatserver.rooms.model import Room
    from chatserver.store import Store

log = logging.getLogger(__name__)


class RoomLoader:
    """Fills RoomStates from the broker, the audit log and the shared store."""

    def __init__(self, broker: Broker, store: Store, audit: AuditLog) -> None:
        self.broker = broker
        self.store = store
        self.audit = audit

    async def load(self, room: RoomState) -> None:
        """Fill a room's recent log from the broker (freshest) or else the audit log (the broker has
        already been told the room's numbering: `start`, `add_rooms`)."""
        keep = room.log.maxlen or 0
        entries = await self.broker.recent(room.id, keep)
        if not entries:
            rows = await self.audit.recent_messages(room.id, keep)
            entries = [(r["seq"], r["id"], orjson.dumps(message_from_row(r))) for r in rows]
        # Only what this worker will not be handed live: a message another worker has committed but not
        # yet published (or published since the broker started) arrives by `on_message`, and taking it now
        # as well would show it twice to anyone who joins in between.
        room.seed(entries, self.broker.live_from(room.id))
        try:
            room.apply_sanctions(await self.store.sanctions(room.id))
            flags = await self.store.flags(room.id)
        except Exception:
            log.warning("room %s: moderation state not loaded", room.id, exc_info=True)
            flags = {}
        room.slowmode = float(flags.get("slowmode", 0) or 0)
        room.locked = bool(flags.get("locked", False))

    async def open_new(self, configs: dict[str, Room]) -> dict[str, RoomState]:
        """RoomStates for rooms added while running, loaded as at start (before anyone can join)."""
        if not configs:
            return {}
        known = await self.audit.room_max_seqs()
        await self.broker.add_rooms(list(configs), known)
        rooms = {rid: RoomState(cfg) for rid, cfg in configs.items()}
        for room in rooms.values():
            await self.load(room)
        return rooms
