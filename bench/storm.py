"""The reconnect storm (``--only storm``): a worker restart drops 5,000 joined people at once.

chatserver runs as two workers on one Redis and one database (``python -m bench`` starts both): worker A
holds the 5,000 (50 rooms of 100), worker B holds a few people per room who stay connected, one of whom
posts once a second. Then the bench kills A (SIGKILL, as a crash or an impatient deploy would) and starts
it again on the same port; meanwhile B's people keep posting. When A answers ``/readyz`` again, all 5,000
reconnect at once (the same 64 in flight as every other connect here) with ``hello resume`` and ``join
since`` (their last message id), and we measure until every one of them has every message posted up to
that moment: replayed or live, no gap, no duplicate. B's people's delivery latency before and during the
storm is what the storm costs those still connected.

The peers cannot resume, so for them this scenario is a plain connect of the same 5,000 (what Node takes
to connect 5,000 fresh clients is the yardstick: bench/report.py puts the two side by side).

The load generator asks its parent to kill and restart the worker with a line ``kill`` on stdout and reads
``ready <pid>`` on stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from bench.clients import BenchError, Client, log
from bench.probes import CpuProbe

if TYPE_CHECKING:
    from bench.loadgen import Generator

ROOMS = 50
STAY_PER_ROOM = 4  # worker B: people per room who stay connected; the first of them posts
POST_EVERY_S = 1.0  # per room, all along: before, during and after the outage
BASELINE_S = 5.0
CATCH_UP_TIMEOUT_S = 120.0


def _pct(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] / 1000


async def _post(publishers: list[Client], stop: asyncio.Event) -> None:
    """Every room gets one message per POST_EVERY_S, spread evenly over the period."""
    gap = POST_EVERY_S / len(publishers)
    while not stop.is_set():
        for p in publishers:
            if stop.is_set():
                return
            p.publish()
            await asyncio.sleep(gap)


def _caught_up(clients: list[Client], targets: dict[str, tuple[int, int]]) -> int:
    """How many of ``clients`` hold every message their room's publisher sent up to its target seq."""
    done = 0
    for c in clients:
        pub, seq = targets[c.room]
        if c.last.get(pub, 0) >= seq:
            done += 1
    return done


async def _restart_worker() -> tuple[int, float]:
    """Ask the bench to kill worker A and start it again; returns (its new pid, seconds it took)."""
    t0 = time.time()
    print("kill", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    parts = line.split()
    if len(parts) != 2 or parts[0] != "ready":
        raise BenchError(f"Expected 'ready <pid>' from the bench after 'kill', got {line.strip()!r}")
    return int(parts[1]), time.time() - t0


async def run(gen: Generator, args: argparse.Namespace) -> dict[str, Any]:
    n = args.idle_conns
    rooms = [f"idle-{i % ROOMS:02d}" for i in range(n)]
    if not args.port2:  # a peer: the yardstick, a plain connect of the same people
        t0 = time.time()
        await gen.connect(rooms)
        connect_s = time.time() - t0
        log(f"plain connect of {n}: {connect_s:.1f} s")
        return {"conns": n, "plain_connect_s": connect_s, "open": sum(not c.closed for c in gen.clients)}
    stayers = await gen.connect(
        [f"idle-{r:02d}" for r in range(ROOMS) for _ in range(STAY_PER_ROOM)], port=args.port2
    )
    publishers = [c for c in stayers if c.index % STAY_PER_ROOM == 0]
    t0 = time.time()
    storm = await gen.connect(rooms, track=True)
    first_connect_s = time.time() - t0
    log(f"{len(stayers)} people on worker B, {n} on worker A (connected in {first_connect_s:.1f} s)")
    stop = asyncio.Event()
    poster = asyncio.create_task(_post(publishers, stop))
    await asyncio.sleep(BASELINE_S)
    baseline, gen.lat_us = gen.lat_us, []
    for c in storm:
        c._closing = True  # the server goes away: expected, not a lost connection
    t_kill, at_kill = time.time(), {p.room: p.seq for p in publishers}
    pid, outage_s = await _restart_worker()
    gen.server = CpuProbe(pid)
    targets = {p.room: (p.pub, p.seq) for p in publishers}
    log(f"worker A back after {outage_s:.1f} s; {n} reconnecting with resume and join since")
    dropped = set(map(id, storm))
    gen.clients = [c for c in gen.clients if id(c) not in dropped]
    cpu0, t_back = gen.server.cpu(), time.time()
    back = await gen.connect(rooms, prev=sorted(storm, key=lambda c: c.index))
    rejoined_s = time.time() - t_back
    deadline, caught = time.time() + CATCH_UP_TIMEOUT_S, 0
    while time.time() < deadline:
        caught = _caught_up(back, targets)
        if caught == len(back):
            break
        await asyncio.sleep(0.02)
    caught_s, from_kill_s = time.time() - t_back, time.time() - t_kill
    during, gen.lat_us = gen.lat_us, []
    server_cpu = 100 * (gen.server.cpu() - cpu0) / max(caught_s, 1e-3)
    stop.set()
    await poster
    log(
        f"{caught} of {n} caught up {caught_s:.1f} s after A came back (joined in {rejoined_s:.1f} s); "
        f"B's people p99 {_pct(baseline, 0.99):.1f} ms before, {_pct(during, 0.99):.1f} ms during"
    )
    return {
        "conns": n,
        "stayers": len(stayers),
        "first_connect_s": first_connect_s,
        "outage_s": outage_s,
        "rejoined_s": rejoined_s,
        "caught_up_s": caught_s,
        "caught_up": caught,
        "from_kill_s": from_kill_s,
        "missed_per_room": sum(seq - at_kill[room] for room, (_, seq) in targets.items()) / ROOMS,
        "replayed": gen.replayed,
        "gaps": gen.gaps,
        "dup": gen.dup,
        "server_cpu": server_cpu,
        "stay_p50_before_ms": _pct(baseline, 0.5),
        "stay_p99_before_ms": _pct(baseline, 0.99),
        "stay_p50_during_ms": _pct(during, 0.5),
        "stay_p99_during_ms": _pct(during, 0.99),
        "stay_max_during_ms": _pct(during, 1.0),
    }
