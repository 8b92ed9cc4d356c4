"""Who may open a connection now: caps per address and overall, a connect rate, a cool-off after a flood.

Addresses live only here, in memory, as counts and token buckets: never
stored, never logged. One `Admission` is shared by the HTTP protocol and the
/ws endpoint of a worker, so an address that is shut out (it reconnects
faster than the rate, or it just flooded) is answered with a canned 429 as
soon as its request head has arrived, before any parsing, WebSocket handshake
or ASGI call: a client that reconnects in a loop then costs the server almost
nothing. IPv6 clients are counted by their /64, the block one subscriber gets.
"""

from __future__ import annotations

import ipaddress
import math
import time

from chatserver.headers import SECURITY_HEADERS
from chatserver.settings import Settings

#: Seconds an address that flooded must wait before it may connect again.
FLOOD_COOL_OFF_S = 2.0
#: Addresses whose buckets are remembered; past this the least recently seen is forgotten.
MAX_TRACKED = 10_000

#: Why a connection was refused, as counted for /metrics.
REFUSAL_REASONS = ("rate", "full", "per_address")

TOO_FAST = "Too many new connections from your network; please wait a moment."
FULL = "The server is full right now; please try again in a minute."
TOO_MANY = "Too many connections from your network; please close some tabs and try again."


def address_key(address: str) -> str:
    """The unit limits apply to: an IPv4 address, or an IPv6 /64."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


class Admission:
    """Connection counts and connect-rate buckets for one worker (limits are per worker).

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
        #: address key -> (tokens, when last updated), least recently seen first.
        self._buckets: dict[str, tuple[float, float]] = {}
        #: Refused connections by reason, for /metrics.
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        return cls(
            max_total=settings.max_connections,
            max_per_ip=settings.max_connections_per_ip,
            connect_rate_per_minute=settings.connect_rate_per_ip,
        )

    def wait_before_retry(self, address: str) -> float:
        """Seconds until `address` may connect again; 0 if it may now. Takes no token."""
        if not self.rate:
            return 0.0
        key = address_key(address)
        if key not in self._buckets:
            return 0.0
        tokens = self._tokens(key, time.monotonic())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def early_answer(self, address: str) -> bytes | None:
        """The canned 429 for a request from an address that is shut out now (counted), or None."""
        wait = self.wait_before_retry(address)
        if not wait:
            return None
        self.refused["rate"] += 1
        return early_refusal(wait)

    def refusal(self, address: str) -> str:
        """Why a WebSocket from `address` may not open now ('' if it may). Every attempt takes a token."""
        key = address_key(address)
        if self._too_fast(key):
            self.refused["rate"] += 1
            return TOO_FAST
        if self.max_total and self.total >= self.max_total:
            self.refused["full"] += 1
            return FULL
        if self.max_per_ip and self.per_ip.get(key, 0) >= self.max_per_ip:
            self.refused["per_address"] += 1
            return TOO_MANY
        return ""

    def opened(self, address: str) -> None:
        key = address_key(address)
        self.total += 1
        self.per_ip[key] = self.per_ip.get(key, 0) + 1

    def closed(self, address: str) -> None:
        key = address_key(address)
        self.total -= 1
        left = self.per_ip.get(key, 1) - 1
        if left > 0:
            self.per_ip[key] = left
        else:
            self.per_ip.pop(key, None)

    def cool_off(self, address: str) -> None:
        """Shut `address` out for cool_off_s: its connection was just closed for flooding."""
        if self.rate:
            # The one token the next connection needs comes back exactly cool_off_s from now.
            self._remember(address_key(address), 1.0 - self.rate * self.cool_off_s, time.monotonic())

    def _tokens(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - stamp) * self.rate)

    def _too_fast(self, key: str) -> bool:
        if not self.rate:
            return False
        now = time.monotonic()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._remember(key, tokens, now)
            return True
        self._remember(key, tokens - 1.0, now)
        return False

    def _remember(self, key: str, tokens: float, now: float) -> None:
        # Re-inserting moves the key to the end, so the first key is always the least recently seen.
        self._buckets.pop(key, None)
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > MAX_TRACKED:
            del self._buckets[next(iter(self._buckets))]


def early_refusal(wait_s: float) -> bytes:
    """The whole HTTP 429 sent to a shut-out address instead of parsing its request."""
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
