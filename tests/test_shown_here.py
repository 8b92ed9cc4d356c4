"""A committed message reaches its own worker's members before Redis has published it (issue 17).

Real worker, real redis-server, and the TCP proxy of tests/proxy.py holding back just the connection
that carries the message's release (`hold_when`): the rest of the worker's Redis traffic flows, so
people can still join while the release is stuck. docs/architecture.md ("Shown here once committed")
gives the rules tested here: shown once, in everyone's order; the sender told only when Redis has it;
taken back when Redis refuses it; not shown early when the commit comes late in its hold.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
import redis as redis_lib

from chatserver.brokers.redis_publisher import HOLD_S
from chatserver.brokers.redis_scripts import seq_key, stream_key
from tests.fault_fixtures import assert_clean_log, assert_consecutive, messages, numbered_texts
from tests.proxy import TcpProxy
from tests.support import wait_for

pytestmark = [pytest.mark.redis]


async def one_worker(make_server, clients, proxy: TcpProxy):
    """One worker behind the proxy, ann and ben in the lobby, and the lobby's first message (seen)."""
    server = make_server(redis=proxy.url)
    ann = await clients.user(server, "ann", ("lobby",))
    ben = await clients.user(server, "ben", ("lobby",))
    first = await ann.post("lobby", "before")
    await ben.expect("message", id=first["id"])
    return server, ann, ben, await ann.expect("message", id=first["id"])


def answers(client, client_id: str) -> list[dict]:
    return [f for f in client.frames if f.get("client_id") == client_id or f.get("ref") == client_id]


async def test_a_message_reaches_its_workers_members_while_redis_still_holds_its_release(
    make_server, redis_server, redis_proxy, clients
):
    server, ann, ben, first = await one_worker(make_server, clients, redis_proxy)

    redis_proxy.hold_when(b"stuck on its way to redis")
    try:
        await ann.send(type="send", room="lobby", text="stuck on its way to redis", client_id="c-held")
        shown = await ben.expect("message", text="stuck on its way to redis")
        assert shown["seq"] == first["seq"] + 1
        assert not answers(ann, "c-held"), "the sender was told it is out before Redis had it"
        cleo = await clients.user(server, "cleo", ("lobby",))  # joins between show and publish
        assert cleo.joined["lobby"]["history"][-1]["id"] == shown["id"]
    finally:
        redis_proxy.heal()
    ack = await ann.expect("ack", client_id="c-held")
    assert (ack["status"], ack["id"]) == ("published", shown["id"])

    later = await ann.post("lobby", "later")
    for member in (ben, cleo):
        await member.expect("message", id=later["id"])
    ben_ids = [m["id"] for m in messages(ben)]
    assert ben_ids.count(shown["id"]) == 1, "Redis's own copy was shown again"
    assert_consecutive([m["seq"] for m in messages(ben)], "ben's live messages")
    assert [m["id"] for m in messages(cleo)] == [later["id"]], "the joiner got it again live"
    assert "stuck on its way to redis" in numbered_texts(server, "lobby").values()
    assert_clean_log(server)


async def test_a_message_redis_refuses_is_taken_back_from_those_it_was_shown_to(
    make_server, redis_server, redis_proxy, clients
):
    server, ann, ben, first = await one_worker(make_server, clients, redis_proxy)

    redis_proxy.hold_when(b"never reaches redis in time")
    try:
        await ann.send(type="send", room="lobby", text="never reaches redis in time", client_id="c-late")
        shown = await ben.expect("message", text="never reaches redis in time")
        refused = await ann.expect("error", ref="c-late", timeout=15)
        assert refused["code"] == "unavailable" and refused.get("taken_back") is True, refused
        await ben.expect("deleted", id=shown["id"])
    finally:
        redis_proxy.heal()  # the held release reaches Redis now, past its deadline: refused

    later = await ann.post("lobby", "after the refusal")
    await ben.expect("message", id=later["id"], timeout=10)
    dora = await clients.user(server, "dora", ("lobby",))
    assert shown["id"] not in [m["id"] for m in dora.joined["lobby"]["history"]]
    assert "never reaches redis in time" not in numbered_texts(server, "lobby").values()
    stream = redis_lib.Redis.from_url(redis_server.url).xrange(stream_key("lobby"))
    assert not [f for _, f in stream if b"never reaches redis in time" in f[b"f"]], "Redis applied it late"
    failed = [
        r
        for r in server.export("--room", "lobby", "--kind", "publish_failed")
        if r["message_id"] == shown["id"]
    ]
    assert len(failed) == 1 and failed[0]["detail"].get("taken_back") is True, failed


async def test_a_commit_late_in_its_hold_waits_for_redis_before_anyone_sees_it(
    make_server, redis_server, redis_proxy, clients
):
    server, ann, ben, first = await one_worker(make_server, clients, redis_proxy)
    store = redis_lib.Redis.from_url(redis_server.url)
    disk = sqlite3.connect(server.db_path, isolation_level=None)

    disk.execute("BEGIN IMMEDIATE")  # the audit writer waits for this lock: a disk stall
    try:
        redis_proxy.hold_when(b"committed late")
        await ann.send(type="send", room="lobby", text="committed late", client_id="c-slow")
        wait_for(lambda: int(store.get(seq_key("lobby")) or 0) > first["seq"], 5, "the reservation")
        time.sleep(HOLD_S / 2 + 0.2)  # the stall outlasts half the hold: Redis must decide first
    finally:
        disk.execute("COMMIT")
        disk.close()
    try:
        await ben.expect_none("message", within=0.3, text="committed late")
    finally:
        redis_proxy.heal()
    # Redis decides: published (in time for its hold) or refused (lapsed); either way, nobody saw it first.
    answer = await ann.expect(None, timeout=10, type=lambda t: t in ("ack", "error"))
    if answer["type"] == "ack":
        assert (answer["client_id"], answer["status"]) == ("c-slow", "published")
        shown = await ben.expect("message", text="committed late")
        assert shown["seq"] == first["seq"] + 1
    else:
        assert (answer["ref"], answer["code"]) == ("c-slow", "unavailable")
        later = await ann.post("lobby", "after it")
        await ben.expect("message", id=later["id"])
        assert "committed late" not in [m["text"] for m in messages(ben)]
    assert not [f for f in ben.frames if f.get("type") == "deleted"], "something shown was taken back"
