"""The in-process broker: one process, no dependencies, the embedded default."""

from __future__ import annotations

import logging
from typing import Any

from chatserver.brokers.base import Broker, BrokerListener, PublishDone, ReserveDone, with_seq
from chatserver.brokers.ordering import RoomOrder

log = logging.getLogger(__name__)

#: A released message waiting for its turn: id, frame without seq, who to tell.
_Out = tuple[str, bytes, PublishDone]


class MemoryBroker(Broker):
    """Numbers and delivers messages inside this process, in number order."""

    name = "memory"

    def __init__(self, *, worker_id: str) -> None:
        super().__init__(worker_id=worker_id)
        self._listener: BrokerListener | None = None
        self._rooms: dict[str, RoomOrder[_Out]] = {}

    async def start(self, listener: BrokerListener, rooms: list[str], known_seqs: dict[str, int]) -> None:
        self._listener = listener
        await self.add_rooms(rooms, known_seqs)

    async def add_rooms(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        for room in rooms:
            order = self._rooms.get(room)
            if order is None:
                self._rooms[room] = RoomOrder(known_seqs.get(room, 0))
            else:
                order.raise_to(known_seqs.get(room, 0))

    def _order(self, room: str) -> RoomOrder[_Out]:
        order = self._rooms.get(room)
        if order is None:
            order = self._rooms[room] = RoomOrder(0)
        return order

    def reserve(self, room: str, message_id: str, done: ReserveDone) -> None:
        done(self._order(room).reserve(), None)

    def release(self, room: str, seq: int, message_id: str, body: bytes, done: PublishDone) -> None:
        self._deliver(room, self._order(room).release(seq, (message_id, body, done)))

    def cancel(self, room: str, seq: int, message_id: str) -> None:
        self._deliver(room, self._order(room).cancel(seq))

    def _deliver(self, room: str, out: list[tuple[int, _Out]]) -> None:
        assert self._listener is not None, "broker not started"
        for seq, (message_id, body, done) in out:
            try:
                self._listener.on_message(room, seq, message_id, with_seq(body, seq))
            finally:
                done(seq, None)

    def publish_event(self, envelope: dict[str, Any]) -> None:
        assert self._listener is not None, "broker not started"
        self._listener.on_event(envelope)

    async def delete_message(self, room: str, message_id: str) -> None:
        pass  # nothing kept here; the hub drops a deleted message that is still on its way

    async def purge_history(self, room: str, stamp: str) -> None:
        pass  # nothing kept here

    async def recent(self, room: str, limit: int) -> list[tuple[int, str, bytes]]:
        return []  # the hub's own room log and the audit log hold everything

    def live_from(self, room: str) -> int:
        return self._order(room).head

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._listener = None
