"""Proportionate moderation (issue 16) against real servers: warnings, strikes and the ladder, kind
refusals, bulk actions, the person card, shield mode, join bursts and ban evasion; two workers on a
real redis-server wherever the state must cross workers."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from types import SimpleNamespace

import pytest
import redis
from websockets.asyncio.client import connect

from chatserver.moderation import shield
from chatserver.resync import RESYNC_S
from chatserver.rooms import load_rooms
from chatserver.rooms_state import RoomState
from chatserver.store import MemoryStore
from tests.conftest import TESTS
from tests.support import Client

ROOMS = """
defaults:
  history: 50
resources:
  crisis:
    - {name: "Emergency services", phone: "112 / 911 / 999"}
rooms:
  - id: care
    title: Care
    topic: Warnings, the ladder, kind refusals.
    hosts: [alice, bob]
    rules: ["Be kind.", "No advice about medication doses."]
    ladder: [warn, mute 10m, ban]
    reasons:
      - "It wasn't shared so that everyone can feel safe."
      - "Please keep details of methods out of the room."
    resources: [crisis]
    filters:
      - links: {action: hold, allow: [example.org]}
    join_burst: off
  - id: brief
    title: Brief
    topic: Strikes that expire after a second.
    hosts: [alice]
    rules: ["Be kind."]
    strike_expiry: 1
    ladder: [warn, mute 5m]
    filters: []
    join_burst: off
  - id: raid
    title: Raid
    topic: Shield mode and join bursts.
    hosts: [alice, bob]
    filters: []
    shield: {slowmode: 15, premoderate: new_members, premoderate_count: 1, hold_links: true}
    join_burst: {joins: 3, per_seconds: 60, action: alert}
  - id: storm
    title: Storm
    topic: A join burst turns shield mode on by itself.
    hosts: [alice]
    filters: []
    join_burst: {joins: 2, per_seconds: 60, action: shield}
  - id: door
    title: Door
    topic: Ban evasion.
    hosts: [alice]
    filters: []
    join_burst: off
"""
SECRET = ("--evasion-secret", "a-test-secret-shared-by-both-workers-0123456789")


def rows(server, kind: str, **match) -> list[dict]:
    return [r for r in server.export("--kind", kind) if all(r.get(k) == v for k, v in match.items())]


@pytest.fixture
def pair(make_server, redis_server):
    """Two `chatserver serve` workers sharing one redis-server, one database and the rooms above."""
    one = make_server(ROOMS, redis=redis_server.url, extra=SECRET)
    two = make_server(redis=redis_server.url, share=one, extra=SECRET)
    return one, two


async def card(host: Client, room: str, session: str) -> dict:
    await host.send(type="person", room=room, session=session)
    return await host.expect("person", session=session)


# ---- warnings, strikes, the ladder -------------------------------------------------------------------
@pytest.mark.redis
async def test_warned_participant_cannot_send_until_they_acknowledge(pair, clients):
    """A warning reaches only the warned person (on the other worker), with the rule's words; their sends
    are refused `warned` until they acknowledge, even after reconnecting; both steps are audited."""
    one, two = pair
    alice = await clients.host(one, "alice", ("care",))
    sam = await clients.user(two, "sam", ("care",))
    kim = await clients.user(one, "kim", ("care",))
    assert sam.joined["care"]["rules"] == ["Be kind.", "No advice about medication doses."]
    await alice.send(type="warn", room="care", session=sam.session, rule=2, text="Please take that down.")
    warning = await sam.expect("warning", room="care")
    assert warning["rule"] == 2 and warning["rule_text"] == "No advice about medication doses."
    assert warning["text"] == "Please take that down." and warning["by"] == "alice"
    await alice.expect("notice", code="done")
    refused = await sam.post("care", "hello again")
    assert refused["type"] == "error" and refused["code"] == "warned"
    assert refused["warning"]["id"] == warning["id"]
    # A new connection with the same identity (on the first worker) still has to acknowledge it.
    again = await clients.connect(one, label="sam2")
    await again.hello("sam", resume=sam.resume_token)
    joined = await again.join("care")
    assert joined["warning"]["id"] == warning["id"]
    assert (await again.post("care", "still me"))["code"] == "warned"
    await again.send(type="acknowledge", room="care")
    await again.expect("notice", code="acknowledged")
    await alice.expect("notice", code="warning_acknowledged", session=sam.session)
    ack = await sam.post("care", "sorry, I understand")
    assert ack["status"] == "published"
    await kim.expect("message", id=ack["id"])
    assert not [f for f in kim.frames if f.get("type") == "warning"]
    one.stop()
    (warned,) = rows(one, "warned", subject=sam.session)
    assert warned["detail"]["rule"] == 2 and warned["actor"]["name"] == "alice"
    assert rows(one, "acknowledged", subject=sam.session)


async def test_acknowledging_without_a_warning_is_refused(make_server, clients):
    """There is nothing to acknowledge: a plain bad_request, and sending still works."""
    server = make_server(ROOMS)
    sam = await clients.user(server, "sam", ("care",))
    await sam.send(type="acknowledge", room="care")
    error = await sam.expect("error")
    assert error["code"] == "bad_request"
    assert (await sam.post("care", "hi"))["status"] == "published"


@pytest.mark.redis
async def test_the_ladder_proposes_the_next_step_from_the_rooms_config(pair, clients):
    """With `ladder: [warn, mute 10m, ban]`, hosts on both workers are told: after a warning, mute 10
    min; after a mute too, ban. The host decides: nothing happens by itself."""
    one, two = pair
    alice = await clients.host(one, "alice", ("care",))
    bob = await clients.host(two, "bob", ("care",))
    sam = await clients.user(two, "sam", ("care",))
    first = await card(alice, "care", sam.session)
    assert first["strikes"] == 0 and first["next"]["label"] == "warn"
    assert alice.joined["care"]["ladder"] == ["warn", "mute 10 min", "ban"]
    await alice.send(type="warn", room="care", session=sam.session, rule=1)
    for host in (alice, bob):
        strikes = await host.expect("strikes", session=sam.session)
        assert strikes["strikes"] == 1 and strikes["next"] == {
            "action": "mute",
            "label": "mute 10 min",
            "minutes": 10,
            "rung": 2,
        }
    await bob.send(type="mute", room="care", session=sam.session, minutes=10)
    strikes = await alice.expect("strikes", session=sam.session, strikes=2)
    assert strikes["next"]["action"] == "ban"
    assert (await card(bob, "care", sam.session))["next"]["label"] == "ban"
    assert not (await sam.post("care", "am I still here?")).get("status") == "published"


# ---- kind refusals and bulk actions --------------------------------------------------------------------
async def test_a_rejected_message_tells_its_sender_why_with_the_rooms_resources(make_server, clients):
    """The sender of a message a host did not share reads the room's chosen reason (or the host's own
    words) and the room's resources, never silence; the audit row keeps what they were told."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("care",))
    sam = await clients.user(server, "sam", ("care",))
    first = await sam.post("care", "look at https://shady.example.net/x")
    await alice.expect("held", id=first["id"])
    await alice.send(type="reject", room="care", message_id=first["id"], reason=2)
    told = await sam.expect("notice", code="not_shared")
    assert told["text"] == "Please keep details of methods out of the room."
    assert told["message_ids"] == [first["id"]] and told["after"]
    assert [r["name"] for r in told["resources"]] == ["Emergency services"]
    second = await sam.post("care", "and https://shady.example.net/y")
    await alice.send(type="reject", room="care", message_id=second["id"], note="Links wait for now, sorry.")
    assert (await sam.expect("notice", code="not_shared"))["text"] == "Links wait for now, sorry."
    await alice.send(type="reject", room="care", message_id="nope", reason=9)
    assert (await alice.expect("error"))["code"] == "bad_request"
    server.stop()
    told_rows = {r["message_id"]: r["detail"]["told"] for r in rows(server, "rejected")}
    assert told_rows[first["id"]].startswith("Please keep") and told_rows[second["id"]].startswith("Links")


async def test_bulk_reject_all_and_delete_last(make_server, clients):
    """`reject_all` empties one person's waiting messages and tells them once; `delete_last` removes
    exactly their last N messages for everyone, nobody else's."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("care",))
    sam = await clients.user(server, "sam", ("care",))
    kim = await clients.user(server, "kim", ("care",))
    held = [await sam.post("care", f"spam https://shady.example.net/{i}") for i in range(3)]
    kims = await kim.post("care", "a link of mine https://other.example.net/")
    await alice.send(type="reject_all", room="care", session=sam.session)
    for ack in held:
        await alice.expect("resolved", id=ack["id"], action="rejected")
    told = await sam.expect("notice", code="not_shared")
    assert sorted(told["message_ids"]) == sorted(a["id"] for a in held)
    await sam.expect_none("notice", within=0.3, code="not_shared")
    assert (await alice.expect("notice", code="done"))["text"].startswith("Done: 3 ")
    await alice.send(type="release", room="care", message_id=kims["id"])  # kim's is untouched
    await kim.expect("message", id=kims["id"])
    posted = [await sam.post("care", f"line {i}") for i in range(3)]
    mine = await kim.post("care", "my own words")
    await alice.send(type="delete_last", room="care", session=sam.session, count=2)
    gone = {(await kim.expect("deleted"))["id"] for _ in range(2)}
    assert gone == {posted[1]["id"], posted[2]["id"]}
    await kim.expect_none("deleted", within=0.3, id=lambda i: i in (posted[0]["id"], mine["id"]))


# ---- the person card ------------------------------------------------------------------------------------
@pytest.mark.redis
async def test_person_card_shows_history_gathered_on_both_workers(pair, clients):
    """Bob (worker two) sees Sam's messages and counts in this room, sanctions from other rooms, reports by
    and about Sam and care notes: written by both workers."""
    one, two = pair
    alice = await clients.host(one, "alice", ("care", "raid"))
    bob = await clients.host(two, "bob", ("care",))
    sam = await clients.user(two, "sam", ("care",))
    kim = await clients.user(one, "kim", ("care",))
    said = await sam.post("care", "I had a rough day")
    link = await sam.post("care", "see https://shady.example.net/z")
    await alice.expect("held", id=link["id"])
    await alice.send(type="reject", room="care", message_id=link["id"])
    await sam.expect("notice", code="not_shared")
    await kim.expect("message", id=said["id"])
    await kim.send(type="report", room="care", message_id=said["id"], reason="felt unkind")
    kims = await kim.post("care", "hello all")
    await sam.expect("message", id=kims["id"])
    await sam.send(type="report", room="care", message_id=kims["id"], reason="not sure")
    await alice.send(type="warn", room="care", session=sam.session, rule=1)
    await sam.expect("warning")
    await alice.send(type="ban", room="raid", session=sam.session, reason="raiding")
    await alice.expect("notice", code="done", text="Done: banned.")
    await alice.send(type="note", room="care", session=sam.session, text="had a rough week")
    await bob.expect("note", session=sam.session)
    got = await card(bob, "care", sam.session)
    assert got["name"] == "sam"
    assert {(m["id"], m["status"]) for m in got["messages"]} == {
        (said["id"], "published"),
        (link["id"], "not shared"),
    }
    assert got["counts"] == {"held": 1, "rejected": 1, "reported": 1}
    assert {(s["kind"], s["room"]) for s in got["sanctions"]} == {("warned", "care"), ("banned", "raid")}
    assert [r["reason"] for r in got["reports_about"]] == ["felt unkind"]
    assert [r["reason"] for r in got["reports_by"]] == ["not sure"]
    assert [n["text"] for n in got["notes"]] == ["had a rough week"]
    assert got["strikes"] == 1 and got["next"]["label"] == "mute 10 min"
    await sam.send(type="person", room="care", session=kim.session)
    assert (await sam.expect("error"))["code"] == "forbidden"


# ---- shield mode and join bursts ---------------------------------------------------------------------
@pytest.mark.redis
async def test_shield_mode_applies_the_preset_and_restores_the_exact_previous_settings(pair, clients):
    """On: slow mode 15 s, a newcomer's first message and any link held, on both workers. Off: slow mode
    back to the 7 s a host had set before, and messages flow as before."""
    one, two = pair
    alice = await clients.host(one, "alice", ("raid",))
    sam = await clients.user(two, "sam", ("raid",))
    await alice.send(type="slowmode", room="raid", seconds=7)
    await sam.expect("notice", code="slowmode", slowmode=7)
    await alice.send(type="shield", room="raid", on=True)
    await sam.expect("notice", code="shield", on=True)
    await sam.expect("notice", code="slowmode", slowmode=15)
    newcomer = await clients.user(two, "nia", ("raid",))
    assert newcomer.joined["raid"]["shield"] is True and newcomer.joined["raid"]["slowmode"] == 15
    held = await newcomer.post("raid", "hi everyone")
    assert held["status"] == "held" and held["reason"] == "shield"
    await alice.expect("held", id=held["id"])
    await alice.send(type="shield", room="raid", on=True)
    assert (await alice.expect("error"))["message"] == "Shield mode is already on in this room"
    await alice.send(type="shield", room="raid", on=False)
    await sam.expect("notice", code="shield", on=False)
    await sam.expect("notice", code="slowmode", slowmode=7)
    later = await clients.user(one, "lee", ("raid",))
    assert later.joined["raid"]["slowmode"] == 7 and later.joined["raid"]["shield"] is False
    assert (await later.post("raid", "https://shady.example.net/ok"))["status"] == "published"
    one.stop()
    on, off = rows(one, "shield")
    assert on["detail"]["previous"] == {"slowmode": 7} and on["detail"]["preset"]["slowmode"] == 15
    assert off["detail"]["on"] is False


@pytest.mark.redis
async def test_a_join_burst_alerts_the_hosts_once_and_offers_shield_mode(pair, clients):
    """Three newcomers within a minute, across two workers, alert the room's hosts once."""
    one, two = pair
    alice = await clients.host(one, "alice", ("raid",))
    for i, server in enumerate((one, two, two)):
        await clients.user(server, f"guest{i}", ("raid",))
    alert = await alice.expect("notice", code="join_burst")
    assert alert["joins"] == 3 and alert["offer_shield"] is True and alert["level"] == "warning"
    await clients.user(one, "guest3", ("raid",))
    await alice.expect_none("notice", within=0.5, code="join_burst")
    one.stop()
    assert len(rows(one, "join_burst", room="raid")) == 1


async def test_people_coming_back_after_a_drop_are_no_join_burst(make_server, clients):
    """A restart brings a room back at once: people rejoining with their identity (`resume`) and what they
    last saw (`since`) are not counted as newcomers, so hosts get no raid alert; newcomers still count,
    `since` or not."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("raid",))
    guests = [await clients.user(server, f"guest{i}", ("raid",)) for i in range(2)]
    last = (await guests[0].post("raid", "hello all"))["id"]
    for guest in guests:
        await guest.close()
        back = await clients.connect(server, label=f"{guest.label}-back")
        await back.hello(guest.label, resume=guest.resume_token)
        assert back.session == guest.session
        assert (await back.join("raid", since=last))["type"] == "joined"
    await alice.send(type="ping")
    await alice.expect("pong")  # the returns' alerts, had there been any, were sent before this
    assert not [f for f in alice.frames if f.get("code") == "join_burst"], "a return counted as a newcomer"
    newcomer = await clients.connect(server, label="newcomer")
    await newcomer.hello("newcomer")
    await newcomer.join("raid", since=last)
    alert = await alice.expect("notice", code="join_burst")
    assert alert["joins"] == 3, "two first joins and the newcomer: the returns were not counted"


async def test_a_join_burst_turns_shield_mode_on_where_the_room_says_so(make_server, clients):
    """`join_burst: {action: shield}`: the burst switches shield mode on, and hosts are told so."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("storm",))
    first = await clients.user(server, "g1", ("storm",))
    await clients.user(server, "g2", ("storm",))
    alert = await alice.expect("notice", code="join_burst")
    assert alert["offer_shield"] is False and "Shield mode is now on" in alert["text"]
    await first.expect("notice", code="shield", on=True)


# ---- ban evasion --------------------------------------------------------------------------------------
async def connect_from(server, address: str, label: str) -> Client:
    """A client whose connection comes from `address` (any 127.x.y.z is this machine's loopback)."""
    ws = await connect(server.ws_url, origin=server.base, compression=None, local_addr=(address, 0))
    return Client(ws, label)


@pytest.mark.redis
async def test_a_banned_person_returning_from_the_same_network_is_premoderated_and_flagged(
    pair, clients, redis_server
):
    """Banned on worker one, back under a new name on worker two from the same network: held and flagged
    for hosts, not banned. From another network, a newcomer is not. Nothing stored or logged anywhere
    gives the address back."""
    one, two = pair
    alice = await clients.host(one, "alice", ("door",))
    sam = await connect_from(one, "127.0.0.1", "sam")
    clients.clients.append(sam)
    await sam.hello("sam")
    await sam.join("door", browser=uuid.uuid4().hex)
    await alice.send(type="ban", room="door", session=sam.session)
    await alice.expect("notice", code="done", text="Done: banned.")
    back = await connect_from(two, "127.0.0.1", "sammy")
    clients.clients.append(back)
    await back.hello("sammy")
    assert (await back.join("door", browser=uuid.uuid4().hex))["type"] == "joined"
    flagged = await alice.expect("notice", code="maybe_returning", session=back.session)
    assert flagged["signal"] == "net" and "may be someone banned earlier" in flagged["text"]
    held = await back.post("door", "hello, I am new here")
    assert held["status"] == "held" and held["reason"] == "returning"
    assert not [f for f in back.frames if f.get("code") in ("banned", "removed")]
    other = await connect_from(two, "127.1.0.1", "dana")
    clients.clients.append(other)
    await other.hello("dana")
    await other.join("door", browser=uuid.uuid4().hex)
    assert (await other.post("door", "hi"))["status"] == "published"
    await alice.expect_none("notice", within=0.5, code="maybe_returning", session=other.session)
    got = await card(alice, "door", back.session)
    assert got["flagged"]["banned_session"] == sam.session
    _assert_no_address_is_kept(pair, redis_server)


async def test_the_same_browser_on_another_network_is_flagged_too(make_server, clients):
    """The browser-held id alone is enough to notice someone banned returning from another network."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("door",))
    browser = uuid.uuid4().hex
    sam = await clients.user(server, "sam")
    await sam.join("door", browser=browser)
    await alice.send(type="ban", room="door", session=sam.session)
    await alice.expect("notice", code="done", text="Done: banned.")
    back = await connect_from(server, "127.2.0.1", "sammy")
    clients.clients.append(back)
    await back.hello("sammy")
    await back.join("door", browser=browser)
    flagged = await alice.expect("notice", code="maybe_returning", session=back.session)
    assert flagged["signal"] == "browser"


def _assert_no_address_is_kept(pair, redis_server) -> None:
    """Neither address, nor its /24, nor the secret is in SQLite, Redis or the logs, in any form
    that does not need the secret only the workers hold."""
    one, two = pair
    needles = ["127.0.0.1", "127.1.0.1", "127.0.0.0", "127.1.0.0", SECRET[1]]
    client = redis.Redis.from_url(redis_server.url)
    dumped = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        readers = {
            "string": client.get,
            "hash": client.hgetall,
            "list": lambda k: client.lrange(k, 0, -1),
            "zset": lambda k: client.zrange(k, 0, -1),
            "set": client.smembers,
            "stream": client.xrange,
        }
        value = readers[kind](key)
        dumped.append(f"{key!r} {value!r}")
    assert any("evasion:seen" in d for d in dumped)  # the hashes are there; the addresses are not
    redis_text = "\n".join(dumped)
    one.stop()
    two.stop()
    db = sqlite3.connect(one.db_path)
    db_text = json.dumps([list(r) for r in db.execute("SELECT * FROM audit")])
    db.close()
    raw = b"".join(p.read_bytes() for p in one.db_path.parent.glob(one.db_path.name + "*"))
    # The servers' own listening and Redis addresses are 127.0.0.1 too: only those may appear.
    logs = re.sub(r"(https?|redis)://127\.0\.0\.1:\d+", "", one.log() + two.log())
    for needle in needles:
        assert needle not in redis_text, f"{needle} in Redis"
        assert needle not in db_text and needle.encode() not in raw, f"{needle} in SQLite"
        assert needle not in logs, f"{needle} in the logs"


async def test_behind_a_proxy_only_the_browser_id_counts(make_server, clients):
    """With per-address limits off (every address is the proxy's), the same address is no signal: a
    newcomer after a ban is not flagged for it, while the banned person's browser still is."""
    server = make_server(ROOMS, extra=("--max-connections-per-ip", "0"))
    alice = await clients.host(server, "alice", ("door",))
    browser = uuid.uuid4().hex
    sam = await clients.user(server, "sam")
    await sam.join("door", browser=browser)
    await alice.send(type="ban", room="door", session=sam.session)
    await alice.expect("notice", code="done", text="Done: banned.")
    stranger = await clients.user(server, "lou")
    await stranger.join("door", browser=uuid.uuid4().hex)
    assert (await stranger.post("door", "hello"))["status"] == "published"
    back = await clients.user(server, "sammy")
    await back.join("door", browser=browser)
    flagged = await alice.expect("notice", code="maybe_returning", session=back.session)
    assert flagged["signal"] == "browser"
    assert not [
        f for f in alice.frames if f.get("code") == "maybe_returning" and f["session"] == stranger.session
    ]


class _CountedStore(MemoryStore):
    """The in-process store, counting how often shield mode is read."""

    reads = 0

    async def flags(self, room: str) -> dict:
        self.reads += 1
        return await super().flags(room)


async def test_a_burst_of_joins_reads_shield_mode_once_and_a_missed_switch_within_the_resync_time():
    """A reconnect storm brings a room's people back in a second: one read of shield mode serves them
    all (each was a Redis round trip per join). A switch whose event this worker missed is read by the
    next join after SHIELD_REREAD_S, no later than the resync loop would apply it."""
    now = [1000.0]
    mod = SimpleNamespace(store=_CountedStore(), clock=lambda: now[0])
    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])
    for _ in range(100):
        await shield.load(mod, room)  # type: ignore[arg-type]
    assert mod.store.reads == 1 and room.shield is None
    await mod.store.set_flag("lobby", "shield", {"preset": {}})  # switched on elsewhere, event lost
    now[0] += shield.SHIELD_REREAD_S - 0.1
    await shield.load(mod, room)  # type: ignore[arg-type]
    assert room.shield is None
    now[0] += 0.2
    await shield.load(mod, room)  # type: ignore[arg-type]
    assert room.shield == {"preset": {}} and mod.store.reads == 2
    assert shield.SHIELD_REREAD_S <= RESYNC_S


class _CountedBurstStore(MemoryStore):
    """The in-process store, counting the asks whether a burst was already told."""

    asks = 0

    async def put_value(self, key: str, value, ttl=None, *, only_new: bool = False) -> bool:
        self.asks += key.startswith("burst:")
        return await super().put_value(key, value, ttl, only_new=only_new)


async def test_a_join_burst_is_asked_about_once_while_it_lasts_and_again_after_its_window():
    """A raid brings dozens in a minute: once the burst is told (here or on another worker), its later
    joins do not ask Redis again; once its window has passed, the next burst asks again (the store's
    lifetime on the mark then decides, on its own clock)."""
    now = [1000.0]
    told: list[dict] = []
    mod = SimpleNamespace(
        store=_CountedBurstStore(),
        clock=lambda: now[0],
        audit=SimpleNamespace(append=lambda *a, **k: None),
        broker=SimpleNamespace(publish_event=told.append),
    )
    room = RoomState(load_rooms(TESTS / "rooms.yaml").rooms["lobby"])
    burst = room.config.moderation.join_burst
    assert burst is not None and burst.action == "alert"
    for _ in range(burst.joins + 30):
        now[0] += 0.01
        await shield.count_join(mod, room)  # type: ignore[arg-type]
    assert [e["kind"] for e in told] == ["join_burst"] and mod.store.asks == 1
    now[0] += burst.per_seconds + 1
    for _ in range(burst.joins):
        await shield.count_join(mod, room)  # type: ignore[arg-type]
    assert mod.store.asks == 2
