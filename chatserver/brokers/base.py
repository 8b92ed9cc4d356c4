"""The broker interface: ordered, numbered room messages plus best-effort events.

A broker gives every worker the same stream of published messages per room,
numbered 1, 2, 3… across the deployment (`seq`), with no gaps and no
duplicates: it fills any gap it detects before delivering what follows.
Events (presence, typing, moderation notices) are best effort.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

#: Called once a publish is settled: (seq, None) or (None, error).
PublishDone = Callable[[int | None, BaseException | None], None]


class BrokerListener(Protocol):
    """What the hub gives a broker to call back into; all calls are synchronous."""

    def on_message(self, room: str, seq: int, message_id: str, frame: bytes) -> None:
        """A published room message, in `seq` order; `frame` is its JSON, encoded once."""

    def on_event(self, envelope: dict[str, Any]) -> None:
        """An event from any worker (this one included)."""

    def on_broker_state(self, healthy: bool, reason: str) -> None:
        """The broker lost or regained its connection."""


class Broker:
    """Plugin base for fan-out backends."""

    name = "broker"
    #: True when several processes can share this broker.
    distributed = False

    def __init__(self, *, worker_id: str) -> None:
        self.worker_id = worker_id
        self.reconnects = 0
        self.healthy = True

    async def start(self, listener: BrokerListener, rooms: list[str], known_seqs: dict[str, int]) -> None:
        """Connect and subscribe.

        Args:
            listener: receives messages and events.
            rooms: the rooms to carry.
            known_seqs: the last seq per room this deployment is known to have
                reached (from the audit log), so numbering never restarts.
        """
        raise NotImplementedError

    def add_rooms(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        """Start carrying more rooms (after a reload)."""
        raise NotImplementedError

    def publish_message(self, room: str, message_id: str, body: bytes, done: PublishDone) -> None:
        """Give the message its seq and deliver it everywhere; never blocks.

        Args:
            body: the message frame's JSON object *without* `seq`, e.g.
                b'{"type":"message","room":"r",...}'; the broker inserts seq.
            done: called once with the seq, or with the error (nothing was published).
        """
        raise NotImplementedError

    def publish_event(self, envelope: dict[str, Any]) -> None:
        """Deliver an event to every worker, best effort; never blocks."""
        raise NotImplementedError

    async def delete_message(self, room: str, message_id: str) -> None:
        """Drop a deleted message from what the broker keeps for history, for good.

        A publish of the same message still in flight (a release racing the delete)
        must then be refused with `Deleted`, so the message never reaches anyone.
        """
        raise NotImplementedError

    async def purge_history(self, room: str, stamp: str) -> None:
        """Retention: drop the room's kept messages whose `ts` sorts before `stamp` (ISO, UTC)."""
        raise NotImplementedError

    async def recent(self, room: str, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to `limit` latest (seq, id, frame) of a room known to the broker, oldest first."""
        raise NotImplementedError

    async def ping(self) -> bool:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def with_seq(body: bytes, seq: int) -> bytes:
    """Insert `"seq": N` as the second key of a message frame's JSON object."""
    return b'{"seq":%d,%s' % (seq, body[1:])
