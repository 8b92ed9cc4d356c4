"""Lighter stand-ins for the asyncio.Queue and asyncio.Event uvicorn keeps per WebSocket connection.

Why: with thousands of people connected at rest, those two objects were about 3 KiB a connection
(idle memory, issue 17); ChatWebSocketProtocol swaps these in.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Inbox:
    """What uvicorn asks of its per-connection `asyncio.Queue` (put_nowait, get, empty), for the one task
    that reads it: a list and at most one waiter instead of three deques and an Event (~3 KiB a
    connection at rest). Reading stops once a message waits (send_receive_event_to_app): it holds a few."""

    __slots__ = ("_items", "_getter", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._items: list[Any] = []
        self._getter: asyncio.Future[None] | None = None
        #: The connection's loop, if known: asking asyncio for the running one costs a system call
        #: (getpid, CPython 3.11) for every wait.
        self._loop = loop

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            if self._getter is not None:
                raise RuntimeError("Expected one reader of a connection's messages, got a second")
            self._getter = getter = (self._loop or asyncio.get_running_loop()).create_future()
            try:
                await getter
            finally:
                self._getter = None
        return self._items.pop(0)


class Writable:
    """uvicorn's `writable` flag (an `asyncio.Event`: set, clear, is_set, wait) with its waiters made only
    when a send must wait for the transport to drain (rare: a slow reader), not one deque per connection."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None and waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True
