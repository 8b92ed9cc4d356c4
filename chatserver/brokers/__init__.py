"""Fan-out between server processes, chosen by URL scheme (memory://, redis://)."""

from __future__ import annotations

from chatserver.brokers.base import Broker, BrokerListener


def broker_from_url(url: str | None, *, worker_id: str) -> Broker:
    """The broker for `url`; the Redis one is imported only when asked for."""
    if not url or url.startswith("memory://"):
        from chatserver.brokers.memory import MemoryBroker

        return MemoryBroker(worker_id=worker_id)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from chatserver.brokers.redis import RedisBroker

        return RedisBroker(url, worker_id=worker_id)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(f"Unknown broker URL scheme {scheme!r}: expected memory:// or redis://")


__all__ = ["Broker", "BrokerListener", "broker_from_url"]
