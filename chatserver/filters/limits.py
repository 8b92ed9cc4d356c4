"""Size and flood limits: max_length, rate_limit, repeat."""

from __future__ import annotations

from typing import Any

from chatserver.filters.base import (
    Filter,
    MessageContext,
    Verdict,
    option_choice,
    option_int,
    option_number,
)


class MaxLengthFilter(Filter):
    """Reject messages longer than `chars` characters (the room adds this one first)."""

    name = "max_length"

    def __init__(self, *, chars: int = 2000, **common: Any) -> None:
        super().__init__(**common)
        self.chars = option_int("chars", chars, minimum=1)
        self._verdict = Verdict(
            "reject", self.name, f"longer than this room's limit of {self.chars} characters"
        )

    def check(self, ctx: MessageContext) -> Verdict | None:
        if len(ctx.text) > self.chars:
            return self._verdict
        return None


class RateLimitFilter(Filter):
    """Token bucket per session: `messages` per `per_seconds`, then reject with `retry_after`.

    State lives in the instance (one per room). A bucket idle for `per_seconds`
    is full again, so forgetting it changes nothing: that is how the table is
    kept within `max_sessions`.
    """

    name = "rate_limit"

    def __init__(
        self, *, messages: int = 5, per_seconds: float = 10, max_sessions: int = 10_000, **common: Any
    ) -> None:
        super().__init__(**common)
        self.messages = option_int("messages", messages, minimum=1)
        self.per_seconds = option_number("per_seconds", per_seconds)
        self.max_sessions = option_int("max_sessions", max_sessions, minimum=1)
        self._rate = self.messages / self.per_seconds
        self._buckets: dict[str, list[float]] = {}  # session -> [tokens, last refill]
        self._sweep_at = self.max_sessions
        self._reason = f"too many messages: at most {self.messages} every {self.per_seconds:g} seconds"

    def check(self, ctx: MessageContext) -> Verdict | None:
        now = ctx.now
        bucket = self._buckets.get(ctx.session)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            self._buckets[ctx.session] = [self.messages - 1.0, now]
            return None
        elapsed = now - bucket[1]
        tokens = bucket[0] + (elapsed if elapsed > 0 else 0.0) * self._rate
        if tokens > self.messages:
            tokens = self.messages
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        return Verdict("reject", self.name, self._reason, retry_after=round((1.0 - tokens) / self._rate, 3))

    def _sweep(self, now: float) -> None:
        live = {s: b for s, b in self._buckets.items() if now - b[1] < self.per_seconds}
        if len(live) >= self.max_sessions:
            # Every bucket is in use: drop the oldest half rather than grow without bound.
            live = dict(list(live.items())[len(live) - self.max_sessions // 2 :])
        self._buckets = live
        self._sweep_at = max(self.max_sessions, 2 * len(live))


_EDGE_PUNCTUATION = " .,;:!?'\"-~*"


def normalised(text: str) -> str:
    """`text` as the repeat filter compares it: case folded, runs of whitespace made one space, and
    spaces and punctuation trimmed from both ends."""
    folded = text.casefold()
    if "  " not in folded and folded.isprintable():
        # Only single ASCII spaces between words (any other space or control character is not
        # printable): splitting and joining again would give the same text, less its end spaces.
        return folded.strip(_EDGE_PUNCTUATION)
    return " ".join(folded.split()).strip(_EDGE_PUNCTUATION)


class RepeatFilter(Filter):
    """The same text (ignoring case, spacing and end punctuation) from one session within `window_seconds`.

    Texts shorter than `min_length` normalised characters ("ok", "yes", "hugs")
    never count: people say those twice. Hosts are exempt: they greet every
    newcomer with the same words.
    """

    name = "repeat"

    def __init__(
        self,
        *,
        window_seconds: float = 30,
        action: str = "reject",
        min_length: int = 10,
        max_sessions: int = 10_000,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.window = option_number("window_seconds", window_seconds)
        self.action = option_choice("action", action, ("reject", "hold"))
        self.min_length = option_int("min_length", min_length, minimum=1)
        self.max_sessions = option_int("max_sessions", max_sessions, minimum=1)
        self._seen: dict[str, dict[int, float]] = {}  # session -> {hash of normalised text: first sent}
        self._sweep_at = self.max_sessions

    def check(self, ctx: MessageContext) -> Verdict | None:
        if ctx.role != "participant":
            return None
        norm = normalised(ctx.text)
        if len(norm) < self.min_length:
            return None
        key = hash(norm)
        now = ctx.now
        seen = self._seen.get(ctx.session)
        if seen is None:
            if len(self._seen) >= self._sweep_at:
                self._sweep(now)
            self._seen[ctx.session] = {key: now}
            return None
        first = seen.get(key)
        if first is not None and now - first < self.window:
            return Verdict(
                self.action,
                self.name,
                "the same message was sent a moment ago",
                retry_after=round(self.window - (now - first), 3) if self.action == "reject" else None,
            )
        if len(seen) >= 16:
            for old in [k for k, t in seen.items() if now - t >= self.window]:
                del seen[old]
            if len(seen) >= 16:  # a burst of distinct texts: keep the newest half
                for old in list(seen)[:8]:
                    del seen[old]
        seen[key] = now
        return None

    def _sweep(self, now: float) -> None:
        window = self.window
        live = {s: d for s, d in self._seen.items() if any(now - t < window for t in d.values())}
        if len(live) >= self.max_sessions:
            live = dict(list(live.items())[len(live) - self.max_sessions // 2 :])
        self._seen = live
        self._sweep_at = max(self.max_sessions, 2 * len(live))
