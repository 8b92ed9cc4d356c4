"""The generic half of reading rooms.yaml: YAML nodes to checked values, each problem at its line.

`Reader` collects problems as (line, message) and knows the value kinds every section shares
(texts, whole numbers, seconds, name lists, mappings with known keys); the section readers
(resources, filters, hosted rooms) build on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from chatserver.rooms import languages
from chatserver.rooms.languages import Text
from chatserver.rooms.model import PREMODERATE
from chatserver.yamlnodes import line_of, show

_T = TypeVar("_T")
#: key -> (key node, value node) of a mapping, as `Reader.mapping` returns it.
Fields = Mapping[str, tuple[yaml.Node, yaml.Node]]


class Reader:
    """Problems found so far, and readers of the value kinds shared by every section."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[tuple[int, str]] = []
        self.loader: yaml.SafeLoader | None = None
        #: The top-level `snippets:` texts by name, which defaults and rooms may name.
        self.snippet_library: dict[str, Text] = {}
        #: The top-level `default_language`: what a plain string is in, and what every map must hold.
        self.fallback_language = "en"

    def problem(self, node: yaml.Node | int, message: str) -> None:
        self.problems.append((node if isinstance(node, int) else line_of(node), message))

    def value(self, node: yaml.Node) -> Any:
        assert self.loader is not None
        return self.loader.construct_object(node, deep=True)

    # -- structure ---------------------------------------------------------

    def check_duplicate_keys(self, node: yaml.Node, seen: set[int]) -> None:
        if id(node) in seen:  # aliases can share nodes, or even loop
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            assert self.loader is not None
            self.loader.flatten_mapping(node)
            keys: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is not None and key in keys:
                    self.problem(key_node, f"duplicate key '{key}' (first on line {keys[key]})")
                elif key is not None:
                    keys[key] = line_of(key_node)
                self.check_duplicate_keys(value_node, seen)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self.check_duplicate_keys(item, seen)

    def mapping(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """key -> (key node, value node) of a mapping with only `allowed` keys (others reported)."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where} must be a mapping of keys, got {show(node)}")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key not in allowed:
                self.problem(
                    key_node,
                    f"unknown key {show(key_node)} in {where} (expected one of: {', '.join(allowed)})",
                )
            else:
                out.setdefault(key, (key_node, value_node))
        return out

    def entries(
        self, node: yaml.MappingNode, accept: Callable[[str], bool], refuse: Callable[[yaml.Node], str]
    ) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
        """(key, key node, value node) of each entry of a mapping keyed by names or codes: a key that
        is not a string `accept` takes is reported at its line with `refuse(key node)`, and skipped."""
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if isinstance(key, str) and accept(key):
                yield key, key_node, value_node
            else:
                self.problem(key_node, refuse(key_node))

    # -- scalars -----------------------------------------------------------

    def text(self, node: yaml.Node, what: str, *, required: bool) -> str | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else node
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            quotes = isinstance(node, yaml.ScalarNode) and value is not None and not isinstance(value, str)
            hint = " (put it in quotes)" if quotes else ""
            self.problem(node, f"{what} must be a non-empty text, got {show(node)}{hint}")
            return None
        return value

    def localized(
        self, node: yaml.Node, what: str, *, required: bool, strip: bool
    ) -> tuple[str, Text] | None:
        """A text or a map {language code: text}: (the fallback language's text, the value to keep)."""
        if not isinstance(node, yaml.MappingNode):
            value = self.text(node, what, required=required)
            value = value.strip() if value is not None and strip else value
            return None if value is None else (value, value)
        out: dict[str, str] = {}
        before = len(self.problems)

        def unknown(key: yaml.Node) -> str:
            expected = "(expected a lower-case ISO 639-1 code like en or es)"
            return f"{what}: unknown language code {show(key)} {expected}"

        for code, _, value_node in self.entries(node, languages.known, unknown):
            value = self.text(value_node, f"{what} in '{code}'", required=True)
            if value is not None:
                out[code] = value.strip() if strip else value
        ok = len(self.problems) == before
        if ok and self.fallback_language not in out:
            self.problem(
                node,
                f"{what} has no '{self.fallback_language}' text (the fallback language, "
                "set by the top-level default_language:, every map must hold it)",
            )
            ok = False
        return (out[self.fallback_language], MappingProxyType(out)) if ok else None

    def integer(self, node: yaml.Node, what: str, minimum: int) -> int | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(node, f"{what} must be a whole number of at least {minimum}, got {show(node)}")
            return None
        return value

    def number(self, node: yaml.Node, what: str) -> float | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self.problem(node, f"{what} must be a number of seconds above 0, got {show(node)}")
            return None
        return float(value)

    def premoderate(self, node: yaml.Node, what: str) -> str | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if value is False:  # YAML reads a bare `off` (or `no`) as false
            return "off"
        if not isinstance(value, str) or value not in PREMODERATE:
            self.problem(node, f"{what} must be one of {', '.join(PREMODERATE)}, got {show(node)}")
            return None
        return value

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list of names like [alice, bob], got {show(node)}")
            return None
        names = []
        for item in node.value:
            name = self.text(item, f"each of {what}", required=True)
            if name is not None:
                names.append(name.strip())
        return tuple(names) if len(names) == len(node.value) else None

    def attempt(self, node: yaml.Node, what: str, check: Callable[[str], _T], text: str) -> _T | None:
        """`check(text)`, or None with its ValueError reported at `node`."""
        try:
            return check(text)
        except ValueError as exc:
            self.problem(node, f"{what}: {exc}")
            return None

    def seconds(self, node: yaml.Node, what: str) -> float | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            self.problem(node, f"{what} must be a number of seconds, 0 or more, got {show(node)}")
            return None
        return float(value)


def options_node(item: yaml.Node) -> yaml.Node:
    # `- crisis: {...}` holds its options under the name; `- {filter: crisis, ...}` holds them itself.
    if isinstance(item, yaml.MappingNode) and len(item.value) == 1:
        key, value = item.value[0]
        if isinstance(key, yaml.ScalarNode) and key.value != "filter" and isinstance(value, yaml.Node):
            return value
    return item


def node_at(node: yaml.Node, path: tuple[str | int, ...]) -> yaml.Node:
    """The node at `path` (mapping keys, 1-based list positions) under `node`, or the deepest found."""
    for step in path:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            found = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 < step <= len(node.value):
            found = node.value[step - 1]
        else:
            found = None
        if found is None:
            break
        node = found
    return node
