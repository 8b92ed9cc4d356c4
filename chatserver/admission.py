"""Who may open a connection now: caps per address and overall, a connect rate, a cool-off after a flood.

Addresses live only here, in memory, as counts and token buckets: never
stored, never logged. One `Admission` is shared by the HTTP protocol and the
/ws endpoint of a worker, so an address that is shut out (it reconnects
faster than the rate, or it just flooded) is answered on its first bytes,
before any HTTP parsing, WebSocket handshake or ASGI call: a client that
reconnects in a loop then costs the server almost nothing.
"""

from __future__ import annotations

import math
import time

from chatserver.settings import Settings

#: Seconds an address that flooded must wait before it may connect again.
FLOOD_COOL_OFF_S = 2.0
#: Addresses remembered before quiet ones are forgotten (bounds memory under a spoofing storm).
MAX_TRACKED = 10_000

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

TOO_FAST = "Too many new connections from your network; please wait a moment."
FULL = "The server is full right now; please try again in a minute."
TOO_MANY = "Too many connections from your network; please close some tabs and try again."


class Admission:
    """Connection counts and connect-rate buckets for one worker.

    Per-address limits are off when `max_per_ip` is 0 (behind a proxy every
    client shares the proxy's address; the proxy limits them instead).
    """

    def __init__(
        self,
        *,
        max_total: int = 10_000,
        max_per_ip: int = 256,
        connect_rate_per_minute: float = 600.0,
        cool_off_s: float = FLOOD_COOL_OFF_S,
    ) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        per_minute = connect_rate_per_minute if max_per_ip else 0.0
        self.rate = per_minute / 60.0
        self.burst = max(1.0, per_minute / 2)
        self.cool_off_s = cool_off_s
        self.total = 0
        self.per_ip: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        #: Refused connections by reason, for /metrics.
        self.refused = {"rate": 0, "full": 0, "per_address": 0}

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        return cls(
            max_total=settings.max_connections,
            max_per_ip=settings.max_connections_per_ip,
            connect_rate_per_minute=settings.connect_rate_per_ip,
        )

    def wait_before_retry(self, address: str) -> float:
        """Seconds until `address` may connect again; 0 if it may now. Takes no token."""
        if not self.rate or address not in self._buckets:
            return 0.0
        tokens = self._tokens(address, time.monotonic())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def early_answer(self, address: str) -> bytes | None:
        """The canned 429 for a connection from an address that is shut out now, or None."""
        wait = self.wait_before_retry(address)
        if not wait:
            return None
        self.refused["rate"] += 1
        return early_refusal(wait)

    def refusal(self, address: str) -> str:
        """Why a WebSocket from `address` may not open now ('' if it may); an allowed one takes a token."""
        if self._too_fast(address):
            self.refused["rate"] += 1
            return TOO_FAST
        if self.max_total and self.total >= self.max_total:
            self.refused["full"] += 1
            return FULL
        if self.max_per_ip and self.per_ip.get(address, 0) >= self.max_per_ip:
            self.refused["per_address"] += 1
            return TOO_MANY
        return ""

    def opened(self, address: str) -> None:
        self.total += 1
        self.per_ip[address] = self.per_ip.get(address, 0) + 1

    def closed(self, address: str, *, flooded: bool = False) -> None:
        self.total -= 1
        left = self.per_ip.get(address, 1) - 1
        if left > 0:
            self.per_ip[address] = left
        else:
            self.per_ip.pop(address, None)
        if flooded and self.rate:
            # An empty bucket, owing cool_off_s worth of tokens: nothing from there for that long.
            self._buckets[address] = (-self.rate * self.cool_off_s, time.monotonic())

    def _tokens(self, address: str, now: float) -> float:
        tokens, stamp = self._buckets.get(address, (self.burst, now))
        return min(self.burst, tokens + (now - stamp) * self.rate)

    def _too_fast(self, address: str) -> bool:
        if not self.rate:
            return False
        now = time.monotonic()
        if len(self._buckets) > MAX_TRACKED:
            self._buckets = {a: b for a, b in self._buckets.items() if now - b[1] < 60}
        tokens = self._tokens(address, now)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            return True
        self._buckets[address] = (tokens - 1.0, now)
        return False


def early_refusal(wait_s: float) -> bytes:
    """The whole HTTP 429 sent to a shut-out address before its request is parsed."""
    body = TOO_FAST.encode()
    head = [
        b"HTTP/1.1 429 Too Many Requests",
        b"content-type: text/plain; charset=utf-8",
        b"retry-after: %d" % max(1, math.ceil(wait_s)),
        b"content-length: %d" % len(body),
        b"connection: close",
        *(name + b": " + value for name, value in SECURITY_HEADERS),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body
