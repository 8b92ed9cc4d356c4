"""The in-process broker: one process, no dependencies, the embedded default."""

from __future__ import annotations

import logging
from typing import Any

from chatserver.brokers.base import Broker, BrokerListener, PublishDone, with_seq

log = logging.getLogger(__name__)


class MemoryBroker(Broker):
    """Numbers and delivers messages synchronously inside this process."""

    name = "memory"

    def __init__(self, *, worker_id: str) -> None:
        super().__init__(worker_id=worker_id)
        self._listener: BrokerListener | None = None
        self._seqs: dict[str, int] = {}

    async def start(self, listener: BrokerListener, rooms: list[str], known_seqs: dict[str, int]) -> None:
        self._listener = listener
        self.add_rooms(rooms, known_seqs)

    def add_rooms(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        for room in rooms:
            self._seqs[room] = max(self._seqs.get(room, 0), known_seqs.get(room, 0))

    def publish_message(self, room: str, message_id: str, body: bytes, done: PublishDone) -> None:
        assert self._listener is not None, "broker not started"
        seq = self._seqs.get(room, 0) + 1
        self._seqs[room] = seq
        frame = with_seq(body, seq)
        try:
            self._listener.on_message(room, seq, message_id, frame)
        finally:
            done(seq, None)

    def publish_event(self, envelope: dict[str, Any]) -> None:
        assert self._listener is not None, "broker not started"
        self._listener.on_event(envelope)

    async def delete_message(self, room: str, message_id: str) -> None:
        pass  # nothing kept here, and publishes run at once: none can be in flight

    async def purge_history(self, room: str, stamp: str) -> None:
        pass  # nothing kept here

    async def recent(self, room: str, limit: int) -> list[tuple[int, str, bytes]]:
        return []  # the hub's own room log and the audit log hold everything

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._listener = None
