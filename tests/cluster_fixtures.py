"""A real Redis Cluster for the tests: three masters and three replicas on free loopback ports.

Each node is a `redis-server --cluster-enabled yes` of its own; `redis-cli --cluster create` joins
them. The fixture waits until every node says `cluster_state:ok` and knows all six nodes (polled
with a deadline, never a fixed sleep), and a test can kill a master and wait for its replica to
take over (`kill_master_of`, `wait_failover`). Under CI a missing redis-server fails, not skips.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from tests.conftest import need_binary
from tests.support import LOOPBACK, wait_for

MASTERS = 3
#: Milliseconds before a silent master is failed over: short, so the failover tests stay short.
NODE_TIMEOUT_MS = 1000


def cluster_port(chosen: set[int]) -> int:
    """A free port whose cluster bus port (port + 10000) is free too, and not one of `chosen`: the six
    nodes are all chosen before any binds, so a free port may already be another node's. Both lie
    below Linux's ephemeral range (32768 up), so no connection another test opens can take them."""
    while True:
        port = random.randrange(20000, 22760)
        if port in chosen:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind((LOOPBACK, port))
                b.bind((LOOPBACK, port + 10000))
        except OSError:
            continue
        return port


class ClusterNode:
    """One cluster-enabled redis-server without persistence, in its own folder."""

    def __init__(self, workdir: Path, binary: str, chosen: set[int]) -> None:
        self.port = cluster_port(chosen)
        chosen.add(self.port)
        self.workdir = workdir / str(self.port)
        self.workdir.mkdir(parents=True)
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(self.workdir / "nodes.conf"),
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(LOOPBACK, self.port, socket_timeout=1, socket_connect_timeout=1)

    def info(self) -> dict[str, str]:
        """CLUSTER INFO as a dict; empty when the node does not answer."""
        try:
            with self.client() as c:
                raw = c.execute_command("CLUSTER INFO")
        except redis_lib.RedisError:
            return {}
        if isinstance(raw, dict):  # redis-py parses the reply
            return {str(k): str(v) for k, v in raw.items()}
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def role(self) -> str:
        """`master` or `slave` (ROLE), `down` when it does not answer."""
        try:
            with self.client() as c:
                role = c.execute_command("ROLE")
        except redis_lib.RedisError:
            return "down"
        return role[0].decode() if isinstance(role[0], bytes) else str(role[0])

    def replicating(self) -> bool:
        """A master with a replica attached, or a replica whose link to its master is up."""
        try:
            with self.client() as c:
                role = c.execute_command("ROLE")
        except redis_lib.RedisError:
            return False
        kind = role[0].decode() if isinstance(role[0], bytes) else str(role[0])
        if kind == "master":
            return len(role[2]) >= 1
        state = role[3].decode() if isinstance(role[3], bytes) else str(role[3])
        return state == "connected"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisClusterProcess:
    """Six nodes made into one cluster (three masters, one replica each)."""

    def __init__(self, workdir: Path, binary: str, cli: str) -> None:
        chosen: set[int] = set()
        self.nodes = [ClusterNode(workdir, binary, chosen) for _ in range(MASTERS * 2)]
        self.cli = cli

    @property
    def url(self) -> str:
        """The chatserver URL: the cluster scheme with every node as a seed."""
        return "redis+cluster://" + ",".join(f"{LOOPBACK}:{n.port}" for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            wait_for(lambda n=node: n.info(), 10, f"cluster node {node.port} answering")
        done = subprocess.run(
            [self.cli, "--cluster", "create", *(f"{LOOPBACK}:{n.port}" for n in self.nodes)]
            + ["--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        self.wait_ok(self.nodes, timeout=30)

    def wait_ok(self, nodes: list[ClusterNode], timeout: float) -> None:
        """Until every node given says cluster_state:ok with every slot served, knows all six nodes,
        and is replicating (so a killed master can be failed over)."""

        def ok() -> bool:
            infos = [n.info() for n in nodes]
            return all(
                i.get("cluster_state") == "ok"
                and i.get("cluster_slots_ok") == "16384"
                and i.get("cluster_known_nodes") == str(len(self.nodes))
                for i in infos
            ) and all(n.replicating() for n in nodes)

        wait_for(ok, timeout, "cluster_state:ok on every node", interval=0.1)

    def owner_port(self, key: str) -> int:
        """The port of the master serving `key`'s slot, asked of a live node."""
        live = next(n for n in self.nodes if n.alive)
        with live.client() as c:
            slot = int(c.execute_command("CLUSTER KEYSLOT", key))
            for start, end, master, *_ in c.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return int(master[1])
        raise AssertionError(f"no master serves slot {slot}")

    def kill_master_of(self, key: str) -> ClusterNode:
        """SIGKILL the master serving `key`; returns it."""
        port = self.owner_port(key)
        node = next(n for n in self.nodes if n.port == port)
        node.kill()
        return node

    def wait_failover(self, dead: ClusterNode, key: str, timeout: float = 30) -> int:
        """Until a replica has taken over `key`'s slot and the live nodes say ok; the new master's port."""
        live = [n for n in self.nodes if n.alive]

        def promoted() -> int | None:
            if not all(n.info().get("cluster_state") == "ok" for n in live):
                return None
            with contextlib.suppress(redis_lib.RedisError, StopIteration):
                port = self.owner_port(key)
                return port if port != dead.port else None
            return None

        started = time.monotonic()
        port = wait_for(promoted, timeout, f"a replica promoted in place of {dead.port}", interval=0.1)
        print(f"FIGURE failover_s={time.monotonic() - started:.3f}")
        return port

    def move_slot(self, key: str) -> int:
        """Migrate `key`'s slot, keys and all, to another master, as a resharding does; the new
        master's port. (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE everywhere.)"""
        source = next(n for n in self.nodes if n.port == self.owner_port(key))
        target = next(n for n in self.nodes if n.alive and n is not source and n.role() == "master")
        with source.client() as src, target.client() as dst:
            slot = int(src.execute_command("CLUSTER KEYSLOT", key))
            src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", LOOPBACK, target.port, "", 0, 5000, "KEYS", *keys)
            for node in [target, source] + [n for n in self.nodes if n.alive and n not in (source, target)]:
                if node.role() == "master":
                    with node.client() as c:
                        c.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
        wait_for(lambda: self.owner_port(key) == target.port, 10, "the slot served by its new master")
        return target.port

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(name="redis_cluster")
def cluster_fixture(tmp_path: Path) -> Iterator[RedisClusterProcess]:
    """A throw-away Redis Cluster (3 masters + 3 replicas) on free loopback ports."""
    binary = need_binary("redis-server", "/usr/bin/redis-server")
    cli = need_binary("redis-cli", "/usr/bin/redis-cli")
    cluster = RedisClusterProcess(tmp_path / "cluster", binary, cli)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
