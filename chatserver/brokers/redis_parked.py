"""Released messages waiting in Redis for another worker's earlier reservation, until they are out.

The common way out is the subscription: the waiting seq goes by (published, or stepped over as
deleted or void) and the sender is answered then. Behind a reservation whose worker died, the
room is flushed, so the lapsed seq is stepped over; past its time in Redis a message is settled
with the SETTLE script, which says for certain whether anyone was shown it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from chatserver.brokers.redis_requests import Flush, Outgoing, Release, Settle, answer
from chatserver.errors import Deleted, Unavailable

log = logging.getLogger(__name__)

#: How often the waiting messages are looked at, and how long one waits before its room is flushed.
WATCH_EVERY_S = 0.25
FLUSH_AFTER_S = 0.5
NOT_SHOWN = "The message could not be published in its turn; nothing was shown"


class Parked:
    """The worker's released messages that Redis holds back; `settled` answers them as their seq goes by."""

    def __init__(self, put: Callable[[Outgoing], None], *, floors: Mapping[str, int], park_s: float) -> None:
        self._put = put
        self._floors = floors
        self._park_s = park_s
        self._waiting: dict[tuple[str, int], Release] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, item: Release) -> None:
        item.parked_at = time.monotonic()
        if self._floors.get(item.room, 0) >= item.seq:
            self._settle(item)  # its seq went by before Redis's reply reached us: ask what happened
        else:
            self._waiting[(item.room, item.seq)] = item

    def settled(self, room: str, seq: int, message_id: str | None, reason: str) -> None:
        """The subscriber saw `seq` go by: published as `message_id`, or stepped over for `reason`."""
        if not self._waiting:
            return
        item = self._waiting.pop((room, seq), None)
        if item is None:
            return
        if message_id == item.message_id:
            answer(item, seq, None)
        elif reason == "deleted":
            answer(item, None, Deleted("A host deleted this message; it was not published"))
        else:
            log.warning("room %s: a parked message's seq %d went by as %s; not shown", room, seq, reason)
            answer(item, None, Unavailable(NOT_SHOWN))

    async def watch(self) -> None:
        """Flush rooms with messages waiting long; settle those whose time in Redis is over."""
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            if not self._waiting:
                continue
            now = time.monotonic()
            rooms = set()
            for key, item in list(self._waiting.items()):
                waited = now - item.parked_at
                if waited > self._park_s + FLUSH_AFTER_S:
                    del self._waiting[key]
                    self._settle(item)
                elif waited > FLUSH_AFTER_S:
                    rooms.add(item.room)
            for room in rooms:
                self._put(Flush(room))

    def fail_all(self, error: BaseException) -> None:
        waiting, self._waiting = self._waiting, {}
        for item in waiting.values():
            answer(item, None, error)

    def _settle(self, item: Release) -> None:
        def found(published: int | None) -> None:
            if published == 1:
                answer(item, item.seq, None)
            else:
                log.warning(
                    "room %s: a message parked past its time (seq %d) was not shown", item.room, item.seq
                )
                answer(item, None, Unavailable(NOT_SHOWN))

        self._put(Settle(item.room, item.seq, item.message_id, "v", found))
