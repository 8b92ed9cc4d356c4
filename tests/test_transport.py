"""The per-connection stand-ins for uvicorn's asyncio.Queue and Event (idle memory, issue 17)."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.transport import _Inbox, _Writable


async def test_the_inbox_hands_messages_over_in_order():
    """Messages put before a get come out first in, first out."""
    inbox = _Inbox()
    for i in range(3):
        inbox.put_nowait(i)
    assert inbox.qsize() == 3 and not inbox.empty()
    assert [await inbox.get() for _ in range(3)] == [0, 1, 2]
    assert inbox.empty()


async def test_a_get_waits_for_the_next_message():
    """A get on an empty inbox returns when a message is put."""
    inbox = _Inbox()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not getter.done()
    inbox.put_nowait("hello")
    assert await asyncio.wait_for(getter, 5) == "hello"


async def test_a_get_that_times_out_loses_nothing():
    """A reader that gives up (the hello deadline) leaves what arrives for its next get."""
    inbox = _Inbox()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(inbox.get(), 0.01)
    inbox.put_nowait("late")
    assert await asyncio.wait_for(inbox.get(), 5) == "late"


async def test_a_second_reader_is_refused():
    """The inbox serves one reader; a second waiting one is a bug, said so."""
    inbox = _Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await inbox.get()
    inbox.put_nowait(1)
    assert await asyncio.wait_for(first, 5) == 1


async def test_writable_waits_while_cleared_and_wakes_every_waiter_when_set():
    """A paused transport holds sends until it drains; then all of them go."""
    flag = _Writable()
    flag.set()
    assert await flag.wait() is True
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters) and not flag.is_set()
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True, True]


async def test_a_cancelled_writable_waiter_is_forgotten():
    """A send cancelled while waiting (its connection went away) leaves nothing behind."""
    flag = _Writable()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not flag._waiters
    flag.set()
