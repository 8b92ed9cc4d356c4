"""Reading around a match: its clause, negators and subjects before it, quotation marks.

These decide how much a match counts (recogniser.Recogniser.assess): a negator just before it
("I'm not suicidal") makes it `concern` at most, a third-person subject ("my friend ... wants to
die") or quotation marks make it someone else's words.
"""

from __future__ import annotations

import re

from chatserver.crisis import patterns as pat
from chatserver.crisis.packs import Pack

_CLAUSE_END = re.compile(r"[.!?;:\n]")
_SOFT_END = re.compile(r"[.!?;:,\n]")
_WORDS = re.compile(r"\w+(?:['’]\w+)*")
NEGATION_WORDS = 3
SUBJECT_WORDS = 6


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
    start = max((m.end() for m in _CLAUSE_END.finditer(text, 0, at)), default=0)
    end_match = _CLAUSE_END.search(text, at)
    return start, end_match.start() if end_match else len(text)


def _words_before(text: str, at: int, count: int, stop: re.Pattern[str]) -> list[str]:
    head = text[max(0, at - 12 * count) : at]
    cut = max((m.end() for m in stop.finditer(head)), default=0)
    return [pat.collapse(w.replace("'", "").replace("’", "")) for w in _WORDS.findall(head[cut:])][-count:]


def negated(text: str, hit: Hit, join: int = 0) -> bool:
    """Whether a negator comes just before `hit` or inside it. `join`: where the message starts
    in `text` when the person's previous message was joined before it; a match that starts in the
    new message is not negated by the previous one ("i'm not okay" / "tonight")."""
    negators = hit.pack.negators
    if not negators:
        return False
    start = join if hit.start >= join else 0
    words = _words_before(text[start:], hit.start - start, NEGATION_WORDS, _SOFT_END)
    words += [
        pat.collapse(w.replace("'", "").replace("’", "")) for w in _WORDS.findall(text[hit.start : hit.end])
    ]
    return any(w in negators for w in words)


def quoted(text: str, hit: Hit) -> bool:
    # Words in quotation marks are someone's words reported ("she said 'i want to die'"): concern.
    head = text[: hit.start]
    straight = head.count('"')
    return straight % 2 == 1 or head.count("\u201c") > head.count("\u201d")


def someone_else(text: str, hit: Hit) -> bool:
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
