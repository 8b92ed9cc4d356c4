"""The pattern index: which patterns of the chosen packs a message may match, found word by word.

Each pattern is looked for by its rarest required word (its anchor: of the sets
`anchors.ranked_anchors` gives, the one everyday chat holds least, by `chatwords`); when it has
other required words, one spelling of each must also be in the text before it runs. So most
messages, made of common words, run no pattern at all. The regexes compile on first use.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Sequence
from functools import reduce
from operator import itemgetter, or_
from typing import Any

from chatserver.crisis import anchors as anc
from chatserver.crisis import chatwords as chat
from chatserver.crisis import patterns as pat
from chatserver.crisis.packs import LEVELS, Family, Frame, Pack
from chatserver.crisis.text import (
    DELEET,
    LEET_HINT,
    LEETISH,
    SINGLE_HINT,
    SPACED_HINT,
    SPELT_HINTS,
    spelling_hints,
)

try:
    from chatserver.crisis import _scan
except ImportError:  # built without a C compiler: the same answers, from the Python below
    _scan = None  # type: ignore[assignment]


class Compiled:
    """One pattern of a family or frame, ready to run (a pattern, not a family, so that an anchor
    found runs only the patterns that need it).

    The regex is compiled the first time the pattern's anchors turn up: most patterns are never
    needed by most rooms, and compiling them all would slow every start and reload.
    """

    __slots__ = ("level", "kind", "scope", "kinds", "pack", "own_negation", "_seq", "_regex")

    def __init__(self, group: Family | Frame, pack: Pack, seq: pat.Seq) -> None:
        self.level = LEVELS.index(group.level)
        self.kind = group.kind if isinstance(group, Family) else "frame"
        self.scope = group.scope if isinstance(group, Frame) else "overlap"
        self.kinds = frozenset(group.kinds) if isinstance(group, Frame) else frozenset()
        self.pack = pack
        # A pattern that spells out its own negation ("i don't want to live") is never lowered by it.
        self.own_negation = anc.has_word(seq, pack.pieces, pack.negators)
        # The source (a kilobyte or more once its pieces are spelled out) is rendered with the
        # regex, on first use: most patterns never run, and rendering them all slowed every start.
        self._seq = seq
        self._regex: re.Pattern[str] | None = None

    @property
    def source(self) -> str:
        """The pattern's regex source, without its leading word-start check.

        Without it, a pattern that starts with a letter lets the regex engine jump from one place
        holding that letter to the next instead of trying every place; `spans` checks the word start
        instead (about twice as fast per pattern run).
        """
        source = pat.pattern_source([self._seq], self.pack.pieces) or "(?!)"
        return source.removeprefix(pat.WORD_START)

    @property
    def regex(self) -> re.Pattern[str]:
        """The pattern's regex, with no word-start check of its own: use `spans`."""
        if self._regex is None:  # a race only compiles twice: the result is the same
            self._regex = re.compile(self.source)
        return self._regex

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the pattern matches `text` starting at the start of a word, left to right, each
        match after the last: what `finditer` gives for the pattern led by its word-start check."""
        search = (self._regex or self.regex).search
        found = []
        at = 0
        while (match := search(text, at)) is not None:
            start, end = match.span()
            if start and _WORD_CHAR.match(text, start - 1) is not None:
                at = start + 1  # inside a word: the next match may start anywhere after
                continue
            found.append((start, end))
            at = end if end > start else start + 1
        return found


_WORD_CHAR = re.compile(r"\w")
_EDGES = ".,!?;:()[]{}\"'`*_~<>/\\|#+=^&%"
_INSIDE = re.compile(r"[^\w@$!]+")  # splits "self-harm", "k.i.l.l", "it's"... into parts
_START = 6  # `needs` compares the first letters of words, at most this many
_PATTERNS, _FLAGS, _BITS = (itemgetter(i) for i in range(3))  # a word's cache entry
#: A word's count for leetspeak; a single letter counts 1, and three of them say "spelled out" too.
#: A word's flags hold its count in the low 16 bits and its hints (text.LEET_HINT...) above.
LEET = 3
_COUNT = 0xFFFF


def _rarest(ranked: list[tuple[int, frozenset[anc.Anchor]]]) -> tuple[int, frozenset[anc.Anchor]]:
    # Of a pattern's anchor sets (any sound one will do: every match holds one of its words), the
    # one everyday chat holds least (`chatwords`), so that ordinary messages look at few patterns;
    # the pack's `common` and two-letter words still come last. A set costing USELESS_COST or more
    # has an option without words: it is no anchor at all.
    if ranked[0][0] >= anc.USELESS_COST:
        return ranked[0]
    sound = [entry for entry in ranked if entry[0] < anc.USELESS_COST]
    return min(sound, key=lambda entry: (entry[0] >= anc.COMMON_COST, chat.seen(entry[1]), entry[0]))


class Index:
    """Compiled patterns and how to find the ones a text may match.

    Each pattern is looked for by its rarest required word (its anchor); when it has other
    required words, one spelling of each must also be in the text before it runs (plain
    substrings, nearly free). So ordinary messages, full of common words, run almost no pattern.

    Anchors are found word by word: what a word (as typed, punctuation and all) stands for is
    worked out once (leetspeak undone, stretched letters collapsed, then exact words and stems
    looked up) and remembered, bounded. Chat repeats its words, so most words cost one dict lookup.
    """

    CACHE = 50_000

    def __init__(self, groups: Sequence[tuple[Family | Frame, Pack]], *, native: bool = True) -> None:
        self.groups: list[Compiled] = []
        exact: dict[str, set[int]] = {}
        stems: dict[str, set[int]] = {}
        needs: dict[int, tuple[frozenset[str], ...]] = {}
        anchor_cost: dict[int, int] = {}
        for group, pack in groups:
            for seq in (
                part for whole in group.patterns for part in anc.expand(whole, pack.pieces, pack.cost)
            ):
                number = len(self.groups)
                self.groups.append(Compiled(group, pack, seq))
                cost, chosen = _rarest(anc.ranked_anchors(seq, pack.pieces, pack.cost))
                anchor_cost[number] = cost
                anchor_keys = {key for key, _ in chosen}
                for key, whole in chosen:
                    (exact if whole else stems).setdefault(key, set()).add(number)
                others = [
                    anc.spellings(e, pack.pieces, pack.cost)
                    for e in anc.required_words(seq, pack.pieces, pack.cost)
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
        self._number_needs(needs, anchor_cost)
        #: The first two letters of every anchor and of every start a need looks for: a word of two
        #: letters or more that begins otherwise anchors nothing and meets no need, so its lookups are
        #: skipped (most new words, the ones the cache cannot answer, are of that kind). A one-letter
        #: word ("k") is only ever equal to a one-letter word; a one-letter stem would turn this off.
        prefixes = (*self.stems, *self.start_bits)
        heads = {k[:2] for k in (*self.exact, *prefixes) if len(k) >= 2}
        self._heads = frozenset(heads) if all(len(k) >= 2 for k in prefixes) else None
        # word as typed -> (patterns it anchors, flags, the `needs` bits it satisfies); flags count
        # LEET for leetspeak and 1 for a single letter (so one sum tells "perhaps obfuscated"), with
        # the word's hints for deobfuscating above (text.LEET_HINT...).
        self._words: dict[str, tuple[frozenset[int], int, int]] = {}
        self._scanner: Any = None
        self._scanner_cache: dict[str, bytes] = {}
        if native and _scan is not None:
            self._scanner = self._native_scanner()
        #: `triggered`, as the C scanner's own method when there is one (a call less per message).
        self.find: Callable[[str], tuple[set[int], int]] = (
            self._scanner.triggered if self._scanner is not None else self._triggered
        )

    def _number_needs(
        self, needs: dict[int, tuple[frozenset[str], ...]], anchor_cost: dict[int, int]
    ) -> None:
        # Needs as bits: each group of spellings is one bit (its number); a word carries the bits
        # of the groups its starts satisfy; a pattern may run when its bits are all among the
        # message's. The groups that patterns with common anchors need (looked at for most
        # messages) take the low bits, so their tests work on small ints.
        weight: dict[frozenset[str], int] = {}
        for number, required in needs.items():
            for spelled in required:
                weight[spelled] = weight.get(spelled, 0) + anchor_cost[number]
        order = sorted(weight, key=lambda spelled: -weight[spelled])
        group_of = {spelled: i for i, spelled in enumerate(order)}
        self.need_groups = len(order)
        self.start_bits: dict[str, int] = {}
        start_groups: dict[str, set[int]] = {}
        self.needs: dict[int, int] = {}
        self._need_lists: dict[int, list[int]] = {}
        for number, required in needs.items():
            for spelled in required:
                for start in spelled:
                    start_groups.setdefault(start, set()).add(group_of[spelled])
            self._need_lists[number] = sorted({group_of[spelled] for spelled in required})
            self.needs[number] = sum(1 << group for group in self._need_lists[number])
        self.start_groups = {start: frozenset(groups) for start, groups in start_groups.items()}
        self.start_bits = {start: sum(1 << g for g in groups) for start, groups in start_groups.items()}

    def _native_scanner(self) -> Any:
        """The same word pass in C (chatserver/crisis/_scan_index.c), with each pattern's needs as a list
        of group numbers."""
        need_start, need_ids = array("I", [0]), array("I")
        for number in range(len(self.groups)):
            need_ids.extend(self._need_lists.get(number, ()))
            need_start.append(len(need_ids))
        return _scan.Scanner(
            self._scanner_cache,
            self._packed,
            self.CACHE,
            len(self.groups),
            self.need_groups,
            need_start.tobytes(),
            need_ids.tobytes(),
            LEET,
        )

    def triggered(self, text: str) -> tuple[set[int], int]:
        """The patterns whose anchors occur in `text`, and whether it may be obfuscated: 0, or the
        hints of what `text.deobfuscate` may change (text.LEET_HINT...)."""
        return self.find(text)

    def _triggered(self, text: str) -> tuple[set[int], int]:
        # The Python word pass (the reference the C scanner is tested against).
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
        # Leetspeak, or perhaps letters spelled out ("s u i c i d e"): the caller reads it joined.
        flags = list(map(_FLAGS, entries))
        obfuscation = 0
        if sum(f & _COUNT for f in flags) >= LEET:
            obfuscation = reduce(or_, flags, 0) & (LEET_HINT | SPELT_HINTS)
            if any(a & b & SINGLE_HINT for a, b in zip(flags, flags[1:], strict=False)):
                obfuscation |= SPACED_HINT
        found = set().union(*map(_PATTERNS, entries))
        if found and self.needs:
            # `need & have == need` on non-negative ints: `need & ~have` would build a negative int
            # as wide as every need group for each pattern (a quarter of this method's time).
            have = reduce(or_, map(_BITS, entries), 0)
            needs = self.needs
            found = {n for n in found if (need := needs.get(n, 0)) & have == need}
        return found, obfuscation

    def _word(self, typed: str) -> tuple[frozenset[int], int, int]:
        numbers, flags, offered = self._read(typed)
        bits = 0
        for start in offered:
            bits |= self.start_bits.get(start, 0)
        return frozenset(numbers), flags, bits

    def _packed(self, typed: str) -> bytes:
        """`_word` for the C scanner: flags, counts, pattern ids, need-group ids, as uint32s."""
        numbers, flags, offered = self._read(typed)
        groups = sorted({g for start in offered for g in self.start_groups.get(start, ())})
        return array("I", [flags, len(numbers), len(groups), *sorted(numbers), *groups]).tobytes()

    def _read(self, typed: str) -> tuple[set[int], int, set[str]]:
        """What a word as typed stands for: the patterns it anchors, its flags, and the starts (2 to
        6 letters) it offers to other patterns' needs."""
        word = typed.strip(_EDGES)
        leet = not LEETISH.isdisjoint(word) and any(c.isalpha() for c in word)
        if leet:
            word = word.translate(DELEET)
        numbers: set[int] = set()
        offered: set[str] = set()
        # "j'ai" is the anchor "jai"; "self-harm" is "self" and "harm".
        joined = word.replace("'", "")
        for part in {joined, *_INSIDE.split(word)}:
            if not part:
                continue
            key = pat.collapse(part)
            heads = self._heads
            if heads is not None and len(key) >= 2 and key[:2] not in heads and "1" not in typed:
                continue  # (with a "1", the "l" reading below may begin otherwise)
            offered.update(key[:n] for n in range(2, min(len(key), _START) + 1))
            for candidate in (key, pat.collapse(part.replace("i", "l"))) if "1" in typed else (key,):
                if candidate in self.exact:
                    numbers |= self.exact[candidate]
                for length in self.stem_lengths:
                    if length <= len(candidate) and candidate[:length] in self.stems:
                        numbers |= self.stems[candidate[:length]]
        single = len(typed) == 1 or (len(typed) == 2 and typed[1] in ".-*")
        count = LEET if leet else int(single)
        return numbers, count | spelling_hints(typed) | (LEET_HINT if leet else 0), offered
