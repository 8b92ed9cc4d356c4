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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import itemgetter, or_
from typing import Any

from chatserver.crisis import patterns as pat
from chatserver.crisis.packs import LEVELS, Family, Frame, Pack
from chatserver.crisis.text import deobfuscate, plain

NONE, CONCERN, PASSIVE, ACTIVE, IMMINENT = range(5)
#: Kinds that are thoughts of dying or its attempt (others are self-harm, or signals around them).
IDEATION = frozenset({"ideation", "attempt"})
#: Kinds that turn thoughts of dying into immediate danger: a means, a plan, a place, a goodbye.
PREPARATION = frozenset({"means", "plan", "place", "farewell"})
#: Kinds that carry no risk of their own: they only colour the thoughts around them.
SIGNALS = frozenset({"means", "place", "time", "recent", "farewell", "vague", "effects"})
_DELEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_CLAUSE_END = re.compile(r"[.!?;:\n]")
_SOFT_END = re.compile(r"[.!?;:,\n]")
_WORDS = re.compile(r"\w+(?:['’]\w+)*")
NEGATION_WORDS = 3
SUBJECT_WORDS = 6


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


class _Hit:
    __slots__ = ("level", "kind", "start", "end", "pack", "own_negation")

    def __init__(self, level: int, kind: str, start: int, end: int, pack: Pack, own_negation: bool) -> None:
        self.level = level
        self.kind = kind
        self.start = start
        self.end = end
        self.pack = pack
        self.own_negation = own_negation


class _Compiled:
    """One pattern of a family or frame, ready to run (a pattern, not a family, so that an anchor
    found runs only the patterns that need it).

    The regex is compiled the first time the pattern's anchors turn up: most patterns are never
    needed by most rooms, and compiling them all would slow every start and reload.
    """

    __slots__ = ("level", "kind", "scope", "kinds", "pack", "own_negation", "_source", "_regex")

    def __init__(self, group: Family | Frame, pack: Pack, seq: pat.Seq) -> None:
        self.level = LEVELS.index(group.level)
        self.kind = group.kind if isinstance(group, Family) else "frame"
        self.scope = group.scope if isinstance(group, Frame) else "overlap"
        self.kinds = frozenset(group.kinds) if isinstance(group, Frame) else frozenset()
        self.pack = pack
        # A pattern that spells out its own negation ("i don't want to live") is never lowered by it.
        self.own_negation = pat.has_word(seq, pack.pieces, pack.negators)
        self._source = pat.pattern_source([seq], pack.pieces)
        self._regex: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:  # a race only compiles twice: the result is the same
            self._regex = re.compile(self._source or "(?!)")
        return self._regex


_EDGES = ".,!?;:()[]{}\"'`*_~<>/\\|#+=^&%"
_INSIDE = re.compile(r"[^\w@$!]+")  # splits "self-harm", "k.i.l.l", "it's"... into parts
_LEETISH = frozenset("013457@$!")
_START = 6  # `needs` compares the first letters of words, at most this many
_PATTERNS, _LEET, _BITS, _SINGLE = (itemgetter(i) for i in range(4))  # a word's cache entry


class _Index:
    """Compiled patterns and how to find the ones a text may match.

    Each pattern is looked for by its rarest required word (its anchor); when it has other
    required words, one spelling of each must also be in the text before it runs (plain
    substrings, nearly free). So ordinary messages, full of common words, run almost no pattern.

    Anchors are found word by word: what a word (as typed, punctuation and all) stands for is
    worked out once (leetspeak undone, stretched letters collapsed, then exact words and stems
    looked up) and remembered, bounded. Chat repeats its words, so most words cost one dict lookup.
    """

    CACHE = 50_000

    def __init__(self, groups: Sequence[tuple[Family | Frame, Pack]]) -> None:
        self.groups: list[_Compiled] = []
        exact: dict[str, set[int]] = {}
        stems: dict[str, set[int]] = {}
        needs: dict[int, tuple[frozenset[str], ...]] = {}
        for group, pack in groups:
            for seq in (
                part for whole in group.patterns for part in pat.expand(whole, pack.pieces, pack.cost)
            ):
                number = len(self.groups)
                self.groups.append(_Compiled(group, pack, seq))
                ranked = pat.ranked_anchors(seq, pack.pieces, pack.cost)
                anchor_keys = {key for key, _ in ranked[0][1]}
                for key, whole in ranked[0][1]:
                    (exact if whole else stems).setdefault(key, set()).add(number)
                others = [
                    pat.spellings(e, pack.pieces, pack.cost)
                    for e in pat.required_words(seq, pack.pieces, pack.cost)
                ]
                # Each other required word, as the starts (2 to 6 letters) of its spellings; a word of
                # one letter is in every text, and the anchor itself was found.
                wanted: list[frozenset[str]] = []
                for spellings in others:
                    starts = frozenset(pat.collapse(w)[:_START] for w in spellings)
                    if starts and min(map(len, starts)) >= 2 and not starts & anchor_keys:
                        wanted.append(starts)
                if wanted:
                    needs[number] = tuple(wanted)
        self.exact = {k: frozenset(v) for k, v in exact.items()}
        self.stems = {k: frozenset(v) for k, v in stems.items()}
        self.stem_lengths = sorted({len(k) for k in stems}, reverse=True)
        # Needs as bits: each group of spellings is one bit; a word carries the bits of the groups
        # its starts satisfy; a pattern may run when its bits are all among the message's.
        bit_of: dict[frozenset[str], int] = {}
        self.start_bits: dict[str, int] = {}
        self.needs: dict[int, int] = {}
        for number, required in needs.items():
            bits = 0
            for spelled in required:
                bit = bit_of.setdefault(spelled, 1 << len(bit_of))
                bits |= bit
                for start in spelled:
                    self.start_bits[start] = self.start_bits.get(start, 0) | bit
            self.needs[number] = bits
        # word as typed -> (patterns it anchors, leetspeak?, the `needs` bits it satisfies, a single
        # letter?)
        self._words: dict[str, tuple[frozenset[int], bool, int, int]] = {}

    def triggered(self, text: str) -> tuple[set[int], bool]:
        """The patterns whose anchors occur in `text`, and whether the text looked obfuscated."""
        cache = self._words
        words = text.split()
        # map/itemgetter keep the per-word work in C: this runs for every message.
        entries: list[Any] = list(map(cache.get, words))
        if None in entries:
            if len(cache) >= self.CACHE:
                cache.clear()
            for i, word in enumerate(words):
                if entries[i] is None:
                    entries[i] = cache[word] = self._word(word)
        found: set[int] = set().union(*map(_PATTERNS, entries))
        obfuscated = any(map(_LEET, entries))
        if not obfuscated and sum(map(_SINGLE, entries)) >= 3:
            obfuscated = True  # perhaps spelled out, "s u i c i d e": the caller reads it joined
        if found and self.needs:
            missing = ~reduce(or_, map(_BITS, entries), 0)
            needs = self.needs
            found = {n for n in found if not needs.get(n, 0) & missing}
        return found, obfuscated

    def _word(self, typed: str) -> tuple[frozenset[int], bool, int, int]:
        word = typed.strip(_EDGES)
        leet = not _LEETISH.isdisjoint(word) and any(c.isalpha() for c in word)
        if leet:
            word = word.translate(_DELEET)
        numbers: set[int] = set()
        offered: set[str] = set()
        # "j'ai" is the anchor "jai"; "self-harm" is "self" and "harm".
        joined = word.replace("'", "")
        for part in {joined, *_INSIDE.split(word)}:
            if not part:
                continue
            key = pat.collapse(part)
            offered.update(key[:n] for n in range(2, min(len(key), _START) + 1))
            for candidate in (key, pat.collapse(part.replace("i", "l"))) if "1" in typed else (key,):
                if candidate in self.exact:
                    numbers |= self.exact[candidate]
                for length in self.stem_lengths:
                    if length <= len(candidate) and candidate[:length] in self.stems:
                        numbers |= self.stems[candidate[:length]]
        single = int(len(typed) == 1 or (len(typed) == 2 and typed[1] in ".-*"))
        bits = 0
        for start in offered:
            bits |= self.start_bits.get(start, 0)
        return frozenset(numbers), leet, bits, single


class Recogniser:
    """Recognises the families of some phrase packs in messages; immutable, so rooms can share one."""

    def __init__(self, packs: Iterable[Pack]) -> None:
        self.packs = tuple(packs)
        self.languages = tuple(p.language for p in self.packs)
        # Signals (a time, "it's time", a goodbye) change only what is around them: they are looked
        # for when the message or the person's last messages already say something.
        self._families = _Index([(f, p) for p in self.packs for f in p.families])
        self._signal = frozenset(n for n, g in enumerate(self._families.groups) if g.level == NONE)
        self._frames = _Index([(f, p) for p in self.packs for f in p.frames])

    def compile_all(self) -> None:
        """Compile every pattern now instead of on first use (check-rooms and tests do)."""
        for group in (*self._families.groups, *self._frames.groups):
            _ = group.regex

    def level(self, text: str) -> str | None:
        """The level of `text` read alone (no earlier messages), by name; None for nothing."""
        found = combine(self.assess(text), ())
        return LEVELS[found] if found else None

    def assess(self, text: str, *, before: str = "", context: bool = False) -> Assessment:
        """How much risk `text` shows on its own.

        `before`: the same person's previous message, when it was a moment ago: a thought split
        over two messages ("i just want to" / "disappear") is read across them; only what reaches
        into `text` counts. `context`: their last messages said something, so signals ("tonight")
        are looked for even in a message that says nothing else.
        """
        low = plain(text)
        offset = 0
        if before:
            prefix = plain(before) + " "
            low = prefix + low
            offset = len(prefix)
        found, obfuscated = self._families.triggered(low)
        if obfuscated:
            clear = deobfuscate(low)
            if clear != low:
                if offset:
                    offset = len(deobfuscate(low[:offset]))
                low = clear
                found, _ = self._families.triggered(low)
        signals = found & self._signal
        hits = self._hits(low, found - signals, self._families, offset) if found else []
        if signals and (hits or context):
            hits += self._hits(low, signals, self._families, offset)
        if not hits:
            return NOTHING
        for hit in hits:
            if hit.level > CONCERN or hit.kind in SIGNALS:
                if not hit.own_negation and _negated(low, hit):
                    hit.level = min(hit.level, CONCERN) if hit.level > CONCERN else -1
                    if hit.level == CONCERN:
                        hit.kind = "topic"
                elif hit.level > CONCERN and (_someone_else(low, hit) or _quoted(low, hit)):
                    hit.level, hit.kind = CONCERN, "topic"
        if any(hit.level >= CONCERN for hit in hits):
            self._apply_frames(low, hits)
        live = [hit for hit in hits if hit.level >= 0]
        if not live:
            return NOTHING
        level = max(hit.level for hit in live)
        ideation = max((hit.level for hit in live if hit.kind in IDEATION), default=NONE)
        selfharm = max((hit.level for hit in live if hit.kind == "selfharm"), default=NONE)
        return Assessment(level, frozenset(hit.kind for hit in live), ideation, selfharm)

    def _hits(self, low: str, found: set[int], index: _Index, offset: int) -> list[_Hit]:
        hits = []
        groups = index.groups
        for number in sorted(found):
            group = groups[number]
            for match in group.regex.finditer(low):
                if match.end() > offset:
                    hits.append(
                        _Hit(
                            group.level,
                            group.kind,
                            match.start(),
                            match.end(),
                            group.pack,
                            group.own_negation,
                        )
                    )
        return hits

    def _apply_frames(self, low: str, hits: list[_Hit]) -> None:
        found, _ = self._frames.triggered(low)
        groups = self._frames.groups
        recent = [h for h in hits if h.kind in ("time", "recent") and h.level >= 0]
        for number in sorted(found):
            frame = groups[number]
            for match in frame.regex.finditer(low):
                start, end = match.span()
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
                        lo, hi = _clause(low, hit.start)
                        touches = (
                            lo <= start < hi
                            and not (hit.start <= start and end <= hit.end)
                            and not any(lo <= r.start < hi for r in recent)
                        )
                    if touches:
                        hit.level = frame.level if frame.level > NONE else -1
                        if frame.level == CONCERN:
                            hit.kind = "topic"


def _clause(text: str, at: int) -> tuple[int, int]:
    start = max((m.end() for m in _CLAUSE_END.finditer(text, 0, at)), default=0)
    end_match = _CLAUSE_END.search(text, at)
    return start, end_match.start() if end_match else len(text)


def _words_before(text: str, at: int, count: int, stop: re.Pattern[str]) -> list[str]:
    head = text[max(0, at - 12 * count) : at]
    cut = max((m.end() for m in stop.finditer(head)), default=0)
    return [pat.collapse(w.replace("'", "").replace("’", "")) for w in _WORDS.findall(head[cut:])][-count:]


def _negated(text: str, hit: _Hit) -> bool:
    negators = hit.pack.negators
    if not negators:
        return False
    words = _words_before(text, hit.start, NEGATION_WORDS, _SOFT_END)
    words += [
        pat.collapse(w.replace("'", "").replace("’", "")) for w in _WORDS.findall(text[hit.start : hit.end])
    ]
    return any(w in negators for w in words)


def _quoted(text: str, hit: _Hit) -> bool:
    # Words in quotation marks are someone's words reported ("she said 'i want to die'"): concern.
    head = text[: hit.start]
    straight = head.count('"')
    return straight % 2 == 1 or head.count("\u201c") > head.count("\u201d")


def _someone_else(text: str, hit: _Hit) -> bool:
    pack = hit.pack
    if not pack.other_words:
        return False
    inside = [
        pat.collapse(w.replace("'", "").replace("’", "")) for w in _WORDS.findall(text[hit.start : hit.end])
    ]
    if any(w in pack.self_words for w in inside):
        return False
    for word in reversed(_words_before(text, hit.start, SUBJECT_WORDS, _CLAUSE_END)):
        if word in pack.self_words:
            return False
        if word in pack.other_words:
            return True
    return False


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
    if not current.kinds and not recent:
        return NONE
    level = current.level
    now = current.kinds
    before: frozenset[str] = frozenset().union(*(a.kinds for a in recent))
    kinds = now | before
    ideation_before = max((a.ideation for a in recent), default=NONE)
    ideation = max(ideation_before, current.ideation)
    harm = max(current.selfharm, max((a.selfharm for a in recent), default=NONE))

    def brings(*parts: frozenset[str] | str) -> bool:
        # Every part present in the window, and this message brings at least one of them.
        sets = [frozenset({p}) if isinstance(p, str) else p for p in parts]
        return all(kinds & s for s in sets) and any(now & s for s in sets)

    if ideation >= PASSIVE and kinds & PREPARATION and (now & PREPARATION or current.ideation >= PASSIVE):
        return IMMINENT
    if ideation >= ACTIVE and "time" in kinds and ("time" in now or current.ideation >= ACTIVE):
        return IMMINENT
    if harm >= ACTIVE and kinds & _AT_HAND and (now & _AT_HAND or current.selfharm >= ACTIVE):
        return IMMINENT
    if brings("attempt", "effects") or (
        brings("attempt", "recent") and (ideation >= ACTIVE or kinds & PREPARATION - {"farewell"})
    ):
        return IMMINENT
    if brings("plan", _PLAN_WITH):
        return IMMINENT
    if len(kinds & PREPARATION) >= 2 and now & PREPARATION:  # at the station, and saying sorry
        return IMMINENT
    if "vague" in now:
        if "time" in kinds and kinds & _PLAN_WITH - {"time"}:
            return IMMINENT
        if ideation >= PASSIVE:
            level = max(level, ACTIVE)
    if now and now <= SIGNALS:
        harm_before = max((a.selfharm for a in recent), default=NONE)
        level = max(level, ideation_before if ideation_before >= PASSIVE else NONE, harm_before)
    return level


_AT_HAND = frozenset({"means", "place"})
_PLAN_WITH = frozenset({"time", "means", "place"})
