"""Scenario 7 (issue 18): the chat mix on a real Redis Cluster against the same load on one Redis.

    python -m bench.cluster_bench            # alone, about 3 minutes; also `python -m bench --only cluster`

For each backend in turn (one redis-server, then a cluster of three masters and three replicas, each
node a `redis-server --cluster-enabled yes` joined by `redis-cli --cluster create`, as in
tests/cluster_fixtures.py) it starts two chatserver workers on one database and runs the load
generator's ``bench.cluster_load``: 20 rooms x 10 members, each room split between the two workers,
the highest sustained rate, p50/p99 at half of it, and one step at the same rate for both backends
(``--equal-rate``) for CPU per message at equal load. The figures to read are the cluster/single ratios.

Stdlib only, like the rest of the bench's driver; every process is started and stopped by its pid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench.procs import (
    BENCH,
    LOOPBACK,
    PEERS_PY,
    ROOT,
    SERVERS,
    BenchSetupError,
    Proc,
    ensure_peers_venv,
    free_port,
    redis_server,
    say,
    start,
    wait_for_quiet,
    wait_ready,
)

MASTERS = 3
NODE_TIMEOUT_MS = 5000
BACKENDS = ("single", "cluster")
LOAD_TIMEOUT = 600.0


def cluster_port() -> int:
    """A free loopback port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = random.randrange(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind((LOOPBACK, port))
                b.bind((LOOPBACK, port + 10000))
        except OSError:
            continue
        return port


def _redis_cli(port: int, *args: str, timeout: float = 5.0) -> str:
    cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    try:
        done = subprocess.run(
            [cli, "-h", LOOPBACK, "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _fields(text: str) -> dict[str, str]:
    return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)


def serve_nodes(workdir: Path, ports: list[int]) -> int:
    """The nodes' parent (``--nodes``): one cluster-enabled redis-server per port, its children, so the
    load generator reads the whole cluster's CPU from this one pid; stops them on SIGINT/SIGTERM."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    children = []
    for port in ports:
        d = workdir / str(port)
        d.mkdir(parents=True, exist_ok=True)
        cmd = [exe, "--port", str(port), "--bind", LOOPBACK, "--cluster-enabled", "yes"]
        cmd += [
            "--cluster-config-file",
            str(d / "nodes.conf"),
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
        ]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(d), "--logfile", str(d / "redis.log")]
        children.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(c.poll() is None for c in children):
        time.sleep(0.2)
    for port, c in zip(ports, children, strict=True):
        if c.poll() is not None:  # say which node gave up; its redis.log is in its folder
            print(f"node {port} exited with {c.returncode}", file=sys.stderr, flush=True)
    for c in children:
        if c.poll() is None:
            c.terminate()
    for c in children:
        try:
            c.wait(5)
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait(5)
    return 0


@contextlib.contextmanager
def redis_cluster(logdir: Path, workdir: Path) -> Iterator[tuple[Proc, str]]:
    """Three masters and three replicas on free loopback ports; yields (the nodes' parent, the URL)."""
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        raise BenchSetupError("redis-server and redis-cli are needed (apt-get install redis-server)")
    ports: list[int] = []
    while len(ports) < MASTERS * 2:  # six distinct ports, no one's bus port another's port
        port = cluster_port()
        if not {port, port + 10000, port - 10000} & set(ports):
            ports.append(port)
    cmd = [sys.executable, "-m", "bench.cluster_bench", "--nodes", str(workdir), *map(str, ports)]
    proc = start("redis-cluster", cmd, logdir=logdir)
    try:
        for port in ports:
            wait_ready(proc, port, timeout=15)
        cli = shutil.which("redis-cli") or "redis-cli"
        create = [cli, "--cluster", "create", *(f"{LOOPBACK}:{p}" for p in ports)]
        done = subprocess.run(
            [*create, "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            raise BenchSetupError("redis-cli --cluster create failed:\n" + done.stdout[-800:] + done.stderr)

        def ready(port: int) -> bool:
            info = _fields(_redis_cli(port, "cluster", "info"))
            repl = _fields(_redis_cli(port, "info", "replication"))
            linked = repl.get("connected_slaves", "0") != "0" or repl.get("master_link_status") == "up"
            return (
                info.get("cluster_state") == "ok"
                and info.get("cluster_known_nodes") == str(len(ports))
                and info.get("cluster_slots_ok") == "16384"
                and linked
            )

        deadline = time.time() + 60
        while not all(ready(p) for p in ports):
            if time.time() > deadline:
                raise BenchSetupError("the Redis Cluster did not say cluster_state:ok within 60 s")
            time.sleep(0.2)
        yield proc, "redis+cluster://" + ",".join(f"{LOOPBACK}:{p}" for p in ports)
    finally:
        proc.stop()


def _audit_size(tmp: Path) -> dict[str, Any]:
    """Rows in the workers' audit table and the database's bytes on disk (after the workers stopped)."""
    size = sum(p.stat().st_size for p in tmp.glob("chat.db*"))
    rows = 0
    with contextlib.suppress(sqlite3.Error):
        con = sqlite3.connect(tmp / "chat.db")
        try:
            rows = int(con.execute("SELECT count(*) FROM audit").fetchone()[0])
        finally:
            con.close()
    return {"audit_rows": rows, "db_bytes": size}


def _redis_memory(url: str) -> dict[str, Any]:
    """Memory the masters use after the run, and one room's stream (MEMORY USAGE, XLEN): what a room
    costs a Redis, for docs/scaling.md."""
    ports = [int(hp.rsplit(":", 1)[1].split("/")[0]) for hp in url.split("://", 1)[1].split(",")]
    cluster = url.startswith("redis+cluster")
    used = 0
    for port in ports:
        if cluster and _fields(_redis_cli(port, "info", "replication")).get("role") != "master":
            continue
        used += int(_fields(_redis_cli(port, "info", "memory")).get("used_memory", "0"))
    key = "chatserver:room:{chat-00}:log" if cluster else "chatserver:room:chat-00:log"
    args = ("-c",) if cluster else ()
    stream = _redis_cli(ports[0], *args, "memory", "usage", key).strip()
    xlen = _redis_cli(ports[0], *args, "xlen", key).strip()
    return {
        "redis_used_bytes": used,
        "stream_bytes": int(stream) if stream.isdigit() else 0,
        "stream_len": int(xlen) if xlen.isdigit() else 0,
    }


def run_backend(backend: str, args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    """A fresh backend, two chatserver workers on it sharing one database, one load-generator run."""
    busy_before = wait_for_quiet(args.quiet_wait)
    spec = SERVERS["chatserver"]
    with tempfile.TemporaryDirectory(prefix="chatserver-cluster-bench-") as tmpname:
        tmp = Path(tmpname)
        with contextlib.ExitStack() as stack:
            if backend == "cluster":
                redis_proc, url = stack.enter_context(redis_cluster(logdir, tmp / "cluster"))
            else:
                redis_proc, url = stack.enter_context(redis_server(logdir))
            workers = []
            for k in range(args.workers):
                port = free_port()
                proc = start(
                    f"chatserver-{backend}-{k}", spec.command(port, url, tmp), logdir=logdir, env=spec.env()
                )
                stack.callback(proc.stop)
                wait_ready(proc, port, timeout=60, http_path="/readyz")
                workers.append((proc, port))
            cmd = [str(PEERS_PY), "-m", "bench.cluster_load"]
            cmd += ["--ports", ",".join(str(p) for _, p in workers)]
            cmd += ["--server-pids", ",".join(str(w.pid) for w, _ in workers)]
            cmd += ["--redis-pids", str(redis_proc.pid), "--equal-rate", str(args.equal_rate)]
            cmd += ["--budget-s", str(args.budget_s), "--members", str(args.members)]
            if args.quick:
                cmd += ["--step-s", "1", "--refine", "0", "--budget-s", "15"]
            try:
                done = subprocess.run(
                    cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=LOAD_TIMEOUT, check=False
                )
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
                result = json.loads(lines[-1]) if lines else {"error": "the load generator printed no result"}
            except subprocess.TimeoutExpired:
                result = {"error": f"the load generator did not finish within {LOAD_TIMEOUT:.0f} s"}
            result.update(_redis_memory(url))
            for w, _ in workers:
                if not w.alive():
                    result["error"] = f"{w.name} exited with {w.popen.returncode}: {w.log_tail(3)}"
        result.update(_audit_size(tmp))  # the workers have stopped: their WAL is checkpointed
    result["busy_before"] = busy_before
    result["url_scheme"] = url.split("://", 1)[0]
    return result


def run(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    """Both backends, one after the other, in this invocation; the results keyed by backend."""
    out: dict[str, Any] = {"workers": args.workers, "members": args.members, "equal_rate": args.equal_rate}
    for backend in BACKENDS:
        say(f"\n== cluster scenario · chatserver x{args.workers} on {backend} Redis")
        try:
            out[backend] = run_backend(backend, args, logdir)
        except BenchSetupError as exc:
            out[backend] = {"error": f"not available: {exc}"}
        if out[backend].get("error"):
            say(f"   {backend}: {out[backend]['error']}")
    return out


def from_bench(quick: bool, quiet_wait: float, logdir: Path) -> dict[str, Any]:
    """Scenario 7 of ``python -m bench`` (``--only cluster``): this module's defaults, the bench's
    ``--quick`` and ``--quiet-wait``."""
    args = parser().parse_args(["--quick"] if quick else [])
    args.quiet_wait = quiet_wait
    return run(args, logdir)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def _us(cpu_percent: float, per_s: float) -> float | None:
    return 10_000 * cpu_percent / per_s if per_s else None


def markdown(res: Mapping[str, Any]) -> str:
    """The scenario's table: each backend's figures and the cluster/single ratio, in one run."""
    if not res or not any(isinstance(res.get(b), Mapping) for b in BACKENDS):
        return "not run\n"
    rows: dict[str, list[str]] = {}
    nums: dict[str, dict[str, float | None]] = {}
    for b in BACKENDS:
        r = res.get(b) or {}
        best, half, eq = r.get("max") or {}, r.get("half") or {}, r.get("equal") or {}
        n = nums[b] = {
            "sustained": best.get("deliveries_per_s"),
            "msgs": best.get("rate"),
            "p50": half.get("p50_ms"),
            "p99": half.get("p99_ms"),
            "eq_p50": eq.get("p50_ms"),
            "eq_p99": eq.get("p99_ms"),
            "server_us": _us(eq.get("server_cpu", 0), eq.get("send_rate", 0)),
            "redis_us": _us(eq.get("redis_cpu", 0), eq.get("send_rate", 0)),
        }
        if r.get("error") or not best:
            rows[b] = [str(r.get("error", "no result")).splitlines()[0]] + [""] * 6
            continue

        def f(v: float | None, fmt: str) -> str:
            return "–" if v is None else format(v, fmt)

        rows[b] = [
            f"{f(n['sustained'], ',.0f')} ({f(n['msgs'], ',.0f')} msg/s)",
            f"{f(n['p50'], '.1f')} / {f(n['p99'], '.1f')}",
            f"{f(n['eq_p50'], '.1f')} / {f(n['eq_p99'], '.1f')}",
            f"{f(n['server_us'], '.0f')} µs",
            f"{f(n['redis_us'], '.0f')} µs",
            " / ".join(f"{best.get(k, 0):.0f}%" for k in ("server_cpu", "redis_cpu", "other_cpu")),
        ]
    s, c = nums["single"], nums["cluster"]
    ratio = [
        _ratio(c["sustained"], s["sustained"]),
        f"{_ratio(c['p50'], s['p50'])} / {_ratio(c['p99'], s['p99'])}",
        f"{_ratio(c['eq_p50'], s['eq_p50'])} / {_ratio(c['eq_p99'], s['eq_p99'])}",
        _ratio(c["server_us"], s["server_us"]),
        _ratio(c["redis_us"], s["redis_us"]),
        "",
    ]
    eq = res.get("equal_rate", 0)
    head = (
        f"chatserver × {res.get('workers', 2)} workers (one database), 20 rooms × {res.get('members', 10)} "
        "members, each room split between the workers, every member sending.\n\n"
        f"| Redis | sustained deliveries/s | p50 / p99 at half (ms) | p50 / p99 at {eq:,.0f} msg/s (ms) "
        f"| chatserver CPU per msg at {eq:,.0f} msg/s | Redis CPU per msg "
        "| CPU at max: chatserver / Redis / other |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {label} | " + " | ".join(rows[b]) + " |\n"
        for b, label in (("single", "one redis-server"), ("cluster", "Cluster, 3 masters + 3 replicas"))
    )
    body += "| **cluster / single** | " + " | ".join(ratio) + " |\n"
    notes = []
    for b in BACKENDS:
        r = res.get(b) or {}
        if r.get("audit_rows"):
            notes.append(
                f"- {b}: audit {r['audit_rows']:,} rows in {r['db_bytes'] / 2**20:.1f} MiB "
                f"({r['db_bytes'] / r['audit_rows']:.0f} bytes/row on disk, WAL included); "
                f"refused {sum((r.get('refused') or {}).values())}, worst machine stall "
                f"{r.get('worst_stall_ms', 0):.0f} ms, other processes before the run "
                f"{r.get('busy_before', 0):.0f}% CPU; Redis masters' memory after the run "
                f"{r.get('redis_used_bytes', 0) / 2**20:.1f} MiB, a room's stream {r.get('stream_len', 0):,} "
                f"entries in {r.get('stream_bytes', 0) / 2**10:,.0f} KiB\n"
            )
    return head + body + ("\n" + "".join(notes) if notes else "")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.cluster_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1-second steps, no bisection (a smoke run)")
    ap.add_argument("--workers", type=int, default=2, help="chatserver workers, each room split among them")
    ap.add_argument("--members", type=int, default=10, help="members per room (20 rooms)")
    ap.add_argument("--equal-rate", type=float, default=500.0, help="msg/s of the equal-load step (500)")
    ap.add_argument("--budget-s", type=float, default=75.0, help="seconds for each rate search (75)")
    ap.add_argument("--quiet-wait", type=float, default=60.0, help="wait up to this for a quiet machine")
    ap.add_argument("--out", type=Path, default=BENCH / "out", help="where logs and results go (bench/out)")
    return ap


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--nodes"]:
        return serve_nodes(Path(argv[1]), [int(p) for p in argv[2:]])
    ap = parser()
    args = ap.parse_args(argv)
    started = time.time()
    logdir = args.out / (datetime.now().strftime("%Y%m%d-%H%M%S") + "-cluster")
    logdir.mkdir(parents=True, exist_ok=True)
    ensure_peers_venv()
    res = run(args, logdir)
    res["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    res["took_s"] = time.time() - started
    (logdir / "cluster.json").write_text(json.dumps(res, indent=1))
    text = markdown(res)
    (logdir / "cluster.md").write_text(text)
    print(f"Run: {res['date']} · took {res['took_s'] / 60:.1f} min · logs in {logdir}\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
