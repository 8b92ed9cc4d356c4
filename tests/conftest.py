"""Real parts for the tests: redis-server on a free port, `chatserver serve` processes, WebSocket clients.

Under CI (or CHATSERVER_STRICT=1) a missing redis-server or Chromium fails the
test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import settings

from tests.support import ClientPool, RedisProcess, ServerProcess, add_host, strict

TESTS = Path(__file__).resolve().parent

# Generated examples: new ones on every local run (they find what the fixed cases miss), the same
# ones under CI, so that a landing is judged on the code and not on which examples came up.
# Anything a local run finds is pinned with @example next to its test.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
    settings.load_profile("ci")


def need_binary(name: str, *fallbacks: str) -> str:
    """The binary's path; skip (or fail, under CI) when it is not installed."""
    found = shutil.which(name) or next((f for f in fallbacks if os.path.exists(f)), None)
    if not found:
        message = f"{name} is not installed (apt-get install {name})"
        if strict():
            pytest.fail(message + ": CI/CHATSERVER_STRICT is set, so this cannot be skipped")
        pytest.skip(message)
    return found


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A throw-away redis-server on a free loopback port."""
    binary = need_binary("redis-server", "/usr/bin/redis-server")
    redis = RedisProcess(tmp_path / "redis", binary)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def redis_proxy(redis_server: RedisProcess) -> Iterator[Any]:
    """A TCP proxy in front of the test's redis-server, for network faults on one worker's link
    (tests/proxy.py: pause, blackhole, cut, or hold one connection back)."""
    from tests.proxy import TcpProxy

    proxy = TcpProxy(redis_server.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def host_tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A database template holding hosts alice, bob (hosts), carol (no room) and admin root."""
    db = tmp_path_factory.mktemp("hosts") / "chat.db"
    tokens = {name: add_host(db, name, admin=(name == "root")) for name in ("alice", "bob", "carol", "root")}
    return db, tokens


@pytest.fixture
def make_server(tmp_path: Path, host_tokens: tuple[Path, dict[str, str]]) -> Iterator:
    """Factory: make_server(rooms_yaml=None, redis=None, share=None, extra=()) -> started ServerProcess."""
    started: list[ServerProcess] = []
    template_db, tokens = host_tokens

    def factory(
        rooms: str | None = None,
        *,
        redis: str | None = None,
        share: ServerProcess | None = None,
        extra: tuple[str, ...] = (),
        start: bool = True,
        label: str | None = None,
    ) -> ServerProcess:
        label = label or f"server{len(started) + 1}"
        workdir = tmp_path / label
        workdir.mkdir()
        if share is not None:
            rooms_path, db_path = share.rooms_path, share.db_path
        else:
            rooms_path = workdir / "rooms.yaml"
            rooms_path.write_text(rooms if rooms is not None else (TESTS / "rooms.yaml").read_text())
            db_path = workdir / "chat.db"
            for f in template_db.parent.glob(template_db.name + "*"):
                shutil.copy2(f, workdir / f.name)
        server = ServerProcess(
            workdir,
            rooms_path=rooms_path,
            db_path=db_path,
            redis_url=redis,
            extra=extra,
            tokens=tokens,
            label=label,
        )
        started.append(server)
        if start:
            server.start()
        return server

    yield factory
    for server in reversed(started):
        server.stop()


@pytest.fixture
def server(make_server) -> ServerProcess:
    """One server, in-process broker, the test rooms."""
    return make_server()


@pytest.fixture
async def clients() -> AsyncIterator[ClientPool]:
    pool = ClientPool()
    yield pool
    await pool.close()


# ---- browser tests (Playwright): one Chromium per test module, fresh contexts per test ----------
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """One Chromium per test module (launching it is the slow part)."""
    from tests.browser_support import CHROMIUM, chromium

    async with chromium(need_binary("chromium", CHROMIUM)) as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def tabs(browser: Any, server: ServerProcess) -> AsyncIterator[Any]:
    """Browser contexts for this test; fails the test if any page threw an uncaught error."""
    from tests.browser_support import Tabs

    opened = Tabs(browser, server.base)
    yield opened
    await opened.close()
    assert not opened.errors, f"uncaught errors in the page: {opened.errors}"
