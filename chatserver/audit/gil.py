"""The interpreter's GIL switch interval, as a worker with an audit writer thread needs it.

Process-wide by nature (`sys.setswitchinterval`), so it lives here rather than in the writer that
asks for it.
"""

from __future__ import annotations

import sys

#: The longest the writer thread waits for the GIL while the event loop runs Python (CPython's
#: default is 5 ms). The thread gives the GIL up for every SQLite step and needs it back twice per
#: commit; behind a busy loop each time was a wait of up to the whole interval. At 1 ms: the audit
#: bench 47-52k -> 52-57k rows/s with no back-pressure refusals; the chat mix at 3,000 msg/s p50
#: 4.5-7.5 -> 3.5-5.5 ms at the same CPU (docs/architecture.md).
GIL_SWITCH_S = 0.001


def hand_the_gil_over_promptly() -> None:
    """Lower the interpreter's switch interval to GIL_SWITCH_S (never raise it): process-wide, and
    what a worker with an audit writer thread needs."""
    if sys.getswitchinterval() > GIL_SWITCH_S:
        sys.setswitchinterval(GIL_SWITCH_S)
