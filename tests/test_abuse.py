"""Abuse and bad input: every bad frame gets its documented answer, floods are contained, dead peers go.

Each test checks what the abused connection gets (an `error` code or a close
code, never 1011) and that everyone else carries on; server logs must never
show a traceback. Figures are printed as `FIGURE name=value` (run with `-s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import unicodedata

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chatserver.connection import FLOOD_STRIKES
from tests.fault_fixtures import aget, assert_clean_log, until
from tests.support import LOOPBACK, RAW_UPGRADE, Client, text_frame

pytestmark = pytest.mark.faults


def figure(name: str, value: float | int) -> None:
    print(f"FIGURE {name}={value:.4f}" if isinstance(value, float) else f"FIGURE {name}={value}")


async def closed_with(client: Client, timeout: float = 5) -> int | None:
    await asyncio.wait_for(client.closed.wait(), timeout)
    return client.close_code


async def still_fine(client: Client, bystander: Client, room: str = "lobby") -> None:
    """The connection still answers, and a message from it still reaches someone else."""
    await client.send(type="ping")
    await client.expect("pong")
    ack = await client.post(room, "still fine")
    assert ack["status"] == "published", ack
    await bystander.expect("message", id=ack["id"])


# ---- frames that are too big or not text ---------------------------------------------------------

OVERSIZED = {
    "one-frame-just-over-64KiB": lambda: "x" * (64 * 1024 + 1),
    "fragments-adding-up-to-80KiB": lambda: iter(["y" * 16 * 1024] * 5),
    "binary-70KiB": lambda: b"z" * (70 * 1024),
    "binary-fragments-90KiB": lambda: iter([b"w" * 30 * 1024] * 3),
}


async def test_oversized_messages_close_1009_and_the_room_carries_on(server, clients):
    """A message over 64 KiB, whole or in fragments, text or binary, closes that connection with 1009 only."""
    bystander = await clients.user(server, "bystander", ("lobby",))
    other = await clients.user(server, "other", ("lobby",))
    for case, payload in OVERSIZED.items():
        big = await clients.user(server, f"big-{case}"[:32], ("lobby",))
        with contextlib.suppress(ConnectionClosed):
            await big.ws.send(payload())
        assert await closed_with(big) == 1009, case
        await still_fine(other, bystander)
    assert_clean_log(server)


async def test_a_frame_just_under_the_limit_is_accepted(server, clients):
    """A 60,000-character message (frame under 64 KiB) in a room that allows it is published."""
    ann = await clients.user(server, "ann", ("bulk",))
    ben = await clients.user(server, "ben", ("bulk",))
    ack = await ann.post("bulk", "q" * 60_000)
    assert ack["status"] == "published"
    await until(lambda: any(f.get("id") == ack["id"] for f in ben.frames), 5, "the long message")
    assert len(next(f for f in ben.frames if f.get("id") == ack["id"])["text"]) == 60_000


NOT_UTF8 = {
    "invalid-byte": [b'{"type":"ping","x":"\xff\xfe"}'],
    "encoded-surrogate": [b'{"type":"send","text":"\xed\xa0\x80"}'],
    "truncated-sequence": [b'{"type":"ping","x":"\xc3'],
    "bad-sequence-across-fragments": [b'{"type":"ping","x":"\xe2\x82', b'\x28"}'],
}


async def test_invalid_utf8_closes_1007_and_the_room_carries_on(server, clients):
    """A text message that is not UTF-8 (whole or split across fragments) closes that connection with 1007."""
    bystander = await clients.user(server, "bystander", ("lobby",))
    other = await clients.user(server, "other", ("lobby",))
    for case, frames in NOT_UTF8.items():
        bad = await clients.user(server, f"bad-{case}"[:32], ("lobby",))
        payload = frames[0] if len(frames) == 1 else iter(frames)
        with contextlib.suppress(ConnectionClosed):
            await bad.ws.send(payload, text=True)
        assert await closed_with(bad) == 1007, case
        await still_fine(other, bystander)


async def test_invalid_utf8_leaves_no_traceback_in_the_log(server, clients):
    """Invalid UTF-8 from a client is the client's problem: one quiet log line at most, no traceback."""
    bad = await clients.user(server, "bad", ("lobby",))
    await bad.ws.send(b'{"type":"ping","x":"\xff"}', text=True)
    assert await closed_with(bad) == 1007
    assert_clean_log(server)


# ---- frames that are not what the protocol wants -------------------------------------------------

BAD_FRAMES = [
    ("nope", "bad_request"),
    ("", "bad_request"),
    ("   ", "bad_request"),
    ("null", "bad_request"),
    ("[1, 2]", "bad_request"),
    ('"hello"', "bad_request"),
    ("{}", "bad_request"),
    ('{"type": null}', "bad_request"),
    ('{"type": 3}', "bad_request"),
    ('{"type": ["send"]}', "bad_request"),
    ('{"type": "fly"}', "bad_request"),
    ('{"type": "__proto__"}', "bad_request"),
    ('{"type": "' + "t" * 5000 + '"}', "bad_request"),
    ('{"type": "send"}', "bad_request"),
    ('{"type": "send", "room": "lobby", "text": 5, "client_id": "a"}', "bad_request"),
    ('{"type": "send", "room": "lobby", "text": "hi", "client_id": true}', "bad_request"),
    ('{"type": "send", "room": "lobby", "text": "hi", "client_id": {"a": 1}}', "bad_request"),
    (
        '{"type": "send", "room": "lobby", "text": "hi", "client_id": 123456789012345678901234567890}',
        "bad_request",
    ),
    ('{"type": "send", "room": "lobby", "text": "   ", "client_id": "ws"}', "bad_request"),
    ('{"type": "send", "room": ["lobby"], "text": "hi", "client_id": "a"}', "bad_request"),
    ('{"type": "send", "room": "lobby", "text": "hi", "client_id": "a", "cw": 7}', "bad_request"),
    ('{"type": "send", "room": "lobby", "text": "\\ud800", "client_id": "sur"}', "bad_request"),
    ('{"type": "send", "room": "nowhere", "text": "hi", "client_id": "nr"}', "unknown_room"),
    ('{"type": "send", "room": "guided", "text": "hi", "client_id": "nj"}', "not_joined"),
    ('{"type": "join", "room": "' + "r" * 10_000 + '"}', "unknown_room"),
    ('{"type": "join", "room": "lobby", "since": [1]}', "bad_request"),
    ('{"type": "leave", "room": "guided"}', "not_joined"),
    ('{"type": "mute", "room": "lobby", "session": "x", "minutes": "5"}', "bad_request"),
    ('{"type": "mute", "room": "lobby", "session": "x", "minutes": true}', "bad_request"),
    ('{"type": "lock", "room": "lobby", "locked": "yes"}', "bad_request"),
    ('{"type": "release", "room": "lobby", "message_id": "m1"}', "forbidden"),
    ('{"type": "hello", "name": "again"}', "bad_request"),
    ('{"type": "ping", "n": 1e999999}', "bad_request"),
    ('{"type": "ping", "n": NaN}', "bad_request"),
    ("[" * 5000 + "]" * 5000, "bad_request"),
    ('{"a":' * 3000 + "1" + "}" * 3000, "bad_request"),
]


async def test_malformed_frames_get_their_error_and_the_connection_lives(server, clients):
    """Non-JSON, wrong types, unknown types, missing fields: one `error` each; the connection still works."""
    bystander = await clients.user(server, "bystander", ("lobby",))
    c = await clients.user(server, "sam", ("lobby",))
    for i, (raw, code) in enumerate(BAD_FRAMES):
        if i and i % 15 == 0:
            await asyncio.sleep(1)  # stay inside the frame allowance: this test is about parsing
        await c.ws.send(raw)
        error = await c.expect("error")
        assert error["code"] == code, (raw[:80], error)
        assert len(error["message"]) < 500, "an error message should not echo a huge input back"
    await still_fine(c, bystander)
    assert c.close_code is None
    assert_clean_log(server)


async def test_malformed_frames_before_hello_are_answered_and_hello_still_works(server, clients):
    """Garbage before hello gets bad_request each time; a good hello afterwards is welcomed."""
    c = await clients.connect(server)
    for raw, _ in BAD_FRAMES[:12]:
        await c.ws.send(raw)
        assert (await c.expect("error"))["code"] == "bad_request"
    assert (await c.hello("late"))["name"] == "late"
    assert_clean_log(server)


async def test_binary_frames_are_read_like_text(server, clients):
    """A JSON frame sent as binary is handled as that frame; binary garbage gets bad_request."""
    c = await clients.user(server, "sam", ("lobby",))
    await c.ws.send(b'{"type": "ping"}')
    await c.expect("pong")
    await c.ws.send(b"\x00\x01\x02")
    assert (await c.expect("error"))["code"] == "bad_request"
    assert_clean_log(server)


# ---- names ---------------------------------------------------------------------------------------

BAD_NAMES = {
    "empty": "",
    "spaces": "     ",
    "too-long": "n" * 33,
    "huge": "h" * 60_000,
    "newline": "ann\nbob",
    "tab": "ann\tbob",
    "nul": "ann\x00",
    "escape": "\x1b[31mred",
    "del": "ann\x7f",
    "c1-control": "an\x85n",
    "zero-width-space": "an\u200bn",
    "zero-width-joiner": "an\u200dn",
    "word-joiner": "an\u2060n",
    "soft-hyphen": "an\u00adn",
    "bom": "\ufeffann",
    "rtl-override": "ann\u202egpj.exe",
    "ltr-embedding": "\u202aann",
    "rtl-isolate": "\u2067ann\u2069",
    "rtl-mark": "ann\u200f",
    "line-separator": "ann\u2028bob",
    "tag-characters": "ann\U000e0041",
    "private-use": "ann\ue000",
    "unassigned": "ann\U0010fffe",
    "combining-flood": "a" + "\u0301" * 40,
    "not-text-number": 5,
    "not-text-null": None,
    "not-text-list": ["ann"],
    "not-text-object": {"n": "ann"},
    "not-text-bool": True,
}


async def test_bad_names_are_refused_and_a_good_hello_follows(server, clients):
    """Empty, huge, control, zero-width, bidi, invisible or non-text names: bad_request; the socket lives."""
    c = await clients.connect(server)
    for case, name in BAD_NAMES.items():
        await c.send(type="hello", name=name)
        error = await c.expect("error")
        assert error["code"] == "bad_request", (case, error)
        assert len(error["message"]) < 200, case
    assert (await c.hello("fine name"))["name"] == "fine name"
    assert_clean_log(server)


GOOD_NAMES = ["Ann-Marie", "李小龙", "José", "Zoë 🌱", "a" + "\u0301" * 5, "  trimmed  ", "Ōsaka-Kid", "نور"]


async def test_ordinary_names_from_many_scripts_are_welcome(server, clients):
    """Real names in many scripts (and a few combining marks) are accepted, trimmed and NFC-normalised."""
    for name in GOOD_NAMES:
        c = await clients.connect(server)
        assert (await c.hello(name))["name"] == unicodedata.normalize("NFC", name).strip(), name


IMPOSTORS = {
    "other-case": "ALICE",
    "fullwidth": "\uff41\uff4c\uff49\uff43\uff45",
    "digit-for-letter": "A1ice",
    "accent": "Al\u00efce",
    "spaced": "a l i c e",
    "role-claim": "alice (host)",
    "title-first": "Host Alice",
    "staff-title": "Moderator",
}
CROSS_SCRIPT_IMPOSTORS = {
    "cyrillic-a": "\u0430lice",
    "cyrillic-e": "alic\u0435",
    "greek-omicron-in-bob": "b\u03bfb",
    "dotless-i": "al\u0131ce",
}


async def refused_names(server, clients, names: dict[str, str]) -> list[str]:
    """The cases whose hello was refused with bad_request."""
    c = await clients.connect(server)
    refused = []
    for case, name in names.items():
        await c.send(type="hello", name=name)
        frame = await c.expect(None, type=lambda t: t in ("welcome", "error"))
        if frame["type"] == "error" and frame["code"] == "bad_request":
            refused.append(case)
        elif frame["type"] == "welcome":
            c = await clients.connect(server)
    return refused


async def test_names_that_imitate_a_host_are_refused(server, clients):
    """A participant cannot take a name that reads as a host's (case, width, digits, spacing, titles)."""
    assert await refused_names(server, clients, IMPOSTORS) == list(IMPOSTORS)


async def test_names_that_imitate_a_host_with_other_scripts_are_refused(server, clients):
    """Homoglyphs from other scripts (Cyrillic а and е, Greek ο, dotless ı) cannot pass for a host either."""
    assert await refused_names(server, clients, CROSS_SCRIPT_IMPOSTORS) == list(CROSS_SCRIPT_IMPOSTORS)


async def test_a_host_keeps_their_own_name(server, clients):
    """The real host, with a token, is welcomed under the host name a participant may not imitate."""
    alice = await clients.host(server, "alice")
    assert alice.welcome["name"] == "alice" and alice.welcome["role"] == "host"


# ---- floods --------------------------------------------------------------------------------------

FLOODER = r"""
import asyncio, json, signal, sys
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

url, connections = sys.argv[1], int(sys.argv[2])
stats = {"admitted": 0, "closes": {}, "refused": {}, "rate_limited": 0, "frames": 0}
frames = [
    json.dumps({"type": "ping"}),
    json.dumps({"type": "typing", "room": "limited"}),
    "this is not json",
    json.dumps({"type": "send", "room": "limited", "text": "spam spam spam", "client_id": "x"}),
]

def tally(kind, key):
    stats[kind][key] = stats[kind].get(key, 0) + 1
    if stats[kind][key] == 1:
        print(kind, key, flush=True)  # the first of each outcome, so the test knows the flood is on

async def one(k, stop):
    while not stop.is_set():
        try:
            # Each flooder from its own address, as eight machines would be.
            source = {"local_addr": (f"127.0.0.{10 + k}", 0)}
            async with connect(url, compression=None, open_timeout=5, close_timeout=1, **source) as ws:
                stats["admitted"] += 1
                await ws.send(json.dumps({"type": "hello", "name": f"flood{k}"}))
                await ws.send(json.dumps({"type": "join", "room": "limited", "accept_guidelines": True}))
                async def read():
                    try:
                        async for raw in ws:
                            if '"rate_limited"' in raw:
                                stats["rate_limited"] += 1
                    except ConnectionClosed:
                        pass  # closed without a clean handshake: the server stopped reading us
                reader = asyncio.create_task(read())
                i = 0
                try:
                    while not stop.is_set():
                        await ws.send(frames[i % len(frames)])
                        stats["frames"] += 1
                        i += 1
                        if i % 20 == 0:
                            await asyncio.sleep(0)
                except Exception:
                    pass
                await asyncio.wait_for(reader, 3)
                tally("closes", str(ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None))
        except InvalidStatus as exc:
            tally("refused", str(exc.response.status_code))
        except Exception as exc:
            tally("refused", type(exc).__name__)

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.gather(*(one(k, stop) for k in range(connections)))
    print(json.dumps(stats), flush=True)

asyncio.run(main())
"""


def start_flooder(server, connections: int) -> subprocess.Popen[str]:
    """Flooding connections that reconnect as soon as they are closed or refused, until SIGTERM."""
    # The flooder stands for an attacker on another machine: on this shared 2-core box it runs
    # at the lowest CPU priority, so what we measure is the server's defence, not our own CPU
    # contention with the attacking process.
    return subprocess.Popen(
        [sys.executable, "-c", FLOODER, server.ws_url, str(connections)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.nice(19),
    )


def wait_for_lines(process: subprocess.Popen[str], wanted: set[str]) -> None:
    """Read `process`'s output until every wanted line has appeared."""
    assert process.stdout is not None
    missing = set(wanted)
    while missing:
        line = process.stdout.readline()
        assert line, f"the process ended before printing {missing}"
        missing.discard(line.strip())


async def latencies(sender: Client, receiver: Client, room: str, n: int, tag: str) -> list[float]:
    """n round trips sender → server → receiver, paced under the frame limit; seconds each."""
    loop = asyncio.get_running_loop()
    out = []
    for i in range(n):
        text = f"{tag} {i}"
        started = loop.time()
        await sender.send(type="send", room=room, text=text, client_id=f"{tag}{i}")
        await receiver.expect("message", text=text, timeout=10)
        out.append(loop.time() - started)
        await asyncio.sleep(0.06)
    return out


class RawWs:
    """A blocking WebSocket client on a plain socket: exact control of what is sent, and when."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=5)
        self.sock.sendall(RAW_UPGRADE)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n", 1)[0]
        self.frames: list[dict] = []
        self.close_code: int | None = None

    def send(self, *frames: dict) -> None:
        self.sock.sendall(b"".join(map(text_frame, frames)))

    def read_until(self, done, timeout: float = 5) -> None:
        """Parse server frames until `done()` or the close frame; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while not done() and self.close_code is None:
            while self._parse_one():
                pass
            if done() or self.close_code is not None:
                return
            assert time.monotonic() < deadline, f"waited {timeout}s; got {self.frames[-3:]}"
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            assert chunk, "the server reset the connection without a close frame"
            self.buf += chunk

    def _parse_one(self) -> bool:
        if len(self.buf) < 2:
            return False
        opcode, n, at = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
        if n == 126:
            if len(self.buf) < 4:
                return False
            n, at = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            if len(self.buf) < 10:
                return False
            n, at = int.from_bytes(self.buf[2:10], "big"), 10
        if len(self.buf) < at + n:
            return False
        payload, self.buf = self.buf[at : at + n], self.buf[at + n :]
        if opcode == 0x1:
            self.frames.append(json.loads(payload))
        elif opcode == 0x8:
            self.close_code = int.from_bytes(payload[:2], "big")
        return True

    def count(self, code: str) -> int:
        return sum(1 for f in self.frames if (f.get("code") or f["type"]) == code)

    def trailing_refusals(self) -> int:
        n = 0
        for f in reversed(self.frames):
            if f.get("code") != "rate_limited":
                break
            n += 1
        return n


def flood_until_closed(port: int) -> RawWs:
    """Ping as fast as the wire allows, in batches sized to end exactly on the closing refusal.

    A client that keeps writing after the server closed gets a TCP reset, and a reset makes
    the kernel drop what the client had not read yet, close frame included. So each batch is
    exactly what should bring the refusals to FLOOD_STRIKES, then we read every answer.
    """
    ws = RawWs(port)
    ws.send({"type": "hello", "name": "flood"}, {"type": "join", "room": "lobby"})
    ws.read_until(lambda: any(f["type"] == "joined" for f in ws.frames))
    time.sleep(0.1)  # let the bucket refill to its full burst of 60
    ws.frames.clear()
    first = 60 + FLOOD_STRIKES
    ws.send(*[{"type": "ping"}] * first)
    answered = first
    last = FLOOD_STRIKES - 1
    for _ in range(50):
        ws.read_until(lambda n=answered: len(ws.frames) >= n - (1 if ws.trailing_refusals() == last else 0))
        if ws.close_code is not None:
            return ws
        batch = FLOOD_STRIKES - ws.trailing_refusals()
        ws.send(*[{"type": "ping"}] * batch)
        answered += batch
    raise AssertionError("a flooding connection was never closed")


async def test_a_flooding_connection_is_throttled_then_closed_1008(server, clients):
    """Past 20 frames/s (burst 60) a connection gets rate_limited; after FLOOD_STRIKES refusals, 1008."""
    bystander = await clients.user(server, "bystander", ("lobby",))
    other = await clients.user(server, "other", ("lobby",))
    ws = await asyncio.to_thread(flood_until_closed, server.port)
    figure("flood_pongs_before_close", ws.count("pong"))
    figure("flood_refusals_before_close", ws.count("rate_limited"))
    assert ws.close_code == 1008
    assert ws.count("pong") >= 59, "the burst allowance was not honoured"
    assert ws.trailing_refusals() == FLOOD_STRIKES - 1, "all refusals but the last are answered; it closes"
    ws.sock.close()
    await still_fine(other, bystander)
    await bystander.expect("presence", left="flood", timeout=5)
    assert_clean_log(server)


async def test_a_steady_flooder_is_closed_too(server, clients):
    """300 frames/s, steady: every 15th frame finds a token, yet the connection is closed within seconds."""
    bystander = await clients.user(server, "bystander", ("lobby",))
    other = await clients.user(server, "other", ("lobby",))
    flood = await clients.user(server, "steady", ("lobby",))
    loop = asyncio.get_running_loop()
    end = loop.time() + 4  # at 280 refusals a second, FLOOD_STRIKES take well under a second
    with contextlib.suppress(ConnectionClosed):
        while loop.time() < end and not flood.closed.is_set():
            await flood.send(type="ping")
            await asyncio.sleep(1 / 300)
    assert await closed_with(flood, 1) == 1008
    await still_fine(other, bystander)


async def test_a_send_refused_by_the_frame_limit_is_answered_by_client_id(server, clients):
    """Every send is answered by its client_id, even when the frame limiter refuses it."""
    ann = await clients.user(server, "ann", ("lobby",))
    for i in range(80):
        await ann.send(type="send", room="lobby", text=f"m{i}", client_id=f"c{i}")

    def answered(i: int) -> bool:
        cid = f"c{i}"
        return any(f.get("client_id") == cid or f.get("ref") == cid for f in ann.frames)

    await until(lambda: all(answered(i) for i in range(80)), 3, "an answer for every send")
    assert [f for f in ann.frames if f.get("ref") and f.get("code") == "rate_limited"]


@pytest.mark.slow
async def test_others_latency_under_a_flood_stays_near_baseline(server, clients):
    """Eight flooding addresses that reconnect as soon as closed or refused: others stay within 2x."""
    sender = await clients.user(server, "sender", ("lobby",))
    receiver = await clients.user(server, "receiver", ("lobby",))
    await latencies(sender, receiver, "lobby", 5, "warm")
    base = await latencies(sender, receiver, "lobby", 40, "base")
    flooder = start_flooder(server, connections=8)
    try:
        # Measure once the flood is in full swing: flooders were closed for flooding and refused.
        await asyncio.wait_for(asyncio.to_thread(wait_for_lines, flooder, {"closes 1008", "refused 429"}), 20)
        under = await latencies(sender, receiver, "lobby", 40, "flood")
        flooder.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(flooder.communicate, timeout=15)
    finally:
        flooder.kill()
        flooder.wait(5)
    stats = json.loads(out.splitlines()[-1])
    figure("flood_connections_admitted", stats["admitted"])
    figure("flood_connections_closed_1008", stats["closes"].get("1008", 0))
    figure("flood_handshakes_refused_429", stats["refused"].get("429", 0))
    figure("flood_frames_sent", stats["frames"])
    assert stats["rate_limited"] > 0, stats
    base_median, flood_median = statistics.median(base), statistics.median(under)
    figure("latency_baseline_median_ms", base_median * 1000)
    figure("latency_flood_median_ms", flood_median * 1000)
    figure("latency_baseline_p90_ms", statistics.quantiles(base, n=10)[-1] * 1000)
    figure("latency_flood_p90_ms", statistics.quantiles(under, n=10)[-1] * 1000)
    # Medians of 40 round trips each. The flooder runs at nice 19: it stands for attackers on other
    # machines, so what is measured is the server's defence, not our own competition for 2 cores.
    assert flood_median <= 2 * base_median, (base_median, flood_median)
    assert_clean_log(server)


async def test_per_ip_connection_cap(make_server, clients):
    """Past the per-IP cap a handshake gets HTTP 429; other addresses still get in; a freed slot returns."""
    server = make_server(extra=("--max-connections-per-ip", "5"))
    held = [await open_from(server, "127.0.0.1") for _ in range(5)]
    for k, ws in enumerate(held):
        await greet(ws, f"held{k}")
    await assert_refused(server, "127.0.0.1")
    other_ip = await open_from(server, "127.0.0.2")
    await greet(other_ip, "elsewhere")
    await held[0].close()
    await until_accepted(server, "127.0.0.1")
    for ws in [*held, other_ip]:
        await ws.close()
    assert_clean_log(server)


async def test_global_connection_cap(make_server, clients):
    """Past the global cap, handshakes from any address get HTTP 429 until a connection closes."""
    server = make_server(extra=("--max-connections", "6", "--max-connections-per-ip", "100"))
    held = [await open_from(server, f"127.0.0.{2 + k}") for k in range(6)]
    for k, ws in enumerate(held):
        await greet(ws, f"held{k}")
    await assert_refused(server, "127.0.0.20")
    await held[0].close()
    await until_accepted(server, "127.0.0.20")
    for ws in held:
        await ws.close()
    assert_clean_log(server)


async def test_reconnecting_faster_than_the_connect_rate_is_refused(make_server, clients):
    """Past the per-address connect rate (burst: half a minute's worth) handshakes get 429; others get in."""
    server = make_server(extra=("--connect-rate-per-ip", "60"))
    for _ in range(30):
        ws = await open_from(server, "127.0.0.3")
        await ws.close()
    body = await assert_refused(server, "127.0.0.3")
    assert "Too many new connections" in body, body
    await (await open_from(server, "127.0.0.4")).close()
    await until_accepted(server, "127.0.0.3")  # one token a second comes back
    assert_clean_log(server)


async def test_an_address_that_flooded_is_refused_before_any_work_then_let_back(server, clients):
    """After a 1008 for flooding, that address gets a canned 429 (pages too) for a cool-off; others do not."""
    flooded = await asyncio.to_thread(flood_until_closed, server.port)
    assert flooded.close_code == 1008
    flooded.sock.close()
    body = await assert_refused(server, LOOPBACK)
    assert "Too many new connections" in body, body
    answer = await asyncio.to_thread(request_in_pieces, server.port)
    assert answer.startswith(b"HTTP/1.1 429 ") and answer.endswith(body.encode()), answer
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=LOOPBACK)) as http:
        page = await http.get(server.base + "/")
    assert page.status_code == 429 and page.headers["x-frame-options"] == "DENY", page.headers
    other = await open_from(server, "127.0.0.5")
    await greet(other, "neighbour")
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address="127.0.0.5")) as http:
        metrics = (await http.get(server.base + "/metrics")).text
    refused = re.search(r'^chatserver_connections_refused_total\{reason="rate"\} (\S+)$', metrics, re.M)
    assert refused and float(refused.group(1)) >= 2, "both refusals should be counted"
    await until_accepted(server, LOOPBACK)
    await other.close()
    assert_clean_log(server)


def request_in_pieces(port: int) -> bytes:
    """A request head sent in three segments, as a slow link delivers it; everything the server answers."""
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (b"GET /ws HTTP/1.1\r\n", b"Host: 127.0.0.1\r\nUpgrade: websocket\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(0.05)  # separate segments, not a wait for an event
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


async def greet(ws, name: str) -> None:
    await ws.send(json.dumps({"type": "hello", "name": name}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"


async def open_from(server, ip: str):
    return await connect(server.ws_url, compression=None, open_timeout=5, local_addr=(ip, 0), close_timeout=1)


async def assert_refused(server, ip: str) -> str:
    """The handshake from `ip` is refused with a 429 that says when to retry; returns its text."""
    with pytest.raises(InvalidStatus) as refused:
        ws = await open_from(server, ip)
        await ws.close()
    response = refused.value.response
    assert response.status_code == 429, response.status_code
    assert response.headers.get("retry-after"), "a refusal should say when to come back"
    assert "default-src 'self'" in response.headers.get("content-security-policy", "")
    return response.body.decode()


async def until_accepted(server, ip: str) -> None:
    async def attempt():
        try:
            ws = await open_from(server, ip)
        except InvalidStatus:
            return False
        await ws.close()
        return True

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not await attempt():
        assert loop.time() < deadline, "a freed slot was not given back"
        await asyncio.sleep(0.1)


# ---- slow and silent peers -----------------------------------------------------------------------


def raw_member(port: int, room: str, name: str) -> socket.socket:
    """A raw WebSocket that says hello and joins `room`, and is then under the test's full control."""
    sock = socket.create_connection((LOOPBACK, port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(RAW_UPGRADE)
    seen = b""
    while b"\r\n\r\n" not in seen:
        seen += sock.recv(4096)
    assert b" 101 " in seen.split(b"\r\n", 1)[0]
    for frame in ({"type": "hello", "name": name}, {"type": "join", "room": room, "accept_guidelines": True}):
        sock.sendall(text_frame(frame))
    while b'"joined"' not in seen:
        seen += sock.recv(4096)
    return sock


def wait_closed(sock: socket.socket, timeout: float) -> None:
    """Read (and drop) until the server ends the connection."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass


async def test_a_reader_that_stalls_is_closed_and_leaves_the_room(server, clients):
    """A member that stops reading is dropped once 512 KiB wait for it; presence says so; no one waits."""
    stuck = await asyncio.to_thread(raw_member, server.port, "bulk", "stuck")
    ann = await clients.user(server, "ann", ("bulk",))
    ben = await clients.user(server, "ben", ("bulk",))
    await ann.expect("presence", members=3)
    big = "y" * 50_000
    loop = asyncio.get_running_loop()
    slowest = 0.0

    def left() -> list[dict]:
        return [f for f in ben.frames if f.get("type") == "presence" and f.get("left") == "stuck"]

    # The kernel's socket buffers swallow a few MB before the server's own queue starts to fill.
    for i in range(200):
        if left():
            break
        started = loop.time()
        ack = await ann.post("bulk", f"{i} {big}")
        await until(lambda a=ack: any(f.get("id") == a["id"] for f in ben.frames), 2, "delivery to ben")
        slowest = max(slowest, loop.time() - started)
        await asyncio.sleep(0.05)  # stay under the 20 frames/s limit
    figure("stalled_reader_messages_before_drop", i)
    figure("stalled_reader_slowest_round_trip_s", slowest)
    assert slowest < 1.0, "a stalled reader slowed the room down"
    await until(left, 10, "presence: the stalled reader left")
    assert left()[0]["members"] == 2
    # The server forgot the connection (reading the stalled socket dry would take minutes through
    # its tiny receive window, so ask the server instead).
    metrics = (await aget(server, "/metrics")).text
    assert 'chatserver_connections{role="participant"} 2.0' in metrics
    stuck.close()
    assert_clean_log(server)


@pytest.mark.slow
async def test_no_hello_within_10_seconds_closes_1008(server, clients):
    """A connection that never says hello is closed with 1008 after 10 s, not before."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    quiet = await clients.connect(server)
    assert await closed_with(quiet, 15) == 1008
    waited = loop.time() - started
    figure("no_hello_closed_after_s", waited)
    assert 9 <= waited <= 13


async def test_a_silent_peer_is_dropped_by_ping_timeout_and_presence_follows(make_server, clients):
    """A member that stops answering pings is dropped after interval + timeout; the room sees it leave."""
    server = make_server(extra=("--ping-interval", "1", "--ping-timeout", "1"))
    silent = await asyncio.to_thread(raw_member, server.port, "lobby", "silent")
    ann = await clients.user(server, "ann", ("lobby",))
    await ann.expect("presence", members=2)
    # The raw socket never answers a ping (it does not even read), like a peer that vanished.
    await ann.expect("presence", left="silent", members=1, timeout=6)
    await asyncio.to_thread(wait_closed, silent, 5)
    silent.close()
    # A live client answers pings (websockets does it for us) and stays.
    await asyncio.sleep(3)
    assert not ann.closed.is_set()


async def test_a_socket_that_never_completes_a_request_is_closed(make_server):
    """Slowloris: a TCP connection that sends no (or half a) request is closed after the handshake timeout."""
    server = make_server(extra=("--handshake-timeout", "2"))

    def idle(partial: bytes) -> float:
        sock = socket.create_connection((LOOPBACK, server.port), timeout=5)
        sock.sendall(partial)
        t0 = time.monotonic()
        wait_closed(sock, 8)
        sock.close()
        return time.monotonic() - t0

    for partial in (b"", b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"):
        assert await asyncio.to_thread(idle, partial) <= 5


def test_the_handshake_line_with_the_client_s_address_is_never_even_recorded(caplog):
    """uvicorn logs every WebSocket handshake with the client's address. logs.py's filter keeps it out
    of the output; the connection's logger drops it before a record exists (one per connection, in a
    reconnect storm thousands a second), and passes everything else on."""
    from chatserver.logs import CONNECTION_LOG as _QUIET_LOG

    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        _QUIET_LOG.info('%s - "WebSocket %s" [accepted]', "203.0.113.9:50123", "/ws")
        _QUIET_LOG.info('%s - "WebSocket %s" 403', "203.0.113.9:50123", "/ws")
        _QUIET_LOG.info("connection open")  # the `websockets` protocol's, for every connection
        _QUIET_LOG.info("closed a connection that sent invalid UTF-8 (1007)")
    assert [r.getMessage() for r in caplog.records] == ["closed a connection that sent invalid UTF-8 (1007)"]


async def test_every_connection_s_protocol_logs_through_the_quiet_logger():
    """Both uvicorn's side and the `websockets` protocol under it: its "connection open" line came
    once per handshake, as a record logs.py then dropped."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from chatserver.logs import CONNECTION_LOG as _QUIET_LOG
    from chatserver.transport import ChatWebSocketProtocol

    config = Config(app=lambda scope, receive, send: None, ws=ChatWebSocketProtocol)
    config.load()
    proto = ChatWebSocketProtocol(config=config, server_state=ServerState(), app_state={})
    assert proto.logger is _QUIET_LOG and proto.conn.logger is _QUIET_LOG
