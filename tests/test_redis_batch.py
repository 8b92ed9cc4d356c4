"""The store's shared round trips (chatserver/brokers/redis_batch.py) on a real redis-server: what a
storm of sign-ins and joins asks in one turn goes as one pipeline, each caller gets its own reply or
its own error, a script Redis has forgotten is loaded again, and a lost Redis fails fast."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from chatserver.brokers import redis_batch
from chatserver.brokers.redis_batch import Batcher
from chatserver.brokers.redis_store import RedisStore
from chatserver.connection import Connection


class _CountedWrites(aioredis.Connection):
    """A real connection that counts the writes it makes (one per round trip of batched commands)."""

    writes = 0

    async def send_packed_command(self, *args, **kwargs):
        type(self).writes += 1
        return await super().send_packed_command(*args, **kwargs)


class _Counted(aioredis.Redis):
    @property
    def pipelines(self) -> int:
        return _CountedWrites.writes


@pytest.fixture
async def client(redis_server):
    _CountedWrites.writes = 0
    c = _Counted.from_url(redis_server.url, connection_class=_CountedWrites)
    yield c
    await c.aclose()


async def test_what_one_turn_asks_goes_in_one_round_trip_and_each_caller_gets_its_own_reply(client):
    store = RedisStore(client)
    await store.put_value("warm", 0)  # (its connection made, with its own handshake writes)
    before = client.pipelines
    await asyncio.gather(*(store.put_value(f"k{i}", i, ttl=60) for i in range(50)))
    assert client.pipelines == before + 1
    values = await asyncio.gather(*(store.get_value(f"k{i}") for i in range(50)))
    assert values == list(range(50)) and client.pipelines == before + 2
    firsts = await asyncio.gather(
        store.put_value("once", 1, only_new=True), store.put_value("once", 2, only_new=True)
    )
    assert firsts == [True, False] and await store.get_value("once") == 1
    assert 0 < await client.pttl("chatserver:kv:k7") <= 60_000


async def test_one_command_s_error_reaches_its_caller_alone(client):
    await client.rpush("chatserver:kv:a-list", b"x")
    store = RedisStore(client)
    results = await asyncio.gather(
        store.get_value("a-list"), store.put_value("fine", 1), return_exceptions=True
    )
    assert isinstance(results[0], redis.exceptions.ResponseError) and "WRONGTYPE" in str(results[0])
    assert results[1] is True and await store.get_value("fine") == 1


async def test_a_script_redis_has_forgotten_is_loaded_again(client):
    """A restarted Redis knows no scripts: the first claim after it loads the script and succeeds."""
    store = RedisStore(client)
    assert await store.claim_name("lobby", "ana", "s1", "w1", {"w1"})
    await client.script_flush()
    assert not await store.claim_name("lobby", "ana", "s2", "w1", {"w1"})  # ana is s1's
    assert await store.claim_name("lobby", "ben", "s2", "w1", {"w1"})
    assert await store.add_entry("joins:lobby", 1.0, keep=3, ttl=60) == [1.0]


async def test_a_lost_redis_fails_every_waiting_caller_fast(redis_server):
    c = aioredis.Redis.from_url(redis_server.url, socket_connect_timeout=1)
    batcher = Batcher(c)
    assert await batcher.call("PING") == b"PONG"
    redis_server.stop()
    try:
        calls = [batcher.call("GET", f"k{i}") for i in range(5)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        assert all(isinstance(r, redis.exceptions.ConnectionError) for r in results), results
    finally:
        await c.aclose()


async def test_what_is_asked_while_a_pipeline_is_out_goes_in_the_next_one(client, redis_server):
    """One pipeline in flight at a time: the commands of later turns wait for it and share the next."""
    batcher = Batcher(client)
    blocked = batcher.call("BLPOP", "q", 10)  # out, and held by Redis until something is pushed

    async def blocked_in_redis() -> None:
        while (await client.info("clients"))["blocked_clients"] != 1:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(blocked_in_redis(), 10)
    pipelines = client.pipelines
    later = []
    for i in range(5):
        later.append(batcher.call("SET", f"later{i}", i))
        await asyncio.sleep(0)  # a turn of its own each
    async with aioredis.Redis.from_url(redis_server.url) as other:
        await other.rpush("q", b"go")
    assert list(await blocked) == [b"q", b"go"]
    assert await asyncio.gather(*later) == [b"OK"] * 5
    assert client.pipelines == pipelines + 1, "the five later commands went together"


async def test_what_is_asked_just_after_a_round_trip_waits_for_the_pace_and_goes_together(
    client, monkeypatch
):
    """A busy worker's round trips are paced: what comes within PACE_S of the last one waits for the
    rest of that moment and shares one round trip (a reconnect storm asks in every turn)."""
    monkeypatch.setattr(redis_batch, "PACE_S", 2.0)
    batcher = Batcher(client)
    pipelines = client.pipelines
    first = batcher.call("SET", "first", 1)
    for _ in range(3):  # the sender's first turns
        await asyncio.sleep(0)
    assert client.pipelines > pipelines, "an idle batcher's command goes at once"
    assert await first == b"OK"
    pipelines = client.pipelines
    later = []
    for i in range(5):
        later.append(batcher.call("SET", f"later{i}", i))
        await asyncio.sleep(0)  # a turn of its own each
    assert await asyncio.gather(*later) == [b"OK"] * 5
    assert client.pipelines == pipelines + 1, "the five commands went in one round trip"


async def test_a_restarted_redis_is_reached_again_on_the_next_batch(redis_server):
    """The batcher's own connection died with Redis: the next batch makes it again and succeeds."""
    c = aioredis.Redis.from_url(redis_server.url)
    batcher = Batcher(c)
    try:
        assert await batcher.call("SET", "k", b"1") == b"OK"
        redis_server.stop()
        redis_server.start()
        assert await asyncio.wait_for(batcher.call("GET", "k"), 10) is None  # (nothing saved)
    finally:
        await batcher.close()
        await c.aclose()


async def test_a_late_reply_fails_its_batch_and_never_answers_the_next(redis_server):
    """Redis holds a batch past the client's timeout: its callers hear TimeoutError, and the late
    reply (on that connection) can never be taken for the next batch's."""
    c = aioredis.Redis.from_url(redis_server.url, socket_timeout=0.5)
    batcher = Batcher(c)
    try:
        await c.set("k", b"v")
        late = batcher.call("BLPOP", "q", 2)
        with pytest.raises(redis.exceptions.TimeoutError):
            await asyncio.wait_for(late, 10)
        async with aioredis.Redis.from_url(redis_server.url) as other:
            await other.rpush("q", b"go")
        assert await asyncio.wait_for(batcher.call("GET", "k"), 10) == b"v"
    finally:
        await batcher.close()
        await c.aclose()


async def test_a_forgotten_script_is_loaded_once_for_everyone_who_met_it_together(client):
    """A storm's first batch after a Redis restart: every claim and release in it hears NOSCRIPT; one
    SCRIPT LOAD serves them all, and each goes again through the shared round trip (not redis-py's
    pool one by one)."""
    store = RedisStore(client)
    assert await store.claim_name("lobby", "warm", "s0", "w1", {"w1"})
    await client.script_flush()
    await client.config_resetstat()
    claims = [store.claim_name("lobby", f"n{i}", f"s{i}", "w1", {"w1"}) for i in range(50)]
    assert all(await asyncio.gather(*claims))
    await client.script_flush()
    await asyncio.gather(*(store.release_name("lobby", f"n{i}", f"s{i}") for i in range(50)))
    assert await client.hlen("chatserver:room:lobby:names") == 1, "only the warm-up name is left"
    stats = await client.info("commandstats")
    assert stats["cmdstat_script|load"]["calls"] == 2, "one load per flush"
    assert stats["cmdstat_evalsha"]["calls"] == 200, "each asked once, heard NOSCRIPT, asked again"
    assert "cmdstat_eval" not in stats


async def test_a_join_asks_its_warning_and_ban_evasion_reads_in_one_round_trip(
    redis_server, tmp_path, monkeypatch
):
    """A reconnect storm's joins each waited for four reads in a row (a waiting warning, then ban
    evasion's seen-mark, flag and the room's marks, the last through the pool): now they go together."""
    from chatserver.brokers import redis_batch
    from tests.test_hub import Recorder, running_hub

    sent: list[list[str]] = []
    send = redis_batch.Batcher._send

    async def recorded(self, batch):
        sent.append([str(args[0]) for args, _ in batch])
        await send(self, batch)

    monkeypatch.setattr(redis_batch.Batcher, "_send", recorded)
    rooms = "rooms:\n  - {id: lobby, title: Lobby, topic: Hello., filters: []}\n"
    async with running_hub(tmp_path, rooms, (), url=redis_server.url) as hub:
        raw = Recorder()
        conn = Connection(raw)  # type: ignore[arg-type]
        hub.attach(conn)
        await hub.hello(conn, {"type": "hello", "name": "ana"})
        sent.clear()
        await hub.handle(conn, orjson.dumps({"type": "join", "room": "lobby", "browser": "b-1"}))
        assert raw.of("joined", room="lobby"), raw.frames
    reads = [batch for batch in sent if "LRANGE" in batch]
    assert reads == [["GET", "SET", "GET", "LRANGE"]], sent


async def test_a_room_s_flags_are_read_once_for_everyone_joining_it_at_once(redis_server, tmp_path):
    """A restarted worker's first joins into a room each read whether shield mode is on: forty at
    once made forty reads, each on a connection of redis-py's pool opened for it (a quarter of the
    worker's CPU in a reconnect storm). One read now serves them all, on the store's shared line."""
    import redis

    from tests.test_hub import Recorder, running_hub

    async def forty_join(hub, prefix: str) -> list[Recorder]:
        people = []
        for i in range(40):
            raw = Recorder()
            conn = Connection(raw)  # type: ignore[arg-type]
            hub.attach(conn)
            await hub.hello(conn, {"type": "hello", "name": f"{prefix}{i}"})
            people.append((conn, raw))
        frames = [{"type": "join", "room": "lobby", "browser": f"{prefix}-{i}"} for i in range(40)]
        await asyncio.gather(
            *(hub.handle(c, orjson.dumps(f)) for (c, _), f in zip(people, frames, strict=True))
        )
        return [raw for _, raw in people]

    admin = redis.Redis.from_url(redis_server.url)
    rooms = "rooms:\n  - {id: lobby, title: Lobby, topic: Hello., filters: []}\n"
    try:
        async with running_hub(tmp_path, rooms, (), url=redis_server.url) as hub:
            await forty_join(hub, "p")  # (warms the shared line: its first batch opens its connection)
            admin.config_resetstat()
            connections = admin.info("stats")["total_connections_received"]
            hub.rooms["lobby"].shield_read_at = float("-inf")  # (as on a worker that just started)
            later = await forty_join(hub, "q")
            assert all(raw.of("joined", room="lobby") for raw in later)
            stats = admin.info("commandstats")
            assert stats.get("cmdstat_hgetall", {}).get("calls") == 1, stats.get("cmdstat_hgetall")
            assert admin.info("stats")["total_connections_received"] == connections, "no new connections"
    finally:
        admin.close()
