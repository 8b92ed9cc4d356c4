"""One person's WebSocket connection as the hub sees it."""

from __future__ import annotations

import time
from typing import Any

from chatserver.protocol import dumps, ws_text_frame
from chatserver.transport import RawSocket

#: Frames a connection may send per second (burst allowance below), so one
#: script cannot monopolise a worker.
FRAMES_PER_SECOND = 20.0
FRAME_BURST = 60.0
#: Refusals within FLOOD_WINDOW_S seconds before a flooding connection is closed.
FLOOD_STRIKES = 40
FLOOD_WINDOW_S = 10.0


class Connection:
    """Identity, joined rooms and the outgoing socket of one client."""

    __slots__ = (
        "raw",
        "session",
        "resumed",
        "name",
        "role",
        "host_name",
        "credential",
        "title",
        "professional",
        "on_duty",
        "rooms",
        "sent",
        "_tokens",
        "_stamp",
        "strikes",
        "_strikes_since",
        "last_typing",
        "flooded",
        "peer",
        "_rate",
        "_burst",
    )

    def __init__(self, raw: RawSocket, *, frames_per_second: float = FRAMES_PER_SECOND) -> None:
        self.raw = raw
        self.session = ""
        #: The hello restored an earlier identity (`resume`): this person was here before.
        self.resumed = False
        self.name = ""
        self.role = "participant"
        self.host_name: str | None = None
        #: The host credential signed in with (HostRecord.credential); "" for participants.
        self.credential = ""
        #: What admins say this host is (badges.py), shown beside their name where they host.
        self.title: str | None = None
        self.professional = False
        #: A host who is signed in but taking a break does not count as on duty.
        self.on_duty = True
        self.rooms: set[str] = set()
        self.sent: dict[str, int] = {}
        self._rate = frames_per_second
        self._burst = frames_per_second * (FRAME_BURST / FRAMES_PER_SECOND)
        self._tokens = self._burst
        self._stamp = time.monotonic()
        self.strikes = 0
        self._strikes_since = 0.0
        self.last_typing = 0.0
        self.flooded = False
        #: The client's address, in memory only: never stored or logged (ban evasion hashes it, issue 16).
        self.peer = ""

    def send(self, frame: dict[str, Any]) -> bool:
        return self.raw.write(ws_text_frame(dumps(frame)))

    def accepted(self) -> None:
        """A `send` was accepted: it will be answered once (`answer`); shutdown waits for that."""
        self.raw.in_flight += 1

    def answer(self, frame: dict[str, Any]) -> bool:
        """Send the ack (or error) that settles one accepted `send`."""
        self.raw.in_flight -= 1
        return self.send(frame)

    def send_frame(self, frame: bytes) -> bool:
        """A ready frame, written to the socket when this turn of the loop ends."""
        return self.raw.write(frame)

    def allow_frame(self) -> bool:
        """Token bucket over incoming frames."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        # Count refusals over a window, not in a row: a steady flooder finds a token now and then.
        if now - self._strikes_since > FLOOD_WINDOW_S:
            self._strikes_since = now
            self.strikes = 0
        self.strikes += 1
        return False
