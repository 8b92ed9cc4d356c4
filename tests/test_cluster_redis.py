"""The Redis broker and shared store on a real Redis Cluster (3 masters + 3 replicas), in-process.

Each room's keys share its hash tag, so its scripts run on one master; its messages go out by
sharded pub/sub on that master; a killed master's replica takes over and the subscription follows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from chatserver.brokers import open_backend
from chatserver.brokers.redis import RedisBroker
from chatserver.brokers.redis_scripts import KeySpace
from chatserver.brokers.redis_store import RedisStore
from chatserver.brokers.redis_url import parse_cluster_url
from tests import cluster_fixtures
from tests.cluster_fixtures import RedisClusterProcess, cluster_fixture  # noqa: F401
from tests.fault_fixtures import until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

KEYS = KeySpace(cluster=True)
#: Rooms whose hash tags fall on three different masters of a fresh cluster (slots 0-5460,
#: 5461-10922, 10923-16383): checked in test_rooms_spread_over_the_masters.
ROOMS = ("quiet", "lobby", "grief")


class Collector:
    """A BrokerListener that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, int, str]] = []
        self.events: list[dict[str, Any]] = []

    def on_message(self, room: str, seq: int, message_id: str, frame: bytes) -> None:
        self.messages.append((room, seq, message_id))

    def on_event(self, envelope: dict[str, Any]) -> None:
        self.events.append(envelope)

    def on_broker_state(self, healthy: bool, reason: str) -> None:
        pass

    def seen(self, room: str) -> list[tuple[int, str]]:
        return [(seq, mid) for r, seq, mid in self.messages if r == room]


async def publish(broker: RedisBroker, room: str, message_id: str) -> tuple[int | None, BaseException | None]:
    settled: asyncio.Future[tuple[int | None, BaseException | None]] = (
        asyncio.get_running_loop().create_future()
    )
    body = f'{{"type":"message","room":"{room}","id":"{message_id}","text":"hi"}}'.encode()
    broker.publish_message(room, message_id, body, lambda seq, err: settled.set_result((seq, err)))
    return await asyncio.wait_for(settled, 15)


@pytest.fixture
async def workers(redis_cluster: RedisClusterProcess) -> AsyncIterator[list[tuple[RedisBroker, Collector]]]:
    """Two workers' brokers on the cluster, carrying ROOMS."""
    started = []
    for name in ("w1", "w2"):
        listener = Collector()
        broker = RedisBroker(redis_cluster.url, worker_id=name)
        await broker.start(listener, list(ROOMS), {})
        started.append((broker, listener))
    yield started
    for broker, _ in started:
        await broker.close()


def test_cluster_urls_are_parsed_with_every_seed_and_credentials():
    """A cluster URL names several seeds, optional credentials and TLS; anything else is refused clearly."""
    parsed = parse_cluster_url("rediss+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/0")
    assert parsed.seeds == (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002))
    assert (parsed.username, parsed.password, parsed.ssl) == ("app", "s@cret", True)
    assert parse_cluster_url("redis+cluster://h").seeds == (("h", 6379),)
    with pytest.raises(ValueError, match="database 0 only"):
        parse_cluster_url("redis+cluster://h:7000/2")
    with pytest.raises(ValueError, match="host:port"):
        parse_cluster_url("redis+cluster://h:port")
    with pytest.raises(ValueError, match="redis\\+cluster://"):
        open_backend("cluster://h:7000", worker_id="w")


def test_a_room_s_keys_and_channel_share_one_slot_and_single_redis_names_stay():
    """Every key of a room, its shard channel and its versions hash hash to one slot; one Redis keeps
    the names it always had."""
    slots = {
        key_slot(key.encode())
        for key in (*KEYS.room_keys("lobby"), KEYS.channel("lobby"), KEYS.versions_key("lobby"))
        + tuple(KEYS.room_key("lobby", part) for part in ("held", "ban", "flags", "notes:s1"))
    }
    assert len(slots) == 1
    assert KEYS.room_key("lobby", "seq") == "chatserver:room:{lobby}:seq"
    single = KeySpace(cluster=False)
    assert single.room_keys("lobby")[0] == "chatserver:room:lobby:seq"
    assert single.channel("lobby") == "chatserver:messages"
    assert single.versions_key("lobby") == "chatserver:versions"


def test_rooms_spread_over_the_masters(redis_cluster: RedisClusterProcess):
    """The test rooms live on three different masters, so the tests below cross shards."""
    assert len({redis_cluster.owner_port(KEYS.room_key(room, "seq")) for room in ROOMS}) == 3


async def test_two_workers_number_and_deliver_every_room_in_one_order(workers):
    """Messages from both workers, in rooms on three shards, reach both in one order, seq 1, 2, 3..."""
    (one, l1), (two, l2) = workers
    sends = [
        publish(w, room, f"{room}-{name}-{i}")
        for i in range(10)
        for room in ROOMS
        for w, name in ((one, "a"), (two, "b"))
    ]
    results = await asyncio.gather(*sends)
    assert all(err is None for _, err in results), results
    for room in ROOMS:
        await until(lambda r=room: len(l1.seen(r)) == 20 and len(l2.seen(r)) == 20, 10, f"{room} delivered")
        assert l1.seen(room) == l2.seen(room)
        assert [seq for seq, _ in l1.seen(room)] == list(range(1, 21))


async def test_events_and_shared_state_work_across_slots(workers):
    """Events reach every worker; held items are taken exactly once; versions rise per room."""
    (one, l1), (two, l2) = workers
    store_one = RedisStore(one.client, keys=one.keys, rooms=one.rooms)
    store_two = RedisStore(two.client, keys=two.keys, rooms=two.rooms)
    one.publish_event({"kind": "ping", "n": 1})
    await until(lambda: {"kind": "ping", "n": 1} in l2.events, 5, "event reached the other worker")
    before = await store_two.versions()
    for room in ROOMS:
        await store_one.put_held(room, {"id": f"h-{room}", "ts": "t"})
    takes = await asyncio.gather(
        *(s.take_held(room, f"h-{room}") for room in ROOMS for s in (store_one, store_two))
    )
    assert sum(t is not None for t in takes) == len(ROOMS), "each held item taken exactly once"
    after = await store_two.versions()
    assert all(after[room] == before.get(room, 0) + 2 for room in ROOMS), (before, after)
    await one.delete_message("lobby", "gone")
    assert (await store_two.versions())["lobby"] == after["lobby"] + 1
    for room in ROOMS:  # notes in three slots: the purge scans every master
        await store_one.add_note(room, "s1", {"ts": "2020-01-01T00:00:00Z", "text": "old"})
        await store_one.add_note(room, "s1", {"ts": "2040-01-01T00:00:00Z", "text": "new"})
    await store_two.purge_notes("2030-01-01T00:00:00Z")
    assert [[n["text"] for n in await store_one.notes(room, "s1")] for room in ROOMS] == [["new"]] * 3


async def test_a_killed_master_is_replaced_and_delivery_resumes_with_no_duplicate(workers, redis_cluster):
    """Kill the master of a room mid-conversation: after its replica takes over, both workers go on
    delivering that room in one order, every seq once, none reused."""
    (one, l1), (two, l2) = workers
    for i in range(5):
        assert (await publish(one, "lobby", f"before-{i}"))[1] is None
    dead = redis_cluster.kill_master_of(KEYS.room_key("lobby", "seq"))
    redis_cluster.wait_failover(dead, KEYS.room_key("lobby", "seq"))
    sent = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(sent) < 5:  # the first tries after the failover may be refused (`unavailable`): retry
        assert loop.time() < deadline, "no publish went through after the failover"
        seq, err = await publish(two if len(sent) % 2 else one, "lobby", f"after-{len(sent)}")
        if err is None:
            sent.append(seq)
        else:
            await asyncio.sleep(0.2)
    await until(
        lambda: len(l1.seen("lobby")) >= 10 and len(l2.seen("lobby")) >= 10, 15, "delivered after failover"
    )
    assert l1.seen("lobby") == l2.seen("lobby")
    seqs = [seq for seq, _ in l1.seen("lobby")]
    assert seqs == sorted(set(seqs)), f"no seq twice, none out of order: {seqs}"
    ids = [mid for _, mid in l1.seen("lobby")]
    assert ids[:5] == [f"before-{i}" for i in range(5)] and ids[5:] == [f"after-{i}" for i in range(5)]


async def test_a_room_s_slot_moved_to_another_master_is_followed(workers, redis_cluster):
    """Reshard the room's slot to another master mid-conversation: its keys go with it, both workers
    resubscribe there (Redis unsubscribes them from the old one) and deliver on, every seq once."""
    (one, l1), (two, l2) = workers
    for i in range(3):
        assert (await publish(one, "lobby", f"before-{i}"))[1] is None
    await until(lambda: len(l2.seen("lobby")) == 3, 5, "delivered before the move")
    old = redis_cluster.owner_port(KEYS.room_key("lobby", "seq"))
    new = await asyncio.to_thread(redis_cluster.move_slot, KEYS.room_key("lobby", "seq"))
    assert new != old
    sent = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(sent) < 4:  # a send racing the move may be refused (`unavailable`): retry
        assert loop.time() < deadline, "no publish went through after the move"
        seq, err = await publish(two if len(sent) % 2 else one, "lobby", f"after-{len(sent)}")
        if err is None:
            sent.append(seq)
        else:
            await asyncio.sleep(0.2)
    assert sent == list(range(4, 8)), f"numbering went on from the moved counter: {sent}"
    await until(
        lambda: len(l1.seen("lobby")) == 7 and len(l2.seen("lobby")) == 7, 15, "delivered after the move"
    )
    assert (
        l1.seen("lobby")
        == l2.seen("lobby")
        == [
            (n + 1, m)
            for n, m in enumerate([f"before-{i}" for i in range(3)] + [f"after-{i}" for i in range(4)])
        ]
    )


async def test_a_room_added_while_running_is_subscribed_on_its_master(workers):
    """A room added by a reload gets its shard channel subscribed: its messages reach both workers."""
    (one, l1), (two, l2) = workers
    for broker, _ in workers:
        await broker.add_rooms(["teens"], {})
    assert (await publish(one, "teens", "t1"))[1] is None
    assert (await publish(two, "teens", "t2"))[1] is None
    await until(
        lambda: len(l1.seen("teens")) == 2 and len(l2.seen("teens")) == 2, 10, "the new room delivered"
    )
    assert l1.seen("teens") == l2.seen("teens") == [(1, "t1"), (2, "t2")]


async def test_a_master_that_lost_its_scripts_leaves_no_other_rooms_send_unanswered(workers, redis_cluster):
    """The master of one room lost its scripts (as a promoted replica has none) while a send to a room
    on another master rides in the same pipeline: both are answered and published, in order."""
    (one, listener), _ = workers
    port = redis_cluster.owner_port(KEYS.room_key("lobby", "seq"))
    assert port != redis_cluster.owner_port(KEYS.room_key("quiet", "seq"))
    redis.Redis("127.0.0.1", port).script_flush()
    results = await asyncio.gather(publish(one, "quiet", "q1"), publish(one, "lobby", "l1"))
    assert results == [(1, None), (1, None)]
    await until(lambda: len(listener.seen("quiet")) == len(listener.seen("lobby")) == 1, 10, "both out")
    assert (await publish(one, "quiet", "q2"))[0] == 2, "no seq of quiet was taken and skipped"


def test_a_cluster_s_nodes_never_share_a_port(tmp_path, monkeypatch):
    """The six ports are chosen before any node binds, so the same free port can come up twice (a CI
    run failed on it): each node gets its own."""
    free: set[int] = set()
    while len(free) < 6:  # six ports free now (a fixed list could be held by an earlier test's node)
        free.add(cluster_fixtures.cluster_port(free))
    a, b, c, d, e, f = sorted(free)
    draws = iter([a, a, b, b, c, d, c, e, f])
    monkeypatch.setattr(cluster_fixtures.random, "randrange", lambda *_: next(draws))
    cluster = RedisClusterProcess(tmp_path / "cluster", "redis-server", "redis-cli")
    assert sorted(n.port for n in cluster.nodes) == [a, b, c, d, e, f]
