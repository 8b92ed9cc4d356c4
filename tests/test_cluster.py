"""Several `chatserver serve --redis` processes acting as one deployment."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed

from tests.workers import children, only_awake

pytestmark = pytest.mark.redis


async def test_two_servers_deliver_each_others_messages_in_one_order(make_server, redis_server, clients):
    """Messages sent to either process reach members of both, in one order, with consecutive seq."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    cat = await clients.user(one, "cat", ("lobby",))

    async def burst(client, tag):
        for i in range(20):
            await client.send(type="send", room="lobby", text=f"{tag}{i}", client_id=f"{tag}{i}")

    await asyncio.gather(burst(ann, "a"), burst(ben, "b"))
    seen = {}
    for member in (ann, ben, cat):
        seen[member.label] = [await member.expect("message", timeout=10) for _ in range(40)]
    orders = {label: [m["id"] for m in msgs] for label, msgs in seen.items()}
    assert orders["ann"] == orders["ben"] == orders["cat"]
    seqs = [m["seq"] for m in seen["cat"]]
    assert seqs == list(range(seqs[0], seqs[0] + 40))
    for tag in ("a", "b"):
        mine = [m["text"] for m in seen["cat"] if m["text"].startswith(tag)]
        assert mine == [f"{tag}{i}" for i in range(20)]


async def test_presence_counts_members_on_every_worker(make_server, redis_server, clients):
    """The member count a joiner sees includes people connected to the other process."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    await ann.expect("presence", members=2, timeout=5)
    assert ben.joined["lobby"]["members"] == 2


async def test_name_taken_across_workers(make_server, redis_server, clients):
    """A name used on one process is taken on the other too."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    await clients.user(one, "Sam", ("lobby",))
    twin = await clients.user(two, "sam")
    assert (await twin.join("lobby"))["code"] == "name_taken"


async def test_redis_restart_leaves_no_gap_after_rejoin_with_since(make_server, redis_server, clients):
    """Redis dies and comes back mid-conversation; a rejoin with `since` fills every gap."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    before = [await ann.post("lobby", f"before {i}") for i in range(5)]
    last_seen = (await ben.expect("message", id=before[-1]["id"]))["id"]

    redis_server.kill()
    await ann.expect("notice", timeout=10, code="broker_degraded")
    during = await ann.post("lobby", "while redis is down")
    assert during.get("status") == "published" or during.get("code") == "unavailable"
    redis_server.start()
    await ann.expect("notice", timeout=10, code="broker_ok")
    await ben.expect("notice", timeout=10, code="broker_ok")

    after = []
    for i in range(5):
        after.append(await ann.post("lobby", f"after {i}"))
    assert all(a["status"] == "published" for a in after)

    rejoiner = await clients.user(two, "ben2")
    joined = await rejoiner.join("lobby", since=last_seen)
    texts = [m["text"] for m in joined["history"]]
    assert texts[-5:] == [f"after {i}" for i in range(5)]
    seqs = [m["seq"] for m in joined["history"]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


async def test_held_message_released_on_another_worker_exactly_once(make_server, redis_server, clients):
    """A held message is invisible until a host on the other worker releases it; two releases deliver once."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    sam = await clients.user(one, "sam", ("moderated",))
    kim = await clients.user(one, "kim", ("moderated",))
    alice = await clients.host(two, "alice", ("moderated",))
    bob = await clients.host(one, "bob", ("moderated",))
    ack = await sam.post("moderated", "please let me in")
    assert ack["status"] == "held"
    await alice.expect("held", id=ack["id"], timeout=5)
    await kim.expect_none("message", within=0.5)
    await asyncio.gather(
        alice.send(type="release", room="moderated", message_id=ack["id"]),
        bob.send(type="release", room="moderated", message_id=ack["id"]),
    )
    await kim.expect("message", id=ack["id"], timeout=5)
    await sam.expect("resolved", id=ack["id"], action="released", timeout=5)
    await kim.expect_none("message", within=1.0, id=ack["id"])


async def test_ban_on_one_worker_holds_on_the_other(make_server, redis_server, clients):
    """A ban made through one process is enforced by the other, across a resume."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    troll = await clients.user(two, "troll", ("lobby",))
    alice = await clients.host(one, "alice", ("lobby",))
    await alice.send(type="ban", room="lobby", session=troll.session, reason="abuse")
    await troll.expect("notice", code="removed", timeout=5)
    again = await clients.connect(two)
    await again.hello("troll", resume=troll.resume_token)
    assert (await again.join("lobby"))["code"] == "banned"
    elsewhere = await clients.connect(one)
    await elsewhere.hello("troll", resume=troll.resume_token)
    assert (await elsewhere.join("lobby"))["code"] == "banned"


async def answers_ping(client) -> bool:
    """True if the connection is alive (pong), False once it is found closed."""
    with contextlib.suppress(ConnectionClosed):
        await client.send(type="ping")
    try:
        await client.expect("pong", timeout=5)
    except AssertionError:
        assert client.closed.is_set(), "neither a pong nor a close within 5 s"
        return False
    return True


async def test_workers_share_one_port_and_a_killed_worker_is_replaced(make_server, redis_server, clients):
    """`serve --workers 2` runs two processes on one port; SIGKILL of one leaves the room working."""
    import os
    import signal

    from tests.support import wait_for

    server = make_server(redis=redis_server.url, extra=("--workers", "2"))
    workers = wait_for(
        lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid), 15, "2 workers"
    )
    members = [await clients.user(server, f"m{i}", ("lobby",)) for i in range(6)]
    victim = next(iter(workers))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(children(server.proc.pid) - {victim}) == 2, 20, "a replacement worker")
    # Which worker took which connection is the kernel's choice; those on the victim were cut.
    survivors = [m for m in members if await answers_ping(m)]
    newcomer = await clients.user(server, "late", ("lobby",))
    ack = await newcomer.post("lobby", "still here")
    for member in survivors:
        await member.expect("message", id=ack["id"], timeout=5)


async def test_a_deleted_message_stays_gone_for_a_worker_started_later(make_server, redis_server, clients):
    """A worker that starts after a delete builds its history without the deleted message."""
    one = make_server(redis=redis_server.url)
    sam = await clients.user(one, "sam", ("lobby",))
    alice = await clients.host(one, "alice", ("lobby",))
    keep = await sam.post("lobby", "keep me")
    drop = await sam.post("lobby", "delete me")
    await alice.send(type="delete", room="lobby", message_id=drop["id"])
    await sam.expect("deleted", id=drop["id"])
    two = make_server(redis=redis_server.url, share=one)
    late = await clients.user(two, "late", ("lobby",))
    ids = [m["id"] for m in late.joined["lobby"]["history"]]
    assert keep["id"] in ids and drop["id"] not in ids


async def test_many_people_leaving_at_once_free_their_names(make_server, redis_server, clients):
    """150 members leaving together all release their names in Redis: each can come back as themselves."""
    server = make_server(redis=redis_server.url)
    people = [await clients.user(server, f"p{i}", ("lobby",)) for i in range(150)]
    await asyncio.gather(*(p.close() for p in people))
    from tests.support import wait_for

    wait_for(
        lambda: "name not released" not in server.log() and _names_left(redis_server) == 0, 10, "names freed"
    )
    back = await clients.user(server, "p7", ("lobby",))
    assert back.joined["lobby"]["type"] == "joined"


def _names_left(redis_server) -> int:
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    try:
        return client.hlen("chatserver:room:lobby:names")
    finally:
        client.close()


async def test_metrics_with_two_workers_count_for_all_of_them(make_server, redis_server, clients):
    """Whichever worker a scrape reaches answers for both; a killed worker's counters stay, its gauges go."""
    import os
    import signal

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from tests.support import wait_for

    server = make_server(redis=redis_server.url, extra=("--workers", "2"))
    workers = wait_for(
        lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid), 15, "2 workers"
    )
    # Each member posts once; the ack's message id ends with its worker's tag. Both workers must hold
    # members, so a scrape reaching either one has the other's share to count. Which worker accepts is
    # the kernel's choice, so each worker in turn is the only one awake to accept.
    members, tags = [], set()

    async def member_posts(n: int) -> str:
        member = await clients.user(server, f"m{n}", ("lobby",))
        members.append(member)
        return (await member.post("lobby", f"counted {n}"))["id"][-6:]

    for turn, awake in enumerate(sorted(workers)):
        with only_awake(awake, workers):
            tags.update([await member_posts(turn * 3 + i) for i in range(3)])
    assert len(tags) == 2, f"{len(members)} members, each worker alone in turn, yet tags {tags}"
    posted = people = float(len(members))  # one message each

    def scrapes(n: int) -> list[tuple[float, float]]:
        """(published messages, participants) from n scrapes, each on a new connection."""
        seen = []
        for _ in range(n):
            text = httpx.get(server.base + "/metrics", headers={"Connection": "close"}).text
            values = {"published": 0.0, "participant": 0.0}
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name == "chatserver_messages_total" and s.labels.get("outcome") == "published":
                        values["published"] += s.value
                    if s.name == "chatserver_connections" and s.labels.get("role") == "participant":
                        values["participant"] += s.value
            seen.append((values["published"], values["participant"]))
        return seen

    assert set(scrapes(20)) == {(posted, people)}, (
        "every scrape should count both workers' messages and people"
    )
    victim = next(iter(workers))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(children(server.proc.pid) - {victim}) == 2, 20, "a replacement worker")
    survivors = sum([await answers_ping(m) for m in members])
    wait_for(lambda: set(scrapes(10)) == {(posted, float(survivors))}, 10, "the killed worker's people gone")
