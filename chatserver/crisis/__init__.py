"""Crisis recognition: phrase packs per language, the recogniser, and the page's while-typing hints.

Pure: no I/O beyond reading the shipped pack files once. See docs/filters.md ("Crisis") for the
levels, the pack format and how rooms.yaml chooses and extends packs.

    recogniser_for(("en", "es"))        # a shared, immutable Recogniser for those languages
    client_hints(["en"])                # JavaScript regex sources for the browser
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType

from chatserver.crisis import anchors as anc
from chatserver.crisis import patterns as pat
from chatserver.crisis.packs import EXTENSION_KEYS, Family, Frame, Pack, load_pack, shipped_paths
from chatserver.crisis.packyaml import PackError
from chatserver.crisis.recogniser import Assessment, Recogniser, combine

__all__ = [
    "ANY_LANGUAGE",
    "EXTENSION_KEYS",
    "Assessment",
    "Extension",
    "ExtensionError",
    "Pack",
    "PackError",
    "Recogniser",
    "client_hints",
    "combine",
    "pack_problems",
    "recogniser_for",
    "shipped_languages",
    "shipped_packs",
]

#: rooms.yaml additions, ((language, ((key, (pattern, ...)), ...)), ...): hashable, so recognisers
#: can be shared.
Extension = tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]
#: The language code of the old `phrases: [...]` list, which applies whatever the room's languages.
ANY_LANGUAGE = "*"


class ExtensionError(ValueError):
    """A rooms.yaml phrase is broken; `path` locates it in the filter's options.

    e.g. ("phrases", "en", "imminent", 2): the second imminent phrase for English.
    """

    def __init__(self, message: str, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.path = path


# The shipped packs are data files inside the package: read and checked once per process, then
# shared read-only by every room (a reload builds new filters, not new packs).
@lru_cache(maxsize=1)
def _load_shipped() -> tuple[Mapping[str, Pack], tuple[str, ...]]:
    packs: dict[str, Pack] = {}
    problems: list[str] = []
    for path in shipped_paths():
        try:
            packs[path.stem] = load_pack(path)
        except PackError as exc:
            problems.extend(exc.problems)
    return MappingProxyType(packs), tuple(problems)


def shipped_packs() -> Mapping[str, Pack]:
    """Every shipped pack by language code; PackError if any of them is broken."""
    packs, problems = _load_shipped()
    if problems:
        raise PackError(list(problems))
    return packs


def shipped_languages() -> tuple[str, ...]:
    """The codes of the shipped packs that load, sorted."""
    return tuple(sorted(_load_shipped()[0]))


def pack_problems() -> list[str]:
    """Every problem of the shipped packs as `PATH:LINE: message` (empty when they are fine)."""
    return list(_load_shipped()[1])


def _extended(base: Pack | None, language: str, entries: tuple[tuple[str, tuple[str, ...]], ...]) -> Pack:
    """`base` (or an empty pack) with rooms.yaml phrases added: a family per level, a frame for `quiet`."""
    pack = base or Pack(language=language, name=language, path="rooms.yaml")
    families: list[Family] = list(pack.families)
    frames: list[Frame] = list(pack.frames)
    for key, sources in entries:
        seqs = []
        for number, source in enumerate(sources, 1):
            where = ("phrases", language, key, number) if language != ANY_LANGUAGE else ("phrases", number)
            try:
                seq = pat.parse(source)
            except pat.PatternError as exc:
                raise ExtensionError(str(exc), where) from None
            problem = pat.check(seq)
            missing = [name for name in pat.references(seq) if name not in pack.pieces]
            if missing:
                known = ", ".join(sorted(pack.pieces)) or f"none: language '{language}' has no shipped pack"
                problem = f"unknown piece {{{missing[0]}}} (known: {known})"
            elif not problem and anc.anchors(seq, pack.pieces, pack.cost)[0] >= anc.USELESS_COST:
                problem = "has no word of two letters or more that every match must contain"
            if problem:
                raise ExtensionError(f"{source!r}: {problem}", where)
            seqs.append(seq)
        if key == "quiet":
            frames.append(Frame("rooms.yaml quiet", "none", "overlap", tuple(seqs)))
        else:
            kind = "topic" if key == "concern" else "ideation"
            families.append(Family(f"rooms.yaml {key}", key, kind, tuple(seqs)))
    return dataclasses.replace(pack, families=tuple(families), frames=tuple(frames))


@lru_cache(maxsize=64)
def recogniser_for(languages: tuple[str, ...] | None = None, extension: Extension = ()) -> Recogniser:
    """The recogniser for `languages` (None: every shipped pack) with rooms.yaml `extension` added.

    Shared between rooms with the same choice (it is immutable). Raises PackError when a shipped
    pack is broken, ExtensionError for a broken rooms.yaml phrase, and KeyError naming a language
    that has neither a shipped pack nor phrases in `extension`.
    """
    shipped = shipped_packs()
    added = {language: entries for language, entries in extension}
    chosen = tuple(sorted(shipped)) if languages is None else languages
    if languages is None or languages == ():
        # every pack, or (an empty choice) only the extended ones: check-rooms checks phrases that way
        chosen = chosen + tuple(lang for lang in added if lang not in chosen and lang != ANY_LANGUAGE)
    packs = []
    for language in chosen:
        if language not in shipped and language not in added:
            raise KeyError(language)
        base = shipped.get(language)
        packs.append(_extended(base, language, added[language]) if language in added else base)
    if ANY_LANGUAGE in added:
        union = Pack(
            language=ANY_LANGUAGE,
            name="any language",
            path="rooms.yaml",
            negators=frozenset().union(*(p.negators for p in packs if p is not None)),
        )
        packs.append(_extended(union, ANY_LANGUAGE, added[ANY_LANGUAGE]))
    return Recogniser(p for p in packs if p is not None)


def client_hints(languages: Sequence[str] | None = None) -> list[str]:
    """Regular-expression sources for the page's "while typing" help offer, for `languages`.

    Contract: each item is a JavaScript-compatible regex source (no lookbehind, no named groups, no
    inline flags), to be compiled with the `i` flag and tested against the draft lower-cased with
    accents stripped (`s.normalize("NFD").replace(/[\\u0300-\\u036f]/g, "").toLowerCase()`). They catch
    the clear cases only; the server's recogniser decides. `languages`: pack codes; None means every
    shipped pack; unknown codes are ignored. The list is small (a few KB) and has no duplicates.
    """
    packs, _ = _load_shipped()
    chosen = sorted(packs) if languages is None else [lang for lang in languages if lang in packs]
    seen: dict[str, None] = {}
    for language in chosen:
        for hint in packs[language].hints:
            seen.setdefault(hint, None)
    return list(seen)
