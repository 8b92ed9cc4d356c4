"""What admins rely on: live reloads, audit tools, metrics and logs without private text."""

from __future__ import annotations

import asyncio
import signal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import wait_for

EXTRA_ROOM = """
  - id: garden
    title: Garden
    topic: A room added by a reload.
    hosts: [alice]
    filters: []
"""


def room_ids(server) -> set[str]:
    return {r["id"] for r in server.get("/api/rooms").json()}


def sample(server, name: str, **labels: str) -> float:
    """The value of one series in /metrics, parsed with prometheus-client's own parser."""
    total = 0.0
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


@pytest.mark.redis
async def test_reload_adds_changes_and_removes_rooms_on_every_worker(make_server, redis_server, clients):
    """POST /api/admin/reload on one worker changes the rooms of both; other rooms' members stay connected."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    stayer = await clients.user(two, "stayer", ("lobby",))
    leaver = await clients.user(two, "leaver", ("bulk",))
    text = one.rooms_path.read_text()
    text = text.replace("topic: No filters at all.", "topic: Renamed by a reload.")
    text = text.replace("  - id: bulk\n", "  - id: bulk-gone\n") + EXTRA_ROOM
    one.rooms_path.write_text(text)
    admin = {"Authorization": f"Bearer {one.tokens['root']}"}
    assert (
        one.post("/api/admin/reload", headers={"Authorization": f"Bearer {one.tokens['alice']}"}).status_code
        == 403
    )
    reply = one.post("/api/admin/reload", headers=admin)
    assert reply.status_code == 200, reply.text
    assert reply.json()["added"] == ["bulk-gone", "garden"] and reply.json()["removed"] == ["bulk"]
    assert reply.json()["changed"] == ["lobby"], "only the room whose topic changed is reported"
    wait_for(lambda: "garden" in room_ids(two) and "bulk" not in room_ids(two), 5, "worker two reloaded")
    lobby = {r["id"]: r for r in two.get("/api/rooms").json()}["lobby"]
    assert lobby["topic"] == "Renamed by a reload."
    await leaver.expect("notice", code="room_closed", room="bulk")
    assert (await stayer.post("lobby", "still connected"))["status"] == "published"
    newcomer = await clients.user(two, "newcomer", ("garden",))
    assert newcomer.joined["garden"]["title"] == "Garden"


async def test_broken_reload_changes_nothing_and_logs_each_line(server, clients):
    """SIGHUP with a broken rooms.yaml keeps every room running and logs each problem with its line."""
    before = room_ids(server)
    sam = await clients.user(server, "sam", ("lobby",))
    good = server.rooms_path.read_text()
    server.rooms_path.write_text(good + "  - id: Bad_Room\n    title: x\n    topic: y\n    colour: red\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "rooms reload refused" in server.log(), 5, "the refusal in the log")
    assert "colour" in server.log() and "rooms.yaml:" in server.log()
    assert room_ids(server) == before
    assert (await sam.post("lobby", "unaffected"))["status"] == "published"


async def test_sighup_reload_applies_a_good_file(server, clients):
    """SIGHUP with a valid file adds the new room."""
    server.rooms_path.write_text(server.rooms_path.read_text() + EXTRA_ROOM)
    server.signal(signal.SIGHUP)
    wait_for(lambda: "garden" in room_ids(server), 5, "garden after SIGHUP")


async def test_metrics_parse_and_move_when_messages_flow(server, clients):
    """/metrics parses with prometheus-client and counts messages, connections and held items."""
    ann = await clients.user(server, "ann", ("lobby", "moderated"))
    before = sample(server, "chatserver_messages_total", outcome="published")
    for i in range(3):
        await ann.post("lobby", f"count me {i}")
    await ann.post("moderated", "hold me")
    wait_for(
        lambda: sample(server, "chatserver_messages_total", outcome="published") == before + 3, 5, "count"
    )
    assert sample(server, "chatserver_connections", role="participant") >= 1
    assert sample(server, "chatserver_held_queue_depth", room="moderated") == 1
    assert sample(server, "chatserver_fanout_latency_seconds_count") >= 3


async def test_admin_api_streams_audit_rows_and_transcripts(server, clients):
    """GET /api/audit (admin) returns JSON lines; the transcript shows what participants saw, in order."""
    ann = await clients.user(server, "ann", ("lobby",))
    acks = [await ann.post("lobby", f"line {i}") for i in range(3)]
    admin = {"Authorization": f"Bearer {server.tokens['root']}"}
    await asyncio.sleep(0)  # the acks above mean the rows are committed
    r = server.get("/api/audit?room=lobby&kind=published", headers=admin)
    assert r.status_code == 200
    ids = [line for line in r.text.splitlines() if line.strip()]
    assert len(ids) == 3
    transcript = server.get("/api/admin/transcript?room=lobby", headers=admin).json()
    assert [m["id"] for m in transcript] == [a["id"] for a in acks]
    done = server.cli("audit", "transcript", "--room", "lobby")
    assert done.returncode == 0 and "ann: line 2" in done.stdout


async def test_export_filters_and_redacts(server, clients):
    """audit export filters by room and kind, and --redact masks e-mail addresses and phone numbers."""
    ann = await clients.user(server, "ann", ("lobby",))
    await ann.post("lobby", "mail me: ann@example.com or 07700 900123")
    await ann.post("lobby", "plain words")
    server.stop()
    rows = server.export("--room", "lobby", "--kind", "published")
    assert [r["text"] for r in rows][-2:] == ["mail me: ann@example.com or 07700 900123", "plain words"]
    redacted = server.export("--room", "lobby", "--kind", "published", "--redact")
    assert "ann@example.com" not in str(redacted) and "900123" not in str(redacted)
    assert all(r["room"] == "lobby" for r in server.export("--room", "lobby"))


async def test_logs_of_a_full_session_hold_no_message_text_or_tokens(make_server, clients):
    """After chat, holds, host actions and a crisis message, the log has no message text and no token."""
    server = make_server(extra=("--log-level", "debug"))
    alice = await clients.host(server, "alice", ("safe", "lobby"))
    sam = await clients.user(server, "sam", ("safe", "lobby"))
    secrets_said = ["zebra-marmalade-7", "grapefruit orchard", "I can't go on, I want to kill myself tonight"]
    for text in secrets_said:
        await sam.post("safe", text)
    await sam.post("lobby", "quartz-lantern-3")
    held = await alice.expect("held")
    await alice.send(type="release", room="safe", message_id=held["id"])
    await alice.send(type="note", room="safe", session=sam.session, text="velvet-harbour-9 note")
    await alice.expect("note")
    await clients.close()
    server.stop()
    log = server.log()
    for text in [*secrets_said, "quartz-lantern-3", "velvet-harbour-9", sam.resume_token]:
        assert text not in log
    for token in server.tokens.values():
        assert token not in log
    assert "127.0.0.1:" not in log.replace(f"127.0.0.1:{server.port}", "")


def test_each_message_is_counted_once_per_reason_or_as_none():
    """The per-message counter (its labelled children are kept between messages)."""
    from chatserver.metrics import Metrics

    metrics = Metrics()
    for _ in range(2):
        metrics.count_message("held", iter(["crisis", "links"]))
    metrics.count_message("published", ())
    text = metrics.render().decode()
    assert 'chatserver_messages_total{filter="crisis",outcome="held"} 2.0' in text
    assert 'chatserver_messages_total{filter="links",outcome="held"} 2.0' in text
    assert 'chatserver_messages_total{filter="none",outcome="published"} 1.0' in text
    assert 'filter="none",outcome="held"' not in text
