"""The broker interface: ordered, numbered room messages plus best-effort events.

A broker gives every worker the same stream of published messages per room,
numbered 1, 2, 3… across the deployment (`seq`), with no duplicates: it fills
any gap it detects before delivering what follows. Events (presence, typing,
moderation notices) are best effort.

A message is numbered before anyone sees it, so its audit row is written once,
with its seq: `reserve` takes the number, the caller commits the row, then
`release` publishes it. Released messages go out strictly in seq order; a
number whose message is never released (its row could not be written, or its
worker died) is skipped, and given back when nothing after it was taken yet,
so only a failure in the middle of traffic leaves a gap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

#: Called once a publish is settled: (seq, None) or (None, error).
PublishDone = Callable[[int | None, BaseException | None], None]
#: Called once a reservation is settled: (seq, None) or (None, error; no number was taken).
ReserveDone = Callable[[int | None, BaseException | None], None]


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
    #: For how long after a message was reserved its worker may show it to its own members once
    #: committed, before the broker has published it (`Publication.show_here`); 0 where `release`
    #: delivers at once anyway.
    show_here_s = 0.0

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

    async def add_rooms(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        """Start carrying more rooms (after a reload), numbering each on from `known_seqs` as `start` does."""
        raise NotImplementedError

    def reserve(self, room: str, message_id: str, done: ReserveDone) -> None:
        """Take the room's next seq for `message_id`; never blocks.

        The number is held for the message until `release` or `cancel`; one never
        released is skipped after a deadline (a few seconds), so a dead worker
        cannot stop a room.
        """
        raise NotImplementedError

    def release(self, room: str, seq: int, message_id: str, body: bytes, done: PublishDone) -> None:
        """Publish a reserved message once every seq before it is out or skipped; never blocks.

        Args:
            body: the message frame's JSON object *without* `seq`, e.g.
                b'{"type":"message","room":"r",...}'; the broker inserts seq.
            done: called once with the seq, or with the error (nobody was shown it;
                the seq is then skipped for good).
        """
        raise NotImplementedError

    def cancel(self, room: str, seq: int, message_id: str) -> None:
        """Give a reservation back: nothing was written with this seq, and it will never be released."""
        raise NotImplementedError

    def publish_message(self, room: str, message_id: str, body: bytes, done: PublishDone) -> None:
        """Reserve and release at once, for a message with no audit row to write first."""

        def reserved(seq: int | None, error: BaseException | None) -> None:
            if seq is None:
                done(None, error)
            else:
                self.release(room, seq, message_id, body, done)

        self.reserve(room, message_id, reserved)

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

    def live_from(self, room: str) -> int:
        """The seq after which this worker is handed a room's messages live (`on_message`).

        A worker that starts while others publish finds messages in storage (committed, perhaps
        not yet out) that will still reach it live: its room log takes the past only up to here.
        """
        raise NotImplementedError

    async def ping(self) -> bool:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def with_seq(body: bytes, seq: int) -> bytes:
    """Insert `"seq": N` as the second key of a message frame's JSON object."""
    return b'{"seq":%d,%s' % (seq, body[1:])
