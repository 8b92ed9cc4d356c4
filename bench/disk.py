"""This disk's fsync latency: the physical floor of "committed before anyone sees it".

Standard library only: the audit bench runs in the product's venv, the load generator in the peers'.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def fsync_latency(workdir: Path, rounds: int = 200, pace_s: float = 0.0) -> dict[str, float]:
    """4 KiB appended and fsynced in `workdir`, `rounds` times (what one commit waits for).

    Back to back (`pace_s` 0) is the disk at its best. With a pause before each round it is what a
    commit waits for at a light load: on a virtual disk an fsync after a millisecond of quiet can take
    several times as long as one that follows another (bench/RESULTS.md, run 12).
    """
    path = workdir / "fsync-probe"
    block = b"\0" * 4096
    times: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(rounds):
            if pace_s:
                time.sleep(pace_s)
            os.write(fd, block)
            started = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    times.sort()
    return {
        "fsync_p50_ms": 1000 * times[int(0.5 * (len(times) - 1))],
        "fsync_p99_ms": 1000 * times[int(0.99 * (len(times) - 1))],
    }
