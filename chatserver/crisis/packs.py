"""Phrase packs: one YAML data file per language, read and checked with a line for every problem.

A pack (see chatserver/crisis/packs/en.yaml and docs/filters.md) holds:

    language: en                  # its code, the file's name
    name: English
    common: [i, to, the, ...]     # words too frequent to look for first (see patterns.anchors)
    negators: [not, never, ...]   # "not", "never" just before a match make it `concern` at most
    self: [i, im, ...]            # first-person subjects: "I" wants to die
    others: [he, she, friend ...] # third-person subjects: "my friend" wants to die -> concern
    pieces: {name: [pattern, ...]}          # reusable alternatives, used as {name}
    families:                     # what to recognise
      - {name: wish to be dead, level: passive, kind: ideation, patterns: [...]}
    frames:                       # what changes the level of a match: figurative speech, the past
      - {name: figurative, level: none, scope: overlap, patterns: [...]}
    hints: [...]                  # JavaScript regex sources for the page's while-typing help

Problems come back as `PATH:LINE: message`, like rooms.yaml's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chatserver.crisis import anchors as anc
from chatserver.crisis import patterns as pat
from chatserver.crisis.packyaml import PackError as PackError
from chatserver.crisis.packyaml import Reader, compose, hint_problem
from chatserver.yamlnodes import line_of, show

PACK_DIR = Path(__file__).resolve().parent / "packs"
LEVELS = ("none", "concern", "passive", "active", "imminent")
KINDS = (
    "ideation",
    "attempt",
    "selfharm",
    "means",
    "plan",
    "place",
    "time",
    "recent",
    "farewell",
    "vague",
    "effects",
    "topic",
)
SCOPES = ("overlap", "clause")
TOP_KEYS = (
    "language",
    "name",
    "common",
    "negators",
    "self",
    "others",
    "pieces",
    "families",
    "frames",
    "hints",
)
FAMILY_KEYS = ("name", "level", "kind", "patterns")
FRAME_KEYS = ("name", "level", "scope", "kinds", "patterns")
LANGUAGE = re.compile(r"[a-z]{2,3}")
#: Extension keys in rooms.yaml `phrases: {en: {KEY: [...]}}`: a level, or `quiet` for figurative frames.
EXTENSION_KEYS = ("concern", "passive", "active", "imminent", "quiet")


@dataclass(frozen=True, slots=True)
class Family:
    """Patterns that signal one thing at one level; `line` is where it starts, for messages."""

    name: str
    level: str
    kind: str
    patterns: tuple[pat.Seq, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class Frame:
    """Patterns that lower the level of the matches they overlap (or share a clause with)."""

    name: str
    level: str
    scope: str
    patterns: tuple[pat.Seq, ...]
    line: int = 0
    #: The kinds of match it lowers (empty: every kind), e.g. laughter lowers ideation, not self-harm.
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Pack:
    """One language's phrases, parsed and checked."""

    language: str
    name: str
    path: str
    common: frozenset[str] = frozenset()
    negators: frozenset[str] = frozenset()
    self_words: frozenset[str] = frozenset()
    other_words: frozenset[str] = frozenset()
    pieces: Mapping[str, pat.Alt] = field(default_factory=dict)
    families: tuple[Family, ...] = ()
    frames: tuple[Frame, ...] = ()
    hints: tuple[str, ...] = ()

    def cost(self, key: str) -> int:
        """How poor `key` is as an anchor: common words are looked for last, short ones late."""
        if len(key) <= 1:
            return anc.USELESS_COST  # a single letter starts half the words of any message
        if key in self.common or len(key) == 2:
            return anc.COMMON_COST
        return 3 if len(key) == 3 else 1


def _piece_sources(reader: Reader, node: yaml.Node | None) -> dict[str, list[tuple[yaml.Node, pat.Seq]]]:
    """The `pieces:` mapping, each name with its parsed options (and their nodes, for lines)."""
    pieces_src: dict[str, list[tuple[yaml.Node, pat.Seq]]] = {}
    if node is None:
        return pieces_src
    for key_node, value in node.value if isinstance(node, yaml.MappingNode) else []:
        piece = str(key_node.value)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", piece):
            reader.problem(key_node, f"piece name {piece!r} must be lower-case letters, digits and _")
            continue
        options = []
        for item, source in reader.strings(value, f"piece '{piece}'"):
            seq = reader.pattern(item, source, f"piece '{piece}'")
            if seq is not None:
                options.append((item, seq))
        pieces_src[piece] = options
    if not isinstance(node, yaml.MappingNode):
        reader.problem(node, f"'pieces' must map names to lists of patterns, got {show(node)}")
    return pieces_src


def read_pack(text: str, path: str, *, language: str | None = None) -> Pack:
    """Parse and check one pack's YAML text; raise PackError listing every problem."""
    root = compose(text, path)
    reader = Reader(path)
    if root is None:
        raise PackError([f"{path}:1: the pack is empty (expected keys: {', '.join(TOP_KEYS)})"])
    top = reader.mapping(root, "the pack", TOP_KEYS)
    code = reader.text(top["language"], "'language'") if "language" in top else None
    if "language" not in top:
        reader.problem(root, "the pack has no 'language' (its code, e.g. en)")
    elif code is not None and not LANGUAGE.fullmatch(code):
        reader.problem(top["language"], f"'language' must be a code like en or pt, got {code!r}")
    elif code is not None and language is not None and code != language:
        reader.problem(top["language"], f"'language' is {code!r} but the file is named for {language!r}")
    name = reader.text(top["name"], "'name'") if "name" in top else code
    lists = {
        key: reader.words(top[key], f"'{key}'") if key in top else frozenset()
        for key in ("common", "negators", "self", "others")
    }
    pieces_src = _piece_sources(reader, top.get("pieces"))
    pieces = {
        name: pat.Alt(tuple(seq for _, seq in options)) for name, options in pieces_src.items() if options
    }
    for name, options in pieces_src.items():
        for item, seq in options:
            _check_refs(reader, item, seq, pieces, f"piece '{name}'")
    _check_cycles(reader, pieces_src, pieces)
    pack = Pack(
        language=code or (language or "?"),
        name=name or (code or "?"),
        path=path,
        common=lists["common"],
        negators=lists["negators"],
        self_words=lists["self"],
        other_words=lists["others"],
        pieces=pieces,
    )
    families = tuple(_groups(reader, top.get("families"), "families", pack, frame=False))
    frames = tuple(_groups(reader, top.get("frames"), "frames", pack, frame=True))
    hints = tuple(_hints(reader, top["hints"])) if "hints" in top else ()
    if reader.problems:
        reader.problems.sort(key=lambda p: p[0])
        raise PackError([f"{path}:{line}: {message}" for line, message in reader.problems])
    return Pack(
        language=pack.language,
        name=pack.name,
        path=path,
        common=pack.common,
        negators=pack.negators,
        self_words=pack.self_words,
        other_words=pack.other_words,
        pieces=pieces,
        families=families,  # type: ignore[arg-type]
        frames=frames,  # type: ignore[arg-type]
        hints=hints,
    )


def _check_refs(reader: Reader, node: yaml.Node, seq: pat.Seq, pieces: Mapping[str, Any], where: str) -> bool:
    missing = [name for name in pat.references(seq) if name not in pieces]
    if missing:
        known = ", ".join(sorted(pieces)) or "none defined"
        reader.problem(node, f"{where}: unknown piece {{{missing[0]}}} (known: {known})")
        return False
    return True


def _check_cycles(
    reader: Reader, src: Mapping[str, list[tuple[yaml.Node, pat.Seq]]], pieces: Mapping[str, Any]
) -> None:
    def visit(name: str, path: tuple[str, ...]) -> None:
        for node, seq in src.get(name, []):
            for ref in pat.references(seq):
                if ref in path:
                    reader.problem(node, f"piece '{name}' uses itself through {{{ref}}}")
                    continue
                visit(ref, path + (ref,))

    for name in src:
        visit(name, (name,))


def _groups(
    reader: Reader, node: yaml.Node | None, key: str, pack: Pack, *, frame: bool
) -> Iterator[Family | Frame]:
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        reader.problem(node, f"'{key}' must be a list, got {show(node)}")
        return
    for number, item in enumerate(node.value, 1):
        where = f"{key} #{number}"
        fields = reader.mapping(item, where, FRAME_KEYS if frame else FAMILY_KEYS)
        if not fields:
            continue
        name = reader.text(fields["name"], f"'name' of {where}") if "name" in fields else where
        where = f"{'frame' if frame else 'family'} '{name}'"
        level_choices = ("none", "concern") if frame else LEVELS
        if "level" not in fields:
            reader.problem(item, f"{where} has no 'level' ({', '.join(level_choices)})")
            continue
        level = reader.choice(fields["level"], f"'level' of {where}", level_choices)
        second = (
            reader.choice(fields["scope"], f"'scope' of {where}", SCOPES)
            if frame and "scope" in fields
            else None
        )
        kind = (
            reader.choice(fields["kind"], f"'kind' of {where}", KINDS)
            if not frame and "kind" in fields
            else None
        )
        if not frame and "kind" not in fields:
            reader.problem(item, f"{where} has no 'kind' ({', '.join(KINDS)})")
        if "patterns" not in fields:
            reader.problem(item, f"{where} has no 'patterns'")
            continue
        seqs = _patterns(reader, fields["patterns"], where, pack)
        if level is None or (not frame and kind is None):
            continue
        if frame:
            kinds: tuple[str, ...] = ()
            if "kinds" in fields:
                kinds = tuple(v for _, v in reader.strings(fields["kinds"], f"'kinds' of {where}"))
                for bad in (k for k in kinds if k not in KINDS):
                    reader.problem(
                        fields["kinds"], f"'kinds' of {where}: {bad!r} is not one of {', '.join(KINDS)}"
                    )
            yield Frame(name or where, level, second or "overlap", tuple(seqs), line_of(item), kinds)
        else:
            yield Family(name or where, level, kind or "ideation", tuple(seqs), line_of(item))


def _patterns(reader: Reader, node: yaml.Node, where: str, pack: Pack) -> list[pat.Seq]:
    """A family's or frame's `patterns`, parsed, each with a word the prefilter can look for."""
    seqs = []
    for pnode, source in reader.strings(node, f"'patterns' of {where}"):
        seq = reader.pattern(pnode, source, where)
        if seq is None or not _check_refs(reader, pnode, seq, pack.pieces, where):
            continue
        cost, found = anc.anchors(seq, pack.pieces, pack.cost)
        if not found or cost >= anc.USELESS_COST:
            reader.problem(
                pnode,
                f"{where}: {source!r} has no word of two letters or more that every match must "
                "contain (the prefilter looks for one): make one required",
            )
            continue
        seqs.append(seq)
    return seqs


def _hints(reader: Reader, node: yaml.Node) -> Iterator[str]:
    for item, source in reader.strings(node, "'hints'"):
        problem = hint_problem(source)
        if problem:
            reader.problem(item, f"hint {source!r} {problem}")
        else:
            yield source


def load_pack(path: Path) -> Pack:
    """Read one pack file (the file name, `en.yaml`, gives the language)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError([f"{path}:1: cannot read it ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError as exc:
        raise PackError([f"{path}:1: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return read_pack(text, str(path), language=path.stem)


def shipped_paths(directory: Path = PACK_DIR) -> list[Path]:
    """The shipped pack files, in language order."""
    return sorted(directory.glob("*.yaml"))
