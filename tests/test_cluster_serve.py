"""Two `chatserver serve` processes on one Redis Cluster (3 masters + 3 replicas, real servers).

What the issue asks of a cluster: one order with consecutive seq across processes; a master
killed mid-conversation (its replica promoted) loses nothing for clients that rejoin with `since`;
a held message released by two hosts at once on two processes goes out exactly once.
Figures print as `FIGURE name=value` (run with -s).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chatserver.brokers.redis_scripts import KeySpace
from tests.cluster_fixtures import cluster_fixture  # noqa: F401
from tests.fault_fixtures import (
    aget,
    assert_clean_log,
    assert_consecutive,
    assert_increasing,
    messages,
    notices,
    settle,
    until,
)

pytestmark = [pytest.mark.redis, pytest.mark.faults, pytest.mark.slow]

LOBBY_SEQ = KeySpace(cluster=True).room_key("lobby", "seq")


async def test_two_servers_on_a_cluster_deliver_in_one_order_with_consecutive_seq(
    make_server, redis_cluster, clients
):
    """Messages sent to either process reach members of both, in one order, with consecutive seq.
    The two are two machines (a file each), and an admin asking one sees both machines' rows."""
    one = make_server(redis=redis_cluster.url, extra=("--machine-name", "a", "--machine-url", "{base}"))
    two = make_server(redis=redis_cluster.url, extra=("--machine-name", "b", "--machine-url", "{base}"))
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    cat = await clients.user(one, "cat", ("lobby",))

    async def burst(client, tag):
        for i in range(20):
            await client.send(type="send", room="lobby", text=f"{tag}{i}", client_id=f"{tag}{i}")

    await asyncio.gather(burst(ann, "a"), burst(ben, "b"))
    seen = {m.label: [await m.expect("message", timeout=10) for _ in range(40)] for m in (ann, ben, cat)}
    orders = {label: [m["id"] for m in msgs] for label, msgs in seen.items()}
    assert orders["ann"] == orders["ben"] == orders["cat"]
    assert_consecutive([m["seq"] for m in seen["cat"]], "cluster fan-out")
    for tag in ("a", "b"):
        assert [m["text"] for m in seen["cat"] if m["text"].startswith(tag)] == [
            f"{tag}{i}" for i in range(20)
        ]
    # The machine registry is one hash key: it lives on one master of the cluster.
    auth = {"Authorization": f"Bearer {one.tokens['root']}"}
    said = await until(
        lambda: (
            (r := one.get("/api/admin/transcript?room=lobby", headers=auth)).status_code == 200
            and len(r.json()) == 40
            and r
        ),
        10,
        "both machines' messages in the transcript",
    )
    assert [m["id"] for m in said.json()] == orders["cat"]
    assert {m["source"] for m in said.json()} == {"a", "b"}
    assert_clean_log(one, two)


async def test_a_master_killed_mid_conversation_loses_nothing_for_a_rejoin_with_since(
    make_server, redis_cluster, clients
):
    """Kill the master serving the room while both sides talk: every send is answered, the replica takes
    over, live delivery resumes both ways, and a rejoin with `since` holds every published message once."""
    one = make_server(redis=redis_cluster.url)
    two = make_server(redis=redis_cluster.url, share=one)
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    first = await ann.post("lobby", "before the failover")
    await ben.expect("message", id=first["id"], timeout=5)

    stop = asyncio.Event()
    sent: dict[str, list[str]] = {"ann": [], "ben": []}

    async def talk(client, tag):
        i = 0
        while not stop.is_set():
            cid = f"{tag}-{i}"
            await client.send(type="send", room="lobby", text=f"{tag} {i}", client_id=cid)
            sent[client.label].append(cid)
            i += 1
            await asyncio.sleep(0.05)

    talkers = [asyncio.create_task(talk(ann, "a")), asyncio.create_task(talk(ben, "b"))]
    await asyncio.sleep(0.5)  # (a conversation under way when the master dies)
    killed_at = time.monotonic()
    dead = redis_cluster.kill_master_of(LOBBY_SEQ)
    await asyncio.to_thread(redis_cluster.wait_failover, dead, LOBBY_SEQ)
    acked = {c.label: len(_published(c)) for c in (ann, ben)}
    # Talk on until a message from each side, acked after the failover, reaches the other.
    await until(
        lambda: _crossed(ann, ben, acked["ann"]) and _crossed(ben, ann, acked["ben"]),
        30,
        "delivery both ways",
    )
    print(f"FIGURE cluster_failover_delivery_s={time.monotonic() - killed_at:.3f}")
    stop.set()
    await asyncio.gather(*talkers)

    answers = {**await settle(ann, sent["ann"], timeout=20), **await settle(ben, sent["ben"], timeout=20)}
    assert all(a is not None for a in answers.values()), "every send answered"
    published = {a["id"] for a in answers.values() if a.get("status") == "published"}
    refused = {cid for cid, a in answers.items() if a.get("type") == "error"}
    assert all(answers[c]["code"] == "unavailable" for c in refused), answers
    assert len(published) >= 10, f"the conversation went on: {len(published)} published"

    rejoiner = await clients.user(two, "ben2")
    history = (await rejoiner.join("lobby", since=first["id"]))["history"]
    ids = [m["id"] for m in history]
    assert len(ids) == len(set(ids)), "a message twice in the replay"
    assert published <= set(ids), f"lost: {published - set(ids)}"
    # A seq whose reservation died with the master is a gap nobody is shown (never a reused number).
    assert_increasing([m["seq"] for m in history], "replay after failover", gaps=len(refused) + 10)
    shown = {m["client_id"] for c in (ann, ben) for m in messages(c, "lobby") if m.get("client_id")}
    assert not shown & refused, "a send answered `unavailable` was shown"
    for c in (ann, ben):
        live = [m["id"] for m in messages(c, "lobby")]
        assert len(live) == len(set(live)), f"{c.label} got a message twice"
        assert [m["seq"] for m in messages(c, "lobby")] == sorted(m["seq"] for m in messages(c, "lobby"))
    for c in (ann, ben):  # told of the trouble, then that it is over
        await until(lambda c=c: notices(c, "broker_ok"), 10, f"[{c.label}] broker_ok")
        codes = [f["code"] for f in c.frames if f.get("type") == "notice"]
        assert codes.index("broker_degraded") < len(codes) - 1 - codes[::-1].index("broker_ok"), codes
    ready = [(await aget(s, "/readyz")).status_code for s in (one, two)]
    assert ready == [200, 200], ready
    assert_clean_log(one, two)


def _published(client) -> list[str]:
    """The ids of the client's messages acked `published`, in order."""
    return [f["id"] for f in client.frames if f.get("type") == "ack" and f.get("status") == "published"]


def _crossed(sender, receiver, acked_before: int) -> bool:
    """A message `sender` had acked after its first `acked_before` reached `receiver`."""
    later = set(_published(sender)[acked_before:])
    return any(m["id"] in later for m in messages(receiver, "lobby"))


async def test_held_messages_released_by_two_hosts_on_two_servers_go_out_exactly_once(
    make_server, redis_cluster, clients
):
    """Five held messages, each released at once by a host on each process: each is delivered once."""
    one = make_server(redis=redis_cluster.url)
    two = make_server(redis=redis_cluster.url, share=one)
    sam = await clients.user(one, "sam", ("moderated",))
    kim = await clients.user(two, "kim", ("moderated",))
    alice = await clients.host(two, "alice", ("moderated",))
    bob = await clients.host(one, "bob", ("moderated",))
    acks = [await sam.post("moderated", f"please let me in {i}") for i in range(5)]
    assert all(a["status"] == "held" for a in acks), acks
    for ack in acks:
        await alice.expect("held", id=ack["id"], timeout=5)
        await bob.expect("held", id=ack["id"], timeout=5)
    await asyncio.gather(
        *(h.send(type="release", room="moderated", message_id=a["id"]) for a in acks for h in (alice, bob))
    )
    for ack in acks:
        await kim.expect("message", id=ack["id"], timeout=10)
        await sam.expect("resolved", id=ack["id"], action="released", timeout=5)
    await kim.expect_none("message", within=1.0)
    delivered = [m["id"] for m in messages(kim, "moderated")]
    assert sorted(delivered) == sorted(a["id"] for a in acks), "each released exactly once"
    assert_consecutive([m["seq"] for m in messages(kim, "moderated")], "released messages")
    assert_clean_log(one, two)
