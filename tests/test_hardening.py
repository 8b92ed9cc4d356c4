"""Issue 12, hardening: defects found by trying the product as hosts, participants and operators would.

Each test is named after the behaviour it protects and ran red on the code before its fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.fault_fixtures import until
from tests.support import add_host

CRISIS = "I want to die tonight"


def rows(server, kind: str, **match) -> list[dict]:
    """Audit rows of `kind` whose fields match."""
    return [r for r in server.export("--kind", kind) if all(r.get(k) == v for k, v in match.items())]


async def _crisis_is_heard(sender, host, room: str, code: str) -> dict:
    """Send a crisis message that a sanction refuses: the refusal stands, help and the alert still go out."""
    await sender.send(type="send", room=room, text=CRISIS, client_id="sos-" + code)
    refusal = await sender.expect("error", ref="sos-" + code)
    assert refusal["code"] == code
    resources = await sender.expect("resources", room=room)
    assert "Emergency services" in str(resources["items"])
    alert = await host.expect("notice", code="crisis", session=sender.session)
    assert alert["level"] == "urgent"
    return alert


# ---- 1. crisis help that no sanction can block ----------------------------------------------------
async def test_a_muted_person_in_crisis_still_gets_help_and_the_hosts_are_alerted(server, clients):
    """Muted: the send stays refused, but resources, the host alert and the audit row all happen."""
    sam = await clients.user(server, "sam", ("safe",))
    alice = await clients.host(server, "alice", ("safe",))
    await alice.send(type="mute", room="safe", session=sam.session, minutes=5)
    await sam.expect("notice", code="muted")
    await _crisis_is_heard(sam, alice, "safe", "muted")
    await alice.expect_none("held", within=0.3)
    server.stop()
    (row,) = [r for r in rows(server, "rejected") if r["actor"]["session"] == sam.session]
    assert row["text"] == CRISIS and row["detail"]["by"] == "muted"
    assert "crisis" in row["detail"]["reasons"] and row["detail"]["urgent"] is True


async def test_a_locked_room_and_slow_mode_never_hide_a_crisis(server, clients):
    """Locked room, then slow mode: each refusal still sends help and alerts the hosts."""
    sam = await clients.user(server, "sam", ("safe",))
    alice = await clients.host(server, "alice", ("safe",))
    await alice.send(type="lock", room="safe", locked=True)
    await sam.expect("notice", code="locked")
    await _crisis_is_heard(sam, alice, "safe", "locked")
    await alice.send(type="lock", room="safe", locked=False)
    await alice.send(type="slowmode", room="safe", seconds=600)
    await sam.expect("notice", code="slowmode")
    first = await sam.post("safe", "hello everyone")
    assert first["status"] == "published"
    await _crisis_is_heard(sam, alice, "safe", "rate_limited")


async def test_a_banned_person_in_crisis_is_still_helped(server, clients):
    """Banned (and so removed from the room): a crisis send to that room still reaches its hosts."""
    sam = await clients.user(server, "sam", ("safe",))
    alice = await clients.host(server, "alice", ("safe",))
    await alice.send(type="ban", room="safe", session=sam.session, reason="test")
    await sam.expect("notice", code="removed")
    await _crisis_is_heard(sam, alice, "safe", "not_joined")


# ---- 4. every host power is per room -----------------------------------------------------------
async def test_a_host_of_one_room_cannot_delete_in_another_by_naming_their_own(server, clients):
    """Delete names the host's own room but another room's message: refused, the message stays."""
    kim = await clients.user(server, "kim", ("short", "lobby"))
    bob = await clients.host(server, "bob", ("lobby", "short"))  # bob hosts lobby, not short
    ack = await kim.post("short", "a message in short")
    assert ack["status"] == "published"
    await bob.send(type="delete", room="lobby", message_id=ack["id"])
    error = await bob.expect("error")
    assert error["code"] in ("forbidden", "bad_request")
    await kim.expect_none("deleted", within=0.5)
    late = await clients.user(server, "lee", ("short",))
    assert ack["id"] in [m["id"] for m in late.joined["short"]["history"]]


async def test_a_host_of_another_room_posts_here_as_a_participant(server, clients):
    """bob hosts lobby but not limited: there his messages are filtered and carry no host badge."""
    kim = await clients.user(server, "kim", ("short",))
    bob = await clients.host(server, "bob", ("short",))
    ack = await bob.post("short", "x" * 41)  # short's max_length is 40: still applies
    assert ack["status"] == "rejected"
    ok = await bob.post("short", "hi from bob")
    message = await kim.expect("message", id=ok["id"])
    assert message["from"]["role"] == "participant"


async def test_a_host_of_another_room_is_held_like_anyone(server, clients):
    """In a premoderated room bob does not host, bob's message waits for a host."""
    bob = await clients.host(server, "bob", ("newbies",))
    ack = await bob.post("newbies", "hello, first time here")
    assert ack["status"] == "held"


# ---- 2. powers follow the credential a connection signed in with --------------------------------
async def test_a_reissued_token_ends_the_old_tokens_connection(server, clients):
    """`hosts add alice` again (a lost token replaced): the connection on the old token is closed."""
    alice = await clients.host(server, "alice", ("lobby",))
    add_host(server.db_path, "alice")
    await asyncio.wait_for(alice.closed.wait(), 15)
    assert alice.close_code == 1008


async def test_an_admin_demoted_to_host_loses_admin_powers(server, clients):
    """Re-adding root without --admin ends the admin connection (it signs in again as what it is now)."""
    root = await clients.host(server, "root", ("lobby",))
    assert root.welcome["role"] == "admin"
    token = add_host(server.db_path, "root")
    await asyncio.wait_for(root.closed.wait(), 15)
    again = await clients.user(server, "root", token=token)
    assert again.welcome["role"] == "host"


# ---- 7. frames before hello are throttled; only a welcome stores an identity -------------------
async def test_frames_before_hello_are_throttled(server, clients):
    """Frames before hello spend the same bucket as any: past the burst they are refused
    rate_limited, and a connection that keeps flooding is closed."""
    c = await clients.connect(server)
    for _ in range(80):  # the burst is 60 frames: 20 over it, well below the flood limit
        await c.send(type="join", room="lobby")
    await until(lambda: len([f for f in c.frames if f.get("type") == "error"]) >= 80, 10, "80 answers")
    codes = [f["code"] for f in c.frames if f.get("type") == "error"]
    assert codes.count("rate_limited") >= 15 and codes.count("bad_request") >= 55
    with contextlib.suppress(ConnectionClosed):  # closed mid-burst: that is the point
        for _ in range(400):
            await c.send(type="join", room="lobby")
    await asyncio.wait_for(c.closed.wait(), 10)


@pytest.mark.redis
async def test_a_refused_hello_stores_no_identity(make_server, redis_server, clients):
    """A hello refused for its name leaves nothing in the shared store; a welcome leaves one record."""
    import redis as redis_lib

    server = make_server(redis=redis_server.url)
    r = redis_lib.Redis.from_url(redis_server.url)
    before = len(r.keys("chatserver:identity:*"))
    c = await clients.connect(server)
    for _ in range(5):
        await c.send(type="hello", name="alice")  # a host's name: refused
        error = await c.expect("error")
        assert error["code"] == "bad_request"
    assert len(r.keys("chatserver:identity:*")) == before
    await c.hello("sam")
    assert len(r.keys("chatserver:identity:*")) == before + 1
    assert json.loads(r.get(r.keys("chatserver:identity:*")[0]))["session"] == c.session


# ---- 3. nothing deleted comes back ---------------------------------------------------------------
@pytest.mark.redis
async def test_release_then_delete_at_once_never_returns_after_a_restart(make_server, redis_server, clients):
    """Release and delete pressed back to back (Redis): after a restart a newcomer's history lacks it."""
    server = make_server(redis=redis_server.url)
    alice = await clients.host(server, "alice", ("moderated",))
    sam = await clients.user(server, "sam", ("moderated",))
    gone = []
    for i in range(5):  # the race is a matter of milliseconds: try it a few times
        text = f"please delete me {i}"
        ack = await sam.post("moderated", text)
        assert ack["status"] == "held"
        await alice.expect("held", id=ack["id"])
        await alice.send(type="release", room="moderated", message_id=ack["id"])
        await alice.send(type="delete", room="moderated", message_id=ack["id"])
        await alice.expect(None, type=lambda t: t in ("deleted", "error"), id=ack["id"], timeout=5)
        gone.append((ack["id"], text))
    server.stop()
    server.start()
    lee = await clients.user(server, "lee", ("moderated",))
    history = lee.joined["moderated"]["history"]
    shown = {m["id"] for m in history} | {m["text"] for m in history}
    for message_id, text in gone:
        assert message_id not in shown and text not in shown, f"{text!r} came back"
    # ...and a replay from the start does not bring them back either.
    replay = await clients.user(server, "max")
    await replay.send(type="join", room="moderated", accept_guidelines=True, since="m0")
    joined = await replay.expect("joined", room="moderated")
    assert not {m["text"] for m in joined["history"]} & {t for _, t in gone}


# ---- 8. a release that fails goes back to the queue ------------------------------------------------
async def test_a_release_whose_audit_commit_fails_goes_back_to_the_queue(server, clients):
    """The audit log refuses the release's row (a trigger stands in for a full disk): the host hears it,
    the message waits in the queue again, unseen, and a later release publishes it."""
    import sqlite3

    alice = await clients.host(server, "alice", ("moderated",))
    sam = await clients.user(server, "sam", ("moderated",))
    kim = await clients.user(server, "kim", ("moderated",))
    ack = await sam.post("moderated", "waiting for a host")
    await alice.expect("held", id=ack["id"])
    with sqlite3.connect(server.db_path, isolation_level=None) as db:
        db.execute(
            "CREATE TRIGGER refuse_release BEFORE INSERT ON audit WHEN NEW.kind = 'released'"
            " BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
    try:
        await alice.send(type="release", room="moderated", message_id=ack["id"])
        error = await alice.expect("error", message_id=ack["id"], timeout=10)
        assert error["code"] == "unavailable" and "back in the queue" in error["message"]
    finally:
        with sqlite3.connect(server.db_path, isolation_level=None) as db:
            db.execute("DROP TRIGGER refuse_release")
    await kim.expect_none("message", within=0.3, id=ack["id"])
    bob = await clients.host(server, "bob", ("moderated",))
    assert ack["id"] in [h["id"] for h in bob.joined["moderated"]["held"]]
    await alice.send(type="release", room="moderated", message_id=ack["id"])
    await kim.expect("message", id=ack["id"], timeout=10)
    await sam.expect("resolved", id=ack["id"], action="released")


# ---- 9. a worker that missed events catches up --------------------------------------------------
@pytest.mark.redis
@pytest.mark.faults
async def test_a_worker_that_missed_events_catches_up_with_sanctions_locks_and_deletions(
    make_server, redis_server, clients
):
    """Worker two's Redis link is cut while a host on worker one mutes ben, locks the room and
    deletes a message: once the link is back, worker two applies all three."""
    from tests.proxy import TcpProxy

    proxy = TcpProxy(redis_server.port).start()
    try:
        one = make_server(redis=redis_server.url)
        two = make_server(redis=proxy.url, share=one)
        alice = await clients.host(one, "alice", ("lobby",))
        ann = await clients.user(one, "ann", ("lobby",))
        ben = await clients.user(two, "ben", ("lobby",))
        doomed = await ann.post("lobby", "a message that will be deleted")
        await ben.expect("message", id=doomed["id"])
        proxy.blackhole()
        await alice.send(type="mute", room="lobby", session=ben.session, minutes=30)
        await alice.expect("notice", code="done")
        await alice.send(type="lock", room="lobby", locked=True)
        await ann.expect("notice", code="locked")
        await alice.send(type="delete", room="lobby", message_id=doomed["id"])
        await ann.expect("deleted", id=doomed["id"])
        proxy.heal()
        await ben.expect("notice", code="muted", timeout=20)
        await ben.expect("notice", code="locked", timeout=5)
        await ben.expect("deleted", id=doomed["id"], timeout=5)
        refused = await ben.post("lobby", "am I still heard?")
        assert refused.get("code") == "muted", refused
    finally:
        proxy.stop()


def test_what_a_worker_missed_becomes_the_events_it_would_have_had():
    """resync._missed: a new mute, a lifted ban, a lock and a deletion; an expired mute is no lift."""
    import time as time_mod

    from chatserver.resync import _missed
    from chatserver.rooms import load_rooms
    from chatserver.rooms_state import RoomState
    from tests.conftest import TESTS

    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])
    later = time_mod.time() + 600
    room.bans = {"s-banned": 0}
    room.mutes = {"s-expired": time_mod.time() - 5}
    events = _missed(room, {"ban": {}, "mute": {"s-muted": later}}, {"locked": True}, ["m2", "m1"])
    kinds = [(e["kind"], e.get("what") or e.get("flag") or e.get("id"), e.get("until")) for e in events]
    assert ("sanction", "mute", later) in kinds
    assert ("sanction", "ban", 0) in kinds
    assert ("flag", "locked", None) in kinds
    assert [e["id"] for e in events if e["kind"] == "deleted"] == ["m1", "m2"]
    assert not [e for e in events if e.get("session") == "s-expired"]


def test_retention_drops_old_messages_from_a_workers_room_log():
    """RoomState.drop_older_than keeps only messages at or after the cut-off, index included."""
    from chatserver.rooms import load_rooms
    from chatserver.rooms_state import RoomState
    from tests.conftest import TESTS

    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])
    for seq, ts in enumerate(("2020-01-01T00:00:00.000Z", "2030-01-01T00:00:00.000Z"), start=1):
        room.remember(seq, f"m{seq}", json.dumps({"id": f"m{seq}", "ts": ts}).encode())
    room.drop_older_than("2021-01-01T00:00:00.000Z")
    assert [m for _, m, _ in room.log] == ["m2"] and set(room.index) == {"m2"}


def test_a_room_log_takes_each_message_once_in_seq_order():
    """A worker hears its rooms before it loads their past: `seed` merges the two, once each, by seq, up
    to where live delivery goes on; a message handed over again is neither kept nor shown twice."""
    from chatserver.rooms import load_rooms
    from chatserver.rooms_state import RoomState
    from tests.conftest import TESTS

    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])
    assert room.remember(3, "m3", b"{}")  # live, before the past was loaded
    room.seed([(1, "m1", b"{}"), (2, "m2", b"{}"), (3, "m3", b"{}"), (4, "m4", b"{}")], upto=3)
    assert [m for _, m, _ in room.log] == ["m1", "m2", "m3"] and room.last_seq == 3
    assert not room.remember(3, "m3", b"{}"), "handed over twice: shown twice"
    assert room.remember(4, "m4", b"{}"), "past `upto`, it comes live"
    assert [m for _, m, _ in room.log] == ["m1", "m2", "m3", "m4"] and room.index["m4"] == 4


async def test_a_join_can_wait_for_the_room_to_reach_what_the_joiner_has_seen():
    """`reached` returns once the worker has been handed the seq (True), or after its timeout (False)."""
    from chatserver.rooms import load_rooms
    from chatserver.rooms_state import RoomState
    from tests.conftest import TESTS

    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])
    room.seed([(1, "m1", b"{}")], upto=1)
    assert await room.reached(1, 0.0), "already there: no wait"
    waiting = asyncio.create_task(room.reached(3, 30))
    await asyncio.sleep(0)
    room.remember(2, "m2", b"{}")
    await asyncio.sleep(0)
    assert not waiting.done(), "seq 2 is not yet 3"
    room.remember(3, "m3", b"{}")
    assert await asyncio.wait_for(waiting, 5) is True
    assert await room.reached(9, 0.01) is False, "never handed: the join goes on after its timeout"


# ---- also seen: a long `since` replay comes in pages -----------------------------------------------
@pytest.mark.slow
async def test_a_long_absence_is_replayed_in_pages_with_no_gap_and_nothing_twice(make_server, clients):
    """1,300 messages missed: joined carries a first page, `history` frames the rest, then live ones."""
    server = make_server(extra=("--max-frames-per-second", "5000"))
    ann = await clients.user(server, "ann", ("lobby",))
    first = await ann.post("lobby", "the last one ben saw")
    ids = []
    for batch in range(13):
        for i in range(100):
            await ann.send(type="send", room="lobby", text=f"m {batch * 100 + i}", client_id=f"c{batch}-{i}")
        for i in range(100):
            ids.append((await ann._answer_for(f"c{batch}-{i}"))["id"])
    ben = await clients.user(server, "ben")
    await ben.send(type="join", room="lobby", accept_guidelines=True, since=first["id"])
    joined = await ben.expect("joined", room="lobby")
    assert joined.get("more") is True and len(joined["history"]) <= 200
    got = [m["id"] for m in joined["history"]]
    while True:
        page = await ben.expect("history", room="lobby", timeout=10)
        assert len(page["messages"]) <= 200
        got += [m["id"] for m in page["messages"]]
        if not page["more"]:
            break
    live = await ann.post("lobby", "and now live")
    await ben.expect("message", id=live["id"])
    assert got == ids, "every missed message once, in order"


async def test_host_names_are_reserved_before_the_worker_takes_a_hello(tmp_path):
    """The hosts are read before the worker is up, not by a task that may run after the first hello:
    a newcomer right after a start (a reconnect storm) cannot take a host's name."""
    from chatserver.app import create_app
    from chatserver.settings import Settings
    from tests.support import add_host

    db = tmp_path / "chat.db"
    add_host(db, "alice")
    app: Any = create_app(Settings(db=db))
    while not hasattr(app, "router"):
        app = app.app
    async with app.router.lifespan_context(app):
        assert "alice" in app.state.chat.hub.signin.host_names  # nothing awaited since start-up
