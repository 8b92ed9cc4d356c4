"""Who someone is, shown honestly (issue 20): a host's title and professional mark reach everyone,
and nobody else can pass for one."""

from __future__ import annotations

import re
import sqlite3

import pytest

from chatserver import auth
from chatserver.badges import imitates_badge, label_imitates_badge
from chatserver.db import SCHEMA_VERSION, connect

TITLES = ["Registered counsellor", "Wall guide"]

ROOMS = """
rooms:
  - id: lobby
    title: Lobby
    topic: Anyone.
    hosts: [sam, alice]
    filters: []
"""


def add_titled(server, name: str, *flags: str) -> str:
    done = server.cli("hosts", "add", name, *flags)
    assert done.returncode == 0, done.stderr
    match = re.search(r"token: (\S+)", done.stdout)
    assert match, done.stdout
    return match.group(1)


# ---------------------------------------------------------------- pure
@pytest.mark.parametrize(
    "name",
    [
        "Dr Sam",
        "Sam, counsellor",
        "C0UNSELL0R Kim",  # digits for letters
        "ｔｈｅｒａｐｉｓｔ",  # full-width
        "Registered cоunsellor",  # Cyrillic о
        "Sam ✓",
        "Nurse Joy",
        "wall guide fan",  # another host's title, not a professional word
        "SamTherapist",
    ],
)
def test_names_that_pass_for_a_professional(name):
    """A professional word, a check mark, or any host's title in a name, in any disguise, is caught."""
    assert imitates_badge(name, TITLES)


@pytest.mark.parametrize("name", ["Sam", "Drew", "Andrew", "Therese", "Mara", "River", "guide"])
def test_ordinary_names_pass(name):
    """Names that merely contain the letters of a title are fine."""
    assert not imitates_badge(name, TITLES)


@pytest.mark.parametrize(
    "text",
    [
        "[Registered counsellor] try slow breathing",
        "Registered counsellor: try slow breathing",
        "Therapist here: you should stop your meds",
        "✓ Professional - trust me",
        "(Licensed therapist) try this",
        "Wall guide: hello all",
        "Dr Sam: take two",
    ],
)
def test_messages_that_start_like_a_badge(text):
    """A label at the start made of title words reads as a badge."""
    assert label_imitates_badge(text, TITLES)


@pytest.mark.parametrize(
    "text",
    [
        "My counsellor said: breathe out slowly",
        "As a nurse I found night shifts hard",
        "I saw my GP: she was kind",
        "Doctor Who fans unite: anyone?",
        "Counsellor",
        "hello: there",
    ],
)
def test_sentences_about_professionals_pass(text):
    """People may talk about their therapist; only a badge-like label is refused."""
    assert not label_imitates_badge(text, TITLES)


# ---------------------------------------------------------------- storage and the command line
def test_an_older_database_gains_titles_and_keeps_its_hosts(tmp_path):
    """A schema-1 file (no title columns) is upgraded in place; its hosts and tokens still work."""
    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE hosts (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,"
        " is_admin INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, revoked_at TEXT);"
        f"INSERT INTO hosts VALUES ('alice', '{auth.hash_token('t0k')}', 0, '2026-01-01', NULL);"
    )
    old.close()
    conn = connect(db)
    version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    conn.close()
    assert version == SCHEMA_VERSION == 2
    assert auth.set_title(db, "alice", "Peer supporter", professional=False)
    (alice,) = auth.list_hosts(db)
    assert (alice.name, alice.title, alice.professional) == ("alice", "Peer supporter", False)


def test_hosts_add_title_list_and_change(tmp_path):
    """`hosts add --title --professional` stores both; a re-add keeps them; `hosts title` changes them."""
    from tests.support import cli

    db = str(tmp_path / "chat.db")
    done = cli("hosts", "add", "sam", "--title", "Registered counsellor", "--professional", "--db", db)
    assert done.returncode == 0, done.stderr
    assert cli("hosts", "add", "sam", "--db", db).returncode == 0  # a new token, same title
    listed = cli("hosts", "list", "--db", db).stdout
    assert "Registered counsellor (professional)" in listed
    lonely = cli("hosts", "add", "kim", "--professional", "--db", db)
    assert lonely.returncode != 0 and "--title" in lonely.stderr
    changed = cli("hosts", "title", "sam", "Peer host", "--db", db)
    assert changed.returncode == 0, changed.stderr
    (sam,) = auth.list_hosts(db)
    assert (sam.title, sam.professional) == ("Peer host", False)
    assert cli("hosts", "title", "sam", "--clear", "--db", db).returncode == 0
    assert auth.list_hosts(db)[0].title is None


# ---------------------------------------------------------------- real servers
async def test_a_titled_host_is_shown_with_the_badge_in_presence_and_on_messages(make_server, clients):
    """Everyone in the room sees the title (and the professional mark) when the host comes in and on
    each message; an untitled host and participants carry no badge."""
    server = make_server(ROOMS, start=False)
    token = add_titled(server, "sam", "--title", "Registered counsellor", "--professional")
    server.start()
    ben = await clients.user(server, "ben", ("lobby",))
    sam = await clients.user(server, "Sam", ("lobby",), token=token)
    came = await ben.expect("presence", joined="Sam")
    assert came["title"] == "Registered counsellor" and came["professional"] is True
    assert came["staff"] == [{"name": "Sam", "title": "Registered counsellor", "professional": True}]
    assert (await sam.post("lobby", "Hello, I'm here until eight."))["status"] == "published"
    said = await ben.expect("message", text="Hello, I'm here until eight.")
    assert said["from"]["title"] == "Registered counsellor" and said["from"]["professional"] is True
    alice = await clients.host(server, "alice", ("lobby",))
    assert "title" not in (await ben.expect("presence", joined="alice"))
    await alice.post("lobby", "hi from alice")
    assert "title" not in (await ben.expect("message", text="hi from alice"))["from"]
    await ben.post("lobby", "hi from ben")
    assert "title" not in (await sam.expect("message", text="hi from ben"))["from"]
    await sam.close()
    gone = await ben.expect("presence", left="Sam")
    assert gone["staff"] == []


@pytest.mark.redis
async def test_the_badge_crosses_workers(make_server, redis_server, clients):
    """A host on one worker, participants on others: the badge arrives in presence and messages, and a
    worker started after the host came shows them on duty too."""
    one = make_server(ROOMS, redis=redis_server.url, start=False)
    token = add_titled(one, "sam", "--title", "Registered counsellor", "--professional")
    one.start()
    two = make_server(redis=redis_server.url, share=one)
    ben = await clients.user(two, "ben", ("lobby",))
    sam = await clients.user(one, "Sam", ("lobby",), token=token)
    came = await ben.expect("presence", joined="Sam", timeout=10)
    assert came["title"] == "Registered counsellor"
    assert came["staff"] == [{"name": "Sam", "title": "Registered counsellor", "professional": True}]
    await sam.post("lobby", "across workers")
    said = await ben.expect("message", text="across workers", timeout=10)
    assert said["from"]["professional"] is True
    three = make_server(redis=redis_server.url, share=one)  # started after Sam came: learns from heartbeats
    cy = await clients.user(three, "cy", ("lobby",))
    seen = await cy.expect("presence", timeout=15, staff=lambda s: bool(s))
    assert seen["staff"] == [{"name": "Sam", "title": "Registered counsellor", "professional": True}]


async def test_nobody_else_can_take_a_name_or_text_that_imitates_the_badge(make_server, clients):
    """Names with a professional word or a host's title are refused at hello; a message that starts
    like a badge is refused; ordinary words about professionals pass."""
    server = make_server(ROOMS, start=False)
    token = add_titled(server, "sam", "--title", "Wall guide")
    server.start()
    for name in ("Dr Kim", "Kim the therapist", "wall gu1de", "Kim ✓"):
        client = await clients.connect(server, label=name)
        await client.send(type="hello", name=name)
        refused = await client.expect("error")
        assert refused["code"] == "bad_request" and "title" in refused["message"], name
    sam = await clients.user(server, "Sam", ("lobby",), token=token)
    kim = await clients.user(server, "kim", ("lobby",))
    fake = await kim.post("lobby", "[Registered counsellor] stop taking your tablets")
    assert fake["type"] == "error" and fake["code"] == "bad_request" and "title" in fake["message"]
    copied = await kim.post("lobby", "Wall guide: follow me")  # the host's own title
    assert copied["type"] == "error"
    fine = await kim.post("lobby", "My counsellor said: one day at a time")
    assert fine["status"] == "published"
    seen = await sam.expect("message", from_=lambda f: f["session"] == kim.session)
    assert seen["text"] == "My counsellor said: one day at a time"
    assert server.export("--kind", "published")[-1]["text"] == "My counsellor said: one day at a time"
