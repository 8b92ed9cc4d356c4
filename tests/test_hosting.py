"""Hosted rooms: a room never promises a host who is not there (issue 15)."""

from __future__ import annotations

import pytest

from chatserver.hosting import room_mode
from tests.fault_fixtures import until

ROOMS = """
defaults:
  unhosted_grace: 1
rooms:
  - id: quiet
    title: Quiet
    topic: Read-only without a host.
    hosts: [alice]
    when_unhosted: read_only
    filters: []
  - id: careful
    title: Careful
    topic: Premoderated without a host.
    hosts: [alice]
    when_unhosted: premoderate
    filters: []
  - id: session
    title: Session
    topic: Only open while a host is here.
    hosts: [alice]
    when_unhosted: closed
    unhosted_grace: 0
    filters: []
"""


def test_the_mode_follows_hours_hosts_and_grace():
    """Closed outside hours; open while hosted or within the grace; else the unhosted mode."""
    args = {"when_unhosted": "read_only", "grace": 60.0, "now": 1000.0}
    assert room_mode(open_now=False, hosts=2, unhosted_since=None, **args) == "closed"
    assert room_mode(open_now=True, hosts=1, unhosted_since=None, **args) == "open"
    assert room_mode(open_now=True, hosts=0, unhosted_since=990.0, **args) == "open"
    assert room_mode(open_now=True, hosts=0, unhosted_since=900.0, **args) == "read_only"


@pytest.mark.redis
async def test_the_last_host_leaving_makes_a_room_read_only_on_every_worker_and_back(
    make_server, redis_server, clients
):
    """Host on worker one, participant on worker two: read-only after the grace, open again on return."""
    one = make_server(ROOMS, redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    alice = await clients.host(one, "alice", ("quiet",))
    ben = await clients.user(two, "ben", ("quiet",))
    await ben.expect("notice", timeout=8, code="mode", mode="open") if ben.joined["quiet"][
        "hosts"
    ] == 0 else None
    ok = await ben.post("quiet", "hello while alice is here")
    assert ok["status"] == "published"
    await alice.close()
    notice = await ben.expect("notice", timeout=10, code="mode", mode="read_only")
    assert "read-only" in notice["text"]
    refused = await ben.post("quiet", "anyone?")
    assert refused["code"] == "locked"
    await clients.host(one, "alice", ("quiet",))
    await ben.expect("notice", timeout=10, code="mode", mode="open")
    again = await ben.post("quiet", "welcome back")
    assert again["status"] == "published"


async def test_without_a_host_messages_wait_and_the_sender_is_told_honestly(make_server, clients):
    """premoderate when unhosted: held, and the ack says no host is here and where help is now."""
    server = make_server(ROOMS)
    sam = await clients.user(server, "sam", ("careful",))
    await sam.expect("notice", timeout=8, code="mode", mode="premoderate")
    ack = await sam.post("careful", "is anyone around tonight")
    assert ack["status"] == "held" and ack["hosted"] is False
    assert "No host is here right now" in ack["message"] and "Get help now" in ack["message"]


async def test_a_room_closed_without_a_host_cannot_be_joined_until_one_comes(make_server, clients):
    """when_unhosted: closed: a participant's join is refused as closed; with a host on duty it opens."""
    server = make_server(ROOMS)
    sam = await clients.user(server, "sam")
    refused = await sam.join("session")
    assert refused["type"] == "error" and refused["code"] == "closed"
    rooms = {r["id"]: r for r in server.get("/api/rooms").json()}
    assert rooms["session"]["mode"] == "closed" and rooms["session"]["hosts"] == 0
    await clients.host(server, "alice", ("session",))

    def session_open() -> bool:
        return {r["id"]: r for r in server.get("/api/rooms").json()}["session"]["mode"] == "open"

    await until(session_open, 10, "the session room opening once a host is on duty")
    joined = await sam.join("session")
    assert joined["type"] == "joined" and joined["hosts"] == 1


async def test_a_host_greets_a_newcomer_privately_and_it_is_audited(server, clients):
    """greet reaches only that person (as a private frame), and the audit log keeps it."""
    sam = await clients.user(server, "sam", ("lobby",))
    kim = await clients.user(server, "kim", ("lobby",))
    alice = await clients.host(server, "alice", ("lobby",))
    assert "snippets" in alice.joined["lobby"] and "snippets" not in sam.joined["lobby"]
    await alice.send(type="greet", room="lobby", session=sam.session, text="Welcome, sam. Glad you're here.")
    await alice.expect("notice", code="done")
    private = await sam.expect("private", room="lobby")
    assert private["text"] == "Welcome, sam. Glad you're here." and private["from"]["role"] == "host"
    await kim.expect_none("private", within=0.3)
    await sam.send(type="greet", room="lobby", session=kim.session, text="hi")
    assert (await sam.expect("error"))["code"] == "forbidden"
    server.stop()
    (row,) = server.export("--kind", "greeted")
    assert row["subject"] == sam.session and row["text"].startswith("Welcome")


async def test_admins_see_who_is_on_duty_where(server, clients):
    """/api/admin/rooms: hosts on duty by name, the unhosted mode and opening times per room."""
    await clients.host(server, "alice", ("lobby",))
    token = server.tokens["root"]
    rooms = {
        r["id"]: r
        for r in server.get("/api/admin/rooms", headers={"Authorization": f"Bearer {token}"}).json()
    }
    assert rooms["lobby"]["hosts_on_duty"] == ["alice"] and rooms["lobby"]["when_unhosted"] == "open"
    assert rooms["guided"]["hosts_on_duty"] == [] and rooms["lobby"]["next_opening"] is None
