"""The Redis broker's publish path in-process, against a real redis-server: scripts, deadlines, clocks,
and the numbering that lets an audit row be written once (reserve, commit, release in seq order)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from chatserver.brokers import redis_publisher
from chatserver.brokers.redis import RedisBroker
from chatserver.brokers.redis_lua import RESERVE_LUA, TOO_LATE
from chatserver.brokers.redis_scripts import room_keys, seq_key, stream_key
from chatserver.errors import Deleted, Unavailable

_seq_key, _stream_key = seq_key, stream_key

pytestmark = pytest.mark.redis

BODY = b'{"type":"message","room":"lobby","id":"m1","text":"hello"}'


class Collector:
    """A BrokerListener that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, int, str]] = []
        self.arrived = asyncio.Event()

    def on_message(self, room: str, seq: int, message_id: str, frame: bytes) -> None:
        self.messages.append((room, seq, message_id))
        self.arrived.set()

    def on_event(self, envelope: dict[str, Any]) -> None:
        pass

    def on_broker_state(self, healthy: bool, reason: str) -> None:
        pass


@pytest.fixture
async def broker(redis_server) -> AsyncIterator[tuple[RedisBroker, Collector, aioredis.Redis]]:
    listener = Collector()
    started = RedisBroker(redis_server.url, worker_id="w1")
    await started.start(listener, ["lobby"], {})
    admin = aioredis.Redis.from_url(redis_server.url)
    yield started, listener, admin
    await admin.aclose()
    await started.close()


async def publish(broker: RedisBroker, message_id: str) -> tuple[int | None, BaseException | None]:
    settled: asyncio.Future[tuple[int | None, BaseException | None]] = (
        asyncio.get_running_loop().create_future()
    )
    body = BODY.replace(b'"m1"', f'"{message_id}"'.encode())
    broker.publish_message("lobby", message_id, body, lambda seq, err: settled.set_result((seq, err)))
    return await asyncio.wait_for(settled, 10)


async def reserve(broker: RedisBroker, message_id: str) -> int:
    taken: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def done(seq: int | None, error: BaseException | None) -> None:
        if seq is None:
            taken.set_exception(error or RuntimeError("no seq"))
        else:
            taken.set_result(seq)

    broker.reserve("lobby", message_id, done)
    return await asyncio.wait_for(taken, 10)


def release(broker: RedisBroker, seq: int, message_id: str) -> asyncio.Future[tuple[int | None, Any]]:
    settled: asyncio.Future[tuple[int | None, Any]] = asyncio.get_running_loop().create_future()
    body = BODY.replace(b'"m1"', f'"{message_id}"'.encode())
    broker.release("lobby", seq, message_id, body, lambda seq, err: settled.set_result((seq, err)))
    return settled


async def test_a_flushed_script_cache_is_reloaded_and_the_publish_goes_out(broker):
    """After SCRIPT FLUSH (or a Redis restart) the next publish loads the script again and succeeds."""
    b, listener, admin = broker
    await admin.script_flush()
    assert await publish(b, "m1") == (1, None)
    await asyncio.wait_for(listener.arrived.wait(), 5)
    assert listener.messages == [("lobby", 1, "m1")]


async def test_a_wrong_clock_estimate_does_not_refuse_publishes(broker):
    """If our idea of Redis's clock is 10 s slow, deadlines look past: the publish is retried, not refused."""
    b, listener, _ = broker
    measured = b._clock_offset_ms
    assert measured is not None
    b._clock_offset_ms = measured - 10_000
    assert await publish(b, "m1") == (1, None)
    assert abs(b._clock_offset_ms - measured) < 1_000, "the estimate was corrected from the batch's TIME"
    await asyncio.wait_for(listener.arrived.wait(), 5)


async def test_the_script_refuses_a_reservation_past_its_deadline_and_leaves_no_trace(broker):
    """Run late, the reserve script returns TOO_LATE: no seq taken; in time, it takes seq 1."""
    _, _, admin = broker
    seconds, _ = await admin.time()
    past = (seconds - 5) * 1000
    keys = room_keys("lobby")
    assert await admin.eval(RESERVE_LUA, 6, *keys, 0, 4000, past, "m1") == TOO_LATE
    assert await admin.get(_seq_key("lobby")) in (None, b"0")
    future = (seconds + 5) * 1000
    assert await admin.eval(RESERVE_LUA, 6, *keys, 0, 4000, future, "m1", "m2") == 1
    assert await admin.get(_seq_key("lobby")) == b"2"


async def test_a_deleted_message_leaves_the_stream_and_is_never_published_later(broker):
    """delete_message drops the stream entry by id, and a publish of that id still on its way is refused."""
    b, _, admin = broker
    assert await publish(b, "m1") == (1, None)
    assert await admin.xlen(_stream_key("lobby")) == 1
    await b.delete_message("lobby", "m1")
    assert await admin.xlen(_stream_key("lobby")) == 0
    await b.delete_message("lobby", "m2")  # a release racing the delete: not published yet
    seq, error = await publish(b, "m2")
    assert seq is None and isinstance(error, Deleted)
    assert await admin.xlen(_stream_key("lobby")) == 0
    assert await publish(b, "m3") == (3, None), "a refused publish leaves its seq a gap nobody sees"
    assert [fields[b"id"] for _, fields in await admin.xrange(_stream_key("lobby"))] == [b"m3"]


#: A script that keeps Redis busy for 3.5 s: longer than the broker waits for a reply (3 s).
BUSY = """
local t0 = redis.call('TIME')
repeat
  local t = redis.call('TIME')
until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 3500000
"""


async def test_a_publish_redis_ran_but_answered_too_late_is_acked_not_refused(broker, monkeypatch):
    """Redis runs the publish, then stalls past the reply timeout: the sender hears `published`, not lost."""
    b, listener, admin = broker
    pipeline = b._redis.pipeline

    def stalling_pipeline(*args, **kwargs):
        pipe = pipeline(*args, **kwargs)
        time_command = pipe.time

        def busy_then_time():
            pipe.eval(BUSY, 0)  # after the publish in the same round trip: it ran, its reply waits
            return time_command()

        pipe.time = busy_then_time
        return pipe

    settled: asyncio.Future[tuple[int | None, BaseException | None]] = (
        asyncio.get_running_loop().create_future()
    )
    seq = await reserve(b, "m1")
    monkeypatch.setattr(b._redis, "pipeline", stalling_pipeline)  # only the release stalls
    b.release("lobby", seq, "m1", BODY, lambda seq, err: settled.set_result((seq, err)))
    seq, error = await asyncio.wait_for(settled, 10)
    assert (seq, error) == (1, None), "the publish is in the stream, so its sender must hear it was published"
    entries = await admin.xrange(_stream_key("lobby"))
    assert [fields[b"id"] for _, fields in entries] == [b"m1"]
    await asyncio.wait_for(listener.arrived.wait(), 5)


async def test_retention_trims_room_histories_and_care_notes_in_redis(broker, redis_server):
    """Messages and care notes older than the retention cut-off leave Redis; younger ones stay."""
    from chatserver.brokers.redis_store import RedisStore

    b, _, admin = broker
    for i, ts in enumerate(
        ("2020-01-01T00:00:00.000Z", "2020-01-02T00:00:00.000Z", "2030-01-01T00:00:00.000Z")
    ):
        body = f'{{"type":"message","room":"lobby","id":"m{i}","text":"t{i}","ts":"{ts}"}}'.encode()
        settled = asyncio.get_running_loop().create_future()
        b.publish_message("lobby", f"m{i}", body, lambda seq, err, f=settled: f.set_result((seq, err)))
        assert (await settled)[1] is None
    await b.purge_history("lobby", "2021-01-01T00:00:00.000Z")
    kept = await admin.xrange(_stream_key("lobby"))
    assert [fields[b"id"] for _, fields in kept] == [b"m2"]
    store = RedisStore(b.client)
    try:
        await store.add_note("lobby", "s1", {"by": "alice", "text": "old", "ts": "2020-01-01T00:00:00Z"})
        await store.add_note("lobby", "s1", {"by": "alice", "text": "new", "ts": "2030-01-01T00:00:00Z"})
        await store.add_note("lobby", "s2", {"by": "alice", "text": "old", "ts": "2020-01-01T00:00:00Z"})
        await store.purge_notes("2021-01-01T00:00:00.000Z")
        assert [n["text"] for n in await store.notes("lobby", "s1")] == ["new"]
        assert await store.notes("lobby", "s2") == []
    finally:
        await store.close()
    await b.purge_history("lobby", "2040-01-01T00:00:00.000Z")
    assert await admin.xlen(_stream_key("lobby")) == 0
    assert await publish(b, "m9") == (4, None), "numbering goes on after the stream was emptied"


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_adding_an_entry_answers_with_the_list_it_keeps(request, backend):
    """A counter (joins in a burst) adds, trims, renews its lifetime and reads in one step: one atomic
    script on Redis, not a pipeline of four (every newcomer is counted)."""
    from chatserver.brokers.redis_store import RedisStore
    from chatserver.store import MemoryStore

    client = None
    if backend == "redis":  # a plain client: no broker to start (and stop) for a store alone
        client = aioredis.Redis.from_url(request.getfixturevalue("redis_server").url)
    store = RedisStore(client) if client is not None else MemoryStore()
    try:
        assert await store.add_entry("joins:lobby", 1.0, keep=3, ttl=60) == [1.0]
        for at in (2.0, 3.0):
            await store.add_entry("joins:lobby", at, keep=3, ttl=60)
        assert await store.add_entry("joins:lobby", 4.0, keep=3, ttl=60) == [2.0, 3.0, 4.0]
        assert await store.entries("joins:lobby") == [2.0, 3.0, 4.0]
        if client is not None:
            assert 0 < await client.pttl("chatserver:kv:joins:lobby") <= 60_000
            stats = await client.info("commandstats")
            evalsha = stats["cmdstat_evalsha"]  # the first is refused (NOSCRIPT) and loads the script
            assert evalsha["calls"] - evalsha["failed_calls"] == 4 and "cmdstat_multi" not in stats
    finally:
        await store.close()
        if client is not None:
            await client.aclose()


async def test_a_name_held_by_a_worker_that_went_away_is_taken_over_in_one_step(broker, redis_server):
    """After a restart the worker has a new id and every name of its rooms is still held by the old
    one: the same person takes theirs back, someone else may take a name only when its worker is
    gone, and each claim is one script call (it was up to three round trips)."""
    from chatserver.brokers.redis_store import RedisStore

    store = RedisStore(broker[0].client)
    claim = store.claim_name
    assert await claim("lobby", "sam", "s1", "old", {"old"})
    assert not await claim("lobby", "sam", "s2", "new", {"old", "new"}), "old is alive: sam is s1's"
    assert await claim("lobby", "sam", "s1", "new", {"new"}), "s1 takes their name back"
    assert not await claim("lobby", "sam", "s2", "old", {"old", "new"}), "now held by new"
    assert await claim("lobby", "sam", "s2", "other", {"other"}), "new went away: s2 may"
    admin = redis.Redis.from_url(redis_server.url)
    try:
        assert admin.hget("chatserver:room:lobby:names", "sam") == b"other s2"
        calls = admin.info("commandstats")["cmdstat_evalsha"]["calls"]
        assert await claim("lobby", "sam", "s1", "old", {"old"}), "other went away too: s1 again"
        stats = admin.info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == calls + 1 and "cmdstat_hsetnx" not in stats
    finally:
        admin.close()


@pytest.fixture
async def two_workers(redis_server) -> AsyncIterator[tuple[RedisBroker, RedisBroker, Collector]]:
    """Two workers on one Redis; the second one's listener is returned."""
    first, second = (
        RedisBroker(redis_server.url, worker_id="w1"),
        RedisBroker(redis_server.url, worker_id="w2"),
    )
    listener = Collector()
    await first.start(Collector(), ["lobby"], {})
    await second.start(listener, ["lobby"], {})
    yield first, second, listener
    await second.close()
    await first.close()


async def test_a_release_waits_for_the_earlier_reservation_of_another_worker(two_workers):
    """Worker 1 takes seq 1, worker 2 seq 2; 2 is committed first, yet nobody sees it before 1."""
    first, second, listener = two_workers
    one = await reserve(first, "m1")
    two = await reserve(second, "m2")
    assert (one, two) == (1, 2)
    later = release(second, two, "m2")
    await asyncio.sleep(0.2)  # (only to show it waits: nothing else would announce it)
    assert not later.done() and listener.messages == []
    assert await asyncio.wait_for(release(first, one, "m1"), 5) == (1, None)
    assert await asyncio.wait_for(later, 5) == (2, None)
    assert listener.messages == [("lobby", 1, "m1"), ("lobby", 2, "m2")]


async def test_a_seq_whose_worker_died_is_stepped_over_once_its_hold_lapses(two_workers, monkeypatch, caplog):
    """Worker 1 reserves and never releases (it died mid-commit): worker 2's message goes out after
    the hold, as seq 2; seq 1 is a gap nobody is shown, and the log says why its sender was refused."""
    monkeypatch.setattr(redis_publisher, "HOLD_S", 0.5)
    first, second, listener = two_workers
    assert await reserve(first, "m1") == 1
    assert await reserve(second, "m2") == 2
    assert await asyncio.wait_for(release(second, 2, "m2"), 10) == (2, None)
    assert listener.messages == [("lobby", 2, "m2")]
    late = await asyncio.wait_for(release(first, 1, "m1"), 10)
    assert late[0] is None and isinstance(late[1], Unavailable), "a lapsed seq is never shown late"
    assert listener.messages == [("lobby", 2, "m2")]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "1 release(s) in room lobby (its hold had lapsed" in refusals[0], refusals


async def test_a_cancelled_seq_is_given_back_when_nothing_follows_it(broker):
    """The audit commit failed (no row holds the seq): the next message takes the same number."""
    b, listener, _ = broker
    seq = await reserve(b, "m1")
    b.cancel("lobby", seq, "m1")
    assert await publish(b, "m2") == (seq, None)
    await asyncio.wait_for(listener.arrived.wait(), 5)
    assert listener.messages == [("lobby", seq, "m2")]


async def test_a_failed_script_load_fails_those_sends_and_the_publisher_goes_on(broker, monkeypatch):
    """Redis lost its scripts and the link drops again while they load: the sends waiting on them
    hear `unavailable`, and the publisher keeps working (it used to end, and no send was answered
    again until a restart)."""
    b, listener, admin = broker
    publisher = b._publisher
    load = publisher.load_scripts
    failed_once: list[bool] = []

    async def flaky_load() -> None:
        if not failed_once:
            failed_once.append(True)
            raise redis.exceptions.ConnectionError("Connection reset by peer")
        await load()

    monkeypatch.setattr(publisher, "load_scripts", flaky_load)
    await admin.script_flush()
    seq, error = await publish(b, "m1")
    assert seq is None and isinstance(error, Unavailable)
    assert await publish(b, "m2") == (1, None), "the publisher is still running"
    await asyncio.wait_for(listener.arrived.wait(), 5)
    assert [m for _, _, m in listener.messages] == ["m2"]


async def test_a_release_whose_reply_was_lost_on_its_own_is_settled_not_refused(broker, monkeypatch):
    """A cluster pipeline hands back a lost connection as one command's result, not as an error of
    the whole pipeline: the release ran and everyone was shown it, so its sender must hear
    `published` (it used to hear "refused"; a resend would then show it twice)."""
    b, listener, admin = broker
    publisher = b._publisher
    send_batch = publisher._send_batch

    async def reply_lost(commands, deadline):
        results = await send_batch(commands, deadline)  # Redis really ran every command
        return [redis.exceptions.ConnectionError("lost") for _ in results]

    seq = await reserve(b, "m1")
    monkeypatch.setattr(publisher, "_send_batch", reply_lost)
    outcome = await asyncio.wait_for(release(b, seq, "m1"), 10)
    assert outcome == (1, None)
    await asyncio.wait_for(listener.arrived.wait(), 5)
    assert listener.messages == [("lobby", 1, "m1")]


class RoomListener(Collector):
    """A worker's hub in miniature: a message reaches the room's people only if its log takes it."""

    def __init__(self, room: Any) -> None:
        super().__init__()
        self.room = room
        self.shown: list[str] = []

    def on_message(self, room: str, seq: int, message_id: str, frame: bytes) -> None:
        if self.room.remember(seq, message_id, frame):
            self.shown.append(message_id)
        super().on_message(room, seq, message_id, frame)


async def test_a_worker_starting_mid_publish_shows_the_message_once(broker, redis_server, tmp_path):
    """A worker that starts while another has a message committed but not yet out (the audit log
    knows its seq, Redis has not published it) loads the room's past only up to what Redis has
    published: the message then arrives live, once. It used to count it as already there too, so
    someone rejoining with `since` in between got it in the replay and again live (the reconnect
    storm of `make bench` saw 100 people get one message twice)."""
    from chatserver.room_loader import RoomLoader
    from chatserver.rooms import load_rooms
    from chatserver.rooms_state import RoomState
    from chatserver.store import MemoryStore
    from tests.conftest import TESTS

    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])  # first: it takes a while
    listener = RoomListener(room)
    first, _, _ = broker
    for n in (1, 2, 3):
        assert await publish(first, f"m{n}") == (n, None)
    committed = await reserve(first, "m4")  # its audit row is written next; then it is released
    restarted = RedisBroker(redis_server.url, worker_id="w2")
    await restarted.start(listener, ["lobby"], {"lobby": committed})
    try:
        await RoomLoader(restarted, MemoryStore(), None).load(room)  # type: ignore[arg-type]
        assert [m for _, m, _ in room.log] == ["m1", "m2", "m3"] and room.last_seq == 3
        assert room.after(1) is not None and b"m4" not in b"".join(room.after(1) or [])
        outcome = await asyncio.wait_for(release(first, committed, "m4"), 10)
        assert outcome == (4, None), repr(outcome)
        await asyncio.wait_for(listener.arrived.wait(), 5)
        assert listener.shown == ["m4"]
        assert [m for _, m, _ in room.log] == ["m1", "m2", "m3", "m4"]
    finally:
        await restarted.close()


async def test_closing_stops_a_task_that_lost_its_cancellation(redis_server):
    """Python 3.11's wait_for can swallow a cancellation; a broker task that missed one once kept a
    test's teardown (and would keep a worker's shutdown) waiting forever. close() cancels again."""
    started = RedisBroker(redis_server.url, worker_id="w1")
    await started.start(Collector(), ["lobby"], {})

    async def deaf_once() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # the lost cancellation
        await asyncio.sleep(3600)

    deaf = asyncio.create_task(deaf_once())
    started._tasks.append(deaf)
    await asyncio.sleep(0)
    await asyncio.wait_for(started.close(), 10)
    assert deaf.cancelled()
