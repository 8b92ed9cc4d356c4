"""Fan-out and shared state between server processes, chosen by URL scheme (memory://, redis://,
redis+cluster:// for a Redis Cluster).

One URL gives a worker both halves: the broker (publish/subscribe, numbering, history) and the
shared store (held queue, sanctions, switches, identities). With Redis both use one client, so a
worker holds one connection pool; `redis` is imported only when a redis URL asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatserver.brokers.base import Broker, BrokerListener
from chatserver.store import Store


@dataclass(frozen=True, slots=True)
class Backend:
    """A worker's broker and shared store, from one URL."""

    broker: Broker
    store: Store

    async def close(self) -> None:
        await self.store.close()
        await self.broker.close()


def open_backend(url: str | None, *, worker_id: str) -> Backend:
    """The backend for `url` (memory:// when empty); ValueError naming an unknown scheme."""
    if not url or url.startswith("memory://"):
        from chatserver.brokers.memory import MemoryBroker
        from chatserver.store import MemoryStore

        return Backend(MemoryBroker(worker_id=worker_id), MemoryStore())
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")):
        from chatserver.brokers.redis import RedisBroker
        from chatserver.brokers.redis_store import RedisStore

        broker = RedisBroker(url, worker_id=worker_id)
        return Backend(broker, RedisStore(broker.client, keys=broker.keys, rooms=broker.rooms))
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(
        f"Unknown backend URL scheme {scheme!r}: expected memory://, redis:// or redis+cluster://"
    )


__all__ = ["Backend", "Broker", "BrokerListener", "open_backend"]
