"""Filters, the held queue and host powers against a real server, with their audit rows."""

from __future__ import annotations

import asyncio
import time

CRISIS = "I can't go on, I want to kill myself tonight"


def rows(server, kind: str, **match) -> list[dict]:
    """Audit rows of `kind` whose fields match."""
    return [r for r in server.export("--kind", kind) if all(r.get(k) == v for k, v in match.items())]


async def test_blocklist_holds_whole_words_only(server, clients):
    """'skilled' passes a blocklist with 'kill'; 'K1LL' is held for the hosts, unseen by others."""
    sam = await clients.user(server, "sam", ("safe",))
    kim = await clients.user(server, "kim", ("safe",))
    alice = await clients.host(server, "alice", ("safe",))
    ok = await sam.post("safe", "she is very skilled at knitting")
    assert ok["status"] == "published"
    held = await sam.post("safe", "I will K1LL the next boss in my game")
    assert held["status"] == "held" and held["reason"] == "blocklist"
    frame = await alice.expect("held", id=held["id"])
    assert "blocklist" in frame["reasons"] and frame["from"]["session"] == sam.session
    await kim.expect("message", id=ok["id"])
    await kim.expect_none("message", within=0.5, id=held["id"])
    server.stop()
    (row,) = rows(server, "held", message_id=held["id"])
    assert row["detail"]["reasons"] == ["blocklist"] and row["actor"]["session"] == sam.session


async def test_crisis_sends_resources_privately_within_a_second(server, clients):
    """A crisis message is held as urgent, the sender gets the resources at once, nobody else does."""
    sam = await clients.user(server, "sam", ("safe",))
    kim = await clients.user(server, "kim", ("safe",))
    alice = await clients.host(server, "alice", ("safe",))
    started = time.monotonic()
    await sam.send(type="send", room="safe", text=CRISIS, client_id="sos")
    resources = await sam.expect("resources", timeout=1)
    assert time.monotonic() - started < 1
    assert "Emergency services" in str(resources["items"]) and resources["why"]
    ack = await sam.expect("ack", client_id="sos")
    assert ack["status"] == "held"
    held = await alice.expect("held", id=ack["id"])
    assert held["urgent"] is True and "crisis" in held["reasons"]
    await kim.expect_none("resources", within=0.3)
    await kim.expect_none("message", within=0.2, id=ack["id"])


async def test_crisis_pass_mode_publishes_and_still_alerts(server, clients):
    """With crisis action pass the message is posted, the sender gets help and hosts an urgent notice."""
    sam = await clients.user(server, "sam", ("echo",))
    alice = await clients.host(server, "alice", ("echo",))
    ack = await sam.post("echo", CRISIS)
    assert ack["status"] == "published"
    await sam.expect("resources")
    alert = await alice.expect("notice", code="crisis")
    assert alert["level"] == "urgent" and alert["session"] == sam.session


async def test_pii_is_redacted_and_the_original_kept_in_the_audit(server, clients):
    """E-mail addresses and phone numbers are masked for readers; the audit row keeps the original."""
    sam = await clients.user(server, "sam", ("safe",))
    kim = await clients.user(server, "kim", ("safe",))
    text = "write to me at sam@example.com or call +44 7700 900123"
    ack = await sam.post("safe", text)
    message = await kim.expect("message", id=ack["id"])
    assert "sam@example.com" not in message["text"] and "7700 900123" not in message["text"]
    server.stop()
    (row,) = rows(server, "published", message_id=ack["id"])
    assert row["detail"]["action"] == "redacted" and row["detail"]["original"] == text


async def test_links_outside_the_allow_list_are_held(server, clients):
    """A link to an allowed domain passes; any other is held."""
    sam = await clients.user(server, "sam", ("safe",))
    assert (await sam.post("safe", "see https://example.org/help"))["status"] == "published"
    held = await sam.post("safe", "see https://shady.example.net/x")
    assert held["status"] == "held" and held["reason"] == "links"


async def test_rate_limit_rejects_with_retry_after(server, clients):
    """The fourth message in ten seconds is rejected by rate_limit with a retry_after."""
    sam = await clients.user(server, "sam", ("limited",))
    for i in range(3):
        assert (await sam.post("limited", f"m{i}"))["status"] == "published"
    ack = await sam.post("limited", "one too many")
    assert ack["status"] == "rejected" and ack["reason"] == "rate_limit" and 0 < ack["retry_after"] <= 10


async def test_repeat_refuses_the_same_words_twice(server, clients):
    """The same text again within the window is rejected by repeat."""
    sam = await clients.user(server, "sam", ("echo",))
    assert (await sam.post("echo", "hello all"))["status"] == "published"
    ack = await sam.post("echo", "Hello all")
    assert ack["status"] == "rejected" and ack["reason"] == "repeat"


async def test_new_members_are_premoderated_then_trusted(server, clients):
    """A newcomer's first two messages wait for a host; the third is posted."""
    sam = await clients.user(server, "sam", ("newbies",))
    first = await sam.post("newbies", "hi, I'm new")
    second = await sam.post("newbies", "is anyone here?")
    third = await sam.post("newbies", "ok, hello")
    assert [first["status"], second["status"], third["status"]] == ["held", "held", "published"]
    assert first["reason"] == "premoderate"


async def test_release_publishes_and_tells_the_sender(server, clients):
    """A host's release publishes the held message with a fresh seq and tells sender and hosts."""
    sam = await clients.user(server, "sam", ("moderated",))
    kim = await clients.user(server, "kim", ("moderated",))
    alice = await clients.host(server, "alice", ("moderated",))
    bob = await clients.host(server, "bob", ("moderated",))
    ack = await sam.post("moderated", "may I share something?")
    await alice.expect("held", id=ack["id"])
    await alice.send(type="release", room="moderated", message_id=ack["id"])
    message = await kim.expect("message", id=ack["id"])
    assert message["seq"] >= 1 and message["text"] == "may I share something?"
    resolved = await sam.expect("resolved", id=ack["id"])
    assert resolved["action"] == "released" and resolved["by"] == "alice"
    await bob.expect("resolved", id=ack["id"])
    await alice.send(type="release", room="moderated", message_id=ack["id"])
    assert (await alice.expect("error"))["code"] == "bad_request"
    server.stop()
    (row,) = rows(server, "released", message_id=ack["id"])
    assert row["actor"]["name"] == "alice" and row["seq"] == message["seq"]


async def test_reject_with_a_note_reaches_only_the_sender_and_hosts(server, clients):
    """A rejection is never published; the sender hears it with the host's note."""
    sam = await clients.user(server, "sam", ("moderated",))
    kim = await clients.user(server, "kim", ("moderated",))
    alice = await clients.host(server, "alice", ("moderated",))
    ack = await sam.post("moderated", "something harsh")
    await alice.expect("held", id=ack["id"])
    await alice.send(type="reject", room="moderated", message_id=ack["id"], note="Let's keep it gentle")
    resolved = await sam.expect("resolved", id=ack["id"])
    assert resolved["action"] == "rejected" and resolved["note"] == "Let's keep it gentle"
    await kim.expect_none("message", within=0.5, id=ack["id"])
    await kim.expect_none("resolved", within=0.1)


async def test_held_queue_is_shown_to_a_host_who_joins_later(server, clients):
    """joined.held lists what is waiting, urgent first, for a host who arrives after it was held."""
    sam = await clients.user(server, "sam", ("safe",))
    plain = await sam.post("safe", "my grapefruit story")
    urgent = await sam.post("safe", CRISIS)
    alice = await clients.host(server, "alice", ("safe",))
    queue = alice.joined["safe"]["held"]
    assert [h["id"] for h in queue] == [urgent["id"], plain["id"]]


async def test_participant_cannot_use_host_powers_and_the_refusal_is_audited(server, clients):
    """A participant's release/ban gets forbidden, changes nothing, and leaves a refused row."""
    sam = await clients.user(server, "sam", ("moderated",))
    kim = await clients.user(server, "kim", ("moderated",))
    ack = await sam.post("moderated", "waiting")
    await kim.send(type="release", room="moderated", message_id=ack["id"])
    assert (await kim.expect("error"))["code"] == "forbidden"
    await kim.send(type="ban", room="moderated", session=sam.session)
    assert (await kim.expect("error"))["code"] == "forbidden"
    await sam.expect_none("message", within=0.3, id=ack["id"])
    carol = await clients.host(server, "carol", ("moderated",))
    await carol.send(type="release", room="moderated", message_id=ack["id"])
    assert (await carol.expect("error"))["code"] == "forbidden"
    server.stop()
    refused = rows(server, "refused")
    assert {r["actor"]["session"] for r in refused} == {kim.session, carol.session}
    assert {r["detail"]["action"] for r in refused} == {"release", "ban"}


async def test_delete_removes_a_message_for_everyone_and_from_history(server, clients):
    """deleted reaches every member, and a later joiner's history no longer has it."""
    sam = await clients.user(server, "sam", ("lobby",))
    alice = await clients.host(server, "alice", ("lobby",))
    ack = await sam.post("lobby", "oops, wrong room")
    await alice.send(type="delete", room="lobby", message_id=ack["id"])
    await sam.expect("deleted", id=ack["id"])
    late = await clients.user(server, "late", ("lobby",))
    assert ack["id"] not in [m["id"] for m in late.joined["lobby"]["history"]]


async def test_mute_blocks_posting_for_its_time(server, clients):
    """A muted person is told so and gets `muted` on send; unmute lets them post again."""
    sam = await clients.user(server, "sam", ("lobby",))
    alice = await clients.host(server, "alice", ("lobby",))
    await alice.send(type="mute", room="lobby", session=sam.session, minutes=5)
    await sam.expect("notice", code="muted")
    error = await sam.post("lobby", "hello?")
    assert error["code"] == "muted" and error["retry_after"] > 200
    await alice.send(type="unmute", room="lobby", session=sam.session)
    await sam.expect("notice", code="unmuted")
    assert (await sam.post("lobby", "back"))["status"] == "published"


async def test_kick_removes_but_allows_return_and_ban_does_not(server, clients):
    """kick takes someone out of the room; ban also keeps them (and their resumed identity) out."""
    sam = await clients.user(server, "sam", ("lobby",))
    alice = await clients.host(server, "alice", ("lobby",))
    await alice.send(type="kick", room="lobby", session=sam.session, reason="take a breather")
    notice = await sam.expect("notice", code="removed")
    assert notice["reason"] == "take a breather"
    assert (await sam.post("lobby", "still here?"))["code"] == "not_joined"
    assert (await sam.join("lobby"))["type"] == "joined"
    await alice.send(type="ban", room="lobby", session=sam.session)
    await sam.expect("notice", code="removed")
    assert (await sam.join("lobby"))["code"] == "banned"
    again = await clients.connect(server)
    await again.hello("sam2", resume=sam.resume_token)
    assert (await again.join("lobby"))["code"] == "banned"
    server.stop()
    assert rows(server, "kicked", subject=sam.session) and rows(server, "banned", subject=sam.session)


async def test_slowmode_and_lock(server, clients):
    """Slow mode spaces a participant's messages; a locked room takes messages from hosts only."""
    sam = await clients.user(server, "sam", ("lobby",))
    alice = await clients.host(server, "alice", ("lobby",))
    await alice.send(type="slowmode", room="lobby", seconds=30)
    await sam.expect("notice", code="slowmode")
    assert (await sam.post("lobby", "one"))["status"] == "published"
    second = await sam.post("lobby", "two")
    assert second["code"] == "rate_limited" and second["retry_after"] > 0
    await alice.send(type="slowmode", room="lobby", seconds=0)
    await alice.send(type="lock", room="lobby", locked=True)
    await sam.expect("notice", code="locked")
    assert (await sam.post("lobby", "three"))["code"] == "locked"
    assert (await alice.post("lobby", "hosts can still speak"))["status"] == "published"
    server.stop()
    assert rows(server, "slowmode") and rows(server, "lock")


async def test_report_and_care_note_reach_the_hosts(server, clients):
    """A report goes to the hosts live with the author; a care note shows with that person's held items."""
    sam = await clients.user(server, "sam", ("moderated",))
    kim = await clients.user(server, "kim", ("lobby",))
    alice = await clients.host(server, "alice", ("lobby", "moderated"))
    sam_lobby = await clients.user(server, "sam2", ("lobby",))
    ack = await sam_lobby.post("lobby", "something unkind")
    await kim.send(type="report", room="lobby", message_id=ack["id"], reason="unkind")
    report = await alice.expect("report", message_id=ack["id"])
    assert report["reason"] == "unkind" and report["from"]["session"] == sam_lobby.session
    await kim.expect("notice", code="report_sent")
    await alice.send(type="note", room="moderated", session=sam.session, text="had a rough week, check in")
    await alice.expect("note", session=sam.session)
    held = await sam.post("moderated", "hello again")
    frame = await alice.expect("held", id=held["id"])
    assert [n["text"] for n in frame["notes"]] == ["had a rough week, check in"]
    bob = await clients.host(server, "bob", ("moderated",))
    (queued,) = [h for h in bob.joined["moderated"]["held"] if h["id"] == held["id"]]
    assert queued["notes"][0]["text"] == "had a rough week, check in"


async def test_a_long_wait_escalates_to_backup_hosts(server, clients):
    """A held item waiting past escalate_after reaches hosts and backup hosts as `escalated`."""
    sam = await clients.user(server, "sam", ("safe",))
    carol = await clients.host(server, "carol")
    alice = await clients.host(server, "alice", ("safe",))
    ack = await sam.post("safe", "grapefruit again")
    escalated = await carol.expect("escalated", id=ack["id"], timeout=6)
    assert escalated["waited_s"] >= 2
    await alice.expect("escalated", id=ack["id"], timeout=2)


async def test_two_hosts_releasing_at_once_deliver_once(server, clients):
    """Simultaneous releases by two hosts publish the message exactly once."""
    sam = await clients.user(server, "sam", ("moderated",))
    alice = await clients.host(server, "alice", ("moderated",))
    bob = await clients.host(server, "bob", ("moderated",))
    ack = await sam.post("moderated", "just once please")
    await alice.expect("held", id=ack["id"])
    await asyncio.gather(
        alice.send(type="release", room="moderated", message_id=ack["id"]),
        bob.send(type="release", room="moderated", message_id=ack["id"]),
    )
    await sam.expect("message", id=ack["id"])
    await sam.expect_none("message", within=0.5, id=ack["id"])


async def test_held_queue_survives_a_restart(server, clients):
    """After a restart the in-process held queue is rebuilt from the audit log; release still works."""
    sam = await clients.user(server, "sam", ("moderated",))
    ack = await sam.post("moderated", "still waiting after a restart")
    await clients.close()
    server.stop()
    server.start()
    alice = await clients.host(server, "alice", ("moderated",))
    assert alice.welcome["rooms"] and "moderated" in alice.welcome["rooms"]
    assert [h["id"] for h in alice.joined["moderated"]["held"]] == [ack["id"]]
    await alice.send(type="release", room="moderated", message_id=ack["id"])
    await alice.expect("message", id=ack["id"])


async def test_revoking_a_host_signs_them_out(server, clients):
    """`hosts revoke` ends a host's open session within seconds (closed 1008)."""
    carol = await clients.host(server, "carol")
    done = server.cli("hosts", "revoke", "carol")
    assert done.returncode == 0, done.stderr
    await asyncio.wait_for(carol.closed.wait(), 15)
    assert carol.close_code == 1008
