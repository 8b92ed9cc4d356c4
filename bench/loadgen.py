"""The load generator: one process, raw WebSocket clients on asyncio (uvloop when present).

Run by ``python -m bench`` from bench/.venv-peers (it needs psutil; orjson and uvloop are used when present):

    python -m bench.loadgen --port 8101 --dialect json --scenario fanout --server-pid 1234

Every message text carries (publisher, sequence, send time); each receiver counts what it got per
publisher (clients.py), so a loss is a message that a member never saw, and latency is receive time minus
the embedded send time. This module holds the scenarios: steps at an offered rate, the search for the
highest sustained one, the idle connections, py-spy.

Prints progress on stderr and one JSON object with the results on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.clients import BenchError, Client, log
from bench.disk import fsync_latency
from bench.probes import OTHER_CPU, STALL_MS, Canary, CpuProbe, busy_seconds
from bench.wire import SOCKETIO_PATH

P99_LIMIT_MS = 100.0
LOADGEN_CPU_LIMIT = 90.0


@dataclass
class Step:
    """One offered rate held for a while: what was sent, delivered, lost, and how long it took."""

    rate: float
    duration: float
    publishers: int = 1
    sent: int = 0
    send_rate: float = 0.0
    expected: int = 0
    refused: int = 0
    delivered: int = 0
    lost: int = 0
    gaps: int = 0
    dup: int = 0
    deliveries_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu: float = 0.0
    redis_cpu: float = 0.0
    loadgen_cpu: float = 0.0
    lost_connections: int = 0
    loadgen_bound: bool = False
    rerun: bool = False  # this step repeats the one before, which a machine stall may have failed
    stall_ms: float = 0.0  # the canary's longest stall during the step (0: none over 30 ms)
    other_cpu: float = 0.0  # CPU used by everything else on the machine (kernel included), % of one core
    ok: bool = False
    why: str = ""
    latency_only: bool = False


@dataclass
class Generator:
    """Holds the connections of one scenario and the counters every delivery updates."""

    host: str
    port: int
    path: str
    socketio: bool
    server: CpuProbe
    redis: CpuProbe
    loop: asyncio.AbstractEventLoop
    canary: Canary = field(default_factory=Canary)
    epoch: int = 1
    tag: str = field(default_factory=lambda: "b" + os.urandom(2).hex())  # names unique across runs
    clients: list[Client] = field(default_factory=list)
    room_size: dict[str, int] = field(default_factory=dict)
    expected: int = 0
    refused_total: int = 0
    delivered: int = 0
    gaps: int = 0
    dup: int = 0
    stale: int = 0
    foreign: int = 0
    last_delivery: float = 0.0
    lat_us: list[int] = field(default_factory=list)
    storm_lat: list[int] = field(default_factory=list)  # clients of the reconnect storm (storm.py)
    replayed: int = 0  # messages counted from `joined`/`history` replays (`join since`)
    lost_connections: int = 0
    close_reasons: Counter[str] = field(default_factory=Counter)
    acks: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    me: psutil.Process = field(default_factory=psutil.Process)

    def refuse(self, client: Client, reason: str) -> None:
        """A send the server answered with anything but "published": not expected anywhere, not a loss."""
        self.refused[reason] += 1
        self.refused_total += 1
        self.expected -= self.room_size.get(client.room, 0)

    async def connect(
        self,
        rooms: Sequence[str],
        *,
        parallel: int = 64,
        port: int = 0,
        track: bool = False,
        prev: Sequence[Client] = (),
        upgrade_only: bool = False,
    ) -> list[Client]:
        """Open one joined client per entry of ``rooms`` (a room name per client), on ``port`` (default: the
        server's); ``prev``: the clients these replace (same index, name, resume token and last message);
        ``upgrade_only``: stop after the upgrade (bench/phases.py takes hello and join step by step)."""
        sem = asyncio.Semaphore(parallel)
        start = len(self.clients)
        port = port or self.port
        opened: list[Client] = []

        def make(i: int, room: str) -> Client:
            if prev:
                return Client(self, prev[i].index, room, port=port, prev=prev[i])
            client = Client(self, start + i, room, port=port)
            client.track = track
            return client

        async def one(i: int, room: str) -> None:
            async with sem:
                _, client = await self.loop.create_connection(lambda: make(i, room), self.host, port)
                self.clients.append(client)
                opened.append(client)
                await (client.upgrade() if upgrade_only else client.setup())

        await asyncio.gather(*(one(i, r) for i, r in enumerate(rooms)))
        self.room_size = dict(Counter(c.room for c in self.clients))
        return opened

    async def reconnect(self) -> None:
        """Close everything and join again under a new epoch, so nothing from before is counted."""
        rooms = [c.room for c in self.clients]
        for c in self.clients:
            c.close()
        await asyncio.sleep(0.5)
        self.clients = []
        self.epoch += 1
        self.expected = self.delivered = 0
        await self.connect(rooms)

    async def settle(self, max_s: float) -> None:
        """Wait until the server's CPU drops below 15% (its backlog is gone), at most ``max_s`` seconds,
        so that one step's backlog does not land in the next step's latencies."""
        deadline = time.time() + max_s
        while time.time() < deadline:
            c0, t0 = self.server.cpu(), time.time()
            await asyncio.sleep(0.25)
            if (self.server.cpu() - c0) / (time.time() - t0) < 0.15:
                return

    def senders(self, rate: float, per_sender: float | None) -> list[Client]:
        """Who publishes: everyone, or just enough clients that none sends more than ``per_sender``/s."""
        if per_sender is None:
            return list(self.clients)
        return self.clients[: min(len(self.clients), max(1, math.ceil(rate / per_sender)))]

    async def step(self, rate: float, duration: float, *, drain: float, per_sender: float | None) -> Step:
        """Offer ``rate`` messages/s spread over the senders for ``duration`` s, then wait for deliveries."""
        senders = self.senders(rate, per_sender)
        st = Step(rate=rate, duration=duration, publishers=len(senders))
        exp0, del0, ref0 = self.expected, self.delivered, self.refused_total
        gaps0, dup0, lost0 = self.gaps, self.dup, self.lost_connections
        self.lat_us = []
        cpu0, busy0 = self.me.cpu_times(), busy_seconds()
        srv0, red0 = self.server.cpu(), self.redis.cpu()
        total = max(1, int(rate * duration))
        t0 = time.time()
        i = 0
        while i < total:
            now = time.time()
            if now - t0 > duration * 1.5 + 1:
                break  # the generator fell behind: stop offering, the step is reported as generator-bound
            due = min(total, int((now - t0) * rate) + 1)
            while i < due:
                sender = senders[i % len(senders)]
                sender.publish()
                self.expected += self.room_size[sender.room]
                i += 1
            await asyncio.sleep(0.001)
        t_sent = time.time()
        cpu1, busy1 = self.me.cpu_times(), busy_seconds()
        srv1, red1 = self.server.cpu(), self.redis.cpu()
        wall = t_sent - t0
        st.sent, st.send_rate = i, i / wall
        st.loadgen_cpu = 100 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall
        st.server_cpu, st.redis_cpu = 100 * (srv1 - srv0) / wall, 100 * (red1 - red0) / wall
        st.other_cpu = max(0.0, 100 * (busy1 - busy0) / wall - st.server_cpu - st.redis_cpu - st.loadgen_cpu)
        # Drain: wait until everything arrived, nothing more arrives for a while, or the time is up.
        deadline, seen, quiet_since = t_sent + drain, self.delivered, time.time()
        while self.delivered < self.expected and time.time() < deadline:
            await asyncio.sleep(0.02)
            if self.delivered != seen:
                seen, quiet_since = self.delivered, time.time()
            elif time.time() - quiet_since > min(2.0, drain):
                break
        st.stall_ms = self.canary.worst(t0, time.time())
        st.expected, st.delivered = self.expected - exp0, self.delivered - del0
        st.refused = self.refused_total - ref0
        st.lost, st.gaps, st.dup = st.expected - st.delivered, self.gaps - gaps0, self.dup - dup0
        st.lost_connections = self.lost_connections - lost0
        span = max(self.last_delivery - t0, wall) if st.delivered else wall
        st.deliveries_per_s = st.delivered / span
        if self.lat_us:
            lat = sorted(self.lat_us)
            st.p50_ms = lat[(len(lat) - 1) // 2] / 1000
            st.p99_ms = lat[int(0.99 * (len(lat) - 1))] / 1000
            st.max_ms = lat[-1] / 1000
        problems = []
        if st.send_rate < 0.9 * rate:
            problems.append(f"generator offered only {st.send_rate:.0f}/s")
        if st.refused:
            problems.append(f"server refused {st.refused} sends ({', '.join(self.refused)})")
        if st.lost:
            problems.append(f"lost {st.lost}")
        if st.lost_connections:
            problems.append(f"{st.lost_connections} connections closed")
        if st.p99_ms > P99_LIMIT_MS:
            problems.append(f"p99 {st.p99_ms:.0f} ms")
        st.ok, st.why = not problems, "; ".join(problems)
        # Above this the generator's own queueing would show up as server latency: the report flags it.
        st.loadgen_bound = st.loadgen_cpu >= LOADGEN_CPU_LIMIT
        st.latency_only = bool(problems) and problems[-1].startswith("p99") and len(problems) == 1
        stall = f"  (machine stall {st.stall_ms:.0f} ms)" if st.stall_ms else ""
        stall += f"  (other processes {st.other_cpu:.0f}% CPU)" if st.other_cpu >= OTHER_CPU else ""
        log(
            f"rate {rate:8.1f} msg/s ({st.publishers:3d} pub)  delivered {st.deliveries_per_s:9.0f}/s  "
            f"p50 {st.p50_ms:7.1f} p99 {st.p99_ms:7.1f} ms  lost {st.lost:6d}  "
            f"cpu server {st.server_cpu:3.0f}% redis {st.redis_cpu:3.0f}% loadgen {st.loadgen_cpu:3.0f}%  "
            f"{'ok' if st.ok else 'FAIL: ' + st.why}{stall}"
        )
        return st


@dataclass
class Plan:
    """How long and how hard a scenario pushes (``--quick`` shortens everything)."""

    step_s: float
    drain_s: float
    start_rate: float
    max_rate: float
    refine: int
    #: Bisecting stops once the first failing rate is within this factor of the highest passing one.
    resolution: float
    budget_s: float
    half_s: float
    per_sender: float | None  # None: every client sends; else at most this many messages/s per publisher


async def steady_step(gen: Generator, plan: Plan, rate: float, duration: float, log_to: list[Step]) -> Step:
    """One step, run again when p99 alone failed it: once in any case (a single late burst on this VM,
    with no stall the canary saw, once cut a server's result to a fifth), and a second time when the
    canary saw the machine stall during it or other processes took the CPU, which could be what failed it.
    Every server gets the same rule; a step that fails twice at the same rate fails."""
    st = await gen.step(rate, duration, drain=plan.drain_s, per_sender=plan.per_sender)
    log_to.append(st)
    for attempt in range(2):
        disturbed = st.stall_ms >= STALL_MS or st.other_cpu >= OTHER_CPU
        if not st.latency_only or (attempt and not disturbed):
            break
        log(
            f"p99 alone failed (machine stall {st.stall_ms:.0f} ms, other processes "
            f"{st.other_cpu:.0f}% CPU): same rate again"
        )
        await gen.settle(15.0)
        st = await gen.step(rate, duration, drain=plan.drain_s, per_sender=plan.per_sender)
        st.rerun = True
        log_to.append(st)
    return st


async def saturate(gen: Generator, plan: Plan) -> dict[str, Any]:
    """Double the offered rate until a step fails, bisect between the last pass and the first fail, then
    measure latency at half the highest sustained rate (see README: a step fails on any loss, any refused
    send, any closed connection, or p99 > 100 ms that is not explained by a machine stall)."""
    steps: list[Step] = []
    best: Step | None = None
    fail: Step | None = None
    rate, refined, t_start = plan.start_rate, 0, time.time()
    while time.time() - t_start < plan.budget_s:
        st = await steady_step(gen, plan, rate, plan.step_s, steps)
        if st.ok:
            best = st
        else:
            fail = st
            await gen.settle(15.0)
            if st.lost or st.lost_connections or st.dup or st.refused:
                await gen.reconnect()
        await gen.settle(3.0)
        if fail is None:
            if rate * 2 > plan.max_rate:
                break
            rate *= 2
            continue
        if best is None:
            rate /= 2
            if rate < plan.start_rate / 8:
                break
            continue
        if refined >= plan.refine or fail.rate / best.rate < plan.resolution:
            break
        refined += 1
        rate = math.sqrt(best.rate * fail.rate)
    result: dict[str, Any] = {"steps": [asdict(s) for s in steps], "max": asdict(best) if best else None}
    if best is not None:
        log(f"latency at half of the highest sustained rate: {best.rate / 2:.1f} msg/s")
        halves: list[Step] = []
        for _ in range(3):  # keep the attempt the machine disturbed least
            halves.append(
                await gen.step(best.rate / 2, plan.half_s, drain=plan.drain_s, per_sender=plan.per_sender)
            )
            if halves[-1].stall_ms < STALL_MS and halves[-1].other_cpu < OTHER_CPU:
                break
            await gen.settle(5.0)
        result["half"] = asdict(min(halves, key=lambda h: (h.stall_ms >= STALL_MS, h.other_cpu, h.stall_ms)))
        result["half_attempts"] = len(halves)
    return result


#: The chat mix's fixed offer (issue 17): 1,000 msg/s over 20 rooms of 10 is 10,000 deliveries/s, light
#: for every server here, so its latency is the path's own (for chatserver: the audit commit first).
FIXED_OFFER = 1000.0


async def fixed_offer(gen: Generator, plan: Plan, disk_dir: Path | None = None) -> dict[str, Any]:
    """Hold FIXED_OFFER msg/s for as long as the half-rate step and keep the attempt the machine
    disturbed least (as for the half rate): the same offer for every server, whatever it sustains.

    With `disk_dir` (the server's database folder), this disk's fsync latency is measured first at
    the offer's pace, one fsync per message: what each commit of "committed before anyone sees it"
    waits for here, minutes away from the audit bench's back-to-back probe.
    """
    await gen.settle(3.0)
    disk: dict[str, float] = {}
    if disk_dir is not None:
        paced = await asyncio.to_thread(fsync_latency, disk_dir, rounds=1000, pace_s=1 / FIXED_OFFER)
        disk = {"fsync_paced_p50_ms": paced["fsync_p50_ms"], "fsync_paced_p99_ms": paced["fsync_p99_ms"]}
    log(f"latency at a fixed offer of {FIXED_OFFER:.0f} msg/s")
    attempts: list[Step] = []
    for _ in range(3):
        attempts.append(
            await gen.step(FIXED_OFFER, plan.half_s, drain=plan.drain_s, per_sender=plan.per_sender)
        )
        if attempts[-1].stall_ms < STALL_MS and attempts[-1].other_cpu < OTHER_CPU:
            break
        await gen.settle(5.0)
    best = min(attempts, key=lambda h: (h.stall_ms >= STALL_MS, h.other_cpu, h.stall_ms))
    return {**asdict(best), **disk}


async def profile(gen: Generator, plan: Plan, rate: float, seconds: float, out: str) -> str:
    """Hold ``rate`` while py-spy samples the server; return py-spy's status line."""
    pyspy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if gen.server.pid is None or not os.path.exists(pyspy):
        return "py-spy not available"
    cmd = [
        pyspy,
        "record",
        "--pid",
        str(gen.server.pid),
        "--duration",
        str(math.ceil(seconds)),
        "--rate",
        "200",
    ]
    cmd += ["--nonblocking", "--subprocesses", "--format", "raw", "--output", out]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    await asyncio.sleep(0.5)  # let py-spy attach before the load starts
    log(f"profiling the server with py-spy at {rate:.1f} msg/s for {seconds:.0f} s")
    await gen.step(rate, seconds, drain=1.0, per_sender=plan.per_sender)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 30)
    except TimeoutError:
        proc.kill()
        return "py-spy timed out"
    return (
        output.decode(errors="replace").strip().splitlines()[-1]
        if output
        else f"py-spy exit {proc.returncode}"
    )


def rooms_for(scenario: str, quick: bool, idle_conns: int) -> list[str]:
    if scenario == "fanout":
        return ["bench"] * 200
    if scenario == "chat":
        return [f"chat-{r:02d}" for r in range(20) for _ in range(10)]
    # idle: 5,000 members over 50 rooms of 100, so that presence on join stays O(100) per join
    return [f"idle-{i % 50:02d}" for i in range(idle_conns)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gen = Generator(
        host=args.host,
        port=args.port,
        path=SOCKETIO_PATH if args.dialect == "socketio" else args.path,
        socketio=args.dialect == "socketio",
        server=CpuProbe(args.server_pid),
        redis=CpuProbe(args.redis_pid),
        loop=loop,
    )
    quick = args.quick
    result: dict[str, Any] = {"scenario": args.scenario}
    t0 = time.time()
    await gen.canary.start()
    if args.scenario == "storm":
        from bench import storm  # storm.py imports this module

        result.update(await storm.run(gen, args))
    elif args.scenario == "idle":
        n = args.idle_conns
        await gen.connect([f"idle-{i:02d}" for i in range(10)])
        await asyncio.sleep(1.0)
        rss0 = gen.server.rss()
        t_connect = time.time()
        await gen.connect(rooms_for("idle", quick, n))
        connect_s = time.time() - t_connect
        await asyncio.sleep(2.0 if quick else 5.0)
        rss1 = gen.server.rss()
        open_now = sum(not c.closed for c in gen.clients)
        result.update(
            conns=n,
            open=open_now - 10,
            connect_s=connect_s,
            rss_before=rss0,
            rss_after=rss1,
            kib_per_conn=(rss1 - rss0) / 1024 / n,
            loadgen_rss=gen.me.memory_info().rss,
        )
        log(f"{n} idle joined connections in {connect_s:.1f} s: {(rss1 - rss0) / 1024 / n:.1f} KiB/conn")
        from bench import phases  # phases.py imports this module

        rooms = rooms_for("idle", quick, phases.PHASE_CONNS // (5 if quick else 1))
        result["phases"] = await phases.run(gen, rooms)
    else:
        await gen.connect(rooms_for(args.scenario, quick, 0))
        log(f"{len(gen.clients)} clients joined in {time.time() - t0:.1f} s")
        fanout = args.scenario == "fanout"
        plan = Plan(
            step_s=1.0 if quick else 4.0,
            drain_s=3.0 if quick else 5.0,
            start_rate=(50 if quick else 25) if fanout else (100 if quick else 50),
            max_rate=5000 if fanout else 50000,
            # The chat mix is where chatserver and Node land within one step of each other (runs 20-22:
            # the same 6,400 / 6,979 msg/s, 9% apart): it bisects on to within 4%.
            refine=0 if quick else (3 if fanout else 5),
            resolution=1.12 if fanout else 1.04,
            budget_s=20 if quick else 150,
            half_s=1.5 if quick else 8.0,
            per_sender=args.per_publisher if fanout else None,
        )
        result.update(await saturate(gen, plan))
        if not fanout:
            result["fixed"] = await fixed_offer(gen, plan, args.disk_dir)
        if args.profile_out and result.get("max"):
            seconds = 2.0 if quick else 10.0
            result["profile"] = await profile(gen, plan, result["max"]["rate"], seconds, args.profile_out)
    result.update(
        acks=dict(gen.acks),
        refused=dict(gen.refused),
        close_reasons=dict(gen.close_reasons),
        stale=gen.stale,
        foreign=gen.foreign,
        wall_s=time.time() - t0,
        machine_stalls=len(gen.canary.stalls),
        worst_stall_ms=max((ms for _, ms in gen.canary.stalls), default=0.0),
    )
    await gen.canary.stop()
    for c in gen.clients:
        c.close()
    await asyncio.sleep(0.2)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/ws")
    ap.add_argument("--dialect", choices=["json", "socketio"], default="json")
    ap.add_argument("--scenario", choices=["fanout", "chat", "idle", "storm"], required=True)
    ap.add_argument("--port2", type=int, default=0, help="storm: chatserver's second worker (the stayers)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--disk-dir", type=Path, help="chat: this folder's fsync at the fixed offer's pace")
    ap.add_argument("--idle-conns", type=int, default=5000)
    ap.add_argument(
        "--per-publisher",
        type=float,
        default=15.0,
        help="fan-out: most messages/s one connection publishes; more publishers join in above it "
        "(chatserver refuses a client's frames beyond 20/s, burst 60)",
    )
    ap.add_argument("--server-pid", type=int)
    ap.add_argument("--redis-pid", type=int)
    ap.add_argument("--profile-out", help="py-spy raw output file (fan-out/chat only)")
    args = ap.parse_args(argv)
    if not args.host.startswith("127.") and args.host != "localhost":
        ap.error(
            f"Expected a loopback address for --host, got {args.host!r}: the bench only targets 127.0.0.1"
        )
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
        result = {"scenario": args.scenario, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
