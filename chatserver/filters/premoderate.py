"""The premoderate filter: a host checks messages before anyone else sees them."""

from __future__ import annotations

from typing import Any

from chatserver.filters.base import Filter, MessageContext, Verdict, option_choice, option_int


class PremoderateFilter(Filter):
    """Hold every participant message (`mode: all`) or a session's first `count` in the room.

    The room appends this filter itself when its `premoderate` setting is not `off`.
    """

    name = "premoderate"

    def __init__(self, *, mode: str = "new_members", count: int = 3, **common: Any) -> None:
        super().__init__(**common)
        self.mode = option_choice("mode", mode, ("new_members", "all"))
        self.count = option_int("count", count, minimum=1)
        if self.mode == "all":
            reason = "every message in this room is read by a host first"
        else:
            reason = f"a newcomer's first {self.count} messages are read by a host first"
        self._verdict = Verdict("hold", self.name, reason)

    def check(self, ctx: MessageContext) -> Verdict | None:
        if ctx.role != "participant":
            return None
        if self.mode == "all" or ctx.sent_in_room < self.count:
            return self._verdict
        return None
