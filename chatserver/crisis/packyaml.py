"""Reading a pack's YAML with a line for every problem: the node walker and the hint check.

Problems come back as `PATH:LINE: message`, like rooms.yaml's (PackError).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from chatserver.crisis import patterns as pat
from chatserver.yamlnodes import line_of, show

MAX_HINT_CHARS = 400


class PackError(ValueError):
    """A phrase pack (or a rooms.yaml extension of one) is broken; `problems` are `PATH:LINE: message`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Reader:
    """Walks composed YAML nodes, collecting (line, message) problems."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[tuple[int, str]] = []

    def problem(self, node: yaml.Node | int, message: str) -> None:
        self.problems.append((node if isinstance(node, int) else line_of(node), message))

    def mapping(self, node: yaml.Node, where: str, allowed: tuple[str, ...]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where} must be a mapping, got {show(node)}")
            return {}
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key not in allowed:
                self.problem(
                    key_node,
                    f"unknown key {show(key_node)} in {where} (expected one of: {', '.join(allowed)})",
                )
            elif key in out:
                self.problem(
                    key_node, f"duplicate key '{key}' in {where} (first on line {line_of(out[key])})"
                )
            else:
                out[key] = value
        return out

    def text(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.problem(node, f"{what} must be a non-empty text, got {show(node)}")
            return None
        return str(node.value)

    def choice(self, node: yaml.Node, what: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(node, what)
        if value is not None and value not in choices:
            self.problem(node, f"{what} must be one of {', '.join(choices)}, got {value!r}")
            return None
        return value

    def strings(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, str]]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list of texts, got {show(node)}")
            return []
        out = []
        for item in node.value:
            value = self.text(item, f"each of {what}")
            if value is not None:
                out.append((item, value))
        return out

    def words(self, node: yaml.Node, what: str) -> frozenset[str]:
        return frozenset(pat.word_key(value) for _, value in self.strings(node, what) if pat.word_key(value))

    def pattern(self, node: yaml.Node, source: str, where: str) -> pat.Seq | None:
        try:
            seq = pat.parse(source)
        except pat.PatternError as exc:
            self.problem(node, f"{where}: {exc}")
            return None
        problem = pat.check(seq)
        if problem:
            self.problem(node, f"{where}: {source!r}: {problem}")
            return None
        return seq


#: libyaml's composer when PyYAML has it: the same nodes and lines, ~15x faster (the packs are read
#: at every start and by every worker; the pure-Python one took about half a second).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str, path: str) -> yaml.Node | None:
    """YAML text -> its root node, or PackError with the line of a syntax error."""
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PackError(
            [f"{path}:{mark.line + 1 if mark else 1}: YAML syntax error: {exc.problem or exc}"]
        ) from None
    except yaml.YAMLError as exc:
        raise PackError([f"{path}:1: YAML error: {exc}"]) from None


_JS_UNSAFE = re.compile(r"\(\?<[=!]|\(\?P|\(\?[aiLmsux]|\*\+|\+\+|\?\+|\}\+|\(\?>|\\[AZz]")


def hint_problem(source: str) -> str | None:
    """Why `source` is not a small JavaScript-compatible regex, or None."""
    if len(source) > MAX_HINT_CHARS:
        return f"longer than {MAX_HINT_CHARS} characters"
    if _JS_UNSAFE.search(source):
        return "uses syntax JavaScript lacks (lookbehind, named groups, inline flags, possessive or atomic)"
    try:
        compiled = re.compile(source)
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    if compiled.search("") is not None:
        return "matches an empty text"
    return None
