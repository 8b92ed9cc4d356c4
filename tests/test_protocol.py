"""The WebSocket contract against one real server (in-process broker)."""

from __future__ import annotations

import asyncio
import random
import socket
import string

import pytest
from websockets.exceptions import InvalidStatus

from tests.support import RAW_UPGRADE, text_frame


async def test_hello_gets_a_welcome_with_a_secret_resume_token(server, clients):
    """hello → welcome with a public session, a secret resume token, the trimmed name and a role."""
    c = await clients.connect(server)
    welcome = await c.hello("  River  ")
    assert welcome["name"] == "River"
    assert welcome["role"] == "participant"
    assert welcome["session"] and welcome["resume_token"] and welcome["session"] != welcome["resume_token"]


@pytest.mark.parametrize("name", ["", "x" * 33, "a\u202eb", "zero\u200bwidth", "bell\x07"])
async def test_bad_names_are_refused(server, clients, name):
    """Empty, too long, bidi-override, zero-width and control characters give bad_request."""
    c = await clients.connect(server)
    await c.send(type="hello", name=name)
    error = await c.expect("error")
    assert error["code"] == "bad_request"


async def test_first_frame_must_be_hello(server, clients):
    """Anything before hello is answered with an error that says hello comes first."""
    c = await clients.connect(server)
    await c.send(type="join", room="lobby")
    error = await c.expect("error")
    assert error["code"] == "bad_request" and "hello" in error["message"]


async def test_message_reaches_everyone_with_ack_and_seq(server, clients):
    """A send is acked with an id, and every member (sender too) gets it with consecutive seq."""
    ann = await clients.user(server, "ann", ("lobby",))
    ben = await clients.user(server, "ben", ("lobby",))
    first = await ann.post("lobby", "hello")
    second = await ann.post("lobby", "again")
    assert first["status"] == second["status"] == "published"
    m1 = await ben.expect("message", id=first["id"])
    m2 = await ben.expect("message", id=second["id"])
    assert m2["seq"] == m1["seq"] + 1
    assert m1["from"] == {"name": "ann", "session": ann.session, "role": "participant"}
    await ann.expect("message", id=second["id"])


async def test_join_since_replays_exactly_the_missed_messages(server, clients):
    """join with since=<id> replays what came after it, no more, no less."""
    ann = await clients.user(server, "ann", ("lobby",))
    ids = [(await ann.post("lobby", f"n{i}"))["id"] for i in range(6)]
    ben = await clients.user(server, "ben")
    joined = await ben.join("lobby", since=ids[2])
    assert [m["id"] for m in joined["history"]] == ids[3:]


async def test_history_survives_a_restart_with_seq_continuing(server, clients):
    """After a restart the room's history and numbering come back from the audit log."""
    ann = await clients.user(server, "ann", ("lobby",))
    acks = [await ann.post("lobby", f"before {i}") for i in range(3)]
    last = await ann.expect("message", id=acks[-1]["id"])
    await clients.close()
    server.stop()
    server.start()
    ben = await clients.user(server, "ben", ("lobby",))
    assert [m["id"] for m in ben.joined["lobby"]["history"]][-3:] == [a["id"] for a in acks]
    ack = await ben.post("lobby", "after")
    message = await ben.expect("message", id=ack["id"])
    assert message["seq"] == last["seq"] + 1


async def test_malformed_frames_get_bad_request_and_the_connection_lives(server, clients):
    """Non-JSON, wrong types and unknown types are answered with bad_request; the socket stays usable."""
    c = await clients.user(server, "sam", ("lobby",))
    for raw in [
        "nope",
        "[1]",
        '{"type": 3}',
        '{"type": "fly"}',
        '{"type": "send", "room": "lobby", "text": 5}',
    ]:
        await c.ws.send(raw)
        assert (await c.expect("error"))["code"] == "bad_request"
    assert (await c.post("lobby", "still fine"))["status"] == "published"


async def test_frame_over_64_kib_closes_with_1009(server, clients):
    """A 100 KiB frame closes the connection with 1009."""
    c = await clients.user(server, "sam", ("lobby",))
    text = "".join(random.choice(string.ascii_letters) for _ in range(100 * 1024))
    await c.send(type="send", room="lobby", text=text, client_id="big")
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == 1009


async def test_foreign_origin_gets_403(server, clients):
    """A browser handshake from a foreign origin (or `null`) is refused with HTTP 403."""
    for origin in ("http://evil.example", "null"):
        with pytest.raises(InvalidStatus) as refused:
            await clients.connect(server, origin=origin)
        assert refused.value.response.status_code == 403


async def test_no_origin_is_accepted_for_non_browser_clients(server, clients):
    """Bots and load generators send no Origin and are let in."""
    c = await clients.connect(server, origin=None)
    assert (await c.hello("bot"))["role"] == "participant"


async def test_unknown_room_and_not_joined(server, clients):
    """Joining a missing room is unknown_room; sending to a room not joined is not_joined."""
    c = await clients.user(server, "sam")
    assert (await c.join("nowhere"))["code"] == "unknown_room"
    assert (await c.post("lobby", "hi"))["code"] == "not_joined"


async def test_guidelines_must_be_accepted(server, clients):
    """A room with guidelines refuses a join that did not accept them, and says what they are."""
    c = await clients.user(server, "sam")
    await c.send(type="join", room="guided")
    error = await c.expect("error")
    assert error["code"] == "guidelines_required" and "gentle" in error["guidelines"]


async def test_same_name_twice_in_a_room_is_name_taken(server, clients):
    """Two people cannot use one name in a room."""
    await clients.user(server, "Sam", ("lobby",))
    twin = await clients.user(server, "sam")
    assert (await twin.join("lobby"))["code"] == "name_taken"


async def test_presence_follows_joins_and_disconnects(server, clients):
    """Members see the count go up on a join and down on a disconnect."""
    ann = await clients.user(server, "ann", ("lobby",))
    ben = await clients.user(server, "ben", ("lobby",))
    await ann.expect("presence", members=2, joined="ben")
    await ben.close()
    await ann.expect("presence", members=1, left="ben")


async def test_typing_goes_to_the_others_only(server, clients):
    """typing reaches other members with the typer's name, never the typer."""
    ann = await clients.user(server, "ann", ("lobby",))
    ben = await clients.user(server, "ben", ("lobby",))
    await ann.send(type="typing", room="lobby")
    await ben.expect("typing", name="ann")
    await ann.expect_none("typing", within=0.3)


async def test_too_long_message_is_rejected(server, clients):
    """Over the room's max_length: rejected by max_length, nothing published."""
    ann = await clients.user(server, "ann", ("short",))
    ack = await ann.post("short", "x" * 41)
    assert ack["status"] == "rejected" and ack["reason"] == "max_length"
    await ann.expect_none("message", within=0.3)


async def test_resume_keeps_the_same_session(server, clients):
    """hello with the resume token of an earlier welcome restores the same public session."""
    first = await clients.user(server, "ann")
    again = await clients.connect(server)
    welcome = await again.hello("ann", resume=first.resume_token)
    assert welcome["session"] == first.session


async def test_stalled_reader_is_closed_and_never_delays_the_room(server, clients):
    """A client that stops reading is dropped; the others keep receiving promptly."""
    sock = await asyncio.to_thread(stalled_member, server.port, "bulk")
    ann = await clients.user(server, "ann", ("bulk",))
    ben = await clients.user(server, "ben", ("bulk",))
    await ann.expect("presence", members=3)
    big = "y" * 50_000
    loop = asyncio.get_running_loop()
    for i in range(40):
        started = loop.time()
        ack = await ann.post("bulk", f"{i} {big}")
        await ben.expect("message", id=ack["id"], timeout=2)
        assert loop.time() - started < 2
    await ann.expect("presence", members=2, timeout=10)
    sock.close()


def stalled_member(port: int, room: str) -> socket.socket:
    """A raw WebSocket that says hello, joins `room`, then never reads again."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(RAW_UPGRADE)
    seen = b""
    while b"\r\n\r\n" not in seen:
        seen += sock.recv(4096)
    assert b" 101 " in seen.split(b"\r\n", 1)[0]
    for frame in ({"type": "hello", "name": "stuck"}, {"type": "join", "room": room}):
        sock.sendall(text_frame(frame))
    while b'"joined"' not in seen:
        seen += sock.recv(4096)
    return sock


def test_http_routes_and_security_headers(server):
    """/api/rooms, /healthz, /readyz, /metrics and / answer, each with the security headers."""
    rooms = server.get("/api/rooms").json()
    assert {r["id"] for r in rooms} >= {"lobby", "safe"}
    assert all({"id", "title", "topic", "members", "guidelines_required"} <= set(r) for r in rooms)
    for path in ("/", "/healthz", "/readyz", "/metrics", "/api/rooms", "/missing", "/api/audit"):
        r = server.get(path)
        assert "default-src 'self'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
    assert server.get("/api/audit").status_code == 401
    assert (
        server.get("/api/audit", headers={"Authorization": f"Bearer {server.tokens['alice']}"}).status_code
        == 403
    )


async def test_connections_over_the_per_address_cap_get_429(make_server, clients):
    """Past --max-connections-per-ip the handshake is refused with 429; a freed slot can be reused."""
    server = make_server(extra=("--max-connections-per-ip", "3"))
    first = [await clients.user(server, f"p{i}") for i in range(3)]
    with pytest.raises(InvalidStatus) as refused:
        await clients.connect(server)
    assert refused.value.response.status_code == 429
    await first[0].close()
    await asyncio.sleep(0.2)  # the server notices the close on its next read
    assert (await (await clients.connect(server)).hello("p4"))["name"] == "p4"


async def test_a_participant_cannot_pass_for_a_host(server, clients):
    """A participant naming themselves like a host (or a staff title) is refused."""
    for name in ("alice", "Alice (host)", "moderator"):
        c = await clients.connect(server)
        await c.send(type="hello", name=name)
        assert (await c.expect("error"))["code"] == "bad_request"
    host = await clients.host(server, "alice")
    assert host.welcome["name"] == "alice"
