"""What the load generator watches besides its clients: CPU and memory of the processes under test, the
whole machine's busy time, and a canary process that notices when the machine itself stalls."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from dataclasses import dataclass

import psutil


@dataclass
class CpuProbe:
    """CPU seconds of a process tree (psutil), sampled at step edges."""

    pid: int | None

    def cpu(self) -> float:
        if self.pid is None:
            return 0.0
        try:
            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        if self.pid is None:
            return 0
        try:
            proc = psutil.Process(self.pid)
            return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
        except psutil.Error:
            return 0


# A separate, nearly idle process that sleeps 2 ms at a time and reports every wake-up that came more than
# 30 ms late. On this kind of machine (2 vCPUs under a hypervisor) the whole VM is sometimes not scheduled
# for 50-400 ms, even with nothing running; such a stall delays every message in flight and, in a 4-second
# step, is enough to push p99 past 100 ms on any server. The canary tells those steps apart.
CANARY = """
import sys, time
prev = time.perf_counter()
try:
    while True:
        time.sleep(0.002)
        now = time.perf_counter()
        if now - prev > 0.032:
            print(f"{time.time():.3f} {1000 * (now - prev - 0.002):.0f}", flush=True)
        prev = now
except (BrokenPipeError, KeyboardInterrupt):
    pass
"""
STALL_MS = 50.0  # a canary gap this long during a p99-only failure makes the step run again
OTHER_CPU = 25.0  # so does this much CPU (% of a core) taken by processes that are not in the bench


def busy_seconds() -> float:
    """CPU seconds the whole machine spent busy, all cores together."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


class Canary:
    """Runs the canary process and keeps the stalls it reports as ``(wall time, ms)``."""

    def __init__(self) -> None:
        self.stalls: list[tuple[float, float]] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CANARY,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            t, ms = line.split()
            self.stalls.append((float(t), float(ms)))

    def worst(self, t0: float, t1: float) -> float:
        """The longest stall that overlapped ``[t0, t1]`` (a stall is reported when it ends)."""
        return max((ms for t, ms in self.stalls if t0 <= t and t - ms / 1000 <= t1), default=0.0)

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
