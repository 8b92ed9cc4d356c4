"""Server settings: every `serve` flag, each with its CHATSERVER_* environment twin."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
        """The environment that recreates these settings in a worker process."""
        env = {
            "CHATSERVER_HOST": self.host,
            "CHATSERVER_PORT": str(self.port),
            "CHATSERVER_ROOMS": str(self.rooms),
            "CHATSERVER_DB": str(self.db),
            "CHATSERVER_WORKERS": "1",
            "CHATSERVER_ALLOWED_ORIGIN": ",".join(self.allowed_origins),
            "CHATSERVER_LOG_FORMAT": self.log_format,
            "CHATSERVER_LOG_LEVEL": self.log_level,
            "CHATSERVER_WEB": str(self.web_dir),
            "CHATSERVER_RETENTION_DAYS": str(self.retention_days),
            "CHATSERVER_MAX_CONNECTIONS": str(self.max_connections),
            "CHATSERVER_MAX_CONNECTIONS_PER_IP": str(self.max_connections_per_ip),
            "CHATSERVER_CONNECT_RATE_PER_IP": str(self.connect_rate_per_ip),
            "CHATSERVER_PING_INTERVAL": str(self.ping_interval),
            "CHATSERVER_PING_TIMEOUT": str(self.ping_timeout),
            "CHATSERVER_HANDSHAKE_TIMEOUT": str(self.handshake_timeout),
            "CHATSERVER_MAX_FRAMES_PER_SECOND": str(self.max_frames_per_second),
        }
        if self.redis_url:
            env["CHATSERVER_REDIS_URL"] = self.redis_url
        return env


def default_web_dir() -> Path:
    configured = os.environ.get("CHATSERVER_WEB")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "web"


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"CHATSERVER_{name}")
    return value if value not in (None, "") else default
