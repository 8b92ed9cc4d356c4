"""The hub in-process: memory backend, a real SQLite audit log in tmp_path, connections whose
socket is a recorder. Fast checks of the paths every server test also takes end to end."""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import redis

from chatserver import rooms_state
from chatserver.audit import AuditLog
from chatserver.auth import HostDirectory, add_host
from chatserver.brokers import open_backend
from chatserver.connection import Connection
from chatserver.errors import BadRequest
from chatserver.filters.base import Filter, MessageContext, Verdict
from chatserver.hub import Hub
from chatserver.metrics import Metrics
from chatserver.rooms import load_rooms
from chatserver.shared_hosts import host_source
from tests.fault_fixtures import until

ROOMS = """
resources:
  crisis: [{name: "Listening line", phone: "116 123"}]
rooms:
  - id: lobby
    title: Lobby
    topic: Anything.
    hosts: [alice]
    filters: []
  - id: watched
    title: Watched
    topic: The crisis path.
    hosts: [alice]
    backup_hosts: [bob]
    resources: [crisis]
    filters:
      - filter: tests.test_hub:ImminentWhenAsked
"""


class ImminentWhenAsked(Filter):
    """A stand-in for the crisis filter: "on the bridge now" is imminent, held, urgent."""

    name: ClassVar[str] = "crisis"
    runs_after_reject: ClassVar[bool] = True

    def check(self, ctx: MessageContext) -> Verdict | None:
        if "on the bridge now" in ctx.text:
            return Verdict(
                "hold",
                "crisis",
                "may be in immediate danger",
                urgent=True,
                resources="crisis",
                level="imminent",
            )
        return None


def _decode(data: bytes) -> list[dict[str, Any]]:
    """Unmasked server text frames (one write may carry several) back to their JSON objects."""
    found, pos = [], 0
    while pos < len(data):
        n, offset = data[pos + 1] & 0x7F, pos + 2
        if n == 126:
            n, offset = struct.unpack("!H", data[pos + 2 : pos + 4])[0], pos + 4
        elif n == 127:
            n, offset = struct.unpack("!Q", data[pos + 2 : pos + 10])[0], pos + 10
        found.append(orjson.loads(data[offset : offset + n]))
        pos = offset + n
    return found


class Recorder:
    """Stands in for a connection's socket: keeps every frame the hub writes to it."""

    max_buffer = 512 * 1024
    buffered = 0

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed = False
        self.in_flight = 0

    def write(self, data: bytes) -> bool:
        self.frames += _decode(data)
        return True

    def abort(self, code: int, reason: str) -> None:
        self.closed = True

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind and all(f.get(k) == v for k, v in match.items())]


@contextlib.asynccontextmanager
async def running_hub(
    tmp_path: Path, rooms: str, hosts: tuple[str, ...], url: str = "memory://"
) -> AsyncIterator[Hub]:
    """A started hub on the memory backend (or `url`'s) and a real SQLite file; `hub.tokens` has each
    host's token."""
    (tmp_path / "rooms.yaml").write_text(rooms)
    db = tmp_path / "chat.db"
    audit = await AuditLog.open(db)
    directory = await HostDirectory.open(db)
    backend = open_backend(url, worker_id="w1")
    started = Hub(
        rooms=load_rooms(tmp_path / "rooms.yaml"),
        broker=backend.broker,
        store=backend.store,
        audit=audit,
        hosts=directory,
        metrics=Metrics(),
        worker_id="w1",
    )
    started.tokens = {name: add_host(db, name) for name in hosts}  # type: ignore[attr-defined]
    await started.start()
    try:
        yield started
    finally:
        await started.stop()
        await audit.flush()
        await audit.close()
        await directory.close()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path, ROOMS, ("alice", "bob")) as started:
        yield started


async def person(hub: Hub, name: str, *rooms: str, token: str | None = None) -> tuple[Connection, Recorder]:
    raw = Recorder()
    conn = Connection(raw)  # type: ignore[arg-type]
    hub.attach(conn)
    hello: dict[str, Any] = {"type": "hello", "name": name}
    if token:
        hello["token"] = token
    await hub.hello(conn, hello)
    for room in rooms:
        await hub.handle(conn, orjson.dumps({"type": "join", "room": room}))
        assert raw.of("joined", room=room), raw.frames
    return conn, raw


async def test_a_message_reaches_every_member_once_numbered_and_the_sender_is_acked(hub):
    """Two members: both get the message with seq 1, the sender an ack published."""
    conn, sam = await person(hub, "sam", "lobby")
    _, kim = await person(hub, "kim", "lobby")
    await hub.handle(conn, b'{"type":"send","room":"lobby","text":"hi","client_id":"c1"}')
    ack = (await until(lambda: sam.of("ack", client_id="c1"), 5.0, "ack"))[0]
    assert ack["status"] == "published"
    for raw in (sam, kim):
        (message,) = raw.of("message", id=ack["id"])
        assert message["seq"] == 1 and message["text"] == "hi"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", message["ts"]), message["ts"]


async def test_an_imminent_message_alerts_backup_hosts_and_admins_at_once(hub):
    """bob is only a backup host and not in the room: he is told at once, with no countdown."""
    conn, sam = await person(hub, "sam", "watched")
    _, alice = await person(hub, "alice", "watched", token=hub.tokens["alice"])
    _, bob = await person(hub, "bob", token=hub.tokens["bob"])
    await hub.handle(
        conn, b'{"type":"send","room":"watched","text":"I am on the bridge now","client_id":"c1"}'
    )
    assert sam.of("resources", room="watched"), "help first"
    for raw in (alice, bob):
        (alert,) = raw.of("notice", code="crisis")
        assert alert["risk"] == "imminent" and alert["level"] == "urgent"
    held = await until(lambda: alice.of("held"), 5.0, "held item")
    assert held[0]["risk"] == "imminent"
    assert not sam.of("message")


async def test_a_participant_cannot_use_host_powers(hub):
    """A lock from a participant is refused as forbidden, and the room stays open."""
    conn, kim = await person(hub, "kim", "lobby")
    await hub.handle(conn, b'{"type":"lock","room":"lobby","locked":true}')
    assert kim.of("error", code="forbidden")
    assert hub.rooms["lobby"].locked is False


async def test_a_hello_is_judged_by_the_hosts_as_they_were_when_it_began(hub, tmp_path, monkeypatch):
    """A host list refresh landing while erin's token is looked up (it missed: her row was not yet
    here) does not refuse her name as a host's: she is welcomed as a participant, then as admin.
    CI met this race between two machines sharing hosts (tests/test_shared_hosts.py)."""
    token = add_host(tmp_path / "chat.db", "erin", admin=True)
    looked_up = hub.signin.hosts.authenticate

    async def missed_while_a_refresh_lands(offered: str | None):
        await hub.signin.refresh(host_source(None, tmp_path / "chat.db"))
        return None

    monkeypatch.setattr(hub.signin.hosts, "authenticate", missed_while_a_refresh_lands)
    _, early = await person(hub, "erin", token=token)
    assert early.of("welcome", role="participant"), early.frames
    monkeypatch.setattr(hub.signin.hosts, "authenticate", looked_up)
    _, later = await person(hub, "erin", token=token)
    assert later.of("welcome", role="admin"), later.frames
    with pytest.raises(BadRequest, match="mistaken for a host"):
        await person(hub, "Erin")


async def test_join_since_from_storage_leaves_a_committed_message_to_its_live_delivery(tmp_path, monkeypatch):
    """A message's row is committed before it is published: a rejoin that reads storage (its `since`
    older than the live log) must not replay a row this worker has not delivered yet, or the joiner
    gets it twice (replayed, then live). Seen in the reconnect storm (`make bench`, issue 17).

    The live log keeps what the room shows as history (as after a restart, when the broker's recent
    messages are all there is); 80 messages are out; row 81 is on disk, its publish still on the way
    (as another worker commits before it publishes). Rejoining after seq 15 replays 16..80 only.
    """
    monkeypatch.setattr(rooms_state, "LOG_KEEP", 10)
    async with running_hub(tmp_path, ROOMS, ("alice", "bob")) as hub:
        await _rejoin_while_a_row_waits_for_its_publish(hub)


async def _rejoin_while_a_row_waits_for_its_publish(hub: Hub) -> None:
    conn, sam = await person(hub, "sam", "lobby")
    for n in range(1, 81):
        hub.sending.send(conn, {"type": "send", "room": "lobby", "text": f"m{n}", "client_id": n})
    acks = await until(lambda: len(sam.of("ack")) == 80 and sam.of("ack"), 5.0, "every ack")
    since = next(a["id"] for a in acks if a["client_id"] == 15)
    room = hub.rooms["lobby"]
    assert room.last_seq == 80 and room.after(15) is None  # storage, not the live log, holds 16..
    await hub.audit.append_and_wait(
        "published",
        room="lobby",
        actor_session="s-other",
        actor_name="kim",
        message_id="m-81",
        text="m81",
        seq=81,
    )
    _, ben = await person(hub, "ben")
    await hub.handle(_, orjson.dumps({"type": "join", "room": "lobby", "since": since}))
    await until(lambda: ben.of("joined", room="lobby"), 5.0, "joined")
    pages = [
        f.get("history", f.get("messages", [])) for f in ben.frames if f["type"] in ("joined", "history")
    ]
    got = [m["seq"] for page in pages for m in page]
    assert got == list(range(16, 81)), str(got)


async def test_join_since_just_past_the_live_log_replays_the_stored_page_too(hub):
    """`since` a little older than the room's live log: the page read from storage is not dropped.

    1,100 messages; the live log keeps the last 1,000 (seq 101 on). Rejoining after seq 50 reads
    51..250 from the audit log, which reaches into the live log: the joiner gets 51..1100, each once.
    """
    conn, sam = await person(hub, "sam", "lobby")
    for n in range(1, 1101):  # past the frame-rate limit of one socket: the pipeline itself
        hub.sending.send(conn, {"type": "send", "room": "lobby", "text": f"m{n}", "client_id": n})
    acks = await until(lambda: len(sam.of("ack")) == 1100 and sam.of("ack"), 5.0, "every ack")
    since = next(a["id"] for a in acks if a["client_id"] == 50)
    await hub.audit.flush()
    _, ben = await person(hub, "ben")
    await hub.handle(_, orjson.dumps({"type": "join", "room": "lobby", "since": since}))
    await until(lambda: ben.of("joined", room="lobby"), 5.0, "joined")
    pages = [
        f.get("history", f.get("messages", [])) for f in ben.frames if f["type"] in ("joined", "history")
    ]
    got = [m["seq"] for page in pages for m in page]
    assert got == list(range(51, 1101))


async def test_join_since_a_message_of_another_room_gets_plain_history(hub):
    """`since` names the last message seen in the room joined: an id from another room (a client
    that kept one "last seen" for every room) is not taken as a place in this room's numbering, which
    would replay only part of it and leave the rest out without a word; the joiner gets plain history."""
    conn, sam = await person(hub, "sam", "lobby", "watched")
    for n in range(1, 6):
        hub.sending.send(conn, {"type": "send", "room": "lobby", "text": f"lobby {n}", "client_id": n})
    for n in range(6, 9):
        hub.sending.send(conn, {"type": "send", "room": "watched", "text": f"watched {n}", "client_id": n})
    acks = await until(lambda: len(sam.of("ack")) == 8 and sam.of("ack"), 5.0, "every ack")
    elsewhere = next(a["id"] for a in acks if a["client_id"] == 7)  # seq 2 of watched
    await hub.audit.flush()
    _, ben = await person(hub, "ben")
    await hub.handle(_, orjson.dumps({"type": "join", "room": "lobby", "since": elsewhere}))
    (joined,) = await until(lambda: ben.of("joined", room="lobby"), 5.0, "joined")
    assert [m["text"] for m in joined["history"]] == [f"lobby {n}" for n in range(1, 6)]


GARDEN = """
  - id: garden
    title: Garden
    topic: A room a reload brings back.
    filters: []
"""


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_a_room_a_reload_brings_back_goes_on_numbering_and_replays_its_history(
    tmp_path, request, backend
):
    """A room that had messages in an earlier run, left out of rooms.yaml at start and added back by
    a reload: its numbering goes on from the audit log (no second seq 1) and a rejoin with `since`
    gets what came after, as for a room that was there from the start. With Redis, the Redis of the
    second run has lost everything (restarted without persistence): the audit log is all there is."""
    url = request.getfixturevalue("redis_server").url if backend == "redis" else "memory://"
    async with running_hub(tmp_path, ROOMS + GARDEN, (), url) as hub:
        conn, sam = await person(hub, "sam", "garden")
        for n in range(1, 4):
            hub.sending.send(conn, {"type": "send", "room": "garden", "text": f"m{n}", "client_id": n})
        acks = await until(lambda: len(sam.of("ack")) == 3 and sam.of("ack"), 5.0, "every ack")
    first = next(a["id"] for a in acks if a["client_id"] == 1)
    if backend == "redis":
        redis.Redis.from_url(url).flushall()
    async with running_hub(tmp_path, ROOMS, (), url) as hub:
        assert "garden" not in hub.rooms
        (tmp_path / "rooms.yaml").write_text(ROOMS + GARDEN)
        changes = await hub.apply_rooms(load_rooms(tmp_path / "rooms.yaml"))
        assert changes["added"] == ["garden"]
        _, ben = await person(hub, "ben")
        await hub.handle(_, orjson.dumps({"type": "join", "room": "garden", "since": first}))
        await until(lambda: ben.of("joined", room="garden"), 5.0, "joined")
        pages = [
            f.get("history", f.get("messages", [])) for f in ben.frames if f["type"] in ("joined", "history")
        ]
        assert [m["text"] for page in pages for m in page] == ["m2", "m3"]
        conn, kim = await person(hub, "kim", "garden")
        hub.sending.send(conn, {"type": "send", "room": "garden", "text": "m4", "client_id": 4})
        (ack,) = await until(lambda: kim.of("ack", client_id=4), 5.0, "ack")
        (message,) = await until(lambda: kim.of("message", id=ack["id"]), 5.0, "message")
        assert message["seq"] == 4


async def test_a_worker_alone_keeps_presence_to_itself_and_answers_a_newcomer_at_once(hub, monkeypatch):
    """Alone, a join is shown here and not published (nobody would read it); a worker heard for the
    first time gets this worker's counts in a heartbeat at once, and from then on changes go out."""
    published: list[dict[str, Any]] = []
    publish = hub.broker.publish_event
    monkeypatch.setattr(hub.broker, "publish_event", lambda env: (published.append(env), publish(env)))
    _, sam = await person(hub, "sam", "lobby")
    await person(hub, "kim", "lobby")
    await until(lambda: sam.of("presence", joined="kim", members=2), 5.0, "kim's presence")
    assert [e for e in published if e["kind"] == "presence"] == []
    beat = {"kind": "heartbeat", "origin": "w2", "counts": {"lobby": 1}, "hosts": {}, "staff": {}}
    hub.on_event(beat)
    (answer,) = [e for e in published if e["kind"] == "heartbeat"]
    assert answer["origin"] == "w1" and answer["counts"] == {"lobby": 2}
    hub.on_event(beat)  # a worker already known is not answered again
    assert len([e for e in published if e["kind"] == "heartbeat"]) == 1
    await person(hub, "lee", "lobby")
    assert [e for e in published if e["kind"] == "presence" and e.get("joined") == "lee"]


WAITING_ROOM = """
rooms:
  - id: careful
    title: Careful
    topic: Premoderated without a host.
    hosts: [alice]
    when_unhosted: premoderate
    unhosted_grace: 0
    filters: []
"""


async def test_a_room_waiting_for_a_host_opens_the_moment_one_comes(tmp_path):
    """The mode is checked once a second; a host's arrival does not wait for the check: when the
    host's join returns, everyone in the room has read "A host is here now", the host's presence
    before it, and what a newcomer right after posts is published, not held for a host."""
    async with running_hub(tmp_path, WAITING_ROOM, ("alice",)) as hub:
        hub.hosting.refresh()
        assert hub.rooms["careful"].mode == "premoderate"
        _, kim = await person(hub, "kim", "careful")
        await person(hub, "alice", "careful", token=hub.tokens["alice"])
        assert kim.of("notice", code="mode", mode="open"), kim.frames
        kinds = [(f["type"], f.get("joined") or f.get("code")) for f in kim.frames]
        assert kinds.index(("presence", "alice")) < kinds.index(("notice", "mode"))
        lee_conn, lee = await person(hub, "lee", "careful")
        await hub.handle(lee_conn, b'{"type":"send","room":"careful","text":"hello all","client_id":"l1"}')
        ack = (await until(lambda: lee.of("ack", client_id="l1"), 5.0, "ack"))[0]
        assert ack["status"] == "published", ack


def test_a_room_knows_which_names_its_members_use():
    """The room's index of names: casefolded, one person in two tabs counted once, a name held until its
    session's last connection here has gone."""
    from chatserver.rooms import load_rooms
    from chatserver.rooms_state import RoomState
    from tests.conftest import TESTS

    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])

    def member(name: str, session: str) -> Connection:
        conn = Connection(Recorder())  # type: ignore[arg-type]
        conn.name, conn.session = name, session
        return conn

    ana_tab1, ana_tab2, strasse = member("Ana", "s1"), member("Ana", "s1"), member("STRASSE", "s2")
    for conn in (ana_tab1, ana_tab2, strasse):
        room.add(conn)
    assert room.name_used("ana", by_other_than="s2") and not room.name_used("ANA", by_other_than="s1")
    assert room.name_used("Straße", by_other_than="s1"), "casefolded: ß is ss"
    assert not room.discard(ana_tab1), "Ana is still here in her other tab"
    assert room.name_used("ana", by_other_than="s9")
    assert room.discard(ana_tab2), "her last connection: the name may go"
    assert not room.name_used("ana", by_other_than="s9")
    assert not room.discard(ana_tab2), "not a member any more"
    assert list(room.members) == [strasse]
    room.clear_members()
    assert not room.members and not room.name_used("strasse", by_other_than="s1")


def test_a_room_keeps_its_hosts_and_admins_apart_while_they_are_members():
    """Who is hosting is asked on every join and every message: the room keeps its members who signed
    in as hosts or admins apart (in join order), so a room of 200 participants is not walked for it."""
    from chatserver.rooms import load_rooms
    from chatserver.rooms_state import RoomState
    from tests.conftest import TESTS

    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])

    def member(name: str, role: str = "participant") -> Connection:
        conn = Connection(Recorder())  # type: ignore[arg-type]
        conn.name, conn.session, conn.role = name, f"s-{name}", role
        return conn

    people = [member(f"p{i}") for i in range(50)]
    host, admin = member("Hana", "host"), member("Root", "admin")
    for conn in (*people[:25], host, *people[25:], admin):
        room.add(conn)
    assert list(room.staff) == [host, admin]
    room.discard(people[0])
    room.discard(host)
    assert list(room.staff) == [admin], "a host who left is not hosting here"
    room.clear_members()
    assert not room.staff


async def test_a_name_comes_free_when_its_persons_last_connection_in_the_room_goes(hub):
    """Sam in two tabs holds the name until both have gone; then someone else may take it."""
    tab1, sam = await person(hub, "Sam", "lobby")
    (welcome,) = sam.of("welcome")
    tab2 = Connection(Recorder())  # type: ignore[arg-type]
    hub.attach(tab2)
    await hub.hello(tab2, {"type": "hello", "name": "Sam", "resume": welcome["resume_token"]})
    assert tab2.session == tab1.session
    await hub.handle(tab2, orjson.dumps({"type": "join", "room": "lobby"}))
    kim, kim_raw = await person(hub, "SAM")

    async def kim_joins() -> dict[str, Any]:
        kim_raw.frames.clear()
        await hub.handle(kim, orjson.dumps({"type": "join", "room": "lobby"}))
        return (kim_raw.of("joined") or kim_raw.of("error"))[0]

    assert (await kim_joins())["code"] == "name_taken"
    await hub.detach(tab1)
    assert (await kim_joins())["code"] == "name_taken", "Sam is still here in the other tab"
    await hub.detach(tab2)
    assert (await kim_joins())["type"] == "joined"
