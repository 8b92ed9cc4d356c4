"""Crisis levels through a real server: who hears of what, and when (issue 13)."""

from __future__ import annotations

ROOMS = """
resources:
  crisis: [{name: "Listening line", phone: "116 123"}]
rooms:
  - id: late
    title: Late-night check-in
    topic: A quiet room for the small hours.
    hosts: [alice]
    backup_hosts: [carol]
    escalate_after: 600
    resources: [crisis]
    filters:
      - crisis: {resources: crisis}   # the shipped defaults for each level
"""

IMMINENT = "I have the pills in my hand right now and I'm taking all of them tonight"
CONCERN = "my friend died by suicide last year and I still miss her every day"


async def test_an_imminent_message_reaches_hosts_backup_hosts_and_admins_at_once(make_server, clients):
    """No escalate_after countdown (600 s here): the host in the room, a backup host and an admin
    elsewhere all get the urgent notice straight away; the person gets help; nobody sees the text."""
    server = make_server(ROOMS)
    sam = await clients.user(server, "sam", ("late",))
    kim = await clients.user(server, "kim", ("late",))
    alice = await clients.host(server, "alice", ("late",))
    carol = await clients.host(server, "carol")  # backup host, not in the room
    root = await clients.host(server, "root")  # admin, not in the room
    ack = await sam.post("late", IMMINENT)
    assert ack["status"] == "held"
    await sam.expect("resources", room="late")
    for host in (alice, carol, root):
        alert = await host.expect("notice", timeout=3, code="crisis", risk="imminent")
        assert alert["level"] == "urgent" and alert["session"] == sam.session
    held = await alice.expect("held", id=ack["id"])
    assert held["risk"] == "imminent" and held["urgent"] is True
    await kim.expect_none("message", within=0.3, id=ack["id"])


async def test_a_concern_message_is_not_held_by_default(make_server, clients):
    """Talking about someone else's death is grief, not a crisis: published, no urgent alert."""
    server = make_server(ROOMS)
    sam = await clients.user(server, "sam", ("late",))
    alice = await clients.host(server, "alice", ("late",))
    ack = await sam.post("late", CONCERN)
    assert ack["status"] == "published"
    await alice.expect("message", id=ack["id"])
    await alice.expect_none("notice", within=0.5, code="crisis")
