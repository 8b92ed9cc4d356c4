"""The filter plugin API: what a filter sees, what it answers, and its base class.

Filters are pure: no I/O, no asyncio. The hub calls a room's chain
synchronously for every message, so `check()` must be cheap.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

#: What a verdict can say, from the most lenient to the strictest.
ACTIONS = ("allow", "redact", "hold", "reject")
#: What a filter that raises turns into.
ON_ERROR = ("hold", "reject", "allow")
#: Levels of suicide and self-harm risk, lowest first (see docs/filters.md): about someone else or
#: the past; wishing not to be alive; intent; a plan, means, a time or place, or an act under way.
RISK_LEVELS = ("concern", "passive", "active", "imminent")


class FilterConfigError(ValueError):
    """A filter name or option in rooms.yaml is wrong; the message says what was expected."""


@dataclass(slots=True)
class MessageContext:
    """One message as the chain sees it.

    `now` is `time.monotonic()` seconds, injected so tests control time;
    `sent_in_room` counts the sender's messages already accepted in this room.
    """

    room: str
    session: str
    name: str
    role: str
    text: str
    now: float
    sent_in_room: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """A filter's answer. Returning `None` from `check()` means plain allow."""

    action: str
    filter: str
    reason: str = ""
    text: str | None = None
    retry_after: float | None = None
    urgent: bool = False
    resources: str | None = None
    #: One of RISK_LEVELS when the filter judged a risk to the sender (the crisis filter).
    level: str | None = None


class Filter:
    """Plugin base: subclass, set `name`, take options as keyword-only arguments, implement `check()`.

    Options arrive as keyword arguments straight from rooms.yaml. Validate them in
    `__init__` (the `option_*` helpers below raise `FilterConfigError` with a plain
    message) and pass the rest to `super().__init__(**rest)`, which rejects unknown
    ones and handles `on_error`.
    """

    name: ClassVar[str] = ""
    #: Run even after an earlier filter rejected the message (the crisis filter
    #: must still send resources to someone who is also rate limited).
    runs_after_reject: ClassVar[bool] = False
    #: Judges the text alone (no counters or per-session state), so it also checks a message's
    #: content-warning label (`FilterChain.check_label`): blocklist, links, pii, crisis.
    checks_labels: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name:
            cls.name = cls.__name__

    def __init__(self, *, on_error: str = "hold", **options: Any) -> None:
        if options:
            unknown = ", ".join(repr(k) for k in options)
            raise FilterConfigError(
                f"unknown option {unknown} (expected one of: {', '.join(self.option_names())})"
            )
        self.on_error = option_choice("on_error", on_error, ON_ERROR)

    @classmethod
    def option_names(cls) -> list[str]:
        """The keyword options this filter accepts, for error messages and docs."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for param in inspect.signature(init).parameters.values():
                if param.kind is param.KEYWORD_ONLY and param.name not in names:
                    names.append(param.name)
        return sorted(names)

    def check(self, ctx: MessageContext) -> Verdict | None:
        """Look at one message.

        Args:
            ctx: the message and its sender; `ctx.text` already carries earlier redactions.

        Returns:
            A `Verdict`, or `None` to allow the message unchanged.
        """
        raise NotImplementedError

    # Small conveniences so a filter reads as `return self.hold("...")`.
    def hold(self, reason: str, **extra: Any) -> Verdict:
        return Verdict("hold", self.name, reason, **extra)

    def reject(self, reason: str, **extra: Any) -> Verdict:
        return Verdict("reject", self.name, reason, **extra)

    def redact(self, text: str, reason: str, **extra: Any) -> Verdict:
        return Verdict("redact", self.name, reason, text=text, **extra)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# Option validation helpers, shared by the built-ins and meant for plugins too.
# YAML gives `true` for `yes`, and bool is an int subclass, so bools are refused explicitly.


def _got(value: Any) -> str:
    return "nothing" if value is None else repr(value)


def option_int(option: str, value: Any, *, minimum: int | None = None) -> int:
    """`value` as a whole number >= `minimum`, or FilterConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" of at least {minimum}"
        raise FilterConfigError(f"option '{option}' must be a whole number{bound}, got {_got(value)}")
    return value


def option_number(option: str, value: Any, *, positive: bool = True) -> float:
    """`value` as a number (> 0 when `positive`), or FilterConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (positive and not value > 0):
        kind = "a number above 0" if positive else "a number"
        raise FilterConfigError(f"option '{option}' must be {kind}, got {_got(value)}")
    return float(value)


def option_bool(option: str, value: Any) -> bool:
    """`value` as true/false, or FilterConfigError."""
    if not isinstance(value, bool):
        raise FilterConfigError(f"option '{option}' must be true or false, got {_got(value)}")
    return value


def option_choice(option: str, value: Any, choices: Iterable[str]) -> str:
    """`value` if it is one of `choices`, or FilterConfigError."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise FilterConfigError(f"option '{option}' must be one of {', '.join(choices)}, got {_got(value)}")
    return value


def option_str(option: str, value: Any) -> str:
    """`value` as a non-empty string, or FilterConfigError."""
    if not isinstance(value, str) or not value.strip():
        raise FilterConfigError(f"option '{option}' must be a non-empty text, got {_got(value)}")
    return value


def option_strings(option: str, value: Any) -> tuple[str, ...]:
    """`value` as a list of non-empty strings, or FilterConfigError."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise FilterConfigError(f"option '{option}' must be a list of non-empty texts, got {_got(value)}")
    return tuple(value)
