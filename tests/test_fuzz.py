"""Fuzzing with hypothesis: the frame parser, names and the filter chain never raise what they should not;
a state machine over send/hold/release/reject/delete against a real server keeps the held-message promises.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from chatserver.errors import ChatError
from chatserver.filters.base import MessageContext
from chatserver.identity import imitates_staff, skeleton
from chatserver.protocol import CLIENT_TYPES, MAX_FRAME_BYTES, NAME_MAX, clean_name, parse_frame
from chatserver.rooms import load_rooms
from tests.fault_fixtures import assert_clean_log, messages
from tests.support import ClientPool

pytestmark = pytest.mark.fuzz

TESTS = Path(__file__).resolve().parent
ROOMS_FILES = [TESTS / "rooms.yaml", TESTS.parent / "rooms.yaml"]
FORBIDDEN_NAME_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["room", "text", "client_id", "name", "token", "resume", "since", "accept_guidelines", "message_id"]
    + ["session", "minutes", "seconds", "locked", "cw", "reason", "note", "type"]
) | st.text(max_size=8)
frames = st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.sampled_from(sorted(CLIENT_TYPES)) | st.text(max_size=12) | json_values,
    st.dictionaries(field_names, json_values, max_size=6),
) | st.dictionaries(field_names, json_values, max_size=6)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_parsed(frame: dict[str, Any]) -> None:
    """What parse_frame promises about a frame it accepts."""
    assert isinstance(frame, dict) and frame["type"] in CLIENT_TYPES
    if frame["type"] == "send":
        assert isinstance(frame["room"], str) and isinstance(frame["text"], str)
        assert isinstance(frame["client_id"], str | int) and not isinstance(frame["client_id"], bool)
    if frame["type"] in ("mute", "slowmode"):
        value = frame["minutes" if frame["type"] == "mute" else "seconds"]
        assert isinstance(value, int | float) and not isinstance(value, bool)


# ---- the frame parser ----------------------------------------------------------------------------


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300))
def test_parse_frame_on_any_bytes_or_text_accepts_or_says_bad_request(raw):
    """Arbitrary bytes or text: a checked frame, or a ChatError with a short message; nothing else."""
    try:
        frame = parse_frame(raw)
    except ChatError as exc:
        assert exc.code == "bad_request" and 0 < len(exc.message) < 300
    else:
        check_parsed(frame)


@FUZZ
@given(frame=frames)
def test_parse_frame_on_json_objects_accepts_or_says_bad_request(frame):
    """Frame-shaped JSON with any field values: a checked frame or bad_request, whatever the types."""
    raw = json.dumps(frame)
    try:
        parsed = parse_frame(raw)
    except ChatError as exc:
        assert exc.code == "bad_request" and len(exc.message) < 300
    else:
        check_parsed(parsed)
        assert parsed == json.loads(raw)


@FUZZ
@given(depth=st.integers(1, 3000), opener=st.sampled_from(["[", '{"a":']))
def test_parse_frame_on_deep_nesting_says_bad_request_or_parses(depth, opener):
    """Deeply nested JSON never overflows the stack: it is refused as not a frame, or as too deep."""
    closer = "]" if opener == "[" else "}"
    raw = opener * depth + "1" + closer * depth
    assume(len(raw) <= MAX_FRAME_BYTES)
    with pytest.raises(ChatError):
        parse_frame(raw)


# ---- names ---------------------------------------------------------------------------------------


@FUZZ
@given(name=st.text(max_size=80))
def test_clean_name_returns_a_safe_name_or_says_bad_request(name):
    """Any text: a trimmed NFC name of 1-32 characters, none control, format or private, or bad_request."""
    try:
        cleaned = clean_name(name)
    except ChatError as exc:
        assert exc.code == "bad_request"
        return
    assert 1 <= len(cleaned) <= NAME_MAX
    assert cleaned == cleaned.strip() and cleaned == unicodedata.normalize("NFC", cleaned)
    assert not {unicodedata.category(ch) for ch in cleaned} & FORBIDDEN_NAME_CATEGORIES


@FUZZ
@given(name=st.text(max_size=40), hosts=st.lists(st.text(max_size=20), max_size=4))
def test_imitation_check_never_raises(name, hosts):
    """The host-imitation check answers for any name and any host list, and a host's own name imitates."""
    assert isinstance(imitates_staff(name, hosts), bool)
    if skeleton(name):
        assert imitates_staff(name, [name])


# ---- the filter chain ----------------------------------------------------------------------------

ROOMS = [room for path in ROOMS_FILES for room in load_rooms(path).rooms.values()]
texts = (
    st.text(max_size=400)
    | st.sampled_from(
        [
            "I want to kill myself",
            "call me on +44 7700 900123 or mail a@b.co",
            "visit https://evil.example/x?y=1 or www.example.org",
            "gr4p3fru1t",
            "k i l l",
            "\u202egpj.exe",
            "a" * 5000,
        ]
    )
    | st.builds(
        lambda a, b: a + b, st.text(max_size=50), st.sampled_from(["kill", "http://x.y", "@", "+1 555"])
    )
)


@FUZZ
@given(
    room=st.sampled_from(ROOMS),
    text=texts,
    role=st.sampled_from(["participant", "host", "admin"]),
    sent=st.integers(0, 50),
    now=st.floats(0, 1e6),
)
def test_every_rooms_chain_decides_anything_without_raising(room, text, role, sent, now):
    """Each shipped and test room's chain answers any text with a valid outcome, and no filter raises."""
    ctx = MessageContext(
        room=room.id, session="s1", name="ann", role=role, text=text, now=now, sent_in_room=sent
    )
    result = room.chain.run(ctx)
    assert result.status in ("published", "held", "rejected")
    assert isinstance(result.text, str)
    assert result.errors == [], f"a filter raised: {result.errors}"
    assert len(result.reasons) == len(result.explanations)
    if result.status == "rejected":
        assert result.reasons
    if role != "participant":
        assert result.status != "held", "hosts and admins are never held"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(room=st.sampled_from(ROOMS), text=st.text(min_size=1000, max_size=2000))
def test_filters_stay_fast_on_long_adversarial_text(room, text):
    """No filter takes seconds on 2,000 characters (a canary for catastrophic regex backtracking)."""
    ctx = MessageContext(room=room.id, session="s", name="n", role="participant", text=text, now=0.0)
    started = time.perf_counter()
    room.chain.run(ctx)
    assert time.perf_counter() - started < 2.0


# ---- fuzzed frames against a live server ---------------------------------------------------------


def collect(strategy, n: int) -> list[Any]:
    """n examples of `strategy`, drawn by hypothesis (shrinking is pointless against a live server)."""
    out: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(example):
        out.append(example)

    draw()
    return out


async def test_fuzzed_frames_never_break_the_server(server, clients):
    """250 fuzzed frames at a live server: answered, never 1011, no traceback; the room carries on."""
    samples = collect(frames.map(json.dumps) | st.text(max_size=200), 250)
    bystander = await clients.user(server, "bystander", ("lobby",))
    # Fifty frames per connection stay inside the frame allowance: this is about parsing, not flooding.
    for k in range(0, len(samples), 50):
        fuzzer = await clients.user(server, f"fuzzer{k}", ("lobby",))
        for raw in samples[k : k + 50]:
            await fuzzer.ws.send(raw)
        await fuzzer.send(type="ping")
        if not fuzzer.closed.is_set():
            await fuzzer.expect("pong", timeout=10)
        assert fuzzer.close_code in (None, 1000), fuzzer.close_code
    ack = await bystander.post("lobby", "still here")
    assert ack["status"] == "published"
    assert not [c for c in clients.clients if c.close_code == 1011]
    assert_clean_log(server)


# ---- the held-message state machine --------------------------------------------------------------


class LoopThread:
    """An asyncio loop in a thread, so a synchronous hypothesis state machine can drive async clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class HeldMessages(RuleBasedStateMachine):
    """Participants' messages in a premoderated room, hosts releasing, rejecting and deleting.

    Promises checked: a held message is seen by no participant before its release; a released
    one is seen exactly once, even when two hosts release it at once; a rejected one never (and
    deleting a held one rejects it); a deleted one never again; a second release or reject is
    refused; participants never even hear of a held or rejected id.
    """

    server: Any = None
    runner: LoopThread | None = None
    #: Resume tokens of the two hosts: each example reconnects them under the same
    #: session, so a name still held by the last example's closing socket is not "taken".
    resume: dict[str, str] = {}
    counter = itertools.count()
    stats: Counter[str] = Counter()
    ROOM = "moderated"

    ids = Bundle("ids")

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self.runner is not None
        return self.runner.run(coro)

    @initialize()
    def connect(self) -> None:
        n = next(self.counter)
        self.pool = ClientPool()

        async def setup():
            sender = await self.pool.user(self.server, f"sender{n}", (self.ROOM,))
            watcher = await self.pool.user(self.server, f"watcher{n}", (self.ROOM,))
            hosts = [
                await self.pool.user(
                    self.server, h, (self.ROOM,), token=self.server.tokens[h], resume=self.resume[h]
                )
                for h in ("alice", "bob")
            ]
            return sender, watcher, *hosts

        self.sender, self.watcher, self.alice, self.bob = self.run(setup())
        self.hosts = {"alice": self.alice, "bob": self.bob}
        self.held: set[str] = set()
        self.shown: set[str] = set()  # published by a host, or released
        self.rejected: set[str] = set()
        self.deleted: set[str] = set()
        self.step = 0

    def teardown(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is None:
            return
        try:
            self.sync()
            self.check_counts()
        finally:
            self.run(pool.close())

    # -- helpers --
    def seen(self, message_id: str) -> int:
        return sum(1 for m in messages(self.watcher, self.ROOM) if m["id"] == message_id)

    def sync(self) -> None:
        """Everything fanned out before now has reached the watcher: a host message is a barrier."""
        self.step += 1
        ack = self.run(self.alice.post(self.ROOM, f"barrier {self.step}"))
        assert ack["status"] == "published"
        self.run(self.watcher.expect("message", id=ack["id"], timeout=10))
        self.shown.add(ack["id"])

    def check_counts(self) -> None:
        for message_id in self.held | self.rejected:
            assert self.seen(message_id) == 0, f"{message_id} shown while held or after a reject"
        for message_id in self.shown:
            assert self.seen(message_id) == 1, f"{message_id} shown {self.seen(message_id)} times"

    # -- rules --
    @rule(target=ids, text=st.text(min_size=1, max_size=30).filter(str.strip))
    def participant_sends(self, text: str) -> str:
        ack = self.run(self.sender.post(self.ROOM, text))
        assert ack["status"] == "held", ack
        self.stats["held"] += 1
        self.run(self.alice.expect("held", id=ack["id"], timeout=10))
        self.held.add(ack["id"])
        return ack["id"]

    @rule(target=ids, text=st.text(min_size=1, max_size=30).filter(str.strip))
    def host_sends(self, text: str) -> str:
        ack = self.run(self.bob.post(self.ROOM, text))
        assert ack["status"] == "published", ack
        self.shown.add(ack["id"])
        return ack["id"]

    @rule(message_id=ids, host=st.sampled_from(["alice", "bob"]))
    def release(self, message_id: str, host: str) -> None:
        self.resolve("release", message_id, [host])

    @rule(message_id=ids)
    def both_hosts_release_at_once(self, message_id: str) -> None:
        self.resolve("release", message_id, ["alice", "bob"])

    @rule(message_id=ids, host=st.sampled_from(["alice", "bob"]))
    def reject(self, message_id: str, host: str) -> None:
        self.resolve("reject", message_id, [host])

    @precondition(lambda self: bool(self.shown - self.deleted))
    @rule(data=st.data(), host=st.sampled_from(["alice", "bob"]))
    def delete(self, data: st.DataObject, host: str) -> None:
        message_id = data.draw(st.sampled_from(sorted(self.shown - self.deleted)))
        self.run(self.hosts[host].send(type="delete", room=self.ROOM, message_id=message_id))
        self.run(self.watcher.expect("deleted", id=message_id, timeout=10))
        self.deleted.add(message_id)
        self.stats["delete"] += 1

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data(), host=st.sampled_from(["alice", "bob"]))
    def delete_while_held(self, data: st.DataObject, host: str) -> None:
        """Deleting a held message rejects it: only the hosts and the sender hear of it."""
        message_id = data.draw(st.sampled_from(sorted(self.held)))
        self.run(self.hosts[host].send(type="delete", room=self.ROOM, message_id=message_id))
        self.run(self.alice.expect("resolved", id=message_id, action="rejected", timeout=10))
        self.run(self.sender.expect("resolved", id=message_id, action="rejected", timeout=10))
        self.held.discard(message_id)
        self.rejected.add(message_id)
        self.stats["delete while held"] += 1

    @rule(message_id=ids)
    def participant_tries_to_release(self, message_id: str) -> None:
        self.run(self.watcher.send(type="release", room=self.ROOM, message_id=message_id))
        error = self.run(self.watcher.expect("error", timeout=10))
        assert error["code"] == "forbidden"

    def resolve(self, action: str, message_id: str, hosts: list[str]) -> None:
        waiting = message_id in self.held
        self.stats[f"{action} x{len(hosts)} {'waiting' if waiting else 'not waiting'}"] += 1
        if waiting:
            assert self.seen(message_id) == 0, "shown before its release"
        before = {h: len([f for f in self.hosts[h].frames if f["type"] == "error"]) for h in hosts}

        async def act():
            await asyncio.gather(
                *(self.hosts[h].send(type=action, room=self.ROOM, message_id=message_id) for h in hosts)
            )

        self.run(act())
        outcome = "released" if action == "release" else "rejected"
        if waiting:
            self.run(self.alice.expect("resolved", id=message_id, action=outcome, timeout=10))
            self.run(self.sender.expect("resolved", id=message_id, action=outcome, timeout=10))
            self.held.discard(message_id)
            (self.shown if action == "release" else self.rejected).add(message_id)
            if action == "release":
                self.run(self.watcher.expect("message", id=message_id, timeout=10))
            refusals = len(hosts) - 1
        else:
            refusals = len(hosts)

        def errors(h: str) -> list[dict]:
            return [f for f in self.hosts[h].frames if f["type"] == "error"][before[h] :]

        deadline = time.monotonic() + 10
        while sum(len(errors(h)) for h in hosts) < refusals:
            assert time.monotonic() < deadline, f"{action} of {message_id}: no refusal for the loser"
            time.sleep(0.02)
        assert all(e["code"] == "bad_request" for h in hosts for e in errors(h))

    @invariant()
    def nothing_held_or_rejected_is_shown(self) -> None:
        if not hasattr(self, "watcher"):
            return
        heard_of = {f["id"] for f in self.watcher.frames if f.get("id")}
        assert not heard_of & (self.held | self.rejected), "a participant heard of a held or rejected id"


def test_held_messages_state_machine(make_server):
    """Random send/hold/release/reject/delete sequences (two hosts, double releases) keep every promise."""
    server = make_server()
    runner = LoopThread()
    hosts = ClientPool()
    HeldMessages.server, HeldMessages.runner = server, runner
    try:
        for name in ("alice", "bob"):
            HeldMessages.resume[name] = runner.run(hosts.host(server, name)).resume_token
        run_state_machine_as_test(
            HeldMessages,
            settings=settings(
                max_examples=25,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        runner.run(hosts.close())
        runner.stop()
        print("FIGURE state_machine_steps", dict(HeldMessages.stats))
        HeldMessages.server = HeldMessages.runner = None
        HeldMessages.resume = {}
    assert_clean_log(server)


async def test_a_held_message_deleted_then_released_is_never_shown(server, clients):
    """A host deletes a held message, another releases it: nobody but hosts ever hears of it."""
    sam = await clients.user(server, "sam", ("moderated",))
    kim = await clients.user(server, "kim", ("moderated",))
    alice = await clients.host(server, "alice", ("moderated",))
    bob = await clients.host(server, "bob", ("moderated",))
    ack = await sam.post("moderated", "held, then deleted")
    await alice.expect("held", id=ack["id"])
    await alice.send(type="delete", room="moderated", message_id=ack["id"])
    await bob.send(type="release", room="moderated", message_id=ack["id"])
    await bob.expect(None, type=lambda t: t in ("error", "resolved"), timeout=5)
    sync = await alice.post("moderated", "barrier")
    await kim.expect("message", id=sync["id"])
    assert not [f for f in kim.frames if f.get("id") == ack["id"]], "a participant heard of a held message"
