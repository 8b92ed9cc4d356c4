"""What the Redis publisher's outbox holds: one small class per kind of request, and how each is answered."""

from __future__ import annotations

import logging
from collections.abc import Callable

from chatserver.brokers.base import PublishDone, ReserveDone

log = logging.getLogger(__name__)


class Reserve:
    """Take the next seq of a room."""

    __slots__ = ("room", "message_id", "done")

    def __init__(self, room: str, message_id: str, done: ReserveDone) -> None:
        self.room, self.message_id, self.done = room, message_id, done


class Release:
    """Publish a reserved message in its turn."""

    __slots__ = ("room", "seq", "message_id", "body", "done", "parked_at")

    def __init__(self, room: str, seq: int, message_id: str, body: bytes, done: PublishDone) -> None:
        self.room, self.seq, self.message_id, self.body, self.done = room, seq, message_id, body, done
        self.parked_at = 0.0


class Settle:
    """Take a message back if it is not out yet; `done(1)` published, `done(0)` never shown, `done(None)`
    unknown. `mark` "c" gives the seq back (no row holds it), "v" leaves a gap (a row does)."""

    __slots__ = ("room", "seq", "message_id", "mark", "done")

    def __init__(
        self, room: str, seq: int, message_id: str, mark: str, done: Callable[[int | None], None] | None
    ) -> None:
        self.room, self.seq, self.message_id, self.mark, self.done = room, seq, message_id, mark, done


class Flush:
    """Step over the room's lapsed reservations, so what waits behind them goes out."""

    __slots__ = ("room",)

    def __init__(self, room: str) -> None:
        self.room = room


#: What the outbox holds; an event is its encoded envelope.
Outgoing = Reserve | Release | Settle | Flush | bytes


def answer(item: Outgoing, seq: int | None, error: BaseException | None) -> None:
    """Settle one queued request; a failing callback is logged and never stops the publisher."""
    try:
        if isinstance(item, Reserve | Release):
            item.done(seq, error)
        elif isinstance(item, Settle) and item.done is not None:
            item.done(seq)
    except Exception:
        log.exception("answering a publish request failed")
