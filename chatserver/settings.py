"""Server settings: every `serve` flag, each with its CHATSERVER_* environment twin."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    rooms: Path = Path("rooms.yaml")
    db: Path = Path("chat.db")
    redis_url: str | None = None
    workers: int = 1
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    log_format: str = "text"
    log_level: str = "info"
    retention_days: float = 0.0
    max_connections: int = 10_000
    max_connections_per_ip: int = 256
    connect_rate_per_ip: float = 600.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    handshake_timeout: float = 10.0
    max_frames_per_second: float = 20.0
    #: Keys the ban-evasion hashes (issue 16); workers of one deployment must share it. None: a random
    #: key per process (the supervisor gives its workers one).
    evasion_secret: str | None = None
    #: The base URL other machines reach this machine's HTTP server at, for one audit view of the
    #: deployment (issue 18; chatserver/audit/machines.py). None: the others cannot read this one.
    machine_url: str | None = None
    #: This machine's name in that view (and in `source`); the host name unless told otherwise.
    machine_name: str = field(default_factory=socket.gethostname)
    web_dir: Path = field(default_factory=lambda: default_web_dir())

    @property
    def broker_url(self) -> str:
        return self.redis_url or "memory://"

    def to_env(self) -> dict[str, str]:
        """The environment that recreates these settings in a worker process (one worker each)."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[env_name(f.name)] = ",".join(value) if isinstance(value, tuple) else str(value)
        env["CHATSERVER_WORKERS"] = "1"
        return env


#: Fields whose environment twin is not simply CHATSERVER_<FIELD>.
_ENV_NAMES = {"allowed_origins": "ALLOWED_ORIGIN", "web_dir": "WEB"}


def env_name(field_name: str) -> str:
    return "CHATSERVER_" + _ENV_NAMES.get(field_name, field_name.upper())


def default_web_dir() -> Path:
    """CHATSERVER_WEB, else the checkout's web/, else the copy `pip install` put under the prefix."""
    configured = os.environ.get("CHATSERVER_WEB")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parent.parent / "web"
    if (checkout / "index.html").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "chatserver" / "web"


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"CHATSERVER_{name}")
    return value if value not in (None, "") else default


def serve_problem(settings: Settings) -> str | None:
    """Why `serve` cannot start with these settings, before anything is loaded; None when it can."""
    if settings.workers < 1:
        return "--workers must be 1 or more"
    if settings.workers > 1 and not settings.redis_url:
        return (
            f"--workers {settings.workers} needs Redis: several processes can only share rooms through a "
            "broker. Start redis-server and pass --redis redis://127.0.0.1:6379/0 "
            "(or CHATSERVER_REDIS_URL), or run one worker."
        )
    from chatserver.audit.machines import check_machine
    from chatserver.errors import ChatError

    try:
        check_machine(settings.machine_name, settings.machine_url)
    except ChatError as exc:
        return f"chatserver: not started: {exc.message}"
    return None


# ---- the serve flags -------------------------------------------------------------
def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from parsed `serve` flags: every flag named like its field is taken as is."""
    values = {f.name: getattr(args, f.name) for f in fields(Settings) if hasattr(args, f.name)}
    values.update(
        rooms=Path(args.rooms),
        db=Path(args.db),
        redis_url=args.redis or None,
        allowed_origins=tuple(o for o in (args.allowed_origin or []) if o),
        machine_url=getattr(args, "machine_url", None) or None,
    )
    if not values.get("machine_name"):
        values.pop("machine_name", None)  # the default: this host's name
    return Settings(**values)


def add_serve_flags(serve: argparse.ArgumentParser) -> None:
    """Every setting as a `serve` flag with its CHATSERVER_* twin (defaults as text: argparse converts)."""
    twin(serve, "--host", default="127.0.0.1", help="address to listen on")
    twin(serve, "--port", type=int, default="8000", help="port")
    twin(serve, "--rooms", default="rooms.yaml", help="the rooms file")
    twin(serve, "--db", default="chat.db", help="SQLite database: audit log and host credentials")
    twin(
        serve,
        "--redis",
        env_name="REDIS_URL",
        default=None,
        help="redis://host:port/db, or redis+cluster://host:port,host:port for a Redis Cluster: "
        "fan-out and shared state for several workers or hosts",
    )
    twin(serve, "--workers", type=int, default="1", help="worker processes; more than 1 needs --redis")
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[o.strip() for o in (env("ALLOWED_ORIGIN", "") or "").split(",") if o.strip()],
        help="an extra browser Origin allowed to connect, exact match; repeatable "
        "(env CHATSERVER_ALLOWED_ORIGIN, comma-separated)",
    )
    twin(serve, "--log-format", choices=["text", "json"], default="text", help="log lines as text or JSON")
    twin(serve, "--log-level", default="info", help="debug, info, warning or error")
    twin(
        serve,
        "--retention-days",
        type=float,
        default="0",
        help="purge audit rows older than this many days, once a day; 0 keeps everything",
    )
    _limit_flags(serve)
    _machine_flags(serve)


def _machine_flags(serve: argparse.ArgumentParser) -> None:
    """Where this machine is, for an audit view of every machine sharing the Redis (issue 18)."""
    twin(
        serve,
        "--machine-url",
        default=None,
        help="the base URL other machines reach this machine's HTTP server at on the private network, "
        "such as http://10.0.0.12:8000, so an admin's audit view on any machine includes this one's rows",
    )
    twin(
        serve,
        "--machine-name",
        default=None,
        help="this machine's name in the audit view (default: the host name)",
    )


def _limit_flags(serve: argparse.ArgumentParser) -> None:
    """Connection, frame-rate and keep-alive limits (apart from add_serve_flags only to keep both short)."""
    twin(
        serve,
        "--max-connections",
        type=int,
        default="10000",
        help="WebSocket connections per worker; more get HTTP 429",
    )
    twin(
        serve,
        "--max-connections-per-ip",
        type=int,
        default="256",
        help="connections from one address per worker, 0 for no cap; behind a reverse proxy every "
        "client shares the proxy's address, so raise it or set 0",
    )
    twin(
        serve,
        "--connect-rate-per-ip",
        type=float,
        default="600",
        help="new connections a minute from one address (bursts of half of it); more get HTTP 429; "
        "0, or --max-connections-per-ip 0, turns it off",
    )
    twin(
        serve,
        "--max-frames-per-second",
        type=float,
        default="20",
        help="frames one connection may send per second (bursts of three times that); more are refused "
        "with rate_limited and a flooder is closed",
    )
    twin(
        serve,
        "--handshake-timeout",
        type=float,
        default="10",
        help="seconds a new connection may take to send its request head, 0 for no limit",
    )
    twin(serve, "--ping-interval", type=float, default="20", help="seconds between WebSocket pings")
    twin(
        serve,
        "--evasion-secret",
        default=None,
        help="a long random secret shared by every worker: ban-evasion hashes are keyed by it and it is "
        "never stored; prefer the environment variable (default: one per process)",
    )
    twin(
        serve,
        "--ping-timeout",
        type=float,
        default="20",
        help="seconds a peer may take to answer a ping before it is dropped",
    )


def twin(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    default: str | None,
    help: str,
    env_name: str | None = None,
    type: Callable[[str], object] = str,
    choices: Sequence[str] | None = None,
) -> None:
    """A flag with its CHATSERVER_* environment twin (argparse converts and checks either value)."""
    env_name = env_name or flag.lstrip("-").replace("-", "_").upper()
    parser.add_argument(
        flag,
        default=env(env_name, default),
        help=f"{help} (env CHATSERVER_{env_name})",
        type=type,
        choices=choices,
    )
