"""Folding text before matching it, so look-alike and invisible characters cannot dodge a check.

Pure, no I/O; the tables are built once, at import.

`fold(text)` is for matching running text (the blocklist, the crisis phrases,
any phrase recogniser): call it on both the phrases and the message and match
the results. In order, it

1. drops default-ignorable characters, which render as nothing: zero-width
   space, non-joiner and joiner (U+200B-200D), word joiner, soft hyphen,
   bidi marks and overrides, Hangul fillers (U+115F, U+1160, U+3164, U+FFA0),
   variation selectors, tag characters, byte-order mark;
2. applies NFKC and `str.casefold()`: full-width `ｍｏｒｏｎ`, mathematical
   `𝐦𝐨𝐫𝐨𝐧` and ligatures become plain letters, case goes, `ß` becomes `ss`;
   accented letters come out precomposed (NFC), so `é` typed as one character
   or as e + U+0301 folds to the same `é`;
3. maps look-alikes of Latin letters and digits to them (`о` Cyrillic -> `o`,
   `ɑ` -> `a`, `ӏ` -> `i`, `æ` -> `ae`; the UTS #39 confusables data, via the
   `confusable-homoglyphs` package, BMP characters only), but only inside a
   whitespace-separated token that holds a Latin letter and a non-ASCII
   character (`mоron`), or that is made of look-alikes and ASCII alone (`аѕѕ`
   all Cyrillic): a Cyrillic or Greek word with any other letter stays as
   written, so other languages are not half turned into Latin;
4. drops combining marks (U+0300-036F and the other script-neutral diacritic
   blocks) left on an ASCII letter or digit after steps 2-3: NFKC has already
   joined every mark that makes a real letter (`é`, `ñ`, `ü`, `ç`, `ã`), so
   what remains there is decoration (`m̸o̸r̸o̸n̸`, `mо́ron`).

Accented Latin letters are kept (step 4 never touches `é`): a Spanish, French,
German or Portuguese phrase matches when both sides are folded. Callers that
also want `esta` to match `está` can apply `unaccent()` to both sides too.
Pure-ASCII text takes a fast path (it is only lower-cased: ~0.1 µs for 100
characters; other text costs a few µs). Spaced-out letters
(`m o r o n`) and leetspeak (`m0r0n`) are left to the matcher.

`skeleton(text)` is for comparing short identifiers such as display names:
steps 1-2, then every look-alike mapped wherever it stands, then every
combining mark dropped, so `Ålice`, `аlice` and `alice` share one skeleton.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from confusable_homoglyphs import confusables as _confusables

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt): render as nothing. Two classes,
# because `re` tests a class with characters past U+FFFF range by range, but one within the BMP with
# a bitmap; the astral ones are the tag characters ("ASCII smuggling"), shorthand and music formats.
_IGNORABLE_BMP = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8]+"
)
_IGNORABLE_ASTRAL = re.compile("[\U000e0000-\U000e0fff\U0001bca0-\U0001bca3\U0001d173-\U0001d17a]+")
# Script-neutral combining marks (diacritics, extended, supplement, for symbols, half marks) and the
# Cyrillic enclosing signs favoured for "zalgo" text.
_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARK = re.compile(f"[{_MARKS}]")
_FULLWIDTH = re.compile("[\u3000\uff01-\uffef]+")
_MARKS_ON_ASCII = re.compile(f"([a-z0-9])[{_MARKS}]+")


def _latin_table() -> dict[int, str]:
    # The package's data lists each character's look-alikes both ways (`о` -> `o` and `o` -> `о`...).
    # Keep the non-ASCII characters whose look-alike is ASCII letters or digits; ASCII itself is never
    # remapped here (0 for o, 1 for l is leetspeak, the matcher's business). The table is applied
    # after NFKC and casefold, so a capital's mapping is given to its lower case (`М` -> m gives
    # `м` -> m) unless that has its own. Characters past U+FFFF are left out: the mathematical
    # letters among them NFKC already maps, and the rest (Old Italic, Carian...) most fonts draw as
    # empty boxes, which look like no letter.
    table: dict[int, str] = {}
    folded: dict[int, str] = {}
    for char, entries in _confusables.confusables_data.items():
        if len(char) != 1 or char.isascii() or char > "\uffff" or unicodedata.normalize("NFKC", char) != char:
            continue
        target = next((t for t in (e["c"].strip("\u200e\u200f") for e in entries) if _ascii_alnum(t)), None)
        if target is None:
            continue
        lower = char.casefold()
        if lower == char:
            table[ord(char)] = target.lower()
        elif len(lower) == 1 and not lower.isascii():
            folded[ord(lower)] = target.lower()
    return folded | table


def _ascii_alnum(text: str) -> bool:
    return text.isascii() and text.isalnum()


def _char_class(codes: list[int]) -> str:
    parts = []
    start = prev = codes[0]
    for code in [*codes[1:], -2]:
        if code == prev + 1:
            prev = code
            continue
        parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
        start = prev = code
    return "".join(parts)


_TO_LATIN = _latin_table()
_LOOKALIKE = re.compile(f"[{_char_class(sorted(_TO_LATIN))}]")
_LATIN_LETTER = re.compile("[a-z]")
# A token (between spaces) made of look-alikes and ASCII only ("аѕѕ" all Cyrillic), and one that holds
# a Latin letter and a non-ASCII character ("mоron"). Each token is tried once and the classes in each
# run are disjoint, so a failed try backs off at most the token's length: linear in the text.
_ALL_LOOKALIKE = rf"(?=[!-~]*{_LOOKALIKE.pattern})[{_char_class(sorted(_TO_LATIN))}!-~]+(?!\S)"
_MIXED = r"(?=[^\sa-z]*[a-z])(?=[!-~]*[^\x00-\x7f\s])\S+"
_TO_MAP = re.compile(rf"(?<!\S)(?:{_ALL_LOOKALIKE}|{_MIXED})")
_TO_MAP_NO_LATIN = re.compile(rf"(?<!\S){_ALL_LOOKALIKE}")


def _normalize(text: str) -> str:
    if _IGNORABLE_BMP.search(text) is not None:
        text = _IGNORABLE_BMP.sub("", text)
    if _IGNORABLE_ASTRAL.search(text) is not None:
        text = _IGNORABLE_ASTRAL.sub("", text)
    if _FULLWIDTH.search(text) is not None:
        # CPython normalizes a whole string slowly once one character needs it, and Chinese and
        # Japanese text is full of full-width punctuation: normalize those runs alone, and the
        # whole only if that was not enough (normal forms are unique, so the result is the same).
        text = _FULLWIDTH.sub(_nfkc, text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    if not unicodedata.is_normalized("NFKC", text):  # casefold can undo it ("ǰ" -> j + caron)
        text = unicodedata.normalize("NFKC", text)
    return text


def _nfkc(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


def _latinize(match: re.Match[str]) -> str:
    return match.group().translate(_TO_LATIN)


def fold(text: str) -> str:
    """`text` as matchers compare it: invisible characters gone, NFKC, case-folded, look-alikes mapped.

    See the module docstring for the exact steps. Deterministic, so folding a phrase and a message
    the same way makes them comparable; the result is for matching only, never for display.
    """
    if text.isascii():
        return text.lower()
    return _fold_by_pieces(text)


def _fold(text: str) -> str:
    text = _normalize(text)
    if text.isascii():
        return text
    if _LOOKALIKE.search(text) is not None:
        to_map = _TO_MAP if _LATIN_LETTER.search(text) is not None else _TO_MAP_NO_LATIN
        text = to_map.sub(_latinize, text)
    if _MARK.search(text) is not None:
        text = _MARKS_ON_ASCII.sub(r"\1", text)
    return text


PieceFunction = Callable[[str], str]


def by_pieces(function: PieceFunction, *, limit: int = 20_000, longest: int = 64) -> PieceFunction:
    """`function` applied to each space-separated piece of a text, each piece's answer remembered.

    For functions that work within pieces (nothing they do crosses a plain space: normal forms,
    case, invisible characters, token-wise look-alike mapping; tests/test_lookalikes.py holds
    `fold` to it): chat repeats its words, so most texts that are not plain ASCII then cost a
    split, a lookup per word and a join instead of the whole folding. Bounded: `limit` pieces of
    at most `longest` characters are kept; a flood of new ones only clears the memory.
    """
    memory: dict[str, str] = {}
    lookup = memory.__getitem__

    def apply(text: str) -> str:
        pieces = text.split(" ")
        try:
            return " ".join(map(lookup, pieces))
        except KeyError:
            pass
        if len(memory) >= limit:
            memory.clear()
        out = []
        for piece in pieces:
            answer = memory.get(piece)
            if answer is None:
                answer = function(piece)
                if len(piece) <= longest:
                    memory[piece] = answer
            out.append(answer)
        return " ".join(out)

    return apply


_fold_by_pieces = by_pieces(_fold)


def skeleton(text: str) -> str:
    """`text` reduced for telling identifiers apart: every look-alike mapped, every accent dropped.

    Stricter than `fold`: meant for short names, where `аlice` (Cyrillic а) or `Ålice` must collide
    with `alice`, not for running text in other languages.
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFD", _normalize(text))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_TO_LATIN)


def unaccent(text: str) -> str:
    """`text` without combining accents (`está` -> `esta`), for matchers that want that on both sides."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in text if not unicodedata.combining(ch)))
