"""Stopping a broker's background tasks so that a shutdown always ends."""

from __future__ import annotations

import asyncio


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until each has ended, cancelling again any still running a second
    later: a cancellation can be lost (asyncio.wait_for in Python 3.11 swallows one that arrives as
    its inner wait completes), and a task that missed it would keep a shutdown waiting forever."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: an error while stopping is no news at shutdown
