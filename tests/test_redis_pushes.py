"""The subscription's own connection (chatserver/brokers/redis_pushes.py) on a real redis-server: it
connects as redis-py would (a password, a unix socket), takes what arrived together in one batch, and
says so when Redis goes away."""

from __future__ import annotations

import asyncio
import gc
import shutil
import subprocess
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from chatserver.brokers.redis import RedisBroker
from chatserver.brokers.redis_pushes import PushSubscription
from tests.conftest import need_binary
from tests.support import RedisProcess, free_port
from tests.test_redis_broker import Collector, publish

pytestmark = pytest.mark.redis

PASSWORD = "not-in-the-logs"


@pytest.fixture
def locked_redis(tmp_path: Path):
    """A redis-server that wants a password, on a loopback port, a unix socket and (when openssl is
    here to make a certificate) a TLS port."""
    binary = need_binary("redis-server", "/usr/bin/redis-server")
    sock = tmp_path / "r.sock"
    extra = ["--requirepass", PASSWORD, "--unixsocket", str(sock)]
    tls_port = None
    openssl = shutil.which("openssl")
    if openssl:
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
            + ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        tls_port = free_port()
        extra += ["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
        extra += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    server = RedisProcess(tmp_path / "redis", binary, extra)
    server.start()
    yield server, sock, tls_port
    server.stop()


@pytest.mark.parametrize("where", ["tcp", "unix", "tls"])
async def test_messages_reach_a_subscriber_on_a_redis_with_a_password(locked_redis, where, monkeypatch):
    server, sock, tls_port = locked_redis
    if where == "tls" and tls_port is None:
        pytest.skip("openssl is not installed (it makes the test certificate)")
    opened: list[PushSubscription | None] = []
    real_open = PushSubscription.open.__func__  # type: ignore[attr-defined]

    async def spy(cls, *args, **kwargs):
        opened.append(await real_open(cls, *args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(PushSubscription, "open", classmethod(spy))
    url = {
        "tcp": f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0",
        "unix": f"unix://{sock}?password={PASSWORD}&db=0",
        "tls": f"rediss://:{PASSWORD}@127.0.0.1:{tls_port}/0?ssl_cert_reqs=none",
    }[where]
    listener = Collector()
    broker = RedisBroker(url, worker_id="w1")
    await broker.start(listener, ["lobby"], {})
    try:
        assert len(opened) == 1 and isinstance(opened[0], PushSubscription)  # (not redis-py's PubSub)
        assert await publish(broker, "m1") == (1, None)
        await asyncio.wait_for(listener.arrived.wait(), 10)
        assert listener.messages == [("lobby", 1, "m1")]
    finally:
        await broker.close()


async def test_pushes_that_arrive_together_are_taken_together(redis_server):
    client = aioredis.Redis.from_url(redis_server.url)
    subscription = await PushSubscription.open(client, ["a", "b"], timeout=5)
    assert subscription is not None
    gc.collect()  # redis-py's connection object is gone: the socket it made must stay open
    try:
        async with client.pipeline(transaction=False) as pipe:
            for i in range(50):
                pipe.publish("a" if i % 2 else "b", f"m{i}")
            await pipe.execute()
        taken: list = []
        takes = 0
        while len(taken) < 50:
            batch = await subscription.take(5)
            assert batch, "the pushes did not come"
            taken += batch
            takes += 1
        assert takes <= 5  # several pushes a take, not one each
        assert [push[2] for push in taken] == [f"m{i}".encode() for i in range(50)]
        assert {push[0] for push in taken} == {b"message"}
        await subscription.ping()
        assert [push[0] for push in await subscription.take(5)] == [b"pong"]
    finally:
        await subscription.aclose()
        await client.aclose()


async def test_a_redis_that_goes_away_ends_the_subscription(redis_server):
    client = aioredis.Redis.from_url(redis_server.url)
    subscription = await PushSubscription.open(client, ["a"], timeout=5)
    assert subscription is not None
    try:
        assert await subscription.take(0.05) == []  # quiet, not lost
        redis_server.kill()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(subscription.take(30), 10)
    finally:
        await subscription.aclose()
        await client.aclose()


async def test_without_a_socket_to_take_over_redis_py_pubsub_carries_the_messages(redis_server, monkeypatch):
    """A redis-py whose connection does not expose its socket: the subscriber falls back to PubSub."""

    async def unavailable(cls, *args, **kwargs):
        return None

    monkeypatch.setattr(PushSubscription, "open", classmethod(unavailable))
    listener = Collector()
    broker = RedisBroker(redis_server.url, worker_id="w1")
    await broker.start(listener, ["lobby"], {})
    try:
        assert await publish(broker, "m1") == (1, None)
        await asyncio.wait_for(listener.arrived.wait(), 10)
        assert listener.messages == [("lobby", 1, "m1")]
    finally:
        await broker.close()
