"""Anchors: the words every match of a pattern must contain, so the recogniser looks words up
instead of running patterns.

Each pattern names its *anchors*, chosen among its required elements as the least common ones
(`anchors`, by a pack's `cost`), and the other words it requires (`required_words`, `spellings`).
A costly anchoring group is split into one pattern per option (`expand`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from chatserver.crisis.patterns import (
    UMLAUT_MARK,
    Alt,
    Element,
    End,
    Gap,
    Opt,
    Pieces,
    Ref,
    Seq,
    Word,
    collapse,
    word_parts,
)

#: (key, exact): a word key that must occur as a whole word (exact) or start a word (a stem).
Anchor = tuple[str, bool]
COMMON_COST = 50
USELESS_COST = 1000


def anchors(seq: Seq, pieces: Pieces, cost: Callable[[str], int]) -> tuple[int, frozenset[Anchor]]:
    """The cheapest set of anchors every match of `seq` contains, and its cost.

    A sequence needs all its required elements, so any one of them will do: take the one whose
    anchors are least common (by `cost`). A group needs one of its alternatives: take the union.
    """
    ranked = ranked_anchors(seq, pieces, cost)
    return ranked[0] if ranked else (USELESS_COST, frozenset())


#: An anchoring group with more than this cost is split into one pattern per option (see `expand`).
EXPAND_COST = 6
MAX_EXPANSION = 96


def expand(seq: Seq, pieces: Pieces, cost: Callable[[str], int], depth: int = 1) -> list[Seq]:
    """`seq`, split on the group that anchors it when that group is costly, one pattern per option.

    "{kill_self}" (kill myself, take my life, walk into the sea, ...) would otherwise run for any
    message with "take" or "walk" in it; split, "take my life" runs only when "take" and "life"
    are both there. The options are written into the pattern in the group's place.
    """
    found = [(i, a) for i, a in ((i, _element_anchors(e, pieces, cost)) for i, e in enumerate(seq)) if a]
    if not found or depth == 0:
        return [seq]
    index, (best, _) = min(found, key=lambda item: item[1][0])
    element = seq[index]
    if best <= EXPAND_COST or not isinstance(element, Ref | Alt):
        return [seq]
    alt = pieces[element.name] if isinstance(element, Ref) else element
    out: list[Seq] = []
    for option in alt.options:
        out.extend(expand(seq[:index] + option + seq[index + 1 :], pieces, cost, depth - 1))
        if len(out) > MAX_EXPANSION:
            return [seq]
    return out


def ranked_anchors(
    seq: Seq, pieces: Pieces, cost: Callable[[str], int]
) -> list[tuple[int, frozenset[Anchor]]]:
    """The anchor sets of each required element of `seq`, cheapest first.

    Every match contains one anchor of *each*: when the cheapest set is made of common words, the
    recogniser also asks for one of the next set before it runs the pattern.
    """
    found = [a for a in (_element_anchors(element, pieces, cost) for element in seq) if a is not None]
    # Equal cost: the longer words are the rarer ones ("life" before "my").
    return sorted(found, key=lambda a: (a[0], -max((len(k) for k, _ in a[1]), default=0)))


T = TypeVar("T")

_MEMO: dict[tuple[int, Element], tuple[Pieces, tuple[int, frozenset[Anchor]] | None]] = {}


def _element_anchors(
    element: Element, pieces: Pieces, cost: Callable[[str], int]
) -> tuple[int, frozenset[Anchor]] | None:
    # Pieces are shared by many patterns: remember each element's anchors per pack (a pack's pieces
    # and cost go together). Only a cache: the entry keeps its pieces, so an id reused is no hit.
    return _per_pack(
        _MEMO, (id(pieces), element), pieces, lambda: _element_anchors_uncached(element, pieces, cost)
    )


def _per_pack(memo: dict[Any, tuple[Pieces, T]], key: Any, pieces: Pieces, work: Callable[[], T]) -> T:
    """`work()`, remembered under `key` (which starts with `id(pieces)`) for as long as those pieces
    live: the entry keeps its pieces, so an id reused by another pack is no hit. Bounded."""
    entry = memo.get(key)
    if entry is not None and entry[0] is pieces:
        return entry[1]
    if len(memo) > 200_000:
        memo.clear()
    found = work()
    memo[key] = (pieces, found)
    return found


def _element_anchors_uncached(
    element: Element, pieces: Pieces, cost: Callable[[str], int]
) -> tuple[int, frozenset[Anchor]] | None:
    if isinstance(element, Gap | Opt | End) or element == Word("#"):
        return None
    if isinstance(element, Word):
        # The prefilter reads text without apostrophes, so "j'ai" is looked for as "jai" (its first
        # letter alone, "j", would be found everywhere); a hyphenated word by its first part.
        chunks = re.split(r"[\s\-_/]+", element.text.lower().replace("'", "").replace("\u2019", ""))
        first = next(c for c in chunks if any(ch.isalnum() for ch in c))
        parts = word_parts(first)
        exact = not element.stem and len(chunks) == 1 and len(parts) == 1
        # "müde" is also written "mude" and "muede": look for both.
        keys = {collapse("".join(parts).replace(UMLAUT_MARK, spelling)) for spelling in ("", "e")}
        words: set[Anchor] = {(key, exact) for key in keys}
        rest = [c for c in chunks[chunks.index(first) + 1 :] if any(ch.isalnum() for ch in c)]
        if len(parts) == 1 and rest and word_parts(rest[0]):
            # "sh-ed" is "sh" as a word of its own ("sh-ed", "sh ed") or the start of "shed": far
            # rarer than every word starting with "sh".
            joined = parts[0] + word_parts(rest[0])[0]
            words = {(key, True) for key in keys} | {
                (collapse(joined.replace(UMLAUT_MARK, spelling)), False) for spelling in ("", "e")
            }
        # A single letter is useless as the start of a word, but fine as a whole one ("kkkk" laughs).
        total = sum(COMMON_COST if whole and len(key) == 1 else cost(key) for key, whole in words)
        return total, frozenset(words)
    alt = pieces[element.name] if isinstance(element, Ref) else element
    total = 0
    found: set[Anchor] = set()
    for option in alt.options:
        c, a = anchors(option, pieces, cost)
        total += c
        found |= a
    return total, frozenset(found)


def has_word(seq: Seq, pieces: Pieces, keys: frozenset[str], _seen: frozenset[str] = frozenset()) -> bool:
    """Whether any word of `seq` (through its pieces) is one of `keys` (word keys)."""
    for element in seq:
        inner = element.element if isinstance(element, Opt) else element
        if isinstance(inner, Word) and inner.text != "#":
            if any(collapse(p.replace(UMLAUT_MARK, "")) in keys for p in word_parts(inner.text)):
                return True
        elif isinstance(inner, Ref | Alt):
            if isinstance(inner, Ref):
                if inner.name in _seen:
                    continue
                _seen = _seen | {inner.name}
            # Remembered per pack and word set, as `_element_anchors` is: every pattern asks this of
            # the same pieces. (`_seen` only stops a cycle, and a pack with one is refused.)
            memo_key = (id(pieces), id(keys), inner)
            entry = _HAS_WORD.get(memo_key)
            if entry is None or entry[0] is not pieces or entry[1] is not keys:
                alt = pieces[inner.name] if isinstance(inner, Ref) else inner
                found = any(has_word(option, pieces, keys, _seen) for option in alt.options)
                if len(_HAS_WORD) > 200_000:
                    _HAS_WORD.clear()
                entry = _HAS_WORD[memo_key] = (pieces, keys, found)
            if entry[2]:
                return True
    return False


_HAS_WORD: dict[tuple[int, int, Element], tuple[Pieces, frozenset[str], bool]] = {}


def required_words(seq: Seq, pieces: Pieces, cost: Callable[[str], int]) -> list[Element]:
    """The required elements of `seq` that have words to look for, rarest first (the anchor first)."""
    out = []
    for index, element in enumerate(seq):
        found = _element_anchors(element, pieces, cost)
        if found is not None and found[0] < USELESS_COST:
            out.append((found[0], -max((len(k) for k, _ in found[1]), default=0), index))
    return [seq[index] for _, _, index in sorted(out)]


_SPELLINGS: dict[tuple[int, Element, bool], tuple[Pieces, tuple[str, ...]]] = {}


def spellings(element: Element, pieces: Pieces, cost: Callable[[str], int] | None = None) -> tuple[str, ...]:
    """Plain words one of which any match of `element` contains: for a group, each option's rarest
    required word (by `cost`), as written and with doubled letters once ("pills", "pils"),
    without apostrophes. Empty when some option has no word to offer."""
    # Remembered per pack as `_element_anchors` is: a pack's pieces are spelled out again for each
    # of the thousands of patterns that use them (most of building an index, before this).
    return _per_pack(
        _SPELLINGS, (id(pieces), element, cost is None), pieces, lambda: _spellings(element, pieces, cost)
    )


def _spellings(element: Element, pieces: Pieces, cost: Callable[[str], int] | None) -> tuple[str, ...]:
    if isinstance(element, Word):
        chunks = re.split(r"[\s\-_/]+", element.text.lower().replace("'", "").replace("\u2019", ""))
        first = next((c for c in chunks if any(ch.isalnum() for ch in c)), "")
        marked = "".join(word_parts(first))
        if not marked or marked == "#":
            return ()
        # an umlaut may be written out ("muede"): keep what comes before it
        word = marked.split(UMLAUT_MARK)[0] if UMLAUT_MARK in marked else marked
        return tuple({word, collapse(word)})
    if isinstance(element, Ref | Alt):
        alt = pieces[element.name] if isinstance(element, Ref) else element
        out: set[str] = set()
        for option in alt.options:
            candidates = [e for e in option if not isinstance(e, Gap | Opt | End) and e != Word("#")]
            if cost is not None:
                ranked = [
                    (a[0], -max(len(k) for k, _ in a[1]), i)
                    for i, e in enumerate(candidates)
                    if (a := _element_anchors(e, pieces, cost)) and a[1]
                ]
                candidates = [candidates[i] for _, _, i in sorted(ranked)]
            got = spellings(candidates[0], pieces, cost) if candidates else ()
            if not got:
                return ()
            out.update(got)
        return tuple(out)
    return ()
