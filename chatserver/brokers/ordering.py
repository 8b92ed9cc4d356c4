"""Numbers taken before the audit commit, messages shown after it, strictly in number order.

The in-process twin of the Redis scripts (redis_lua.py), for one process: pure bookkeeping, no I/O,
no clock (a process that holds a number is the process that releases or cancels it).
"""

from __future__ import annotations

from typing import Generic, TypeVar, cast

T = TypeVar("T")

_HELD = object()  # reserved, neither released nor cancelled yet
_CANCELLED = object()  # nothing was written with this number: it may be given back


class RoomOrder(Generic[T]):
    """One room's numbering: `reserve`, then `release` or `cancel`; `advance` says what may go out."""

    __slots__ = ("head", "top", "_slots")

    def __init__(self, last: int) -> None:
        #: The last number published or stepped over.
        self.head = last
        #: The last number taken.
        self.top = last
        self._slots: dict[int, object] = {}

    def raise_to(self, last: int) -> None:
        """Never number below `last` (what the audit log already holds)."""
        if last > self.top and not self._slots:
            self.head = self.top = last

    def reserve(self) -> int:
        self.top += 1
        self._slots[self.top] = _HELD
        return self.top

    def release(self, seq: int, item: T) -> list[tuple[int, T]]:
        """Hand over the message of `seq`; returns what may go out now, in order."""
        self._slots[seq] = item
        return self._advance()

    def cancel(self, seq: int) -> list[tuple[int, T]]:
        """Nothing will be released for `seq`; returns what that lets out."""
        self._slots[seq] = _CANCELLED
        return self._advance()

    def _advance(self) -> list[tuple[int, T]]:
        out: list[tuple[int, T]] = []
        slots = self._slots
        n = self.head + 1
        while n <= self.top:
            slot = slots.get(n)
            if slot is _HELD:
                return out
            if slot is not _CANCELLED:
                for skipped in range(self.head + 1, n + 1):
                    slots.pop(skipped, None)
                self.head = n
                out.append((n, cast(T, slot)))  # a released item
            n += 1
        # Only cancelled numbers after the head: give them back, so a failing disk leaves no gap.
        for given_back in range(self.head + 1, self.top + 1):
            slots.pop(given_back, None)
        self.top = self.head
        return out
