"""How a message weighs with the same person's last few: `Assessment` and `combine()`.

Risk is read across messages and never lowered by them (see docs/filters.md, "Context").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatserver.crisis.packs import LEVELS

NONE, CONCERN, PASSIVE, ACTIVE, IMMINENT = range(5)
#: Kinds that are thoughts of dying or its attempt (others are self-harm, or signals around them).
IDEATION = frozenset({"ideation", "attempt"})
#: Kinds that turn thoughts of dying into immediate danger: a means, a plan, a place, a goodbye.
PREPARATION = frozenset({"means", "plan", "place", "farewell"})
#: Kinds that carry no risk of their own: they only colour the thoughts around them.
SIGNALS = frozenset({"means", "place", "time", "recent", "farewell", "vague", "effects"})


@dataclass(frozen=True, slots=True)
class Assessment:
    """What one message says on its own: the level (0 none .. 4 imminent) and the kinds found."""

    level: int = NONE
    kinds: frozenset[str] = frozenset()
    #: The highest level among thoughts of dying (kinds in IDEATION), for combining with later messages.
    ideation: int = NONE
    #: The highest level of self-harm found.
    selfharm: int = NONE

    @property
    def name(self) -> str | None:
        """The level's name, None when nothing was found."""
        return LEVELS[self.level] if self.level else None


NOTHING = Assessment()


def combine(current: Assessment, recent: Sequence[Assessment]) -> int:
    """The level of `current` given the same person's `recent` messages (oldest first), 0 to 4.

    Risk is read across messages and never lowered by them; each rule needs this message to bring
    one of its parts (a message repeats nothing already said):
    - thoughts of dying (passive or more) and a means, a plan, a place or a goodbye: imminent;
    - active thoughts of dying and a time to come: imminent;
    - self-harm (active) and a means or place at hand: imminent;
    - an act ("i took them") and its effects, or a moment ago with thoughts or means around: imminent;
    - a plan and a time, a means or a place: imminent;
    - "i mean it this time", "do it tonight": with a time and a means, imminent; after thoughts of
      dying, active at least;
    - a message of signals only ("tonight", "i'm here now") carries the level of the thoughts before.
    """
    now = current.kinds
    if recent:
        before = frozenset().union(*[a.kinds for a in recent])
        kinds = now | before
        ideation_before = max([a.ideation for a in recent])
        harm_before = max([a.selfharm for a in recent])
    elif not now:
        return NONE
    else:  # the message alone: most calls, so nothing is built for an empty window
        kinds, ideation_before, harm_before = now, NONE, NONE
    level = current.level
    ideation = current.ideation if current.ideation > ideation_before else ideation_before
    harm = current.selfharm if current.selfharm > harm_before else harm_before

    if ideation >= PASSIVE and kinds & PREPARATION and (now & PREPARATION or current.ideation >= PASSIVE):
        return IMMINENT
    if ideation >= ACTIVE and "time" in kinds and ("time" in now or current.ideation >= ACTIVE):
        return IMMINENT
    if harm >= ACTIVE and kinds & _AT_HAND and (now & _AT_HAND or current.selfharm >= ACTIVE):
        return IMMINENT
    if _brings(kinds, now, _ATTEMPT, _EFFECTS) or (
        _brings(kinds, now, _ATTEMPT, _RECENT) and (ideation >= ACTIVE or kinds & PREPARATION - {"farewell"})
    ):
        return IMMINENT
    if _brings(kinds, now, _PLAN, _PLAN_WITH):
        return IMMINENT
    if len(kinds & PREPARATION) >= 2 and now & PREPARATION:  # at the station, and saying sorry
        return IMMINENT
    if "vague" in now:
        if "time" in kinds and kinds & _PLAN_WITH - {"time"}:
            return IMMINENT
        if ideation >= PASSIVE:
            level = max(level, ACTIVE)
    if now and now <= SIGNALS:
        level = max(level, ideation_before if ideation_before >= PASSIVE else NONE, harm_before)
    return level


def _brings(
    kinds: frozenset[str], now: frozenset[str], first: frozenset[str], second: frozenset[str]
) -> bool:
    # Both parts present in the window, and this message brings at least one of them.
    return bool(kinds & first and kinds & second and (now & first or now & second))


_ATTEMPT = frozenset({"attempt"})
_EFFECTS = frozenset({"effects"})
_RECENT = frozenset({"recent"})
_PLAN = frozenset({"plan"})
_AT_HAND = frozenset({"means", "place"})
_PLAN_WITH = frozenset({"time", "means", "place"})
