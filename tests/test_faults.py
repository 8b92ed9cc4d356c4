"""Faults survived, nothing lost: Redis killed, hung, cut off; workers killed; shutdown; SQLite under load.

Everything here runs against real processes: `chatserver serve` workers, a
real redis-server that is killed, stopped (SIGSTOP) and restarted, a TCP proxy
(tests/proxy.py) that blackholes or cuts one worker's link to Redis, and the
real SQLite file. Figures (recovery times, message counts) are printed as
`FIGURE name=value` lines: run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time

import pytest
import redis as redis_lib
from prometheus_client.parser import text_string_to_metric_families

from tests.fault_fixtures import (
    aget,
    answer_of,
    assert_clean_log,
    assert_consecutive,
    assert_increasing,
    fire,
    integrity,
    messages,
    notices,
    numbered_texts,
    published_texts,
    settle,
    until,
    wait_exit,
)
from tests.proxy import TcpProxy
from tests.workers import children, only_awake

pytestmark = [pytest.mark.faults, pytest.mark.redis]

#: The subscriber pings every 2 s and gives up after 4 s of silence (brokers/redis.py),
#: a reconnect attempt can block for socket_connect_timeout + socket_timeout (2 + 3 s):
#: a hang must be noticed within this bound.
HANG_DETECTED_S = 15.0
#: The issue's promise: messages flow between workers within 5 s of Redis returning.
RECOVERY_S = 5.0


def figure(name: str, value: float | int) -> None:
    print(f"FIGURE {name}={value:.3f}" if isinstance(value, float) else f"FIGURE {name}={value}")


async def linked_workers(
    make_server, redis_server, clients, *, via: TcpProxy | None = None, first: str = "before"
):
    """Two workers on one database: ann on the first, ben on the second (its Redis link through `via`).

    Returns (one, two, ann, ben, the first message), once ben has seen that message.
    """
    one = make_server(redis=redis_server.url)
    two = make_server(redis=(via or redis_server).url, share=one)
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    message = await ann.post("lobby", first)
    await ben.expect("message", id=message["id"])
    return one, two, ann, ben, message


async def probe_until_delivered(sender, receiver, room: str, timeout: float) -> float:
    """Post probes from `sender` until one reaches `receiver`; seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    i = 0
    while True:
        i += 1
        text = f"probe {i}"
        await sender.send(type="send", room=room, text=text, client_id=f"probe-{i}")
        try:
            await receiver.expect("message", timeout=0.25, text=text)
            return loop.time() - started
        except AssertionError:
            if loop.time() - started > timeout:
                raise AssertionError(f"no message between workers within {timeout}s") from None


def answered_ok(answer) -> bool:
    """Every send is answered: published, or refused as `unavailable` (never silence)."""
    if answer is None:
        return False
    return answer.get("status") == "published" or answer.get("code") == "unavailable"


# ---- Redis killed --------------------------------------------------------------------------------


async def test_redis_killed_mid_conversation_then_back_loses_nothing(make_server, redis_server, clients):
    """Redis dies: workers stay up, /readyz 503, clients told, every send answered; back in 5 s, no gap."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    before = [await ann.post("lobby", f"before {i}") for i in range(3)]
    last_seen = (await ben.expect("message", id=before[-1]["id"]))["id"]

    redis_server.kill()
    for c in (ann, ben):
        await c.expect("notice", timeout=10, code="broker_degraded")
    ready = await aget(one, "/readyz")
    assert ready.status_code == 503 and ready.json()["failed"] == ["broker"], ready.text
    assert "redis" in ready.text.lower(), "readyz should say it is Redis that failed"
    assert (await aget(one, "/healthz")).status_code == 200
    assert one.proc.poll() is None and two.proc.poll() is None

    during_a = await fire(ann, "lobby", [f"during a{i}" for i in range(5)], "da")
    during_b = await fire(ben, "lobby", [f"during b{i}" for i in range(5)], "db")
    answers = {**await settle(ann, during_a), **await settle(ben, during_b)}
    assert all(answered_ok(a) for a in answers.values()), answers
    published_during = {a["id"] for a in answers.values() if a.get("status") == "published"}
    refused_texts = {
        {**during_a, **during_b}[cid] for cid, a in answers.items() if a.get("code") == "unavailable"
    }

    redis_server.start()
    recovery = await probe_until_delivered(ann, ben, "lobby", timeout=RECOVERY_S + 5)
    figure("redis_kill_recovery_s", recovery)
    assert recovery <= RECOVERY_S
    for c in (ann, ben):
        await c.expect("notice", timeout=RECOVERY_S, code="broker_ok")
    assert (await aget(two, "/readyz")).status_code == 200

    after = [await ann.post("lobby", f"after a{i}") for i in range(3)]
    after += [await ben.post("lobby", f"after b{i}") for i in range(3)]
    assert all(a["status"] == "published" for a in after), after
    for c in (ann, ben):
        for a in after:
            await c.expect("message", id=a["id"], timeout=5)

    rejoiner = await clients.user(two, "ben2")
    joined = await rejoiner.join("lobby", since=last_seen)
    history = joined["history"]
    ids = [m["id"] for m in history]
    assert len(ids) == len(set(ids)), "duplicates in the replay"
    assert_consecutive([m["seq"] for m in history], "replay after Redis restart")
    wanted = {a["id"] for a in after} | published_during
    lost = wanted - set(ids)
    figure("redis_kill_messages_lost", len(lost))
    assert not lost
    shown = {m["text"] for c in (ann, ben, rejoiner) for m in messages(c)} | {m["text"] for m in history}
    assert not refused_texts & shown, "a message refused as unavailable was shown"
    assert_clean_log(one, two)


# ---- Redis hung ----------------------------------------------------------------------------------


async def test_redis_hung_by_sigstop_is_detected_and_recovered(make_server, redis_server, clients):
    """SIGSTOPped Redis: noticed in bounded time, sends answered, nothing shown twice or after a refusal."""
    one, two, ann, ben, first = await linked_workers(
        make_server, redis_server, clients, first="before the hang"
    )
    last_seen = first["id"]

    loop = asyncio.get_running_loop()
    redis_server.pause()
    hung_at = loop.time()
    try:
        refused = await ann.post("lobby", "while redis is hung")
        assert refused.get("code") == "unavailable", refused
        answered_in = loop.time() - hung_at
        for c in (ann, ben):
            await c.expect("notice", timeout=HANG_DETECTED_S, code="broker_degraded")
        detected = loop.time() - hung_at
        assert (await aget(one, "/readyz")).status_code == 503
        assert not notices(ann, "broker_ok"), "broker reported healthy while Redis is still stopped"
    finally:
        redis_server.resume()
    figure("sigstop_send_answered_s", answered_in)
    figure("sigstop_detected_s", detected)
    resumed_at = loop.time()
    recovery = await probe_until_delivered(ann, ben, "lobby", timeout=HANG_DETECTED_S)
    figure("sigstop_recovery_s", recovery)
    for c in (ann, ben):
        await c.expect("notice", timeout=HANG_DETECTED_S, code="broker_ok")
    figure("sigstop_broker_ok_s", loop.time() - resumed_at)

    after = [await ann.post("lobby", f"after {i}") for i in range(3)]
    for a in after:
        await ben.expect("message", id=a["id"], timeout=5)
    rejoiner = await clients.user(two, "ben2")
    history = (await rejoiner.join("lobby", since=last_seen))["history"]
    assert_consecutive([m["seq"] for m in history], "replay after the hang")
    assert {a["id"] for a in after} <= {m["id"] for m in history}
    shown = [m["text"] for c in (ann, ben) for m in messages(c)] + [m["text"] for m in history]
    assert "while redis is hung" not in shown, "a message refused as unavailable was published later"
    for c in (ann, ben):
        ids = [m["id"] for m in messages(c)]
        assert len(ids) == len(set(ids)), f"{c.label} got a message twice"
    assert_clean_log(one, two)


async def test_blackholed_link_is_detected_resubscribed_and_gap_filled(
    make_server, redis_server, redis_proxy, clients
):
    """One worker's Redis link silently drops everything: noticed; once healed, the gap is filled in order."""
    one, two, ann, ben, first = await linked_workers(make_server, redis_server, clients, via=redis_proxy)

    loop = asyncio.get_running_loop()
    redis_proxy.blackhole()
    cut_at = loop.time()
    missed = [await ann.post("lobby", f"missed {i}") for i in range(10)]
    assert all(a["status"] == "published" for a in missed)
    refused = await ben.post("lobby", "into the void")
    assert refused.get("code") == "unavailable", refused
    await ben.expect("notice", timeout=HANG_DETECTED_S, code="broker_degraded")
    figure("blackhole_detected_s", loop.time() - cut_at)
    assert not notices(ann, "broker_degraded"), "the healthy worker's clients noticed"

    redis_proxy.heal()
    healed_at = loop.time()
    for a in missed:
        await ben.expect("message", id=a["id"], timeout=HANG_DETECTED_S)
    figure("blackhole_gap_filled_s", loop.time() - healed_at)
    await ben.expect("notice", timeout=5, code="broker_ok")
    got = messages(ben)
    assert [m["id"] for m in got] == [first["id"]] + [a["id"] for a in missed]
    assert_consecutive([m["seq"] for m in got], "gap fill after the blackhole")
    await ann.expect_none("message", within=0.5, text="into the void")
    assert not notices(ann, "broker_degraded")
    assert_clean_log(one, two)


async def test_stalled_link_that_comes_back_delivers_each_message_once(
    make_server, redis_server, redis_proxy, clients
):
    """One worker's link stalls (bytes held, then released late): every message reaches it once, in order."""
    one, two, ann, ben, first = await linked_workers(make_server, redis_server, clients, via=redis_proxy)

    redis_proxy.pause()
    try:
        stalled = [await ann.post("lobby", f"stalled {i}") for i in range(5)]
        await ben.expect("notice", timeout=HANG_DETECTED_S, code="broker_degraded")
    finally:
        redis_proxy.heal()
    for a in stalled:
        await ben.expect("message", id=a["id"], timeout=HANG_DETECTED_S)
    await ben.expect("notice", timeout=5, code="broker_ok")
    later = await ann.post("lobby", "later")
    await ben.expect("message", id=later["id"], timeout=5)
    ids = [m["id"] for m in messages(ben)]
    assert ids == [first["id"]] + [a["id"] for a in stalled] + [later["id"]]
    assert_consecutive([m["seq"] for m in messages(ben)], "after the stall")
    assert_clean_log(one, two)


async def test_a_send_refused_during_a_stall_is_not_published_when_the_link_comes_back(
    make_server, redis_server, redis_proxy, clients
):
    """A publish held up past its deadline is answered `unavailable`; released late, Redis refuses it."""
    one, two, ann, ben, first = await linked_workers(make_server, redis_server, clients, via=redis_proxy)

    redis_proxy.pause()  # ben's worker's bytes are held, not lost: they reach Redis on heal
    try:
        refused = await ben.post("lobby", "held up in the network")
        assert refused.get("code") == "unavailable", refused
    finally:
        redis_proxy.heal()
    await probe_until_delivered(ben, ann, "lobby", timeout=HANG_DETECTED_S)
    after = await ben.post("lobby", "after")
    await ann.expect("message", id=after["id"], timeout=5)

    rejoiner = await clients.user(one, "ann2")
    history = (await rejoiner.join("lobby", since=first["id"]))["history"]
    assert_consecutive([m["seq"] for m in history], "history after the stall")
    shown = [m["text"] for m in messages(ann)] + [m["text"] for m in history]
    assert "held up in the network" not in shown, "a send answered `unavailable` was published after all"
    assert "held up in the network" not in numbered_texts(one, "lobby").values()
    stream = redis_lib.Redis.from_url(redis_server.url).xrange("chatserver:room:lobby:log")
    assert not [f for _, f in stream if b"held up in the network" in f[b"f"]], "Redis applied it late"
    assert_clean_log(one, two)


async def test_pubsub_connections_killed_by_redis_mid_burst_leave_no_gap(make_server, redis_server, clients):
    """CLIENT KILL TYPE pubsub during bursts, three times: both workers resubscribe and miss nothing."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    ann = await clients.user(one, "ann", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    admin = redis_lib.Redis.from_url(redis_server.url, socket_timeout=5)
    loop = asyncio.get_running_loop()
    try:
        for round_ in range(3):
            # A fresh writer each round, so the burst stays inside one connection's frame allowance.
            writer = await clients.user(one, f"writer{round_}", ("lobby",))
            sent = await fire(writer, "lobby", [f"r{round_} m{i}" for i in range(40)], f"r{round_}")
            killed = await asyncio.to_thread(admin.execute_command, "CLIENT", "KILL", "TYPE", "pubsub")
            killed_at = loop.time()
            assert killed >= 2, "both workers' subscriptions should have been killed"
            answers = await settle(writer, sent)
            ids = [a["id"] for a in answers.values() if a and a.get("status") == "published"]
            assert len(ids) == len(sent), answers
            for c in (ann, ben):
                await c.expect("notice", timeout=HANG_DETECTED_S, code="broker_degraded")
                await c.expect("notice", timeout=HANG_DETECTED_S, code="broker_ok")
                for message_id in ids:
                    await c.expect("message", id=message_id, timeout=HANG_DETECTED_S)
            figure(f"pubsub_kill_round{round_}_recovered_s", loop.time() - killed_at)
    finally:
        admin.close()
    for c in (ann, ben):
        got = messages(c)
        assert len(got) == 120 and len({m["id"] for m in got}) == 120
        assert_consecutive([m["seq"] for m in got], f"{c.label} across pubsub kills")
    assert [m["id"] for m in messages(ann)] == [m["id"] for m in messages(ben)]
    assert_clean_log(one, two)


# ---- workers killed ------------------------------------------------------------------------------


async def keep_writing(c, stop: asyncio.Event, sent: list[str]) -> None:
    """A burst (the frame allowance), then a steady stream, until stopped or cut off; ids into `sent`."""
    i = 0
    while not stop.is_set() and not c.closed.is_set():
        try:
            await c.send(type="send", room="lobby", text=f"{c.label} {i}", client_id=f"{c.label}-{i}")
        except Exception:
            return
        sent.append(f"{c.label}-{i}")
        i += 1
        if i > 30:
            await asyncio.sleep(0.06)  # stay under the frame limit after the burst


def acks_of(writers) -> list[dict]:
    return [f for c in writers for f in c.frames if f.get("type") == "ack"]


async def test_worker_sigkilled_during_bursts_loses_no_acked_message(make_server, redis_server, clients):
    """SIGKILL a worker mid-burst, four rounds: every ack is in the audit log; the other worker carries on."""
    victim = make_server(redis=redis_server.url, label="victim")
    other = make_server(redis=redis_server.url, share=victim, label="other")
    watcher = await clients.user(other, "watcher", ("lobby",))
    local = await clients.user(other, "local", ("lobby",))
    acked: dict[str, str] = {}
    unanswered = 0
    for round_ in range(4):
        writers = [await clients.user(victim, f"w{round_}x{k}", ("lobby",)) for k in range(3)]
        stop = asyncio.Event()
        sent: list[str] = []
        tasks = [asyncio.create_task(keep_writing(c, stop, sent)) for c in writers]
        await until(lambda ws=writers: len(acks_of(ws)) >= 40, 15, "acks before the kill")
        victim.kill()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in writers:
            await asyncio.wait_for(c.closed.wait(), 5)
        for ack in acks_of(writers):
            assert ack["status"] == "published", ack
            acked[ack["id"]] = ack["client_id"]
        answered = {f.get("client_id") or f.get("ref") for c in writers for f in c.frames}
        unanswered += len(set(sent) - answered)
        figure(f"sigkill_round{round_}_acked", len(acks_of(writers)))

        # The other worker's people saw every acked message and can still talk.
        await until(lambda: set(acked) <= {m["id"] for m in messages(watcher)}, 10, "acked reach the watcher")
        ping = await local.post("lobby", f"still here {round_}")
        await watcher.expect("message", id=ping["id"], timeout=5)
        in_log = published_texts(other, "lobby")
        missing = set(acked) - set(in_log)
        assert not missing, f"acked but not in the audit log: {sorted(missing)[:5]}"
        shown = {m["id"] for m in messages(watcher)}
        assert shown <= set(in_log), "a message was shown that the audit log does not have"
        victim.start()

    figure("sigkill_messages_lost", 0)
    assert not watcher.closed.is_set() and not local.closed.is_set()
    for c in (watcher, local):
        assert not notices(c, "broker_degraded"), f"{c.label} noticed the other worker dying"
        assert not [f for f in c.frames if f.get("type") == "error"], c.frames[-5:]
    # A kill may catch messages between their seq and their publish: each leaves a gap nobody is
    # shown, and none of them was answered.
    assert_increasing([m["seq"] for m in messages(watcher)], "the watcher's view", gaps=unanswered)
    victim.stop()
    other.stop()
    assert integrity(other.db_path) == "ok"
    verify = other.cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert_clean_log(other)


def worker_of(client, server_port: int, workers: set[int]) -> int | None:
    """The worker process holding the server side of `client`'s connection (via /proc)."""
    client_port = client.ws.local_address[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = (int(x.split(":")[1], 16) for x in fields[1:3])
            if local == server_port and remote == client_port:
                inode = fields[9]
    for pid in workers:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    return None


async def test_supervisor_replaces_a_sigkilled_worker_mid_burst(make_server, redis_server, clients):
    """`--workers 2`: SIGKILL one worker mid-burst; only its clients are cut, a new worker takes over."""
    server = make_server(redis=redis_server.url, extra=("--workers", "2"))
    workers = await until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid), 20, "2")
    people, where = [], {}
    for turn, awake in enumerate(sorted(workers)):  # three people on each worker
        with only_awake(awake, workers):
            for k in range(turn * 3, turn * 3 + 3):
                c = await clients.user(server, f"p{k}", ("lobby",))
                people.append(c)
                where[c] = worker_of(c, server.port, workers)
    assert list(where.values()) == [w for w in sorted(workers) for _ in range(3)], "each worker took its own"
    victim = where[people[0]]
    writers = [c for w in workers for c in [p for p in people if where[p] == w][:3]]
    sent = {c: await fire(c, "lobby", [f"{c.label} n{i}" for i in range(30)], c.label) for c in writers}
    os.kill(victim, signal.SIGKILL)
    await until(lambda: len(children(server.proc.pid) - {victim}) == 2, 20, "a replacement worker")
    on_victim = [c for c in people if where[c] == victim]
    survivors = [c for c in people if where[c] != victim]
    for c in on_victim:
        await asyncio.wait_for(c.closed.wait(), 5)
    figure("supervisor_clients_dropped", len(on_victim))
    figure("supervisor_clients_kept", len(survivors))
    acked = {}
    for c in writers:
        answers = await settle(c, sent[c])
        acked.update({a["id"]: c for a in answers.values() if a and a.get("status") == "published"})
    assert set(acked) <= set(published_texts(server, "lobby")), "acked but not in the audit log"
    for c in survivors:
        assert not c.closed.is_set(), f"{c.label} was on the surviving worker and got cut off"
        assert not notices(c, "broker_degraded") and not [f for f in c.frames if f.get("type") == "error"]
    newcomer = await clients.user(server, "newcomer", ("lobby",))
    ack = await newcomer.post("lobby", "hello after the crash")
    for c in survivors:
        await c.expect("message", id=ack["id"], timeout=5)
    assert_clean_log(server)


# ---- graceful shutdown ---------------------------------------------------------------------------


async def sigterm_mid_burst(server, clients) -> tuple[dict, dict]:
    """Five writers fire 50 sends each, SIGTERM once the first is acked; (client -> cid -> text, logged)."""
    writers = [await clients.user(server, f"w{k}", ("lobby",)) for k in range(5)]
    sent = {}
    for c in writers:
        sent[c] = await fire(c, "lobby", [f"{c.label} in flight {i}" for i in range(50)], c.label)
    # Mid-burst: the server has started answering, and has not finished.
    await until(lambda: any(f.get("type") == "ack" for c in writers for f in c.frames), 10, "a first ack")
    server.signal(signal.SIGTERM)
    for c in writers:
        await asyncio.wait_for(c.closed.wait(), 10)
        assert c.close_code == 1012, (c.label, c.close_code)
    # uvicorn re-raises the SIGTERM it handled once shutdown is done, so -15 is a clean exit too.
    assert await asyncio.to_thread(wait_exit, server, 20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log()
    return sent, published_texts(server, "lobby")


async def test_sigterm_closes_1012_commits_what_it_acked_and_keeps_held_items(
    make_server, redis_server, clients
):
    """SIGTERM mid-burst: 1012 to all, every ack is in the audit log, no refusal is, held items stay held."""
    one = make_server(redis=redis_server.url)
    sam = await clients.user(one, "sam", ("moderated",))
    held = await sam.post("moderated", "please hold me over the restart")
    assert held["status"] == "held"
    sent, logged = await sigterm_mid_burst(one, clients)
    assert sam.close_code == 1012
    recorded = set(logged.values())
    counts = {"acked": 0, "refused": 0, "unanswered": 0}
    for c, cids in sent.items():
        for cid, text in cids.items():
            answer = answer_of(c, cid)
            if answer is None:
                counts["unanswered"] += 1
            elif answer.get("status") == "published":
                counts["acked"] += 1
                assert text in recorded, f"acked but not in the audit log: {text!r}"
            else:
                counts["refused"] += 1
                assert answer.get("code") == "unavailable", answer
                assert text not in recorded, f"refused but recorded as published: {text!r}"
    for k, v in counts.items():
        figure(f"sigterm_{k}", v)
    assert_clean_log(one)

    one.start()
    alice = await clients.host(one, "alice", ("moderated",))
    assert held["id"] in [h["id"] for h in alice.joined["moderated"]["held"]]
    kim = await clients.user(one, "kim", ("moderated",))
    assert held["id"] not in [m["id"] for m in kim.joined["moderated"]["history"]]
    await alice.send(type="release", room="moderated", message_id=held["id"])
    await kim.expect("message", id=held["id"], timeout=5)


def logged_count(db, room: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM audit WHERE room = ? AND kind = 'published'", (room,)
        ).fetchone()[0]


def publishes_in_flight(server) -> float:
    for family in text_string_to_metric_families(server.get("/metrics").text):
        if family.name == "chatserver_publishes_in_flight":
            return sum(sample.value for sample in family.samples)
    return 0.0


async def test_sigterm_answers_every_in_flight_send_before_closing(make_server, redis_server, clients):
    """SIGTERM while publishes are in flight: no message is published without its sender hearing of it."""
    one = make_server(redis=redis_server.url)
    writers = [await clients.user(one, f"w{k}", ("lobby",)) for k in range(3)]
    redis_server.pause()  # publishes wait on Redis for their seq: accepted, not yet acked
    try:
        sent = {
            c: await fire(c, "lobby", [f"{c.label} in flight {i}" for i in range(20)], c.label)
            for c in writers
        }
        await until(lambda: publishes_in_flight(one) >= 60, 10, "sends in flight")
        one.signal(signal.SIGTERM)
        for c in writers:
            await asyncio.wait_for(c.closed.wait(), 10)
    finally:
        redis_server.resume()
    await asyncio.to_thread(wait_exit, one, 20)
    recorded = set(numbered_texts(one, "lobby").values())
    silent = [
        text
        for c, cids in sent.items()
        for cid, text in cids.items()
        if answer_of(c, cid) is None and text in recorded
    ]
    figure("sigterm_published_but_unacked", len(silent))
    assert not silent, f"{len(silent)} published without an ack, e.g. {silent[:3]}"


async def test_held_items_survive_a_restart_without_redis(server, clients):
    """With the in-process store, a held message is still waiting for a host after a restart."""
    sam = await clients.user(server, "sam", ("moderated",))
    held = await sam.post("moderated", "hold me across a restart")
    assert held["status"] == "held"
    await clients.close()
    server.stop()
    server.start()
    alice = await clients.host(server, "alice", ("moderated",))
    assert held["id"] in [h["id"] for h in alice.joined["moderated"].get("held", [])]


# ---- SQLite under sustained load -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_two_workers_many_writers_one_sqlite_file_for_a_minute(make_server, redis_server, clients):
    """Two workers, twelve writers and a CLI writer share one SQLite file for a minute: never 'locked'."""
    duration = float(os.environ.get("CHATSERVER_SOAK_SECONDS", "60"))
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    rooms = ("lobby", "guided", "bulk")
    writers = []
    for k in range(12):
        server = (one, two)[k % 2]
        writers.append(await clients.user(server, f"soak{k}", (rooms[k % 3],)))
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    sent: dict = {c: {} for c in writers}

    async def write(c, room):
        i = 0
        while loop.time() < end:
            cid = f"{c.label}-{i}"
            await c.send(type="send", room=room, text=f"{c.label} says {i}", client_id=cid)
            sent[c][cid] = i
            i += 1
            await asyncio.sleep(0.1)  # ten a second each: 120 messages/s across both workers

    async def third_process_writer():
        # A third process writing to the same file now and then: hosts added by the CLI.
        n = 0
        while loop.time() < end:
            done = await asyncio.to_thread(one.cli, "hosts", "add", f"soakhost{n}")
            assert done.returncode == 0, done.stderr
            n += 1
            await asyncio.sleep(3)

    started = time.monotonic()
    await asyncio.gather(*(write(c, rooms[k % 3]) for k, c in enumerate(writers)), third_process_writer())
    answers = {}
    for c in writers:
        answers.update(await settle(c, sent[c], timeout=30))
    elapsed = time.monotonic() - started
    statuses = [a.get("status") or a.get("code") if a else None for a in answers.values()]
    figure("soak_seconds", elapsed)
    figure("soak_messages", len(statuses))
    counts = {s: statuses.count(s) for s in set(statuses)}
    why = {a.get("message") for a in answers.values() if a and a.get("code")}
    logs = one.log() + two.log()
    # A message whose commit stalled past the broker's hold (a slow disk, a starved worker) is refused
    # and its sender told so; then the log says so. CI once saw 6 of 7,128 refused, before it did.
    stalled = "an audit commit of" in logs or "its hold had lapsed" in logs
    allowed = {"published", "unavailable"} if stalled else {"published"}
    figure("soak_refused", counts.get("unavailable", 0))
    assert statuses and set(statuses) <= allowed, (counts, why, logs[-6000:])
    # One order for everyone, on both workers: a worker shows its own message before Redis has
    # published it (publication.py), never ahead of another worker's earlier one.
    by_seq: dict = {}
    for k, c in enumerate(writers):
        seen = [(m["seq"], m["id"]) for m in messages(c, rooms[k % 3])]
        assert_increasing(
            [seq for seq, _ in seen], f"{c.label}'s messages", gaps=counts.get("unavailable", 0)
        )
        for seq, message_id in seen:
            assert by_seq.setdefault((rooms[k % 3], seq), message_id) == message_id, (c.label, seq)
    one.stop()
    two.stop()
    for server in (one, two):
        assert "locked" not in server.log().lower(), server.log()[-2000:]
    assert_clean_log(one, two)
    assert integrity(one.db_path) == "ok"
    verify = one.cli("audit", "verify")
    assert verify.returncode == 0, verify.stderr
    recorded = sum(len(published_texts(one, r)) for r in rooms)
    assert recorded >= len(statuses)
