"""The Redis broker's sending half: the outbox, one pipeline per round trip, deadlines and settling.

Every publish is answered exactly once: with its seq, or with why it was not published. A publish
the worker gave up on (Redis hung or the link stalled past the socket timeout, so the sender was
told `unavailable`) must not appear later when the held bytes finally arrive. Each publish therefore
carries a deadline on Redis's own clock (the offset to ours is measured with TIME in every batch),
and the script refuses to run after it. When a pipeline fails after it was sent, its publishes are
answered with what the room streams show once Redis's clock is past that deadline: a publish Redis
ran after all is acked, not reported lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis

from chatserver.brokers.base import PublishDone
from chatserver.brokers.redis_scripts import (
    DELETED,
    EVT_CHANNEL,
    MSG_CHANNEL,
    PUBLISH_LUA,
    PUBLISH_SHA,
    STREAM_MAXLEN,
    TOO_LATE,
    deleted_key,
    entries,
    entry_seq,
    seq_key,
    stream_key,
)
from chatserver.errors import Deleted, Unavailable

log = logging.getLogger(__name__)

MAX_PIPELINE = 512
#: Seconds a pipeline may wait for its replies before its senders are told `unavailable`.
REPLY_TIMEOUT_S = 3.0
#: A publish that Redis reaches later than this after it was sent is refused, not applied:
#: by then its sender may have been told `unavailable`. Kept well inside REPLY_TIMEOUT_S.
PUBLISH_DEADLINE_S = 2.0
#: After a pipeline failed mid-way, how long we may take to find out what Redis published.
SETTLE_S = 1.5

SHUTTING_DOWN = "The server is shutting down; nothing was published"
UNREACHABLE = "The message service is unavailable; nothing was published"
REFUSED = "The message service refused the message; nothing was published"

#: A queued publish: ("m", room, message id, body, done) for a message, ("e", payload) for an event.
Outgoing = tuple[Any, ...]


def redis_ms(seconds: int | bytes, micros: int | bytes) -> float:
    """A TIME reply as milliseconds on Redis's clock."""
    return int(seconds) * 1000 + int(micros) / 1000


def _answer(item: Outgoing, seq: int | None, error: BaseException | None) -> None:
    """Settle one queued publish; a failing callback is logged and never stops the publisher."""
    try:
        item[4](seq, error)
    except Exception:
        log.exception("answering publish of message %s failed", item[2])


def _fail(batch: list[Outgoing], exc: BaseException) -> None:
    for item in batch:
        if item[0] == "m":
            _answer(item, None, exc)


class RedisPublisher:
    """Sends what is queued to Redis in one pipeline per round trip, in queue order, and answers it.

    `floors` is the broker's room -> last seq this worker saw (the subscriber advances it): each
    publish carries it, so numbering never goes back after a Redis restart lost the counter.
    """

    def __init__(self, client: aioredis.Redis, *, floors: Mapping[str, int]) -> None:
        self._redis = client
        self._floors = floors
        # Bounded: a publisher that cannot reach Redis fails callers with `unavailable`
        # rather than letting the queue grow without limit.
        self._outbox: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=50_000)
        #: Redis's clock minus ours, in ms; None until measured (then publishes carry no deadline).
        self.clock_offset_ms: float | None = None

    def put_message(self, room: str, message_id: str, body: bytes, done: PublishDone) -> None:
        try:
            self._outbox.put_nowait(("m", room, message_id, body, done))
        except asyncio.QueueFull:
            done(None, Unavailable("The broker is backed up; try again in a moment"))

    def put_event(self, envelope: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # events are best effort
            self._outbox.put_nowait(("e", orjson.dumps(envelope)))

    async def drain(self) -> None:
        """Return once everything queued has been sent."""
        while not self._outbox.empty():
            await asyncio.sleep(0.01)

    def observe_clock(self, seconds: int, micros: int) -> None:
        """Take Redis's TIME reply as the new estimate of its clock."""
        # Redis read its clock before its reply reached us, so "Redis's time minus ours now" can only
        # be too small: deadlines err early (a quick retry), never late. Ours is monotonic: a step of
        # this machine's wall clock cannot stretch them.
        self.clock_offset_ms = redis_ms(seconds, micros) - time.monotonic() * 1000

    async def run(self) -> None:
        """Send everything queued in one pipeline per round trip, in queue order."""
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < MAX_PIPELINE and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            again = await self._publish_once(batch, retry_late=True)
            if again:  # "too late" at once: our estimate of Redis's clock was off; it is corrected now
                await self._publish_once(again, retry_late=False)

    async def _publish_once(self, batch: list[Outgoing], *, retry_late: bool) -> list[Outgoing]:
        """Send one pipeline and answer every publish in it; returns those to send again."""
        deadline = self._deadline_ms()
        floors = {item[1]: self._floors.get(item[1], 0) for item in batch if item[0] == "m"}
        started = time.monotonic()
        try:
            results = await self._send_batch(batch, deadline, floors)
        except asyncio.CancelledError:
            _fail(batch, Unavailable(SHUTTING_DOWN))
            raise
        except Exception as exc:  # Redis down, hung or slow: what was sent may or may not have run
            log.warning("publishing to Redis failed: %s", exc.__class__.__name__)
            # What queued up behind it was never sent: fail it at once. With Redis down or hung each
            # further pipeline would wait out its own timeout, and senders (or a shutdown) wait on them.
            queued = []
            while not self._outbox.empty():
                queued.append(self._outbox.get_nowait())
            _fail(queued, Unavailable(UNREACHABLE))
            await self._settle_unknown(batch, deadline, floors)
            return []
        quick = retry_late and time.monotonic() - started < PUBLISH_DEADLINE_S / 2
        again = []
        for item, result in zip(batch, results, strict=True):
            if item[0] != "m":
                continue
            if result == TOO_LATE and quick:
                again.append(item)  # it ran at once, yet "too late": only a clock error explains that
            elif result == DELETED:
                _answer(item, None, Deleted("A host deleted this message; it was not published"))
            elif isinstance(result, BaseException) or result == TOO_LATE:
                _answer(item, None, Unavailable(REFUSED))
            else:
                _answer(item, int(result), None)
        return again

    async def _send_batch(self, batch: list[Outgoing], deadline: int, floors: dict[str, int]) -> list[Any]:
        """One pipeline: SCRIPT LOAD, the batch, TIME; returns the batch's results."""
        pipe = self._redis.pipeline(transaction=False)
        # Loaded in every round trip (Redis only hashes it when it has it), so a Redis that restarted
        # or was flushed never answers NOSCRIPT. EVALSHA goes straight into the pipeline: redis-py's
        # Script objects would first ask SCRIPT EXISTS, in a round trip of its own.
        pipe.script_load(PUBLISH_LUA)
        for item in batch:
            if item[0] == "m":
                _, room, message_id, body, _done = item
                keys = (seq_key(room), stream_key(room), deleted_key(room))
                args = (floors[room], body, message_id, room, MSG_CHANNEL, STREAM_MAXLEN, deadline)
                pipe.execute_command("EVALSHA", PUBLISH_SHA, 3, *keys, *args)
            else:
                pipe.publish(EVT_CHANNEL, item[1])
        pipe.time()
        results = await pipe.execute(raise_on_error=False)
        clock = results.pop()
        if not isinstance(clock, BaseException):
            self.observe_clock(*clock)
        return results[1:]

    async def _settle_unknown(self, batch: list[Outgoing], deadline: int, floors: dict[str, int]) -> None:
        """A pipeline failed after it was sent: answer each publish with what Redis did.

        Once Redis's clock is past the deadline, a publish that is not in its room's stream never
        will be. If Redis does not say within SETTLE_S, the senders hear `unavailable`: the deadline
        still keeps a publish that had not run from running later.
        """
        messages = [item for item in batch if item[0] == "m"]
        if not messages:
            return
        found: dict[str, int] = {}
        try:
            found = await asyncio.wait_for(self._published_since(floors, deadline), SETTLE_S)
        except asyncio.CancelledError:
            _fail(messages, Unavailable(SHUTTING_DOWN))
            raise
        except Exception as exc:
            log.warning("could not tell what Redis published (%s)", exc.__class__.__name__)
        for item in messages:
            seq = found.get(item[2])
            if seq is not None:
                _answer(item, seq, None)
            else:
                _answer(item, None, Unavailable(UNREACHABLE))

    async def _published_since(self, floors: dict[str, int], deadline: int) -> dict[str, int]:
        """message id -> seq of what each room's stream holds past its floor, once past the deadline."""
        while deadline:
            now = redis_ms(*await self._redis.time())
            if now > deadline:
                break
            await asyncio.sleep((deadline - now) / 1000 + 0.01)
        found = {}
        for room, floor in floors.items():
            for entry_id, fields in entries(await self._redis.xrange(stream_key(room), min=f"{floor + 1}-0")):
                found[fields[b"id"].decode()] = entry_seq(entry_id)
        return found

    def _deadline_ms(self) -> int:
        """When a publish sent now must have run, on Redis's clock; 0 (none) before the first TIME."""
        if self.clock_offset_ms is None:
            return 0
        return int(time.monotonic() * 1000 + self.clock_offset_ms + PUBLISH_DEADLINE_S * 1000)
