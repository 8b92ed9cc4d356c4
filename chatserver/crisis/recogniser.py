"""The recogniser: find the phrase families of the chosen packs in a message, then weigh them.

`Recogniser.assess(text)` answers with a risk level and the kinds of signal found. In order:

1. **Anchors.** One regex over the `plain()` text looks for the distinctive words of every family
   (`patterns.anchors`). Most messages contain none and cost this one search.
2. **Families.** The families whose anchors were found run their patterns. Text with leetspeak or
   spaced-out letters is read again deobfuscated.
3. **Negation.** A match with a negator ("not", "never", "don't") among the three words before it,
   in the same clause, is at most `concern`: "I'm not suicidal, just tired". Patterns that spell
   out their own negation ("I don't want to live") are taken as they are.
4. **Someone else.** A match whose nearest subject before it is a third person ("my friend ...
   wants to die") is `concern`.
5. **Frames** lower what they touch: figurative speech ("dying to see", "kill for a coffee") to
   nothing, the past, recovery or a question about the topic to `concern`.

`combine()` then weighs a message with the same person's last few (see docs/filters.md): thoughts of
dying and a means, a place or a goodbye make `imminent`; so do active thoughts and a time.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatserver.crisis.context import (
    ACTIVE,
    CONCERN,
    IDEATION,
    IMMINENT,
    NONE,
    NOTHING,
    PASSIVE,
    PREPARATION,
    SIGNALS,
    Assessment,
    combine,
)
from chatserver.crisis.index import Index
from chatserver.crisis.packs import LEVELS, Pack
from chatserver.crisis.reading import NEGATED, SOMEONE_ELSE, Hit, clause, quoted, reader
from chatserver.crisis.text import deobfuscate, plain

__all__ = [
    "ACTIVE",
    "CONCERN",
    "IDEATION",
    "IMMINENT",
    "NONE",
    "NOTHING",
    "PASSIVE",
    "PREPARATION",
    "SIGNALS",
    "Assessment",
    "Recogniser",
    "combine",
]


class Recogniser:
    """Recognises the families of some phrase packs in messages; immutable, so rooms can share one."""

    def __init__(self, packs: Iterable[Pack]) -> None:
        self.packs = tuple(packs)
        self.languages = tuple(p.language for p in self.packs)
        # Signals (a time, "it's time", a goodbye) change only what is around them: they are looked
        # for when the message or the person's last messages already say something.
        self._families = Index([(f, p) for p in self.packs for f in p.families])
        self._signal = frozenset(n for n, g in enumerate(self._families.groups) if g.level == NONE)
        self._frames = Index([(f, p) for p in self.packs for f in p.frames])

    def compile_all(self) -> None:
        """Compile every pattern now instead of on first use (check-rooms and tests do)."""
        for group in (*self._families.groups, *self._frames.groups):
            _ = group.regex

    def level(self, text: str) -> str | None:
        """The level of `text` read alone (no earlier messages), by name; None for nothing."""
        found = combine(self.assess(text), ())
        return LEVELS[found] if found else None

    def assess(
        self, text: str, *, before: str = "", context: bool = False, plain_text: str | None = None
    ) -> Assessment:
        """How much risk `text` shows on its own.

        `before`: the same person's previous message, when it was a moment ago: a thought split
        over two messages ("i just want to" / "disappear") is read across them; only what reaches
        into `text` counts. `context`: their last messages said something, so signals ("tonight")
        are looked for even in a message that says nothing else. `plain_text`: `plain(text)`, when
        the caller has it already.
        """
        low = plain(text) if plain_text is None else plain_text
        offset = 0
        if before:
            prefix = plain(before) + " "
            low = prefix + low
            offset = len(prefix)
        found, obfuscation = self._families.find(low)
        if not found and not obfuscation:
            return NOTHING  # most messages: no pattern's words are there
        if obfuscation:
            clear = deobfuscate(low, obfuscation)
            if clear != low:
                if offset:
                    offset = len(deobfuscate(low[:offset]))
                low = clear
                found, _ = self._families.find(low)
        signals = found & self._signal
        rest = found - signals if signals else found
        hits = self._hits(low, rest, self._families, offset) if rest else []
        if signals and (hits or context):
            hits += self._hits(low, signals, self._families, offset)
        if not hits:
            return NOTHING
        read = reader(low)
        for hit in hits:
            if hit.level > CONCERN or hit.kind in SIGNALS:
                around = read(hit, offset)
                if not hit.own_negation and around & NEGATED:
                    hit.level = min(hit.level, CONCERN) if hit.level > CONCERN else -1
                    if hit.level == CONCERN:
                        hit.kind = "topic"
                elif hit.level > CONCERN and (around & SOMEONE_ELSE or quoted(low, hit)):
                    hit.level, hit.kind = CONCERN, "topic"
        if any(hit.level >= CONCERN for hit in hits):
            self._apply_frames(low, hits)
        return _summed(hits)

    def _hits(self, low: str, found: set[int], index: Index, offset: int) -> list[Hit]:
        hits = []
        groups = index.groups
        for number in sorted(found):
            group = groups[number]
            for start, end in group.spans(low):
                if end > offset:
                    hits.append(Hit(group.level, group.kind, start, end, group.pack, group.own_negation))
        return hits

    def _apply_frames(self, low: str, hits: list[Hit]) -> None:
        found, _ = self._frames.find(low)
        groups = self._frames.groups
        recent = [h for h in hits if h.kind in ("time", "recent") and h.level >= 0]
        for number in sorted(found):
            frame = groups[number]
            for start, end in frame.spans(low):
                for hit in hits:
                    # Figurative speech cancels signals too ("every day this week" is no date).
                    if (
                        hit.pack is not frame.pack
                        or hit.level < 0
                        or (frame.level > NONE and hit.level <= frame.level)
                        or (frame.kinds and hit.kind not in frame.kinds)
                    ):
                        continue
                    if frame.scope == "overlap":
                        touches = start < hit.end and hit.start < end
                    else:
                        # The same clause, outside the match itself (a family that names the
                        # past, "clean 3 weeks but tonight i want to", has already weighed it).
                        lo, hi = clause(low, hit.start)
                        touches = (
                            lo <= start < hi
                            and not (hit.start <= start and end <= hit.end)
                            and not any(lo <= r.start < hi for r in recent)
                        )
                    if touches:
                        hit.level = frame.level if frame.level > NONE else -1
                        if frame.level == CONCERN:
                            hit.kind = "topic"


def _summed(hits: list[Hit]) -> Assessment:
    """The hits that still count, in one pass: the highest level, that of thoughts of dying and that of
    self-harm, and the kinds found."""
    level = ideation = selfharm = NONE
    kinds = set()
    for hit in hits:
        found_level = hit.level
        if found_level < 0:
            continue  # cancelled by what was read around it
        kinds.add(hit.kind)
        if found_level > level:
            level = found_level
        if hit.kind in IDEATION:
            if found_level > ideation:
                ideation = found_level
        elif hit.kind == "selfharm" and found_level > selfharm:
            selfharm = found_level
    if not kinds:
        return NOTHING
    return Assessment(level, frozenset(kinds), ideation, selfharm)
