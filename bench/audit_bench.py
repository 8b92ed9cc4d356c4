"""Scenario 5: the audit log alone, through chatserver's own ``AuditLog`` (group commit, synchronous=FULL).

    python -m bench.audit_bench --rows 200000 --dir /tmp/x

Runs in the product's .venv. Two measurements on a fresh database:

- throughput: append ``rows`` message rows as fast as ``append`` accepts them (backing off when it says
  ``Unavailable`` because its bounded queue is full) and time until the last ``on_commit`` fired;
- commit latency at a steady offered rate (default 5,000 rows/s): ``on_commit`` time minus ``append`` time.

Then it counts: every append must have had ``on_commit(None)`` and be in the table after ``close()``
(0 lost), and the hash chain must verify. Before all that it measures this disk's own fsync
latency (write 4 KiB, fsync, in the same directory): the physical floor of "committed before
anyone sees it", to read the commit latency against. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.disk import fsync_latency

TEXT = "I had a rough week but talking here helps, thank you all for listening to me tonight."


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Counter:
    """Commit callbacks: how many succeeded, failed, and how long each row waited."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.latencies: list[float] = []
        self.last_at = 0.0

    def callback(self, appended_at: float) -> Callable[..., None]:
        def on_commit(exc: BaseException | None = None, *_: Any) -> None:
            now = time.perf_counter()
            if exc is None:
                self.ok += 1
            else:
                self.failed += 1
            self.latencies.append(now - appended_at)
            self.last_at = now

        return on_commit


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[int(q * (len(s) - 1))]


async def _append(log: Any, counter: Counter, i: int, unavailable: type[BaseException]) -> bool:
    try:
        log.append(
            "published",
            room="bench",
            actor_session=f"s{i % 200:04d}",
            actor_name=f"member-{i % 200}",
            message_id=f"bench-{i}",
            text=TEXT,
            detail={"role": "participant", "reasons": []},
            on_commit=counter.callback(time.perf_counter()),
        )
    except unavailable:
        return False
    return True


async def throughput(log: Any, rows: int, unavailable: type[BaseException]) -> dict[str, Any]:
    counter, refused, i = Counter(), 0, 0
    t0 = time.perf_counter()
    deadline = t0 + 120
    while i < rows and time.perf_counter() < deadline:
        for _ in range(min(500, rows - i)):
            if not await _append(log, counter, i, unavailable):
                refused += 1
                await asyncio.sleep(0.001)  # the queue is full: this is back-pressure, not a loss
                break
            i += 1
        await asyncio.sleep(0)
    await _maybe(log.flush())
    elapsed = (counter.last_at or time.perf_counter()) - t0
    return {
        "rows": i,
        "committed": counter.ok,
        "failed": counter.failed,
        "refused_while_full": refused,
        "seconds": elapsed,
        "rows_per_s": counter.ok / elapsed if elapsed else 0.0,
        "wait_p50_ms": 1000 * _pct(counter.latencies, 0.5),
        "wait_p99_ms": 1000 * _pct(counter.latencies, 0.99),
    }


async def steady(log: Any, rate: float, seconds: float, unavailable: type[BaseException]) -> dict[str, Any]:
    counter, sent, refused = Counter(), 0, 0
    total = int(rate * seconds)
    t0 = time.perf_counter()
    while sent < total and time.perf_counter() - t0 < seconds * 2:
        due = min(total, int((time.perf_counter() - t0) * rate) + 1)
        while sent < due:
            if not await _append(log, counter, 10_000_000 + sent, unavailable):
                refused += 1
            sent += 1
        await asyncio.sleep(0.0005)
    await _maybe(log.flush())
    return {
        "rate": rate,
        "rows": sent,
        "committed": counter.ok,
        "failed": counter.failed,
        "refused": refused,
        "commit_p50_ms": 1000 * _pct(counter.latencies, 0.5),
        "commit_p99_ms": 1000 * _pct(counter.latencies, 0.99),
        "commit_max_ms": 1000 * max(counter.latencies, default=0.0),
    }


async def run(rows: int, rate: float, seconds: float, workdir: Path) -> dict[str, Any]:
    try:
        from chatserver.audit import AuditLog
        from chatserver.errors import Unavailable
    except ImportError as exc:
        return {"skipped": f"chatserver.audit.AuditLog is not importable yet ({exc})"}
    db_path = workdir / "audit-bench.db"
    log = await _maybe(AuditLog.open(db_path))  # the commit window the server runs with
    try:
        synchronous = await log.synchronous()  # the writer's own connection: the PRAGMA is per connection
    except Exception as exc:  # report, don't fail the bench
        synchronous = f"unknown ({type(exc).__name__})"
    try:
        result: dict[str, Any] = {"synchronous": synchronous, **fsync_latency(workdir)}
        result["throughput"] = await throughput(log, rows, Unavailable)
        result["steady"] = await steady(log, rate, seconds, Unavailable)
    finally:
        await _maybe(log.close())
    appended = result["throughput"]["rows"] + result["steady"]["rows"] - result["steady"]["refused"]
    with sqlite3.connect(db_path) as db:
        in_table = db.execute("SELECT count(*) FROM audit WHERE room = 'bench'").fetchone()[0]
    result["appended"] = appended
    result["in_table"] = in_table
    result["lost"] = appended - in_table
    try:
        from chatserver.audit import verify

        v = verify(db_path)
        result["chain_ok"], result["chain_problem"] = bool(v.ok), str(getattr(v, "problem", ""))
    except Exception as exc:  # verification is a bonus here; the loss count is the promise
        result["chain_ok"], result["chain_problem"] = None, f"{type(exc).__name__}: {exc}"
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.audit_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=5000.0, help="offered rows/s for the latency measurement")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--dir", type=Path, help="where to create the database (default: a temporary dir)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chatserver-audit-bench-") as tmp:
        workdir = args.dir or Path(tmp)
        result = asyncio.run(run(args.rows, args.rate, args.seconds, workdir))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
