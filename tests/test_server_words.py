"""Issue 19, the server's words: every notice, ack and resources frame that carries English words says
which words by a `code` (and the numbers they need), so a page can say them in any language."""

from __future__ import annotations

from typing import Any

ROOMS = """\
resources:
  crisis: [{name: "Listening line", phone: "116 123", countries: [GB]}]
rooms:
  - id: lobby
    title: Lobby
    topic: Anyone.
    hosts: [alice]
    max_length: 40
    resources: [crisis]
    filters:
      - crisis: {resources: crisis}
  - id: careful
    title: Careful
    topic: Every message is read first.
    hosts: [alice]
    premoderate: all
    filters: []
"""

IMMINENT = "I have the pills in my hand right now and I'm taking all of them tonight"


async def test_a_mute_says_its_minutes_and_each_done_says_what_was_done(
    make_server: Any, clients: Any
) -> None:
    """`muted` carries `minutes`; the host's `done` notices carry `action` (and the session, minutes)."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("lobby",))
    sam = await clients.user(server, "sam", ("lobby",))
    await alice.send(type="mute", room="lobby", session=sam.session, minutes=5)
    muted = await sam.expect("notice", code="muted", room="lobby")
    assert muted["minutes"] == 5 and "5 minute" in muted["text"]
    done = await alice.expect("notice", code="done", room="lobby")
    assert (done["action"], done["session"], done["minutes"]) == ("mute", sam.session, 5)

    await alice.send(type="unmute", room="lobby", session=sam.session)
    assert "minutes" not in await sam.expect("notice", code="unmuted")
    assert (await alice.expect("notice", code="done"))["action"] == "unmute"

    await alice.send(type="kick", room="lobby", session=sam.session)
    removed = await sam.expect("notice", code="removed", room="lobby")
    assert removed["action"] == "kick"
    assert (await alice.expect("notice", code="done"))["action"] == "kick"

    await alice.send(type="shield", room="lobby", on=True)
    shield = await alice.expect("notice", code="done", action="shield")
    assert shield["on"] is True and shield["text"] == "Done: shield mode is on."


async def test_acks_and_help_carry_codes_for_their_words(make_server: Any, clients: Any) -> None:
    """A held ack says whether a host is here by its code; a rejected ack names its filter; the private
    helplines say `crisis_resources`; the hosts' crisis notice carries the name and room it speaks of."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("careful", "lobby"))
    sam = await clients.user(server, "sam", ("careful", "lobby"))
    held = await sam.post("careful", "hello, is anyone around?")
    assert (held["status"], held["code"], held["hosted"]) == ("held", "waiting_for_host", True)
    assert held["message"]
    rejected = await sam.post("lobby", "x" * 41)
    assert (rejected["status"], rejected["reason"], rejected["code"]) == (
        "rejected",
        "max_length",
        "rejected_max_length",
    )
    crisis = await sam.post("lobby", IMMINENT[:40])
    help_ = await sam.expect("resources", room="lobby")
    assert help_["code"] == "crisis_resources" and help_["why"], (crisis, help_)
    alert = await alice.expect("notice", code="crisis", room="lobby")
    assert (alert["name"], alert["title"]) == ("sam", "Lobby")
