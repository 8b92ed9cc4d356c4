"""Helpers shared by the fault, abuse, security and fuzz tests: bounded waits, bursts, log checks."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from tests.support import Client, ServerProcess

#: Lines that must never appear in a server's log, whatever a test did to it.
FORBIDDEN_LOG_LINES = ("Traceback", "database is locked", "Exception in ASGI application")


async def until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `check` until it is truthy; AssertionError naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(interval)


async def fire(client: Client, room: str, texts: Iterable[str], tag: str) -> dict[str, str]:
    """Send every text without waiting for answers; returns client_id -> text for what went out."""
    sent: dict[str, str] = {}
    for i, text in enumerate(texts):
        cid = f"{tag}-{i}"
        try:
            await client.send(type="send", room=room, text=text, client_id=cid)
        except ConnectionClosed:
            break
        sent[cid] = text
    return sent


def answer_of(client: Client, cid: str) -> dict[str, Any] | None:
    """The ack, or the error that refers to `cid`, among everything `client` received."""
    for frame in client.frames:
        if frame.get("type") == "ack" and frame.get("client_id") == cid:
            return frame
        if frame.get("type") == "error" and frame.get("ref") == cid:
            return frame
    return None


async def settle(
    client: Client, cids: Iterable[str], timeout: float = 15
) -> dict[str, dict[str, Any] | None]:
    """Wait until every cid is answered or the connection closes; cid -> answer (None: unanswered)."""
    cids = list(cids)

    def done() -> bool:
        return client.closed.is_set() or all(answer_of(client, c) is not None for c in cids)

    await until(done, timeout, f"[{client.label}] answers to {len(cids)} sends")
    return {c: answer_of(client, c) for c in cids}


def messages(client: Client, room: str | None = None) -> list[dict[str, Any]]:
    """Every `message` frame the client received (live ones, not history), in arrival order."""
    return [f for f in client.frames if f.get("type") == "message" and (room is None or f["room"] == room)]


def notices(client: Client, code: str) -> list[dict[str, Any]]:
    return [f for f in client.frames if f.get("type") == "notice" and f.get("code") == code]


def assert_consecutive(seqs: list[int], what: str) -> None:
    """No gap, no duplicate, no reordering."""
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{what}: seq not consecutive: {seqs}"


def assert_increasing(seqs: list[int], what: str, *, gaps: int) -> None:
    """No duplicate, no reordering, and at most `gaps` seqs nobody was shown (a worker killed
    between taking a message's seq and publishing it leaves its seq a gap)."""
    assert seqs == sorted(set(seqs)), f"{what}: seq duplicated or out of order: {seqs}"
    missing = seqs[-1] - seqs[0] + 1 - len(seqs)
    assert missing <= gaps, f"{what}: {missing} seqs missing (at most {gaps} expected): {seqs}"


def get(server: ServerProcess, path: str, **kw: Any) -> httpx.Response:
    return httpx.get(server.base + path, timeout=5, **kw)


async def aget(server: ServerProcess, path: str, **kw: Any) -> httpx.Response:
    """An HTTP GET that does not block the test's event loop (and so its clients)."""
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(server.base + path, **kw)


def assert_clean_log(*servers: ServerProcess) -> None:
    """No traceback, no 'database is locked', no unhandled ASGI exception in any server log."""
    for server in servers:
        log = server.log()
        for bad in FORBIDDEN_LOG_LINES:
            assert bad not in log, f"{server.label} logged {bad!r}:\n{_around(log, bad)}"


def _around(log: str, needle: str, width: int = 1500) -> str:
    at = log.find(needle)
    return log[max(0, at - 300) : at + width]


def integrity(db: Path) -> str:
    """SQLite's own verdict on the file."""
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def published_texts(server: ServerProcess, room: str) -> dict[str, str]:
    """message_id -> text of every message the audit log says was put in front of `room`."""
    rows = server.export("--room", room, "--kind", "published,released")
    return {r["message_id"]: r["text"] for r in rows}


def numbered_texts(server: ServerProcess, room: str) -> dict[str, str]:
    """message_id -> text of the messages the broker numbered (published to the room, not just logged)."""
    rows = server.export("--room", room, "--kind", "published,released,publish_failed")
    failed = {r["message_id"] for r in rows if r["kind"] == "publish_failed"}
    return {
        r["message_id"]: r["text"]
        for r in rows
        if r["kind"] != "publish_failed" and r["seq"] is not None and r["message_id"] not in failed
    }


def wait_exit(server: ServerProcess, timeout: float) -> int:
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    while server.proc.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.label} did not exit within {timeout}s")
        time.sleep(0.05)
    return server.proc.returncode
