"""The load generator's side of the Redis Cluster scenario (issue 18), run from bench/.venv-peers.

    python -m bench.cluster_load --ports 8101,8102 --server-pids 11,12 --redis-pids 21,22,23

The chat mix of loadgen.py (20 rooms x 10 members, every member sending), with each room's members
alternating between two chatserver workers, so every message crosses Redis to reach half its room.
CPU is summed over both workers and over every Redis process given (one, or the cluster's six). After
the search for the highest sustained rate, ``--equal-rate`` holds one more rate, the same for both
backends, so their CPU per message is compared at the same load. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from bench.clients import BenchError, log
from bench.loadgen import Generator, Plan, saturate
from bench.probes import CpuProbe


class Probes:
    """CPU and RSS summed over several process trees; quacks like a CpuProbe for the Generator."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.probes = [CpuProbe(pid) for pid in pids]
        self.pid = pids[0] if pids else None

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.probes)

    def rss(self) -> int:
        return sum(p.rss() for p in self.probes)


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ports = _ints(args.ports)
    gen = Generator(
        host="127.0.0.1",
        port=ports[0],
        path="/ws",
        socketio=False,
        server=Probes(_ints(args.server_pids)),  # type: ignore[arg-type]
        redis=Probes(_ints(args.redis_pids)),  # type: ignore[arg-type]
        loop=asyncio.get_running_loop(),
    )
    t0 = time.time()
    await gen.canary.start()
    rooms = [f"chat-{r:02d}" for r in range(args.rooms) for _ in range(args.members)]
    # Member i of every room goes to worker i % len(ports): each room is split evenly between workers.
    for k, port in enumerate(ports):
        await gen.connect([room for i, room in enumerate(rooms) if i % len(ports) == k], port=port)
    log(f"{len(gen.clients)} clients joined on {len(ports)} workers in {time.time() - t0:.1f} s")
    plan = Plan(
        step_s=args.step_s,
        drain_s=4.0,
        start_rate=args.start_rate,
        max_rate=50000,
        refine=args.refine,
        resolution=1.12,
        budget_s=args.budget_s,
        half_s=6.0,
        per_sender=None,
    )
    result: dict[str, Any] = {"scenario": "cluster-chat", "clients": len(gen.clients)}
    result.update(await saturate(gen, plan))
    if args.equal_rate:
        await gen.settle(5.0)
        # One plain step, not re-run on a stall: its CPU per message is the figure, not its pass or fail.
        st = await gen.step(args.equal_rate, args.step_s * 2, drain=plan.drain_s, per_sender=None)
        result["equal"] = asdict(st)
    result.update(
        acks=dict(gen.acks),
        refused=dict(gen.refused),
        close_reasons=dict(gen.close_reasons),
        wall_s=time.time() - t0,
        machine_stalls=len(gen.canary.stalls),
        worst_stall_ms=max((ms for _, ms in gen.canary.stalls), default=0.0),
        sent_total=sum(s["sent"] for s in result["steps"]) + (result.get("equal") or {}).get("sent", 0),
    )
    await gen.canary.stop()
    for c in gen.clients:
        c.close()
    await asyncio.sleep(0.2)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cluster_load", description=__doc__.splitlines()[0])
    ap.add_argument("--ports", required=True, help="the workers' ports, comma-separated (127.0.0.1)")
    ap.add_argument("--server-pids", required=True)
    ap.add_argument("--redis-pids", required=True)
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--step-s", type=float, default=3.0)
    ap.add_argument("--start-rate", type=float, default=400.0)
    ap.add_argument("--refine", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=75.0)
    ap.add_argument("--equal-rate", type=float, default=0.0, help="one more step at this rate (msg/s)")
    args = ap.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    try:
        result = runner(run(args))
    except (BenchError, OSError, TimeoutError) as exc:
        result = {"scenario": "cluster-chat", "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
