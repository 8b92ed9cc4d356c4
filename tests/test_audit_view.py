"""One live audit view of a deployment (issue 18): two `chatserver serve` machines, each with its own
SQLite file, sharing one real redis-server; an admin asking either machine sees both machines' rows,
and a machine that cannot be read is named, never silently left out."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import redis

from chatserver.audit.machines import FORGET_S, MACHINES_KEY, Machine, decode
from chatserver.audit.remote import merge_messages, merge_rows
from tests.support import ClientPool, ServerProcess, cli, wait_for


def machine(make_server: Any, redis_url: str, name: str) -> ServerProcess:
    """A machine called `name`, registered with the URL of its own port."""
    server = make_server(redis=redis_url, label=name, start=False)
    server.extra = ("--machine-name", name, "--machine-url", "{base}")
    server.start()
    return server


def two_machines(make_server: Any, redis_url: str) -> tuple[ServerProcess, ServerProcess, dict[str, str]]:
    """Machines a and b, both registered, and an admin's Authorization header (known to both)."""
    a = machine(make_server, redis_url, "a")
    b = machine(make_server, redis_url, "b")
    wait_for(lambda: registered(redis_url) >= {"a", "b"}, 10, "both machines registered")
    return a, b, {"Authorization": f"Bearer {a.tokens['root']}"}


def registered(redis_url: str) -> set[str]:
    raw = redis.Redis.from_url(redis_url).hgetall(MACHINES_KEY)
    return {k.decode() for k in raw}


def rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def admin_token(server: ServerProcess, redis_url: str) -> str:
    """An admin added on `server`'s machine with the deployment's Redis (so every machine knows it)."""
    done = cli("hosts", "add", "auditor", "--admin", "--db", str(server.db_path), "--redis", redis_url)
    assert done.returncode == 0, done.stderr
    match = re.search(r"token: (\S+)", done.stdout)
    assert match, done.stdout
    return match.group(1)


def test_rows_of_several_machines_merge_in_time_order_and_transcripts_in_seq_order():
    """merge_rows: by ts, machine, id; merge_messages: by seq (none last), no deleted, none twice."""
    a = [{"id": 1, "ts": "2026-12-01T10:00:00.000Z"}, {"id": 2, "ts": "2026-12-01T10:00:02.000Z"}]
    b = [{"id": 1, "ts": "2026-12-01T10:00:01.000Z"}, {"id": 7, "ts": "2026-12-01T10:00:02.000Z"}]
    merged = list(merge_rows([("a", iter(a)), ("b", iter(b))], True))
    assert [(r["source"], r["id"]) for r in merged] == [("a", 1), ("b", 1), ("a", 2), ("b", 7)]
    assert "source" not in next(merge_rows([("a", iter(a))], False))
    ta = [{"id": "m2", "seq": 2}, {"id": "m9", "seq": None}, {"id": "m4", "seq": 4}]
    tb = [{"id": "m1", "seq": 1}, {"id": "m3", "seq": 3}, {"id": "m4", "seq": 4}]
    got = merge_messages([("a", ta), ("b", tb)], hidden={"m3"}, tag=True)
    assert [(m["id"], m["source"]) for m in got] == [("m1", "b"), ("m2", "a"), ("m4", "a"), ("m9", "a")]


def test_machines_not_seen_for_a_day_are_forgotten_when_read():
    """decode() keeps recent machines by name and lists stale and malformed entries for deletion."""
    now = 1_000_000.0
    raw = {
        b"b": Machine("b", "http://10.0.0.2:8000", now - 5).to_json(),
        b"a": Machine("a", None, now - 60).to_json(),
        b"old": Machine("old", "http://10.0.0.9:8000", now - FORGET_S - 1).to_json(),
        b"bad": b"{not json",
        b"evil": Machine("evil", None, now).to_json().replace(b"null", b'"file:///etc/passwd"'),
    }
    machines, stale = decode(raw, now)
    assert [(m.name, m.url) for m in machines] == [("a", None), ("b", "http://10.0.0.2:8000")]
    assert sorted(stale) == ["bad", "evil", "old"]


@pytest.mark.redis
async def test_an_admin_on_either_machine_sees_both_machines_and_a_machine_down_is_named(
    redis_server, make_server, clients: ClientPool
):
    """/api/audit from A merges A's and B's rows in time order with `source`; the transcript from B has
    both messages in seq order; scope=local is one machine's; with B stopped, A names B as missing."""
    a = machine(make_server, redis_server.url, "a")
    b = machine(make_server, redis_server.url, "b")
    wait_for(lambda: registered(redis_server.url) >= {"a", "b"}, 10, "both machines registered")
    token = admin_token(a, redis_server.url)
    auth = {"Authorization": f"Bearer {token}"}
    wait_for(
        lambda: b.get("/api/audit?scope=local", headers=auth).status_code == 200, 10, "B knows the admin"
    )

    ann = await clients.user(a, "ann", ("lobby",))
    ben = await clients.user(b, "ben", ("lobby",))
    assert (await ann.post("lobby", "first, on machine a"))["status"] == "published"
    await ben.expect("message", text="first, on machine a")
    assert (await ben.post("lobby", "second, on machine b"))["status"] == "published"

    response = a.get("/api/audit?room=lobby&kind=published", headers=auth)
    published = rows(response)
    assert [(r["source"], r["text"]) for r in published] == [
        ("a", "first, on machine a"),
        ("b", "second, on machine b"),
    ]
    assert [r["ts"] for r in published] == sorted(r["ts"] for r in published)
    assert response.headers["chatserver-audit-sources"] == "a, b"
    assert "chatserver-audit-missing" not in response.headers
    everything = rows(a.get("/api/audit?room=lobby", headers=auth))
    assert {r["source"] for r in everything} == {"a", "b"}
    assert [(r["ts"], r["source"]) for r in everything] == sorted((r["ts"], r["source"]) for r in everything)

    said = b.get("/api/admin/transcript?room=lobby", headers=auth)
    assert said.status_code == 200, said.text
    assert [(m["seq"], m["text"], m["source"]) for m in said.json()] == [
        (1, "first, on machine a", "a"),
        (2, "second, on machine b", "b"),
    ]
    local = rows(a.get("/api/audit?room=lobby&kind=published&scope=local", headers=auth))
    assert [r["text"] for r in local] == ["first, on machine a"] and "source" not in local[0]
    local_said = b.get("/api/admin/transcript?room=lobby&scope=local", headers=auth).json()
    assert [m["text"] for m in local_said] == ["second, on machine b"]
    assert a.get("/api/audit?since=yesterday", headers=auth).status_code == 400  # checked before any peer

    # A machine registered without a URL cannot be read: it is named, with the reason.
    c = Machine("c", None, float(redis.Redis.from_url(redis_server.url).time()[0]))
    redis.Redis.from_url(redis_server.url).hset(MACHINES_KEY, "c", c.to_json())
    partial = a.get("/api/audit?room=lobby&kind=published", headers=auth)
    assert partial.headers["chatserver-audit-missing"] == "c (no CHATSERVER_MACHINE_URL)"
    redis.Redis.from_url(redis_server.url).hdel(MACHINES_KEY, "c")

    b.stop()
    down = a.get("/api/audit?room=lobby&kind=published", headers=auth)
    assert [(r["source"], r["text"]) for r in rows(down)] == [("a", "first, on machine a")]
    assert down.headers["chatserver-audit-missing"] == "b (did not answer)"
    assert down.headers["chatserver-audit-sources"] == "a"
    said = a.get("/api/admin/transcript?room=lobby", headers=auth)
    assert [m["text"] for m in said.json()] == ["first, on machine a"]
    assert said.headers["chatserver-audit-missing"] == "b (did not answer)"


@pytest.mark.redis
async def test_a_message_deleted_by_a_host_on_another_machine_leaves_the_merged_transcript(
    redis_server, make_server, clients: ClientPool
):
    """ann posts on A, alice deletes it from B: the deployment's transcript (asked on A) leaves it out."""
    a, b, auth = two_machines(make_server, redis_server.url)
    ann = await clients.user(a, "ann", ("lobby",))
    alice = await clients.host(b, "alice", ("lobby",))
    ack = await ann.post("lobby", "please take this down")
    await alice.expect("message", text="please take this down")
    await alice.send(type="delete", room="lobby", message_id=ack["id"])
    await ann.expect("deleted", id=ack["id"])
    assert [
        m["text"] for m in a.get("/api/admin/transcript?room=lobby&scope=local", headers=auth).json()
    ] == ["please take this down"]  # A's own file alone cannot know
    assert a.get("/api/admin/transcript?room=lobby", headers=auth).json() == []


@pytest.mark.redis
async def test_a_message_released_on_another_machine_keeps_its_author_in_the_merged_transcript(
    redis_server, make_server, clients: ClientPool
):
    """ann's message waits on A (her `held` row is in A's file), alice releases it from B (the
    `released` row is in B's): the deployment's transcript names ann as its author, not alice."""
    a, b, auth = two_machines(make_server, redis_server.url)
    ann = await clients.user(a, "ann", ("moderated",))
    alice = await clients.host(b, "alice", ("moderated",))
    ack = await ann.post("moderated", "may I share something?")
    await alice.expect("held", id=ack["id"])
    await alice.send(type="release", room="moderated", message_id=ack["id"])
    await ann.expect("message", id=ack["id"])
    said = b.get("/api/admin/transcript?room=moderated", headers=auth).json()
    assert [(m["text"], m["from"]["name"]) for m in said] == [("may I share something?", "ann")]
    alone = b.get("/api/admin/transcript?room=moderated&scope=local", headers=auth).json()
    assert [m["from"]["name"] for m in alone] == ["ann"]  # B's own file says who wrote it too
