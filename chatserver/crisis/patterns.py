"""The phrase-pack pattern language: parse, check, compile to backtracking-safe regexes, find anchors.

A pattern is words separated by spaces; it matches those words in a message in that order,
separated by spaces or punctuation that does not end a sentence (commas, apostrophes, emoji):

    word        the word; a letter may be stretched ("kiiill") and a doubled letter written once
                ("kil"); "don't" also matches "dont", "self-harm" also "selfharm" and "self harm";
                two plain words also match written together ("killmyself"). With ä, ö or ü it also
                matches the word spelt ae, oe, ue or without the dots.
    stem*       any word starting with `stem`: suicid* (suicide, suicidal, suicidio...)
    {piece}     any alternative of the pack's piece `piece`
    (a|b c|d*)  one of the alternatives, each itself a pattern
    x?          `x` (a word, stem, piece or group) may be left out
    ..  ..N     up to 3 (or N, at most 6) other words in between
    #           a number: 20, 3am, 10mg
    $           the end of the sentence (last in a pattern): "i'm ready $" but not "i'm ready for bed"

Matching is on `text.plain()` text: lower case, accents and look-alikes folded.

Safety and speed: every letter run, word and separator is possessive, gaps are bounded, so no
message can make a pattern backtrack more than a few steps per position. Each pattern also names
its *anchors*: the words one of which every match must contain, chosen among its required
elements as the least common ones (`anchors`), and the other words it requires (`required_words`).
The recogniser looks words up in those tables and runs only the patterns whose anchor and other
required words are all there (chatserver/crisis/anchors.py, index.Index).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from chatserver.crisis.text import plain

MAX_GAP = 6
MAX_GAPS_PER_PATTERN = 3
DEFAULT_GAP = 3

# Between two words: anything that is neither a letter or digit nor the end of a sentence.
SEP = r"[^\w.!?;:\n]*+"
#: What every pattern source starts with: the match begins at the start of a word.
WORD_START = r"(?<!\w)"
_SEP_REQUIRED = r"[^\w.!?;:\n]++"
_WORD_END = r"(?!\w)"
_SPECIAL = set("(){}|?*")
UMLAUT_MARK = "\x00"  # stands for the optional e of ae/oe/ue while a word is being rendered


class PatternError(ValueError):
    """A pattern cannot be read or compiled; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # as written in the pack
    stem: bool = False


@dataclass(frozen=True, slots=True)
class Ref:
    name: str


@dataclass(frozen=True, slots=True)
class Alt:
    options: tuple[Seq, ...]


@dataclass(frozen=True, slots=True)
class End:
    pass


@dataclass(frozen=True, slots=True)
class Gap:
    size: int


@dataclass(frozen=True, slots=True)
class Opt:
    element: Element


Element = Union[Word, Ref, Alt, Gap, Opt, End]  # noqa: UP007 (a runtime alias; `|` on these needs 3.10 types)
Seq = tuple[Element, ...]


# ---- parsing -------------------------------------------------------------------------------------


def parse(source: str) -> Seq:
    """Parse one pattern; PatternError says what is wrong."""
    if not isinstance(source, str) or not source.strip():
        raise PatternError("a pattern must be a non-empty text")
    parser = _Reader(source)
    seq = parser.sequence(top=True)
    if not seq:
        raise PatternError(f"{source!r} has nothing to match")
    return seq


class _Reader:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0

    def fail(self, message: str) -> PatternError:
        return PatternError(f"{message} at character {self.pos + 1} of {self.src!r}")

    def skip_space(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos].isspace():
            self.pos += 1

    def sequence(self, *, top: bool) -> Seq:
        out: list[Element] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.src):
                if not top:
                    raise self.fail("a '(' is not closed")
                return tuple(out)
            ch = self.src[self.pos]
            if ch in "|)":
                if top:
                    raise self.fail(f"unexpected {ch!r}")
                return tuple(out)
            element = self.atom()
            if self.pos < len(self.src) and self.src[self.pos] == "?":
                self.pos += 1
                if isinstance(element, Gap | Opt | End):
                    raise self.fail("'?' needs a word, {piece} or group before it")
                element = Opt(element)
            out.append(element)

    def atom(self) -> Element:
        src, ch = self.src, self.src[self.pos]
        if ch == "(":
            self.pos += 1
            options = [self.sequence(top=False)]
            while self.src[self.pos] == "|":
                self.pos += 1
                options.append(self.sequence(top=False))
            self.pos += 1  # the ')'
            if any(not option for option in options):
                raise self.fail("an alternative in '( | )' is empty")
            return Alt(tuple(options))
        if ch == "{":
            end = src.find("}", self.pos)
            name = src[self.pos + 1 : end] if end > 0 else ""
            if end < 0 or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise self.fail("'{' must be followed by a piece name like {myself}")
            self.pos = end + 1
            return Ref(name)
        if src.startswith("..", self.pos):
            match = re.compile(r"\.\.(\d*)").match(src, self.pos)
            assert match is not None
            self.pos = match.end()
            size = int(match.group(1)) if match.group(1) else DEFAULT_GAP
            if not 1 <= size <= MAX_GAP:
                raise self.fail(f"a gap '..N' must be 1 to {MAX_GAP} words")
            return Gap(size)
        if ch in _SPECIAL:
            raise self.fail(f"unexpected {ch!r}")
        if ch == "$" and (
            self.pos + 1 == len(src) or src[self.pos + 1].isspace() or src[self.pos + 1] in "|)"
        ):
            self.pos += 1
            return End()
        if ch == "#" and (
            self.pos + 1 == len(src) or src[self.pos + 1].isspace() or src[self.pos + 1] in "|)"
        ):
            self.pos += 1
            return Word("#")
        start = self.pos
        while self.pos < len(src) and not src[self.pos].isspace() and src[self.pos] not in _SPECIAL:
            self.pos += 1
        text = src[start : self.pos]
        stem = self.pos < len(src) and src[self.pos] == "*"
        if stem:
            self.pos += 1
        if not any(c.isalnum() for c in text):
            raise self.fail(f"{text!r} has no letter or digit")
        return Word(text, stem)


# ---- checking ------------------------------------------------------------------------------------


def references(seq: Seq) -> Iterable[str]:
    """Every piece name `seq` uses."""
    for element in seq:
        if isinstance(element, Ref):
            yield element.name
        elif isinstance(element, Alt):
            for option in element.options:
                yield from references(option)
        elif isinstance(element, Opt):
            yield from references((element.element,))


def check(seq: Seq, *, top: bool = True) -> str | None:
    """Why `seq` is not a usable pattern (a gap at an end, too many gaps), or None."""
    gaps = sum(isinstance(e, Gap) for e in seq)
    if top and gaps > MAX_GAPS_PER_PATTERN:
        return f"at most {MAX_GAPS_PER_PATTERN} gaps '..' in a pattern"
    if seq and (isinstance(seq[0], Gap) or isinstance(seq[-1], Gap)):
        return "a gap '..' must stand between two words"
    if any(isinstance(e, End) for e in seq[:-1]):
        return "'$' (the end of the sentence) must come last"
    if top and all(isinstance(e, Gap | Opt | End) or e == Word("#") for e in seq):
        return "every word is optional: the pattern would match anything"
    for element in seq:
        inner = [element.element] if isinstance(element, Opt) else [element]
        for e in inner:
            if isinstance(e, Alt):
                for option in e.options:
                    problem = check(option, top=False)
                    if problem:
                        return problem
    return None


# ---- words ---------------------------------------------------------------------------------------


def word_key(text: str) -> str:
    """A word as the anchors and word lists know it: plain, no apostrophes, doubled letters once."""
    lowered = plain(text.replace("ä", "a").replace("ö", "o").replace("ü", "u"))
    return collapse("".join(ch for ch in lowered if ch.isalnum()))


@lru_cache(maxsize=65536)
def collapse(word: str) -> str:
    """`word` with each run of one letter written once: "kiiill" -> "kil", "pills" -> "pils"."""
    out = []
    last = ""
    for ch in word:
        if ch != last:
            out.append(ch)
            last = ch
    return "".join(out)


@lru_cache(maxsize=65536)
def word_parts(text: str) -> tuple[str, ...]:
    marked = text.lower().replace("ä", "a" + UMLAUT_MARK).replace("ö", "o" + UMLAUT_MARK)
    marked = marked.replace("ü", "u" + UMLAUT_MARK)
    parts = re.split(r"[^\w\x00]+", plain(marked))
    return tuple(p for p in parts if p.strip(UMLAUT_MARK))


def _render_letters(part: str) -> str:
    out = []
    last = ""
    for ch in part:
        if ch == UMLAUT_MARK:
            out.append("(?:e++)?")
            last = ""
            continue
        if ch == last:
            continue
        last = ch
        # Possessive: a stretched letter ("diiie") is taken whole and never given back. Written as
        # the letter then `*+` (not `++`) so the regex engine sees a literal first and skips an
        # alternative whose letter is not there without entering it: the same matches, ~20% faster.
        letter = re.escape(ch)
        out.append(f"{letter}{letter}*+")
    return "".join(out)


@lru_cache(maxsize=65536)
def render_word(word: Word) -> str:
    if word.text == "#":
        return r"\d++\w*+"
    parts = word_parts(word.text)
    body = SEP.join(_render_letters(p) for p in parts)
    return body + (r"\w*+" if word.stem else "")


# ---- compiling -----------------------------------------------------------------------------------

Pieces = Mapping[str, "Alt"]


def render(seq: Seq, pieces: Pieces) -> str:
    """The regex source of `seq` (without the leading word-start check)."""
    units = []
    for i, element in enumerate(seq):
        last = i == len(seq) - 1
        nxt = seq[i + 1] if not last else None
        units.append(_unit(element, pieces, last=last, joins=isinstance(nxt, Word)))
    return "".join(units)


def _unit(element: Element, pieces: Pieces, *, last: bool, joins: bool) -> str:
    tail = "" if last else SEP
    if isinstance(element, End):
        return r"(?=[.!?;:\n]|\Z)"
    if isinstance(element, Gap):
        return rf"(?:\w++{_SEP_REQUIRED}){{0,{element.size}}}"
    if isinstance(element, Opt):
        return f"(?:{_unit(element.element, pieces, last=last, joins=False)})?"
    if isinstance(element, Word):
        end = "" if element.stem or (joins and not last) else _WORD_END
        return render_word(element) + end + tail
    if isinstance(element, Ref):  # a piece renders the same wherever it is used
        memo_key = (id(pieces), element.name)
        entry = _RENDERED.get(memo_key)
        if entry is None or entry[0] is not pieces:
            body = "(?:" + "|".join(render(o, pieces) + _WORD_END for o in pieces[element.name].options) + ")"
            entry = _RENDERED[memo_key] = (pieces, body)
        return entry[1] + tail
    return "(?:" + "|".join(render(option, pieces) + _WORD_END for option in element.options) + ")" + tail


_RENDERED: dict[tuple[int, str], tuple[Pieces, str]] = {}


def pattern_source(seqs: Iterable[Seq], pieces: Pieces) -> str | None:
    """One regex source for all of `seqs`, each starting at the start of a word; None when there are none."""
    sources = [render(seq, pieces) for seq in seqs]
    if not sources:
        return None
    return WORD_START + "(?:" + "|".join(f"(?:{s})" for s in sources) + ")"
