"""The Redis broker's publish path in-process, against a real redis-server: scripts, deadlines, clocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from chatserver.brokers.redis import (
    _PUBLISH_SHA,
    TOO_LATE,
    RedisBroker,
    _seq_key,
    _stream_key,
    deleted_key,
)
from chatserver.errors import Deleted

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


async def test_the_script_refuses_a_publish_past_its_deadline_and_leaves_no_trace(broker):
    """Run late, the script returns TOO_LATE: no seq taken, nothing in the stream, nothing published."""
    _, _, admin = broker
    seconds, _ = await admin.time()
    past = (seconds - 5) * 1000
    keys = [_seq_key("lobby"), _stream_key("lobby"), deleted_key("lobby")]
    args = [0, BODY, "m1", "lobby", "chatserver:messages", 2000, past]
    assert await admin.evalsha(_PUBLISH_SHA, 3, *keys, *args) == TOO_LATE
    assert await admin.get(_seq_key("lobby")) in (None, b"0")
    assert await admin.xlen(_stream_key("lobby")) == 0
    future = (seconds + 5) * 1000
    assert await admin.evalsha(_PUBLISH_SHA, 3, *keys, *args[:-1], future) == 1
    assert await admin.xlen(_stream_key("lobby")) == 1


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
    assert await publish(b, "m3") == (2, None), "a refused publish takes no seq"


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

    monkeypatch.setattr(b._redis, "pipeline", stalling_pipeline)
    seq, error = await publish(b, "m1")
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
