"""One set of hosts across machines (issue 18): two `chatserver serve` processes, each with its own
SQLite file, sharing one real redis-server; `hosts` commands run on either machine act on both."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
import redis

from chatserver.auth import add_host, hash_token, list_hosts, revoke_host
from chatserver.shared_hosts import HOSTS_KEY, HostRow, merge_local, plan
from tests.cluster_fixtures import cluster_fixture  # noqa: F401
from tests.support import ClientPool, ServerProcess, cli, wait_for

ROW = HostRow("dana", "a" * 64, 0, "2026-12-01T10:00:00.000Z", None, None, 0)


def _token(done) -> str:
    assert done.returncode == 0, done.stderr
    match = re.search(r"token: (\S+)", done.stdout)
    assert match, done.stdout
    return match.group(1)


def hosts(server: ServerProcess, url: str | None, *args: str):
    """`chatserver hosts ARGS` on `server`'s machine (its file), with the deployment's Redis or without."""
    return cli("hosts", *args, "--db", str(server.db_path), *(("--redis", url) if url else ()))


async def signed_in_as(clients: ClientPool, server: ServerProcess, name: str, token: str, role: str):
    """A client signed in with `token`, retried until the server knows the token (deadline 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        client = await clients.user(server, name, token=token)
        if client.welcome["role"] == role:
            return client
        await client.close()
        assert time.monotonic() < deadline, f"{server.label} never accepted {name}'s token as {role}"
        await asyncio.sleep(0.1)


def test_the_newer_row_of_a_name_wins_and_a_revocation_wins_a_tie():
    """plan(): newer local rows go up, newer or different shared rows come down, revocation beats an add."""
    revoked = _fields(ROW, revoked_at=ROW.created_at)
    later = _fields(ROW, created_at="2026-12-01T10:00:00.001Z", token_hash="b" * 64)
    retitled = _fields(ROW, title="Counsellor")
    assert plan({"dana": ROW}, {}) == ([], [ROW])
    assert plan({}, {"dana": ROW}) == ([ROW], [])
    assert plan({"dana": later}, {"dana": ROW}) == ([], [later])
    assert plan({"dana": ROW}, {"dana": later}) == ([later], [])
    assert plan({"dana": ROW}, {"dana": revoked}) == ([revoked], [])
    assert plan({"dana": revoked}, {"dana": ROW}) == ([], [revoked])
    assert plan({"dana": retitled}, {"dana": ROW}) == ([ROW], [])  # titles are settled by Redis
    assert plan({"dana": ROW}, {"dana": ROW}) == ([], [])
    assert HostRow.from_json(ROW.to_json()) == ROW


def _fields(row: HostRow, **changed: object) -> HostRow:
    values = {name: getattr(row, name) for name in HostRow.__dataclass_fields__}
    return HostRow(**{**values, **changed})  # type: ignore[arg-type]


def test_merge_copies_newer_rows_down_and_never_overwrites_a_newer_local_change(tmp_path: Path):
    """A shared row comes down into an empty file; a file's own later revocation is kept and goes up."""
    db = tmp_path / "chat.db"
    token = add_host(db, "erin")
    erin = HostRow(**_raw(db, "erin"))  # type: ignore[arg-type]
    rows, up = merge_local(db, {"dana": ROW, "erin": erin})
    assert [r.name for r in rows] == ["dana", "erin"] and up == []
    assert [h.name for h in list_hosts(db)] == ["dana", "erin"]
    revoke_host(db, "erin")
    rows, up = merge_local(db, {"dana": ROW, "erin": erin})
    assert [r.name for r in up] == ["erin"] and up[0].revoked_at is not None
    assert next(h for h in list_hosts(db) if h.name == "erin").revoked
    assert erin.token_hash == hash_token(token)


def _raw(db: Path, name: str) -> dict[str, object]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        cols = ("name", "token_hash", "is_admin", "created_at", "revoked_at", "title", "professional")
        row = conn.execute(f"SELECT {', '.join(cols)} FROM hosts WHERE name = ?", (name,)).fetchone()
        return dict(zip(cols, row, strict=True))
    finally:
        conn.close()


@pytest.mark.redis
async def test_a_host_added_on_one_machine_works_on_both_and_a_revoke_signs_out_everywhere(
    redis_server, make_server, clients
):
    """`hosts add` on A is accepted on B; `hosts revoke` on B signs the host out on A and B within 10 s."""
    a = make_server(redis=redis_server.url, label="machine_a")
    b = make_server(redis=redis_server.url, label="machine_b")
    assert a.db_path != b.db_path
    token = _token(hosts(a, redis_server.url, "add", "dana"))
    on_b = await signed_in_as(clients, b, "dana", token, "host")
    on_a = await signed_in_as(clients, a, "dana", token, "host")

    done = hosts(b, redis_server.url, "revoke", "dana")
    assert done.returncode == 0 and "on any machine" in done.stdout, done.stderr
    await asyncio.wait_for(asyncio.gather(on_a.closed.wait(), on_b.closed.wait()), 10)
    assert (on_a.close_code, on_b.close_code) == (1008, 1008)
    for server in (a, b):  # the token now signs in as nobody special, on either machine
        again = await clients.user(server, "dana2", token=token)
        assert again.welcome["role"] == "participant"
    # Each machine's own file holds the revocation too (a sign-in never needs Redis).
    listed = hosts(a, None, "list")
    assert re.search(r"^dana\thost\trevoked\t", listed.stdout, re.M), listed.stdout
    kept = redis.Redis.from_url(redis_server.url).hget(HOSTS_KEY, "dana").decode()
    assert token not in kept and hash_token(token) in kept  # Redis holds the hash only


@pytest.mark.redis
async def test_a_reissued_token_ends_the_old_one_everywhere_and_a_local_add_is_shared(
    redis_server, make_server, clients
):
    """Re-adding alice on A signs her old token out on B; a host added to B's file alone reaches A."""
    a = make_server(redis=redis_server.url, label="machine_a")
    b = make_server(redis=redis_server.url, label="machine_b")
    old = await clients.host(b, "alice")
    assert old.welcome["role"] == "host"
    new_token = _token(hosts(a, redis_server.url, "add", "alice"))
    await asyncio.wait_for(old.closed.wait(), 10)
    assert old.close_code == 1008
    alice = await signed_in_as(clients, b, "alice", new_token, "host")
    # A title set from A reaches B's file and B's signed-in alice (her next message shows it).
    done = hosts(a, redis_server.url, "title", "alice", "Peer mentor")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: list_hosts(b.db_path)[0].title == "Peer mentor", 10, "the title in B's file")
    assert (await alice.join("lobby"))["type"] == "joined"
    deadline = time.monotonic() + 10  # the file is written a moment before her connection learns it
    while True:
        await alice.post("lobby", "titled now?")
        said = await alice.expect("message", text="titled now?")
        if said["from"].get("title") == "Peer mentor":
            break
        assert time.monotonic() < deadline, said

    # A command run without --redis (only B's file): B's server shares it within seconds.
    erin = _token(hosts(b, None, "add", "erin", "--admin"))
    await signed_in_as(clients, a, "erin", erin, "admin")
    shared = hosts(a, redis_server.url, "list")
    assert re.search(r"^erin\tadmin\tactive\t", shared.stdout, re.M), shared.stdout


@pytest.mark.redis
def test_a_change_that_loses_to_a_newer_one_elsewhere_says_so(redis_server, tmp_path: Path):
    """An add made with a clock behind another machine's later one fails loudly instead of vanishing."""
    db = tmp_path / "chat.db"
    future = _fields(ROW, created_at="2999-01-01T00:00:00.000Z")
    redis.Redis.from_url(redis_server.url).hset(HOSTS_KEY, "dana", future.to_json())
    done = cli("hosts", "add", "dana", "--db", str(db), "--redis", redis_server.url)
    assert done.returncode == 1 and "another machine changed 'dana'" in done.stderr, done.stderr
    assert not next(h for h in list_hosts(db) if h.name == "dana").revoked  # the newer row stands here too
    # A revocation is of the row it finds, so it always beats that row, whatever the clocks say.
    done = cli("hosts", "revoke", "dana", "--db", str(db), "--redis", redis_server.url)
    assert done.returncode == 0, done.stderr
    assert HostRow.from_json(redis.Redis.from_url(redis_server.url).hget(HOSTS_KEY, "dana")).revoked_at
    down = cli("hosts", "list", "--db", str(tmp_path / "nowhere.db"), "--redis", "redis://127.0.0.1:1/0")
    assert down.returncode == 1 and "did not answer" in down.stderr, down.stderr


async def test_while_redis_does_not_answer_a_worker_reads_its_own_file(tmp_path: Path):
    """A worker's refresh falls back to its machine's file, so a revocation made there still applies."""
    import redis.asyncio as aioredis

    from chatserver.shared_hosts import SharedHosts
    from tests.support import free_port

    db = tmp_path / "chat.db"
    add_host(db, "erin")
    revoke_host(db, "erin")
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        shared = SharedHosts(client, db)
        with pytest.raises(redis.ConnectionError):
            await shared.sync()
        assert [(r.name, r.revoked) for r in await shared.records()] == [("erin", True)]
    finally:
        await client.aclose()


@pytest.mark.redis
@pytest.mark.slow
async def test_on_a_redis_cluster_hosts_are_shared_and_the_notice_reaches_a_worker(
    redis_cluster, tmp_path: Path
):
    """With a redis+cluster:// URL: an add on one file reaches another through the cluster, a title
    set there comes down, and the revoke's notice reaches a worker's broker as a hosts_changed event."""
    from chatserver.brokers.redis import RedisBroker
    from chatserver.shared_hosts import SharedHosts
    from tests.test_cluster_redis import Collector

    a, b = tmp_path / "a.db", tmp_path / "b.db"
    listener = Collector()
    broker = RedisBroker(redis_cluster.url, worker_id="w1")
    await broker.start(listener, ["lobby"], {})
    try:
        token = _token(cli("hosts", "add", "dana", "--db", str(a), "--redis", redis_cluster.url))
        shared = SharedHosts.for_broker(broker, b)
        assert shared is not None
        (dana,) = await shared.sync()
        assert dana.credential == hash_token(token)[:16] and not dana.revoked
        assert (
            cli(
                "hosts", "title", "dana", "Peer mentor", "--db", str(a), "--redis", redis_cluster.url
            ).returncode
            == 0
        )
        done = cli("hosts", "revoke", "dana", "--db", str(a), "--redis", redis_cluster.url)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 10
        while not any(e.get("kind") == "hosts_changed" for e in listener.events):
            assert time.monotonic() < deadline, listener.events
            await asyncio.sleep(0.05)
        (dana,) = await shared.sync()
        assert dana.revoked and dana.title == "Peer mentor"
        assert list_hosts(b)[0].revoked  # B's own file holds it too
    finally:
        await broker.close()
