"""How the audit writer's callers hear back: a row's `on_commit`, a flush's barrier, the error.

The writer thread answers nobody itself: it hands each answer to the event loop (`tell`), where
the callbacks run in queue order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from chatserver.audit.batch_sql import Row
from chatserver.errors import Unavailable

log = logging.getLogger(__name__)


class Barrier:
    """A flush's place in the queue: answered once every row before it has been."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future


Item = Row | Barrier


def unavailable(exc: BaseException) -> Unavailable:
    """What the callers of a batch that could not be written hear (with the SQLite error as cause)."""
    error = Unavailable("the audit log could not be written; nothing was published")
    # The SQLite error itself, also when the lock helper wrapped it.
    error.__cause__ = exc.__cause__ if isinstance(exc, Unavailable) and exc.__cause__ else exc
    return error


def tell(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> bool:
    """From the writer thread: run `callback` on the loop; False if the loop is closed (nobody is
    left to tell, so the thread stops)."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True


def answer(row: Row, error: BaseException | None) -> None:
    """Tell `row`'s sender that it is in the file (None) or why not; a callback that raises is logged."""
    if row.on_commit is not None:
        try:
            row.on_commit(error)
        except Exception:
            log.exception("an audit on_commit callback raised (kind %s)", row.fields[2])


def answer_all(items: Sequence[Item], error: BaseException | None) -> None:
    """Answer each of `items` in order: rows with `error` (None: committed), barriers as reached."""
    for item in items:
        if isinstance(item, Row):
            answer(item, error)
        elif not item.future.done():
            item.future.set_result(None)
