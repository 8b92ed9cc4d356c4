"""Helpers behind the fixtures: processes we start and clients that wait for frames with timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chatserver.http_protocol import ChatHttpProtocol

ROOT = Path(__file__).resolve().parent.parent
CHATSERVER = [sys.executable, "-m", "chatserver"]
LOOPBACK = "127.0.0.1"


def strict() -> bool:
    return any(
        os.environ.get(v, "").lower() not in ("", "0", "false", "no") for v in ("CI", "CHATSERVER_STRICT")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSERVER_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `chatserver ARGS` to completion."""
    return subprocess.run(
        [*CHATSERVER, *args],
        cwd=cwd or ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def add_host(db: Path, name: str, *, admin: bool = False) -> str:
    args = ["hosts", "add", name, "--db", str(db)] + (["--admin"] if admin else [])
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    match = re.search(r"token: (\S+)", done.stdout)
    assert match, done.stdout
    return match.group(1)


#: A plain WebSocket upgrade of /ws as a raw client sends it (the key is RFC 6455's example).
RAW_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def text_frame(frame: dict[str, Any]) -> bytes:
    """A client's small text frame (payload under 126 bytes), masked with zeros so it goes as is."""
    payload = json.dumps(frame).encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


class RedisProcess:
    """redis-server without persistence, which a test can kill, pause and restart on the same port."""

    def __init__(self, workdir: Path, binary: str, extra_args: Sequence[str] = ()) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.port = free_port()
        #: more redis-server options (e.g. a password or a unix socket)
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.ping, 10, "redis-server answering PING")

    def ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))  # (up, and wants a password)
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


class ServerProcess:
    """`chatserver serve` on a free port, with its own rooms.yaml and database."""

    def __init__(
        self,
        workdir: Path,
        *,
        rooms_path: Path,
        db_path: Path,
        redis_url: str | None,
        extra: tuple[str, ...],
        tokens: dict[str, str],
        label: str,
    ) -> None:
        self.workdir = workdir
        self.rooms_path = rooms_path
        self.db_path = db_path
        self.redis_url = redis_url
        self.extra = extra
        self.tokens = tokens
        self.label = label
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{label}.log"

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}/ws"

    def argv(self) -> list[str]:
        argv = [
            *CHATSERVER,
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--rooms",
            str(self.rooms_path),
            "--db",
            str(self.db_path),
        ]
        if self.redis_url:
            argv += ["--redis", self.redis_url]
        # "{base}" in an extra argument is this server's own URL, as it is at start (after a retry
        # on another port too).
        return argv + [arg.replace("{base}", self.base) for arg in self.extra]

    def start(self, timeout: float = 30) -> None:
        """Start and wait for /readyz; a port taken meanwhile by another test is retried on a new one."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except AssertionError:
                if attempt == 2 or "address already in use" not in self.log().lower():
                    raise
                self.kill()
                self.port = free_port()

    def _start(self, timeout: float) -> None:
        with open(self.log_path, "ab") as logfile:
            self.proc = subprocess.Popen(
                self.argv(),
                cwd=self.workdir,
                env=clean_env(),
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.label} exited with {self.proc.returncode}:\n{self.log()[-3000:]}"
                )
            try:
                return httpx.get(self.base + "/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout, f"{self.label} ready")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self, timeout: float = 10) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.base + path, timeout=10, **kw)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return cli(*args, "--db", str(self.db_path), cwd=self.workdir, timeout=timeout)

    def export(self, *args: str) -> list[dict[str, Any]]:
        done = self.cli("audit", "export", "--format", "jsonl", *args)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _matches(frame: dict[str, Any], kind: str | None, fields: dict[str, Any]) -> bool:
    if kind is not None and frame.get("type") != kind:
        return False
    for key, wanted in fields.items():
        value = frame.get(key.rstrip("_"))
        if callable(wanted):
            if not wanted(value):
                return False
        elif value != wanted:
            return False
    return True


class Client:
    """A WebSocket client that records every frame and waits for the ones a test expects."""

    def __init__(self, ws: Any, label: str) -> None:
        self.ws = ws
        self.label = label
        self.frames: list[dict[str, Any]] = []
        self.unread: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._arrived = asyncio.Event()
        self.session = ""
        self.resume_token = ""
        self.welcome: dict[str, Any] = {}
        self.joined: dict[str, dict[str, Any]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                self.unread.append(frame)
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self._arrived.set()

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def expect(self, kind: str | None = None, timeout: float = 5, **fields: Any) -> dict[str, Any]:
        """The first unread frame of `kind` whose fields match (values or predicates)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, frame in enumerate(self.unread):
                if _matches(frame, kind, fields):
                    return self.unread.pop(i)
            if self.closed.is_set():
                raise AssertionError(f"[{self.label}] closed ({self.close_code}) waiting for {kind} {fields}")
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"[{self.label}] no {kind} {fields} in {timeout}s; got {self.frames[-8:]}"
                )
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def expect_none(self, kind: str, within: float = 0.5, **fields: Any) -> None:
        """Fail if a matching frame arrives within `within` seconds."""
        await asyncio.sleep(within)
        hits = [f for f in self.unread if _matches(f, kind, fields)]
        assert not hits, f"[{self.label}] unexpected {hits[0]}"

    async def hello(self, name: str, **extra: Any) -> dict[str, Any]:
        await self.send(type="hello", name=name, **extra)
        self.welcome = await self.expect("welcome")
        self.session = self.welcome["session"]
        self.resume_token = self.welcome["resume_token"]
        return self.welcome

    async def join(self, room: str, **extra: Any) -> dict[str, Any]:
        await self.send(type="join", room=room, accept_guidelines=True, **extra)
        frame = await self.expect(None, room=room, type=lambda t: t in ("joined", "error"))
        if frame["type"] == "joined":
            self.joined[room] = frame
        return frame

    async def post(self, room: str, text: str, **extra: Any) -> dict[str, Any]:
        """Send and return the ack (or the error answering it)."""
        cid = uuid.uuid4().hex[:10]
        await self.send(type="send", room=room, text=text, client_id=cid, **extra)
        return await self._answer_for(cid)

    async def _answer_for(self, cid: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            for i, f in enumerate(self.unread):
                if (f.get("type") == "ack" and f.get("client_id") == cid) or (
                    f.get("type") == "error" and f.get("ref") == cid
                ):
                    return self.unread.pop(i)
            if self.closed.is_set() or loop.time() > deadline:
                raise AssertionError(f"[{self.label}] no answer to {cid}; got {self.frames[-8:]}")
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.5)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 3)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


class ClientPool:
    """Opens clients for a test and closes them after it."""

    def __init__(self) -> None:
        self.clients: list[Client] = []

    async def connect(self, server: ServerProcess, *, origin: str | None = "own", label: str = "") -> Client:
        headers_origin = server.base if origin == "own" else origin
        ws = await connect(
            server.ws_url,
            origin=headers_origin,
            compression=None,
            open_timeout=10,
            max_size=2**22,
            close_timeout=2,
        )
        client = Client(ws, label or f"c{len(self.clients) + 1}")
        self.clients.append(client)
        return client

    async def user(
        self,
        server: ServerProcess,
        name: str,
        rooms: tuple[str, ...] = (),
        *,
        token: str | None = None,
        **hello: Any,
    ) -> Client:
        client = await self.connect(server, label=name)
        if token:
            hello["token"] = token
        await client.hello(name, **hello)
        for room in rooms:
            joined = await client.join(room)
            assert joined["type"] == "joined", joined
        return client

    async def host(self, server: ServerProcess, name: str = "alice", rooms: tuple[str, ...] = ()) -> Client:
        return await self.user(server, name, rooms, token=server.tokens[name])

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


async def chat_http_server(app: Any, ws: type, **settings: Any) -> asyncio.AbstractServer:
    """ChatHttpProtocol alone on a free loopback port, serving `app` with the WebSocket protocol `ws` (no
    lifespan, pings or compression; `settings` for the rest): the accept and the upgrade, and nothing
    else of chatserver."""
    config = Config(
        app=app,
        lifespan="off",
        ws=ws,
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        log_level="warning",
        **settings,
    )
    config.load()
    state = ServerState()
    return await asyncio.get_running_loop().create_server(
        lambda: ChatHttpProtocol(config=config, server_state=state, app_state={}), "127.0.0.1", 0
    )
