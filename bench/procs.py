"""Processes for the bench: the peers' environments, redis-server and the servers under test.

Stdlib only: this runs in the product's .venv, which must not grow the peers' dependencies.
Everything started here is started by pid in its own session and stopped by that pid.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PY = PEERS_VENV / "bin" / "python"
PEER_PACKAGES = [
    "python-socketio",
    "uvicorn",
    "redis",
    "websockets",
    "psutil",
    "uvloop",
    "httptools",
    "orjson",
]
PROFILE_PACKAGES = ["py-spy"]
CHATSERVER = ROOT / ".venv" / "bin" / "chatserver"
LOOPBACK = "127.0.0.1"


class BenchSetupError(Exception):
    """A tool the bench needs could not be installed or started; the message says which and why."""


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run_quiet(cmd: list[str], *, cwd: Path = ROOT, timeout: float = 900) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BenchSetupError(f"`{' '.join(cmd)}` failed with exit {proc.returncode}:\n{tail}")


def ensure_peers_venv() -> None:
    """Create or refresh bench/.venv-peers (python-socketio and friends stay out of the product's .venv)."""
    packages = PEER_PACKAGES + PROFILE_PACKAGES
    stamp = PEERS_VENV / ".bench-installed"
    want = hashlib.sha256(" ".join(packages).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and PEERS_PY.exists():
        return
    say(f"setting up {PEERS_VENV.relative_to(ROOT)} ({', '.join(packages)}) ...")
    if not PEERS_PY.exists():
        _run_quiet([sys.executable, "-m", "venv", str(PEERS_VENV)])
    _run_quiet([str(PEERS_PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    _run_quiet([str(PEERS_PY), "-m", "pip", "install", "-q", "--upgrade", *packages])
    stamp.write_text(want)


def ensure_node_modules() -> None:
    """Install socket.io 4, @socket.io/redis-adapter and redis into bench/node_modules from package.json."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BenchSetupError(
            "node and npm are needed for the socketio-node peer (apt-get install nodejs npm)"
        )
    stamp = BENCH / "node_modules" / ".bench-installed"
    lock = BENCH / "package-lock.json"
    want = hashlib.sha256(
        (BENCH / "package.json").read_bytes() + (lock.read_bytes() if lock.exists() else b"")
    )
    if stamp.exists() and stamp.read_text() == want.hexdigest():
        return
    say("installing bench/node_modules (npm) ...")
    cmd = [npm, "ci" if lock.exists() else "install", "--no-audit", "--no-fund", "--loglevel=error"]
    _run_quiet(cmd, cwd=BENCH)
    stamp.write_text(want.hexdigest())


def _busy_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def machine_busy(seconds: float = 1.0) -> float:
    """Percent of one core the whole machine used over ``seconds`` (Linux /proc/stat)."""
    b0, t0 = _busy_jiffies()
    time.sleep(seconds)
    b1, t1 = _busy_jiffies()
    return 100.0 * (os.cpu_count() or 1) * (b1 - b0) / max(1, t1 - t0)


def wait_for_quiet(max_wait: float, *, threshold: float = 25.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine, with nothing of the bench running, uses under
    ``threshold``% of a core: on two shared cores a busy neighbour would be measured as server latency.
    Returns the last busy figure seen."""
    deadline = time.time() + max_wait
    busy = machine_busy()
    told = False
    while busy >= threshold and time.time() < deadline:
        if not told:
            say(
                f"   waiting up to {max_wait:.0f} s for a quiet machine (other processes use {busy:.0f}% CPU)"
            )
            told = True
        busy = machine_busy(2.0)
    if busy >= threshold:
        say(f"   the machine is still busy ({busy:.0f}% CPU used by other processes): measuring anyway")
    return busy


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Proc:
    """A child process started by the bench, logging to a file, stopped by its own pid."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGINT (a graceful stop for uvicorn, node and redis), then SIGTERM, then SIGKILL."""
        for sig, wait in ((signal.SIGINT, 8.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if not self.alive():
                return
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(wait)


def start(name: str, cmd: list[str], *, logdir: Path, env: dict[str, str] | None = None) -> Proc:
    log = logdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # Ctrl-C in the terminal reaches the bench, which stops these by pid
            preexec_fn=_raise_nofile,
        )
    return Proc(name, popen, log)


def wait_ready(proc: Proc, port: int, *, timeout: float = 30.0, http_path: str | None = None) -> None:
    """Wait until ``port`` accepts connections (and ``http_path`` answers 200), or raise with the log tail."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not proc.alive():
            raise BenchSetupError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                pass
            if http_path is None:
                return
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{http_path}", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchSetupError(f"{proc.name} did not listen on {LOOPBACK}:{port} within {timeout:.0f} s")


@contextlib.contextmanager
def redis_server(logdir: Path) -> Iterator[tuple[Proc, str]]:
    """A private redis-server on a free loopback port, no persistence; yields (proc, url)."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(exe):
        raise BenchSetupError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    cmd = [exe, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    cmd += ["--daemonize", "no"]
    proc = start(f"redis-{port}", cmd, logdir=logdir)
    try:
        wait_ready(proc, port, timeout=10)
        yield proc, f"redis://{LOOPBACK}:{port}/0"
    finally:
        proc.stop()


@dataclass(frozen=True)
class ServerSpec:
    """How to run one server under test and how the load generator talks to it."""

    name: str
    label: str
    dialect: str  # "json" (chatserver's frames) or "socketio"
    uses_redis: bool
    python: bool  # py-spy can profile it

    def command(self, port: int, redis_url: str, workdir: Path) -> list[str]:
        if self.name == "chatserver":
            return [
                str(CHATSERVER),
                "serve",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--redis",
                redis_url,
                "--db",
                str(workdir / "chat.db"),
                "--rooms",
                str(BENCH / "rooms.yaml"),
            ]
        if self.name == "socketio-py":
            return [str(PEERS_PY), "-m", "bench.peers.socketio_py", str(port), redis_url]
        if self.name == "socketio-node":
            return ["node", str(BENCH / "peers" / "socketio_node.js"), str(port), redis_url]
        if self.name == "websockets":
            return [str(PEERS_PY), "-m", "bench.peers.websockets_raw", str(port)]
        raise ValueError(f"unknown server {self.name!r}")

    def env(self) -> dict[str, str]:
        if self.name == "chatserver":
            # Every bench client comes from 127.0.0.1, as every client does behind a reverse proxy: lift the
            # per-address connection cap (default 256) the way its --help tells such deployments to.
            # Likewise the per-connection frame rate (20/s, against floods): the chat mix's members send
            # 35 a second each near saturation, and the peers have no such guard. bench/rooms.yaml lifts
            # the rooms' rate_limit the same way, so the filter still runs and never binds.
            return {"CHATSERVER_MAX_CONNECTIONS_PER_IP": "0", "CHATSERVER_MAX_FRAMES_PER_SECOND": "1000000"}
        return {}


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("chatserver", "chatserver (Redis, filters, audit)", "json", True, True),
        ServerSpec("socketio-py", "python-socketio + AsyncRedisManager", "socketio", True, True),
        ServerSpec("socketio-node", "Node socket.io 4 + redis-adapter", "socketio", True, False),
        ServerSpec("websockets", "websockets broadcast() (no Redis)", "json", False, True),
    )
}
