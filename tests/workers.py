"""The worker processes of a `serve --workers N` under test, found through /proc and steered by signals."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager


def children(pid: int) -> set[int]:
    """The child processes of `pid` (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except OSError:
        return set()


@contextmanager
def only_awake(awake: int, workers: set[int]) -> Iterator[None]:
    """Every worker but `awake` stopped (SIGSTOP) inside the block, so `awake` accepts its connections.

    Which worker accepts a connection on the shared socket is the kernel's choice, and an idle machine
    can give every one to the same worker; a test that needs people on each worker connects them so.
    """
    asleep = workers - {awake}
    for pid in asleep:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in asleep:
            os.kill(pid, signal.SIGCONT)
