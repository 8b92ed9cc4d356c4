"""Which Redis a URL names, and the client for it: one server, or a Redis Cluster.

One server: `redis://[user:password@]host:port/db`, `rediss://...` (TLS) or `unix:///path`, read by
redis-py itself. A cluster: `redis+cluster://[user:password@]host:port[,host:port...]` (or
`rediss+cluster://` for TLS): every host:port is a seed, any one of which is enough to find the
others; name several, so a worker can start while one node is down. A cluster has database 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

#: The client a broker and its store share: one server's, or a cluster's.
RedisClient = aioredis.Redis | RedisCluster

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    """A parsed cluster URL: the seed nodes and how to sign in to each node."""

    seeds: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    def node_kwargs(self) -> dict[str, Any]:
        """What a connection to any one node needs besides its host and port."""
        return {"username": self.username, "password": self.password, "ssl": self.ssl}


def parse_cluster_url(url: str) -> ClusterUrl:
    """`redis+cluster://[user:password@]host:port,host:port[/0]`; ValueError saying what is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"Expected a redis+cluster:// or rediss+cluster:// URL, got {scheme!r}")
    auth, _, where = rest.rpartition("@")
    hosts, _, db = where.partition("/")
    if db not in ("", "0"):
        raise ValueError(f"A Redis Cluster has database 0 only, the URL asks for /{db}")
    seeds = []
    for part in hosts.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon:
            host, port = part.strip(), "6379"
        if not host or not port.isdigit():
            raise ValueError(f"Expected host:port for each cluster seed, got {part!r}")
        seeds.append((host.strip("[]"), int(port)))
    username, colon, password = auth.partition(":")
    return ClusterUrl(
        seeds=tuple(seeds),
        username=unquote(username) or None,
        password=unquote(password) if colon else None,
        ssl=scheme.startswith("rediss"),
    )


def cluster_client(url: str, **options: Any) -> RedisCluster:
    """The asyncio cluster client for `url`; `options` are connection options (timeouts, ...)."""
    parsed = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.seeds],
        # No retries inside redis-py: a pipeline retried after a lost connection could run a numbering
        # script twice. The publisher answers `unavailable` and settles instead, as with one Redis;
        # MOVED and ASK are followed all the same (they are redirections, not retries).
        retry=Retry(NoBackoff(), 0),
        **parsed.node_kwargs(),
        **options,
    )


def reachable(url: str, timeout: float = 2) -> bool:
    """Whether Redis at `url` answers PING (for a cluster: any one seed), without asyncio."""
    import redis

    if not is_cluster_url(url):
        targets = [redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)]
    else:
        parsed = parse_cluster_url(url)
        targets = [
            redis.Redis(h, p, socket_connect_timeout=timeout, socket_timeout=timeout, **parsed.node_kwargs())
            for h, p in parsed.seeds
        ]
    for client in targets:
        try:
            if client.ping():
                return True
        except Exception:
            continue
        finally:
            client.close()
    return False
