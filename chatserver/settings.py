"""Server settings: every `serve` flag, each with its CHATSERVER_* environment twin."""

from __future__ import annotations

import os
import sys
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
