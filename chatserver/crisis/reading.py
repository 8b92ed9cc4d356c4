"""Reading around a match: its clause, negators and subjects before it, quotation marks.

These decide how much a match counts (recogniser.Recogniser.assess): a negator just before it
("I'm not suicidal") makes it `concern` at most, a third-person subject ("my friend ... wants to
die") or quotation marks make it someone else's words.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import accumulate

from chatserver.crisis import patterns as pat
from chatserver.crisis.packs import Pack

try:
    from chatserver.crisis import _scan
except ImportError:  # built without a C compiler: the same answers, from the Python below
    _scan = None  # type: ignore[assignment]

_CLAUSE_END = re.compile(r"[.!?;:\n]")
# The end of the last clause (or part of one) in a text: greedy, so one call in C finds it.
_LAST_CLAUSE_END = re.compile(r"(?s).*[.!?;:\n]")
_LAST_SOFT_END = re.compile(r"(?s).*[.!?;:,\n]")
_WORDS = re.compile(r"\w+(?:['’]\w+)*")
_SPLIT_WORDS = re.compile(f"({_WORDS.pattern})")
NEGATION_WORDS = 3
SUBJECT_WORDS = 6
#: What `reader` finds around a match, as bits.
NEGATED = 1
SOMEONE_ELSE = 2
# word -> its key as the packs' word lists hold it (no apostrophes, stretched letters collapsed),
# remembered, bounded: chat repeats its words, and this runs for every word around every match.
_KEYS: dict[str, str] = {}
_KEYS_CACHE = 50_000


class Hit:
    """One match of a family pattern in a message, and what reading around it made of it."""

    __slots__ = ("level", "kind", "start", "end", "pack", "own_negation")

    def __init__(self, level: int, kind: str, start: int, end: int, pack: Pack, own_negation: bool) -> None:
        self.level = level
        self.kind = kind
        self.start = start
        self.end = end
        self.pack = pack
        self.own_negation = own_negation


def clause(text: str, at: int) -> tuple[int, int]:
    last_end = _LAST_CLAUSE_END.match(text, 0, at)
    end_match = _CLAUSE_END.search(text, at)
    return last_end.end() if last_end else 0, end_match.start() if end_match else len(text)


def word_keys(words: list[str]) -> list[str]:
    """Each word as the packs' word lists hold it: apostrophes gone, stretched letters collapsed."""
    keys = _KEYS
    try:
        return list(map(keys.__getitem__, words))
    except KeyError:
        if len(keys) >= _KEYS_CACHE:
            keys.clear()
        for word in words:
            if word not in keys:
                keys[word] = pat.collapse(word.replace("'", "").replace("’", ""))
        return list(map(keys.__getitem__, words))


def quoted(text: str, hit: Hit) -> bool:
    # Words in quotation marks are someone's words reported ("she said 'i want to die'"): concern.
    head = text[: hit.start]
    straight = head.count('"')
    return straight % 2 == 1 or head.count("\u201c") > head.count("\u201d")


class Words:
    """The words of one text and where they stand, found once for every match read in it.

    `negated` and `someone_else` look at the words just before a match and inside it; a risk message
    has two to six matches, and finding the words again around each was most of the time spent
    reading them. `inside` gives what `_WORDS.findall(text, lo, hi)` gives and `words_before` the
    words of a window before a match (a word cut by the window's edge counts as the part inside
    it), as reading the window afresh would: tests/test_crisis_scan.py holds them to that.
    """

    __slots__ = ("text", "words", "starts", "ends")

    def __init__(self, text: str) -> None:
        self.text = text
        if _scan is not None:
            self.words, self.starts, self.ends = _scan.word_spans(text)
            return
        # Split keeps the words (odd places) and what lies between them (even places): their lengths,
        # added up, are where each word starts and ends.
        parts = _SPLIT_WORDS.split(text)
        at = [0, *accumulate(map(len, parts))]
        self.words = parts[1::2]
        self.starts = at[1::2][: len(self.words)]
        self.ends = at[2::2][: len(self.words)]

    def inside(self, lo: int, hi: int) -> list[str]:
        """The words of text[lo:hi], as `_WORDS.findall(text, lo, hi)` finds them."""
        first = bisect_right(self.ends, lo)
        last = bisect_left(self.starts, hi)
        if first >= last:
            return []
        found = self.words[first:last]
        if self.starts[first] < lo:
            found[0:1] = _WORDS.findall(self.text, lo, min(self.ends[first], hi))
            if last - first == 1:
                return found
        if self.ends[last - 1] > hi:
            found[-1:] = _WORDS.findall(self.text, max(self.starts[last - 1], lo), hi)
        return found

    def words_before(self, at: int, count: int, stop: re.Pattern[str], base: int = 0) -> list[str]:
        """Up to `count` keys of the words before `at` (not before `base`), within a window of 12
        characters a word and after the window's last `stop`."""
        lo = max(base, at - 12 * count)
        last_end = stop.match(self.text, lo, at)
        return word_keys(self.inside(last_end.end() if last_end else lo, at)[-count:])


def negated(words: Words, hit: Hit, join: int = 0) -> bool:
    """Whether a negator comes just before `hit` or inside it. `join`: where the message starts
    in the text when the person's previous message was joined before it; a match that starts in the
    new message is not negated by the previous one ("i'm not okay" / "tonight")."""
    negators = hit.pack.negators
    if not negators:
        return False
    start = join if hit.start >= join else 0
    found = words.words_before(hit.start, NEGATION_WORDS, _LAST_SOFT_END, start)
    found += word_keys(words.inside(hit.start, hit.end))
    return not negators.isdisjoint(found)


def someone_else(words: Words, hit: Hit) -> bool:
    """Whether the nearest subject before `hit`, in its clause, is someone else ("my friend ...")."""
    pack = hit.pack
    if not pack.other_words:
        return False
    if not pack.self_words.isdisjoint(word_keys(words.inside(hit.start, hit.end))):
        return False
    for word in reversed(words.words_before(hit.start, SUBJECT_WORDS, _LAST_CLAUSE_END)):
        if word in pack.self_words:
            return False
        if word in pack.other_words:
            return True
    return False


def reader(text: str) -> Callable[[Hit, int], int]:
    """How to read around each match in `text`: called with a match and where the message starts in
    `text` (`negated`'s `join`), it answers NEGATED when `negated` would say so, plus SOMEONE_ELSE
    when `someone_else` would.

    In C (`_scan.read_around`, straight from the text's characters) when it is built; in Python the
    text's `Words` are found once, on the first match read.
    """
    if _scan is not None:
        read_around = _scan.read_around

        def read_native(hit: Hit, join: int) -> int:
            pack = hit.pack
            answer: int = read_around(
                text, hit.start, hit.end, join, pack.negators, pack.self_words, pack.other_words
            )
            return answer

        return read_native
    words: list[Words] = []

    def read(hit: Hit, join: int) -> int:
        if not words:
            words.append(Words(text))
        return (NEGATED if negated(words[0], hit, join) else 0) | (
            SOMEONE_ELSE if someone_else(words[0], hit) else 0
        )

    return read
