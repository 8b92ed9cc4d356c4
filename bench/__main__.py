"""``python -m bench`` (``make bench``): chatserver against its peers, in one run, on this machine.

Starts a private redis-server, each server in turn and one load generator, and prints Markdown tables
(also written to bench/out/latest.md and latest.json). Every figure is a ratio against peers run in the
same invocation; see bench/README.md.

    python -m bench                       # everything (about 20 minutes on 2 cores)
    python -m bench --quick               # short steps and 1,000 idle connections, a smoke run (2-5 min)
    python -m bench --only fanout,idle --servers chatserver,socketio-py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cluster_bench, report
from bench.procs import (
    BENCH,
    PEERS_PY,
    ROOT,
    SERVERS,
    BenchSetupError,
    ServerSpec,
    ensure_node_modules,
    ensure_peers_venv,
    free_port,
    redis_server,
    say,
    start,
    wait_for_quiet,
    wait_ready,
)

NET_SCENARIOS = ("fanout", "chat", "idle", "storm")
SCENARIOS = (*NET_SCENARIOS, "filters", "audit", "cluster")
LOADGEN_TIMEOUT = 900.0


def _csv(value: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(bad)}; expected some of {', '.join(allowed)}"
        )
    return items


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short steps, 1,000 idle connections (2-5 minutes)")
    ap.add_argument(
        "--only",
        type=lambda v: _csv(v, SCENARIOS, "scenario"),
        default=list(SCENARIOS),
        help=f"comma-separated scenarios ({','.join(SCENARIOS)})",
    )
    ap.add_argument(
        "--servers",
        type=lambda v: _csv(v, list(SERVERS), "server"),
        default=list(SERVERS),
        help=f"comma-separated servers ({','.join(SERVERS)})",
    )
    ap.add_argument("--idle-conns", type=int, help="connections for the idle scenario (5,000; --quick 1,000)")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="before each scenario, wait up to this many seconds for other processes to go quiet (300)",
    )
    ap.add_argument(
        "--no-profile", action="store_true", help="skip py-spy on the Python servers during fan-out"
    )
    ap.add_argument("--out", type=Path, default=BENCH / "out", help="where logs and results go (bench/out)")
    return ap.parse_args(argv)


def _loadgen_result(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    return {"error": "the load generator printed no result"}


def _drive(cmd: list[str], restart: Callable[[], int] | None) -> str:
    """Run the load generator and return its stdout; a line ``kill`` from it (the storm) is answered by
    restarting the worker under test and writing ``ready <pid>`` to its stdin."""
    with subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as lg:
        assert lg.stdin is not None and lg.stdout is not None
        deadline, out = time.time() + LOADGEN_TIMEOUT, []
        for line in lg.stdout:
            if line.strip() == "kill" and restart is not None:
                lg.stdin.write(f"ready {restart()}\n")
                lg.stdin.flush()
                continue
            out.append(line)
            if time.time() > deadline:
                lg.kill()
                raise subprocess.TimeoutExpired(cmd, LOADGEN_TIMEOUT)
        lg.wait(LOADGEN_TIMEOUT)
    return "".join(out)


def run_net(spec: ServerSpec, scenario: str, args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    """Fresh redis-server and server, one load-generator run of ``scenario``, both stopped after."""
    busy_before = wait_for_quiet(10 if args.quick else args.quiet_wait)
    with tempfile.TemporaryDirectory(prefix="chatserver-bench-") as tmp, contextlib.ExitStack() as stack:
        redis_pid, url = None, ""
        if spec.uses_redis:
            redis_proc, url = stack.enter_context(redis_server(logdir))
            redis_pid = redis_proc.pid
        port = free_port()
        proc = start(
            f"{spec.name}-{scenario}", spec.command(port, url, Path(tmp)), logdir=logdir, env=spec.env()
        )
        stack.callback(proc.stop)
        ready_path = "/readyz" if spec.name == "chatserver" else None
        wait_ready(proc, port, timeout=30, http_path=ready_path)
        cmd = [str(PEERS_PY), "-m", "bench.loadgen", "--port", str(port), "--dialect", spec.dialect]
        restart: Callable[[], int] | None = None
        if scenario == "storm" and spec.name == "chatserver":
            # A second worker on the same Redis and database holds the people who stay connected.
            port2 = free_port()
            second = start(
                f"{spec.name}-storm-b", spec.command(port2, url, Path(tmp)), logdir=logdir, env=spec.env()
            )
            stack.callback(second.stop)
            wait_ready(second, port2, timeout=30, http_path=ready_path)
            cmd += ["--port2", str(port2)]

            def restart() -> int:
                nonlocal proc
                t0 = time.time()
                proc.popen.kill()  # SIGKILL by its own pid: a crash, nothing cleaned up
                proc.popen.wait(10)
                say(f"   killed worker A ({time.time() - t0:.1f} s); starting it again")
                proc = start(
                    f"{spec.name}-storm-a2", spec.command(port, url, Path(tmp)), logdir=logdir, env=spec.env()
                )
                stack.callback(proc.stop)
                wait_ready(proc, port, timeout=60, http_path=ready_path)
                say(f"   worker A ready again {time.time() - t0:.1f} s after the kill")
                return proc.pid

        cmd += ["--scenario", scenario, "--server-pid", str(proc.pid), "--idle-conns", str(args.idle_conns)]
        if redis_pid is not None:
            cmd += ["--redis-pid", str(redis_pid)]
        if args.quick:
            cmd.append("--quick")
        if scenario == "chat":
            cmd += ["--disk-dir", tmp]  # the folder the server's database is in, or would be
        profile = logdir / f"profile-{spec.name}-{scenario}.txt"
        if scenario == "fanout" and spec.python and not args.no_profile:
            cmd += ["--profile-out", str(profile)]
        try:
            result = _loadgen_result(_drive(cmd, restart))
        except subprocess.TimeoutExpired:
            result = {"error": f"the load generator did not finish within {LOADGEN_TIMEOUT:.0f} s"}
        if not proc.alive():
            result["error"] = (
                f"{spec.name} exited with {proc.popen.returncode} during the run: {proc.log_tail(3)}"
            )
        if profile.exists():
            result["profile_file"] = str(profile)
        result["busy_before"] = busy_before
        return result


def run_filters(args: argparse.Namespace) -> dict[str, Any]:
    """Scenario 4 through bench/filters_bench.py (owned by the filters' author), in the product's venv."""
    if not (BENCH / "filters_bench.py").exists():
        return {"skipped": "bench/filters_bench.py is not there yet"}
    code = (
        "import json, sys\n"
        "try:\n    from bench.filters_bench import run\n"
        "except ImportError as exc:\n"
        "    print(json.dumps({'skipped': f'cannot import it: {exc}'}))\n"
        "    sys.exit()\n"
        f"print(json.dumps(run(messages={5000 if args.quick else 20000})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        return {"skipped": f"bench/filters_bench.py failed: {tail}"}
    return _loadgen_result(done.stdout)


def run_audit(args: argparse.Namespace) -> dict[str, Any]:
    """Scenario 5 through bench/audit_bench.py, in the product's venv (it imports chatserver.audit)."""
    rows, seconds = ("20000", "1") if args.quick else ("200000", "3")
    cmd = [sys.executable, "-m", "bench.audit_bench", "--rows", rows, "--seconds", seconds]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        return {"error": " ".join(done.stderr.strip().splitlines()[-2:])}
    return _loadgen_result(done.stdout)


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout.strip()
    except OSError:
        return "?"
    return out.splitlines()[0] if out else "?"


def meta(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    peers = _version(
        [
            str(PEERS_PY),
            "-c",
            "from importlib.metadata import version as v; print(', '.join(f'{p} {v(p)}' for p in "
            "('python-socketio', 'python-engineio', 'websockets', 'uvicorn', 'redis', 'uvloop')))",
        ]
    )
    sio_node = "?"
    with contextlib.suppress(OSError, ValueError):
        pkg = json.loads((BENCH / "node_modules" / "socket.io" / "package.json").read_text())
        ada = json.loads(
            (BENCH / "node_modules" / "@socket.io" / "redis-adapter" / "package.json").read_text()
        )
        sio_node = f"socket.io {pkg['version']}, @socket.io/redis-adapter {ada['version']}"
    rev = _version(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}",
        "versions": (
            f"Python {platform.python_version()}; {_version(['node', '--version'])} with {sio_node}; "
            f"{_version(['redis-server', '--version'])}; peers venv: {peers}; chatserver at {rev}"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.idle_conns = args.idle_conns or (1000 if args.quick else 5000)
    started = time.time()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = args.out / stamp
    logdir.mkdir(parents=True, exist_ok=True)
    say(f"bench: scenarios {','.join(args.only)}; servers {','.join(args.servers)}; logs in {logdir}")
    ensure_peers_venv()
    unavailable: dict[str, str] = {}
    if "socketio-node" in args.servers:
        try:
            ensure_node_modules()
        except BenchSetupError as exc:
            unavailable["socketio-node"] = str(exc)
    results: dict[str, Any] = {
        "meta": meta(args, argv),
        "servers": {name: {"label": SERVERS[name].label} for name in args.servers},
        "profiles": {},
    }
    for name in args.servers:
        spec = SERVERS[name]
        for scenario in (s for s in NET_SCENARIOS if s in args.only):
            say(f"\n== {scenario} · {spec.label}")
            if name in unavailable:
                result: dict[str, Any] = {"error": f"not available: {unavailable[name]}"}
            else:
                try:
                    result = run_net(spec, scenario, args, logdir)
                except BenchSetupError as exc:
                    result = {"error": f"not available: {exc}"}
                    unavailable[name] = str(exc).splitlines()[0]  # don't wait for it to fail again
            if result.get("error"):
                say(f"   {name}: {result['error']}")
            results["servers"][name][scenario] = result
            if result.get("profile_file"):
                results["profiles"][name] = report.summarize_profile(Path(result["profile_file"]))
    if "filters" in args.only:
        say("\n== filter chain alone (bench/filters_bench.py)")
        results["filters"] = run_filters(args)
    if "audit" in args.only:
        say("\n== audit log alone (bench/audit_bench.py)")
        results["audit"] = run_audit(args)
    if "cluster" in args.only:
        say("\n== Redis Cluster against one Redis, chatserver only (bench/cluster_bench.py)")
        results["cluster"] = cluster_bench.from_bench(args.quick, args.quiet_wait, logdir)
    results["meta"]["took_s"] = time.time() - started
    text = report.markdown(results)
    for target in (logdir, args.out):
        (target / "latest.json" if target == args.out else target / "results.json").write_text(
            json.dumps(results, indent=1)
        )
        (target / "latest.md" if target == args.out else target / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
