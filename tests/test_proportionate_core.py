"""Proportionate moderation (issue 16) without a server: the rooms.yaml keys, strikes and the ladder,
the ban-evasion hashes; and the hub in-process with its clock moved on, for strikes that expire."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from chatserver.errors import BadRequest, ConfigError
from chatserver.hub import Hub
from chatserver.moderation import evasion, refusals, warnings
from chatserver.rooms import parse_rooms
from chatserver.rooms.moderation import RoomModeration, Step
from tests.fault_fixtures import until
from tests.test_hub import person, running_hub

ROOMS = """
rooms:
  - id: brief
    title: Brief
    topic: Strikes that expire after a minute.
    hosts: [alice]
    rules: ["Be kind."]
    strike_expiry: 60
    ladder: [warn, mute 10m, mute 24h, ban]
    filters: []
"""


def test_rooms_yaml_reads_rules_ladder_reasons_shield_and_join_burst_with_defaults():
    """Defaults apply to every room, a room's own keys win, `join_burst: off` turns the alarm off."""
    config = parse_rooms(
        """
defaults:
  ladder: [warn, mute 30m, ban]
  reasons: ["Not shared, so everyone feels safe."]
rooms:
  - {id: a, title: A, topic: t, rules: ["Be kind."], join_burst: off}
  - {id: b, title: B, topic: t, ladder: [warn, ban], shield: {slowmode: 5, premoderate: all}}
"""
    )
    a, b = config.rooms["a"].moderation, config.rooms["b"].moderation
    assert a.rules == ("Be kind.",) and a.join_burst is None
    assert [s.label for s in a.ladder] == ["warn", "mute 30 min", "ban"]
    assert [s.label for s in b.ladder] == ["warn", "ban"] and b.reasons == a.reasons
    assert b.shield.slowmode == 5 and b.shield.premoderate == "all" and b.shield.hold_links is True
    assert b.join_burst is not None and b.join_burst.joins == 15


def test_rooms_yaml_problems_name_their_lines():
    """A bad rule, ladder step, shield key or join-burst option is reported at its line."""
    with pytest.raises(ConfigError) as caught:
        parse_rooms(
            """rooms:
  - id: a
    title: A
    topic: t
    rules: [""]
    ladder: [warn, mute forever]
    shield: {slowmode: -1, sirens: true}
    join_burst: {joins: 1, action: panic}
"""
        )
    problems = "\n".join(caught.value.problems)
    assert "rooms.yaml:5: each of 'rules'" in problems
    assert "rooms.yaml:6: 'ladder' in room 'a': 'mute forever' is not a step" in problems
    assert "rooms.yaml:7: unknown key 'sirens'" in problems and "'slowmode' must be a number" in problems
    assert "rooms.yaml:8: 'join_burst' in room 'a': 'joins' must be a whole number of at least 2" in problems


def test_strikes_expire_and_the_ladder_repeats_its_last_rung():
    """Only this room's strikes younger than the expiry count; past the ladder's end, its last step."""
    config = RoomModeration(ladder=(Step("warn"), Step("mute", 1440), Step("ban")), strike_expiry=100)
    entries = [
        {"room": "a", "kind": "warning", "at": 1000},
        {"room": "a", "kind": "mute", "at": 1050},
        {"room": "b", "kind": "warning", "at": 1060},
    ]
    assert len(warnings.live_strikes(entries, "a", 100, now=1099)) == 2
    assert len(warnings.live_strikes(entries, "a", 100, now=1100)) == 1
    assert warnings.live_strikes(entries, "a", 100, now=1150) == []
    assert warnings.proposal(config, 1)["label"] == "mute 24 h"
    assert warnings.proposal(config, 7)["action"] == "ban"


def test_a_warning_names_a_rule_of_the_room_or_has_words():
    """Rule numbers outside the room's rules, or no rule and no words, are refused."""
    config = RoomModeration(rules=("Be kind.",))
    made = warnings.warning_of(config, {"rule": 1}, "alice", 0)
    assert made["rule_text"] == "Be kind." and made["ts"] == "1970-01-01T00:00:00Z"
    for frame in ({"rule": 2}, {}, {"text": "   "}):
        with pytest.raises(BadRequest):
            warnings.warning_of(config, frame, "alice", 0)
    assert warnings.warning_of(RoomModeration(), {"text": "Please be gentle."}, "bob", 0)["rule"] is None


def test_kind_refusal_words_come_from_the_host_or_the_room():
    """The host's note first, else the chosen reason, else the room's first reason."""
    config = RoomModeration(reasons=("First.", "Second."))
    assert refusals.words(config, {"note": " My own words. "}) == "My own words."
    assert refusals.words(config, {"reason": 2}) == "Second."
    assert refusals.words(config, {}) == "First."
    with pytest.raises(BadRequest):
        refusals.words(config, {"reason": 3})


def test_the_network_of_an_address_is_the_standard_library_s_answer():
    """IPv4 is read in C on every join (the ipaddress module took 8 us); the answers stay its answers:
    canonical /24 and /48, an IPv4-mapped address as IPv4, anything that is not an address None."""
    expected = {
        "127.0.0.1": "127.0.0.0/24",
        "203.0.113.200": "203.0.113.0/24",
        "0.0.0.0": "0.0.0.0/24",
        "255.255.255.255": "255.255.255.0/24",
        "::1": "::/48",
        "::ffff:203.0.113.9": "203.0.113.0/24",
        "2001:db8:1:2::5": "2001:db8:1::/48",
        "fe80::1%eth0": "fe80::/48",
    }
    for address, network in expected.items():
        assert evasion.network_prefix(address) == network, address
        assert str(ipaddress.ip_network(network)) == network  # (canonical, as ipaddress writes it)
    for address in ("01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4 ", "?", ""):
        assert evasion.network_prefix(address) is None, address


def test_evasion_hashes_hide_the_address_and_rotate_with_the_period():
    """The network hash is the same for a /24 and differs across networks, periods and secrets; no
    form of the address is in what is kept."""
    secret = b"s" * 32
    one = evasion.hashes(secret, "203.0.113.7", "browser-1", period=10)
    same_net = evasion.hashes(secret, "203.0.113.200", None, period=10)
    assert one["net"] == same_net["net"] and "browser" not in same_net
    assert evasion.hashes(secret, "203.0.114.7", None, period=10)["net"] != one["net"]
    assert evasion.hashes(secret, "203.0.113.7", None, period=11)["net"] != one["net"]
    assert evasion.hashes(b"t" * 32, "203.0.113.7", None, period=10)["net"] != one["net"]
    assert "203.0.113" not in repr(one) and "browser-1" not in repr(one)
    assert evasion.network_prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert evasion.network_prefix("::ffff:203.0.113.9") == "203.0.113.0/24"
    assert evasion.network_prefix("?") is None


def test_a_ban_mark_matches_last_periods_hashes_until_it_expires():
    """A mark made last period still matches; the banned session itself and old marks never do."""
    secret = b"k" * 32
    mark = {"session": "s-banned", "hashes": evasion.hashes(secret, "198.51.100.4", "b", 41), "at": 1000.0}
    mine = [
        evasion.hashes(secret, "198.51.100.9", None, 42),
        evasion.hashes(secret, "198.51.100.9", None, 41),
    ]
    hit = evasion.match([mark], mine, "s-new", now=1001.0)
    assert hit == {"banned_session": "s-banned", "signal": "net"}
    assert evasion.match([mark], mine, "s-banned", now=1001.0) is None
    assert evasion.match([mark], mine, "s-new", now=1000.0 + evasion.MARK_TTL_S) is None


def test_a_worker_that_missed_a_shield_switch_catches_up():
    """resync._missed: shield mode switched on (or off) elsewhere becomes the event this worker missed."""
    from chatserver.resync import _missed
    from chatserver.rooms_state import RoomState

    room = RoomState(parse_rooms(ROOMS).rooms["brief"])
    saved = {"previous": {"slowmode": 0}, "preset": {"slowmode": 30}}
    (event,) = _missed(room, {}, {"shield": saved, "slowmode": 0}, [])
    assert event == {"kind": "shield", "on": True, "shield": saved}
    room.shield = saved
    (event,) = _missed(room, {}, {"shield": None}, [])
    assert event["on"] is False
    assert _missed(room, {}, {"shield": saved}, []) == []


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path, ROOMS, ("alice",)) as started:
        yield started


async def test_strikes_expire_by_the_services_clock(hub):
    """Two warnings a minute apart: the ladder proposes mute 24 h; 61 s after the first, mute 10 min;
    61 s after the second, warn again. The warnings' history stays on the card."""
    now = [1_000_000.0]
    hub.moderation.clock = lambda: now[0]
    alice_conn, alice = await person(hub, "alice", "brief", token=hub.tokens["alice"])
    sam_conn, sam = await person(hub, "sam", "brief")
    warn = orjson.dumps({"type": "warn", "room": "brief", "session": sam_conn.session, "rule": 1})
    await hub.handle(alice_conn, warn)
    await hub.handle(sam_conn, b'{"type":"acknowledge","room":"brief"}')
    now[0] += 30
    await hub.handle(alice_conn, warn)
    strikes = await until(lambda: alice.of("strikes", strikes=2), 5.0, "two strikes")
    assert strikes[0]["next"]["label"] == "mute 24 h"
    ask = orjson.dumps({"type": "person", "room": "brief", "session": sam_conn.session})
    expected = [(31, 1, "mute 10 min"), (31, 0, "warn")]
    for step, count, label in expected:
        now[0] += step
        alice.frames.clear()
        await hub.handle(alice_conn, ask)
        (card,) = await until(lambda: alice.of("person"), 5.0, "the card")
        assert (card["strikes"], card["next"]["label"]) == (count, label)
    assert [s["kind"] for s in card["sanctions"]] == ["warned", "warned"]
