"""A library of good information, professional-led sessions, and peer support that says what it
is not (issue 20): rooms.yaml cards checked with PATH:LINE, the room list and /api/library, and a
host pushing a card to everyone in the room, audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chatserver.errors import ConfigError
from chatserver.rooms import parse_rooms
from chatserver.rooms.about import PEER_NOTE, PROFESSIONAL_NOTE, link_allowed
from tests.support import cli

_DAY = (datetime.now(UTC) + timedelta(days=3)).strftime("%a").lower()

ROOMS = f"""
library:
  slow-breathing:
    title: Slow breathing for panic
    text: A two-minute exercise that calms the body when panic rises.
    url: https://www.nhs.uk/breathing
    tags: [panic, anxiety]
  sleep-basics:
    title: Sleep basics
    text: Small, steady changes that help sleep come.
    url: https://sleep.example.org/basics
    tags: [sleep]
defaults:
  library: [slow-breathing]
rooms:
  - id: lobby
    title: Lobby
    topic: Anyone.
    hosts: [alice]
    library: [slow-breathing, sleep-basics]
    filters:
      - links: {{action: hold, allow: [nhs.uk, example.org]}}
  - id: counsel
    title: Ask a counsellor
    topic: A session led by a registered counsellor.
    hosts: [alice]
    professional_led: true
    hours: {{timezone: UTC, weekly: {{{_DAY}: "18:00-19:00"}}}}
    filters: []
  - id: plain
    title: Plain
    topic: Own words.
    hosts: [alice]
    library: []
    peer_note: "Everyone here is a volunteer. Please see your doctor for care."
    filters: []
"""

BROKEN = """\
library:
  no-title:
    text: A card without a title.
    url: https://www.nhs.uk/x
  far-away:
    title: Far away
    text: Its link is not one the room allows.
    url: https://elsewhere.example.com/page
  odd-tags:
    title: Odd tags
    text: One tag nobody knows.
    url: https://www.nhs.uk/y
    tags: [sleep, dreams]
rooms:
  - id: lobby
    title: Lobby
    topic: Anyone.
    library: [far-away, missing]
    professional_led: maybe
    filters:
      - links: {action: hold, allow: [nhs.uk]}
"""


# ---------------------------------------------------------------- rooms.yaml
def test_cards_and_session_flags_are_read_per_room():
    """Defaults name cards for every room; a room's own list replaces them; notes default honestly."""
    config = parse_rooms(ROOMS)
    lobby, counsel, plain = (config.rooms[r].about for r in ("lobby", "counsel", "plain"))
    assert [c.id for c in lobby.cards] == ["slow-breathing", "sleep-basics"]
    assert lobby.card("sleep-basics").tags == ("sleep",)
    assert [c.id for c in counsel.cards] == ["slow-breathing"]  # from defaults
    assert counsel.professional_led and counsel.peer_note == PROFESSIONAL_NOTE
    assert plain.cards == () and plain.peer_note.startswith("Everyone here is a volunteer")
    assert lobby.peer_note == PEER_NOTE and "never in place of it" in PEER_NOTE


def test_check_rooms_reports_each_broken_card_at_its_line(tmp_path):
    """Missing title, a link off the room's allow list, an unknown tag, an unknown card name and a
    flag that is not true/false: each one `PATH:LINE: message`, exit 1."""
    path = tmp_path / "rooms.yaml"
    path.write_text(BROKEN)
    done = cli("check-rooms", str(path))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    expected = {
        2: "card 'no-title' has no 'title'",
        8: "card 'far-away': its link is off the links allow list of room 'lobby' (nhs.uk)",
        13: "unknown tag 'dreams'",
        18: "names 'missing', which is not a library card",
        19: "'professional_led' in room 'lobby' must be true or false",
    }
    for line, words in expected.items():
        assert any(ln.startswith(f"{path}:{line}: ") and words in ln for ln in lines), (line, lines)
    with pytest.raises(ConfigError):
        parse_rooms(BROKEN)


def test_a_card_is_fine_where_its_link_is_allowed():
    """The same card passes in a room whose links filter allows its site, or that has no links filter."""
    assert link_allowed("https://www.nhs.uk/a", ("nhs.uk",))
    assert not link_allowed("https://nhs.uk.evil.example/a", ("nhs.uk",))
    fixed = BROKEN.replace("allow: [nhs.uk]", "allow: [nhs.uk, example.com]")
    fixed = fixed.replace("    text: A card without", "    title: Now titled\n    text: A card without")
    fixed = fixed.replace("[sleep, dreams]", "[sleep]").replace("far-away, missing", "far-away")
    fixed = fixed.replace("professional_led: maybe", "professional_led: false")
    assert parse_rooms(fixed).rooms["lobby"].about.card("far-away") is not None


def test_the_shipped_rooms_yaml_offers_cards_and_passes():
    """The example rooms.yaml has a library, a professional-led session, and passes check-rooms."""
    done = cli("check-rooms", "rooms.yaml")
    assert done.returncode == 0, done.stderr
    from chatserver.rooms import load_rooms
    from tests.support import ROOT

    rooms = load_rooms(ROOT / "rooms.yaml").rooms
    assert any(r.about.cards for r in rooms.values())
    assert any(r.about.professional_led for r in rooms.values())


# ---------------------------------------------------------------- real servers
async def test_room_list_and_library_say_what_each_room_is(make_server):
    """/api/rooms marks the professional-led session with its next sessions; /api/library gives the
    room's cards and its note, or the built-in note without a room."""
    server = make_server(ROOMS)
    rooms = {r["id"]: r for r in server.get("/api/rooms").json()}
    assert rooms["counsel"]["professional_led"] is True and rooms["lobby"]["professional_led"] is False
    sessions = rooms["counsel"]["sessions"]
    assert len(sessions) == 3 and sessions[0]["opens"].endswith("T18:00Z")
    assert sessions[0]["closes"].endswith("T19:00Z") and rooms["lobby"]["sessions"] == []
    lib = server.get("/api/library?room=lobby").json()
    assert [c["id"] for c in lib["cards"]] == ["slow-breathing", "sleep-basics"]
    assert lib["cards"][0]["url"] == "https://www.nhs.uk/breathing" and lib["peer_note"] == PEER_NOTE
    assert server.get("/api/library?room=plain").json()["peer_note"].startswith("Everyone here")
    assert server.get("/api/library").json()["peer_note"] == PEER_NOTE
    assert server.get("/api/library?room=nope").status_code == 404


async def test_a_host_pushes_a_card_to_everyone_in_the_room_audited(make_server, clients):
    """push_card: everyone in the room gets a `card` frame (not a message with a raw link), the host
    hears it was done, and the audit log has a `card_pushed` row; others in other rooms get nothing."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("lobby",))
    ben = await clients.user(server, "ben", ("lobby",))
    cara = await clients.user(server, "cara", ("plain",))
    await alice.send(type="push_card", room="lobby", card="slow-breathing")
    for person in (ben, alice):
        got = await person.expect("card", room="lobby")
        assert got["card"]["title"] == "Slow breathing for panic"
        assert got["card"]["url"] == "https://www.nhs.uk/breathing" and got["card"]["tags"] == [
            "panic",
            "anxiety",
        ]
        assert got["from"]["name"] == "alice" and got["from"]["role"] == "host" and got["id"]
    assert "Shared" in (await alice.expect("notice", code="done"))["text"]
    rows = server.export("--kind", "card_pushed")
    assert len(rows) == 1 and rows[0]["room"] == "lobby" and rows[0]["detail"]["card"] == "slow-breathing"
    assert rows[0]["text"] == "Slow breathing for panic"
    await cara.expect_none("card", within=0.3)
    assert not [f for f in ben.frames if f.get("type") == "message"]


async def test_only_hosts_push_and_only_the_rooms_own_cards(make_server, clients):
    """A participant's push_card is refused and audited as refused; a card the room does not offer
    is refused; nothing reaches the room."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("plain",))
    ben = await clients.user(server, "ben", ("plain", "lobby"))
    await ben.send(type="push_card", room="lobby", card="slow-breathing")
    refused = await ben.expect("error", code="forbidden")
    assert "lobby" in refused["message"]
    await alice.send(type="push_card", room="plain", card="slow-breathing")  # plain has no cards
    missing = await alice.expect("error", code="bad_request")
    assert "no library card" in missing["message"]
    await ben.expect_none("card", within=0.3)
    assert [r["detail"]["action"] for r in server.export("--kind", "refused")] == ["push_card"]


@pytest.mark.redis
async def test_a_pushed_card_reaches_every_worker(make_server, redis_server, clients):
    """Through the broker: a host on one worker, a participant on the other."""
    one = make_server(ROOMS, redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    alice = await clients.host(one, "alice", ("lobby",))
    ben = await clients.user(two, "ben", ("lobby",))
    await alice.send(type="push_card", room="lobby", card="sleep-basics")
    got = await ben.expect("card", room="lobby", timeout=10)
    assert got["card"]["id"] == "sleep-basics" and re.fullmatch(r"k[\w-]+", got["id"])
    assert httpx.get(two.base + "/api/library?room=lobby").json()["cards"][1]["id"] == "sleep-basics"
