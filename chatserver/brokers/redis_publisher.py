"""The Redis broker's sending half: the outbox, one pipeline per round trip, deadlines and settling.

Every reservation and every release is answered exactly once. A release the worker gave up on
(Redis hung or the link stalled past the socket timeout, so the sender was told `unavailable`) must
not appear later when the held bytes finally arrive. Each request therefore carries a deadline on
Redis's own clock (the offset to ours is measured with TIME in every batch), and the scripts refuse
to run after it. When a pipeline fails after it was sent, each release in it is settled with the
SETTLE script, which takes the message back if it is not out yet and says if it is: a release
Redis ran after all is acked, not reported lost.

A release can be *parked*: in Redis, waiting for an earlier reservation of another worker. It is
answered when the subscriber sees its seq go by (`settled`), or, if that never comes, settled
once its time in Redis is over (redis_parked.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.brokers.base import PublishDone, ReserveDone
from chatserver.brokers.redis_batch import line_for, round_trip
from chatserver.brokers.redis_lua import DELETED, LAPSED, PARKED, PUBLISHED, TOO_LATE, numbering_scripts
from chatserver.brokers.redis_parked import Parked
from chatserver.brokers.redis_requests import Outgoing, Release, Reserve, Settle, answer
from chatserver.brokers.redis_scripts import EVT_CHANNEL, STREAM_MAXLEN, KeySpace
from chatserver.brokers.redis_url import RedisClient
from chatserver.errors import Deleted, Unavailable

log = logging.getLogger(__name__)

MAX_PIPELINE = 512
#: Seconds a pipeline may wait for its replies before its senders are told `unavailable`.
REPLY_TIMEOUT_S = 3.0
#: A request that Redis reaches later than this after it was sent is refused, not applied:
#: by then its sender may have been told `unavailable`. Kept well inside REPLY_TIMEOUT_S.
PUBLISH_DEADLINE_S = 2.0
#: How long a seq stays reserved for its audit commit (milliseconds, unless the disk stalls); past it,
#: a dead worker's seq is stepped over, so the messages after it wait at most this long.
HOLD_S = 2.0
#: How long a released message may wait in Redis for the reservations before it.
PARK_S = HOLD_S + 1.0
#: After a pipeline failed mid-way, how long we may take to find out what Redis published.
SETTLE_S = 1.5

#: A command's result saying its reply was lost, not that Redis refused it: it may have run.
_REPLY_LOST = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)

#: What a refusal's status means, for the log.
_REFUSALS = {
    TOO_LATE: "it reached Redis after its send deadline",
    LAPSED: "its hold had lapsed: the audit commit took longer than the hold",
}


SHUTTING_DOWN = "The server is shutting down; nothing was published"
UNREACHABLE = "The message service is unavailable; nothing was published"
REFUSED = "The message service refused the message; nothing was published"


def _refusal(result: Any) -> Any:
    """Why Redis refused a request, for the log."""
    return result.__class__.__name__ if isinstance(result, BaseException) else _REFUSALS.get(result, result)


def _commands(batch: list[Outgoing]) -> list[list[Outgoing]]:
    """The batch as the pipeline's commands: a room's reservations in one, its releases in one (each in
    queue order, so a sender's messages keep theirs), anything else one each."""
    commands: list[list[Outgoing]] = []
    groups: dict[tuple[type, str], list[Outgoing]] = {}
    for item in batch:
        if isinstance(item, Reserve | Release):
            key = (type(item), item.room)
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
                commands.append(group)
            group.append(item)
        else:
            commands.append([item])
    return commands


def redis_ms(seconds: int | bytes, micros: int | bytes) -> float:
    """A TIME reply as milliseconds on Redis's clock."""
    return int(seconds) * 1000 + int(micros) / 1000


def _fail(batch: Sequence[Outgoing], exc: BaseException) -> None:
    for item in batch:
        answer(item, None, exc)


class RedisPublisher:
    """Sends what is queued to Redis in one pipeline per round trip, in queue order, and answers it.

    `floors` is the broker's room -> last seq this worker saw (the subscriber advances it): each
    reservation carries it, so numbering never goes back after a Redis restart (or a cluster failover)
    lost the counter. `keys` names the rooms' keys and channels (one Redis or a cluster).
    """

    def __init__(self, client: RedisClient, *, floors: Mapping[str, int], keys: KeySpace) -> None:
        self._redis = client
        self._floors = floors
        self._keys = keys
        self._reserve, self._release, self._settle, self._flush = numbering_scripts(sharded=keys.cluster)
        # Bounded: a publisher that cannot reach Redis fails callers with `unavailable`
        # rather than letting the queue grow without limit.
        self._outbox: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=50_000)
        #: Redis's clock minus ours, in ms; None until measured (then requests carry no deadline).
        self.clock_offset_ms: float | None = None
        self.parked = Parked(self._put, floors=floors, park_s=PARK_S)
        #: Its own connection to one Redis server (redis_batch.Line); None on a cluster.
        self._line = line_for(client)

    async def close(self) -> None:
        """Let go of the publisher's own connection (the client is the broker's to close)."""
        if self._line is not None:
            await self._line.close()

    def put_reserve(self, room: str, message_id: str, done: ReserveDone) -> None:
        self._put(Reserve(room, message_id, done))

    def put_release(self, room: str, seq: int, message_id: str, body: bytes, done: PublishDone) -> None:
        self._put(Release(room, seq, message_id, body, done))

    def put_cancel(self, room: str, seq: int, message_id: str) -> None:
        self._put(Settle(room, seq, message_id, "c", None))

    def put_event(self, envelope: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # events are best effort
            self._outbox.put_nowait(orjson.dumps(envelope))

    def _put(self, item: Outgoing) -> None:
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            answer(item, None, Unavailable("The broker is backed up; try again in a moment"))

    async def drain(self) -> None:
        """Return once everything queued has been sent and every parked release answered."""
        while not self._outbox.empty() or len(self.parked):
            await asyncio.sleep(0.01)

    def observe_clock(self, seconds: int, micros: int) -> None:
        """Take Redis's TIME reply as the new estimate of its clock."""
        # Redis read its clock before its reply reached us, so "Redis's time minus ours now" can only
        # be too small: deadlines err early (a quick retry), never late. Ours is monotonic: a step of
        # this machine's wall clock cannot stretch them.
        self.clock_offset_ms = redis_ms(seconds, micros) - time.monotonic() * 1000

    async def run(self) -> None:
        """Send everything queued in one pipeline per round trip, in queue order."""
        watcher = asyncio.create_task(self.parked.watch(), name="redis-parked")
        try:
            while True:
                batch = [await self._outbox.get()]
                while len(batch) < MAX_PIPELINE and not self._outbox.empty():
                    batch.append(self._outbox.get_nowait())
                try:
                    again = await self._publish_once(batch, retry_late=True)
                    if again:  # NOSCRIPT, or "too late" at once (our estimate of Redis's clock was off)
                        _fail(await self._publish_once(again, retry_late=False), Unavailable(UNREACHABLE))
                except asyncio.CancelledError:
                    raise
                except Exception:  # a bug must not end the publisher: every later send would hang
                    log.exception("publishing a batch to Redis failed; going on with the next")
                    _fail(batch, Unavailable(UNREACHABLE))
        finally:
            watcher.cancel()
            self.parked.fail_all(Unavailable(SHUTTING_DOWN))

    async def _publish_once(self, batch: list[Outgoing], *, retry_late: bool) -> list[Outgoing]:
        """Send one pipeline and answer every request in it; returns those to send again."""
        deadline = self._deadline_ms()
        started = time.monotonic()
        commands = _commands(batch)
        try:
            results = await self._send_batch(commands, deadline)
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
            await self._settle_unknown(batch)
            return []
        again = await self._without_scripts(commands, results)
        quick = retry_late and time.monotonic() - started < PUBLISH_DEADLINE_S / 2
        unknown: list[Outgoing] = []
        for group, result in zip(commands, results, strict=True):
            item = group[0]
            if isinstance(result, NoScriptError):
                continue
            if isinstance(result, _REPLY_LOST) and isinstance(item, Release | Settle):
                # A cluster pipeline hands back one node's lost link as that command's result: it
                # may have run (and been shown to everyone), so ask Redis, as for a whole pipeline.
                unknown.extend(group)
            elif isinstance(item, Reserve):
                if result == TOO_LATE and quick:
                    again.extend(group)  # it ran at once, yet "too late": only a clock error explains that
                else:
                    self._reserved(group, result)
            elif isinstance(item, Release):
                statuses = [result] * len(group) if isinstance(result, BaseException) else result
                refused = []
                for release, status in zip(group, statuses, strict=True):
                    if status == TOO_LATE and quick:
                        again.append(release)
                    elif not self._released(release, status):
                        refused.append(status)
                if refused:  # (one line a room and round trip: a stalled disk refuses many at once)
                    log.warning(
                        "Redis refused %d release(s) in room %s (%s)",
                        len(refused),
                        item.room,
                        _refusal(refused[0]),
                    )
            elif isinstance(item, Settle):
                answer(item, None if isinstance(result, BaseException) else int(result), None)
        if unknown:
            await self._settle_unknown(unknown)
        return again

    async def _without_scripts(self, commands: list[list[Outgoing]], results: list[Any]) -> list[Outgoing]:
        """The groups Redis answered NOSCRIPT, to send again once the scripts are loaded (failed at once
        when they cannot be). Redis restarted, its scripts were flushed, or (on a cluster) a promoted
        replica has none: those groups did not run; every other group ran (on a cluster, on the other
        masters) and is answered as usual."""
        missing = [
            group
            for group, result in zip(commands, results, strict=True)
            if isinstance(result, NoScriptError)
        ]
        if not missing:
            return []
        try:
            await self.load_scripts()
        except Exception as exc:
            log.warning("loading the scripts into Redis failed: %s", exc.__class__.__name__)
            _fail([item for group in missing for item in group], Unavailable(UNREACHABLE))
            return []
        return [item for group in missing for item in group]

    def _reserved(self, group: list[Outgoing], result: Any) -> None:
        first = group[0]
        assert isinstance(first, Reserve)  # (a group is one room's reservations)
        if isinstance(result, BaseException) or result <= 0:
            log.warning(
                "Redis refused %d reservation(s) in room %s (%s)", len(group), first.room, _refusal(result)
            )
            _fail(group, Unavailable(REFUSED))
            return
        for k, item in enumerate(group):
            answer(item, int(result) + k, None)

    def _released(self, item: Outgoing, result: Any) -> bool:
        """Answer a release by Redis's status; False when Redis refused it."""
        assert isinstance(item, Release)
        if result == PUBLISHED:
            answer(item, item.seq, None)
        elif result == PARKED:
            self.parked.add(item)
        elif result == DELETED:
            answer(item, None, Deleted("A host deleted this message; it was not published"))
        else:  # LAPSED, TOO_LATE or an error: nobody was or will be shown it
            if result != LAPSED:
                # Not run: take it back so a late retry of these bytes cannot show it.
                self._put(Settle(item.room, item.seq, item.message_id, "v", None))
            answer(item, None, Unavailable(REFUSED))
            return False
        return True

    async def load_scripts(self) -> None:
        """Load every numbering script (at start, and after Redis answered NOSCRIPT)."""
        scripts = (self._reserve, self._release, self._settle, self._flush)
        if self._keys.cluster:  # on every master: a promoted replica starts with no scripts
            for script in scripts:
                await self._redis.script_load(script.lua)
            return
        pipe = self._redis.pipeline(transaction=False)
        for script in scripts:
            pipe.script_load(script.lua)
        await pipe.execute()

    async def _send_batch(self, commands: list[list[Outgoing]], deadline: int) -> list[Any]:
        """One round trip: one command per group, then TIME; returns the groups' results."""
        # EVALSHA goes straight in (redis-py's Script objects would first ask SCRIPT EXISTS, in a
        # round trip of their own); a Redis that lost its scripts answers NOSCRIPT and _publish_once
        # loads them and sends again.
        sent = [self._command(group, deadline) for group in commands]
        sent.append(("TIME",))
        # (PUBLISH and TIME as plain commands: a cluster pipeline has no .publish nor .time)
        results = await round_trip(self._redis, self._line, sent)
        clock = results.pop()
        if not isinstance(clock, BaseException):
            self.observe_clock(*clock)
        return results

    def _command(self, group: list[Outgoing], deadline: int) -> tuple[Any, ...]:
        item = group[0]
        if isinstance(item, bytes):
            return ("PUBLISH", EVT_CHANNEL, item)
        keys = self._keys.room_keys(item.room)
        channel = self._keys.channel(item.room)
        if isinstance(item, Reserve):
            ids = [i.message_id for i in group if isinstance(i, Reserve)]
            args: tuple[Any, ...] = (self._floors.get(item.room, 0), int(HOLD_S * 1000), deadline)
            return ("EVALSHA", self._reserve.sha, 6, *keys, *args, *ids)
        if isinstance(item, Release):
            args = (item.room, channel, STREAM_MAXLEN, deadline, int(PARK_S * 1000))
            out = [v for i in group if isinstance(i, Release) for v in (i.seq, i.message_id, i.body)]
            return ("EVALSHA", self._release.sha, 6, *keys, *args, *out)
        if isinstance(item, Settle):
            args = (item.seq, item.message_id, item.room, channel, STREAM_MAXLEN, item.mark)
            return ("EVALSHA", self._settle.sha, 6, *keys, *args)
        return ("EVALSHA", self._flush.sha, 6, *keys, item.room, channel, STREAM_MAXLEN)

    async def _settle_unknown(self, batch: list[Outgoing]) -> None:
        """A pipeline failed after it was sent: answer each request with what Redis did.

        A reservation is refused (if Redis took it, it lapses). A release is settled: taken back if it
        is not out, acked if it is. If Redis does not say within SETTLE_S, the sender hears
        `unavailable`: the send deadline keeps a release that had not run from running later.
        """
        for item in batch:
            if isinstance(item, Reserve):
                answer(item, None, Unavailable(UNREACHABLE))
        pending = [item for item in batch if isinstance(item, Release | Settle)]
        try:
            async with asyncio.timeout(SETTLE_S):
                while pending:
                    item = pending[0]
                    mark = item.mark if isinstance(item, Settle) else "v"
                    keys = self._keys.room_keys(item.room)
                    channel = self._keys.channel(item.room)
                    args = (item.seq, item.message_id, item.room, channel, STREAM_MAXLEN, mark)
                    found = await self._redis.eval(self._settle.lua, 6, *keys, *args)
                    pending.pop(0)
                    if isinstance(item, Settle):
                        answer(item, int(found), None)
                    elif found == 1:
                        answer(item, item.seq, None)
                    else:
                        answer(item, None, Unavailable(UNREACHABLE))
        except asyncio.CancelledError:
            _fail(pending, Unavailable(SHUTTING_DOWN))
            raise
        except Exception as exc:
            log.warning("could not tell what Redis published (%s)", exc.__class__.__name__)
            _fail(pending, Unavailable(UNREACHABLE))

    def _deadline_ms(self) -> int:
        """When a request sent now must have run, on Redis's clock; 0 (none) before the first TIME."""
        if self.clock_offset_ms is None:
            return 0
        return int(time.monotonic() * 1000 + self.clock_offset_ms + PUBLISH_DEADLINE_S * 1000)
