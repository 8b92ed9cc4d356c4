"""rooms.yaml keys for proportionate moderation (issue 16): rules, the ladder, strikes, kind refusal
reasons, the shield preset and the join-burst alarm. Plain frozen data; read by moderation_reader.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Keys allowed in `defaults:` and in each room.
MODERATION_KEYS = ("rules", "ladder", "strike_expiry", "reasons", "shield", "join_burst")
LADDER_ACTIONS = ("warn", "mute", "kick", "ban")
BURST_ACTIONS = ("alert", "shield")
RULE_MAX = 300
#: As moderation.rules.MAX_MUTE_MINUTES (a week); rooms sit below moderation, so it is repeated here.
MAX_MUTE_MINUTES = 7 * 24 * 60
REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class Step:
    """One rung of a ladder: `warn`, `mute` for `minutes`, `kick` or `ban`."""

    action: str
    minutes: float | None = None

    @property
    def label(self) -> str:
        """How the console names it: "warn", "mute 10 min", "mute 24 h", "ban"."""
        if self.action != "mute" or self.minutes is None:
            return self.action
        if self.minutes >= 60 and self.minutes % 60 == 0:
            return f"mute {self.minutes / 60:g} h"
        return f"mute {self.minutes:g} min"


@dataclass(frozen=True, slots=True)
class Shield:
    """What shield mode switches on: slow mode (seconds), premoderation and holding links."""

    slowmode: float = 30.0
    premoderate: str = "new_members"  # off | new_members | all
    premoderate_count: int = 3
    hold_links: bool = True


@dataclass(frozen=True, slots=True)
class JoinBurst:
    """`joins` new people within `per_seconds` is a burst: hosts are alerted (`alert`), or shield
    mode comes on by itself (`shield`)."""

    joins: int = 15
    per_seconds: float = 60.0
    action: str = "alert"


DEFAULT_LADDER = (Step("warn"), Step("warn"), Step("mute", 10), Step("mute", 1440), Step("ban"))
#: Words a person whose message a host did not share reads when the host gives none of their own.
DEFAULT_REASONS = (
    "This message wasn't shared with the room, so that everyone here can feel safe. "
    "You are welcome to keep talking.",
)


@dataclass(frozen=True, slots=True)
class RoomModeration:
    """A room's proportionate-moderation settings, defaults filled in."""

    rules: tuple[str, ...] = ()
    ladder: tuple[Step, ...] = DEFAULT_LADDER
    #: Seconds after which a warning or a mute no longer counts as a strike.
    strike_expiry: float = 24 * 3600.0
    reasons: tuple[str, ...] = DEFAULT_REASONS
    shield: Shield = field(default_factory=Shield)
    join_burst: JoinBurst | None = field(default_factory=JoinBurst)

    def proposal(self, strikes: int) -> Step:
        """The ladder's next step for someone with `strikes` live strikes (the last rung repeats)."""
        return self.ladder[min(strikes, len(self.ladder) - 1)]
