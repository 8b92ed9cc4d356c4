"""Where a connection's cost goes (part of ``--only idle``): server CPU per connection, step by step.

The idle scenario's connect of 5,000 overlaps every connection's steps (64 in flight), so it says how
long, not where. Here PHASE_CONNS more connections come in one step at a time, all of them through a
step before any starts the next: the WebSocket upgrade (for Socket.IO also its namespace connect),
then ``hello``, then ``join`` into the idle rooms of 100 (as after a restart). For each step: the
server's CPU and Redis's, less what they use at rest, divided by the connections. The reconnect storm's
gap to Node's plain connect is a sum of these (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bench.clients import Client, log

if TYPE_CHECKING:
    from bench.loadgen import Generator

PHASE_CONNS = 2000
#: After a step, what the server does for it a moment later (presence ticks stretch to 1 s, audit
#: commits, Redis replies) still counts for it.
TRAIL_S = 1.5
#: Long enough to tell the servers' CPU at rest (pings, timers) from a step's.
REST_S = 2.0


async def _cpu_over(gen: Generator, seconds: float) -> tuple[float, float]:
    s0, r0 = gen.server.cpu(), gen.redis.cpu()
    await asyncio.sleep(seconds)
    return gen.server.cpu() - s0, gen.redis.cpu() - r0


async def _each(clients: list[Client], step: Callable[[Client], Awaitable[None]]) -> None:
    """`step` for every client, 64 in flight (as every connect here)."""
    sem = asyncio.Semaphore(64)

    async def one(client: Client) -> None:
        async with sem:
            await step(client)

    await asyncio.gather(*(one(client) for client in clients))


async def run(gen: Generator, rooms: list[str]) -> dict[str, float]:
    """Open len(rooms) more clients step by step; µs of server and Redis CPU per connection per step."""
    server_rest, redis_rest = (cpu / REST_S for cpu in await _cpu_over(gen, REST_S))
    clients: list[Client] = []

    async def upgrade() -> None:
        clients.extend(await gen.connect(rooms, upgrade_only=True))

    result: dict[str, float] = {"conns": len(rooms)}
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("upgrade", upgrade),
        ("hello", lambda: _each(clients, Client.hello)),
        ("join", lambda: _each(clients, Client.join)),
    ]
    for name, step in steps:
        s0, r0, t0 = gen.server.cpu(), gen.redis.cpu(), time.perf_counter()
        await step()
        wall = time.perf_counter() - t0
        await asyncio.sleep(TRAIL_S)
        took = time.perf_counter() - t0
        server = gen.server.cpu() - s0 - server_rest * took
        redis = gen.redis.cpu() - r0 - redis_rest * took
        result[f"{name}_us"] = max(0.0, server) / len(rooms) * 1e6
        result[f"{name}_redis_us"] = max(0.0, redis) / len(rooms) * 1e6
        result[f"{name}_s"] = wall
        log(f"connect step {name}: {result[f'{name}_us']:.0f} µs of server CPU a connection ({wall:.2f} s)")
    return result
