"""rooms.yaml keys of rooms with hosts on a timetable (issue 15): hours, when unhosted, snippets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from chatserver.hours import Hours, Span, check_timezone, find_overlaps, parse_day, parse_ranges
from chatserver.rooms.languages import Text
from chatserver.rooms.model import SNIPPET_NAME, WHEN_UNHOSTED
from chatserver.rooms.reader import Reader
from chatserver.yamlnodes import show


class HostedReader(Reader):
    """Opening hours, the unhosted mode, and the snippets and scripts a host sends with one click."""

    def hours(self, node: yaml.Node, what: str) -> Hours | None:
        """`{timezone: ..., weekly: {mon: "18:00-22:00"}}`, each problem at its line.

        Times are read as written (the raw scalar): YAML 1.1 would read a bare 18:00 as 1080.
        """
        fields = self.mapping(node, what, ("timezone", "weekly"))
        if fields is None:
            return None
        before = len(self.problems)
        missing = [key for key in ("timezone", "weekly") if key not in fields]
        if missing:
            self.problem(
                node,
                f"{what} needs {' and '.join(repr(k) for k in missing)}, "
                'like {timezone: Europe/London, weekly: {mon: "18:00-22:00"}}',
            )
        zone = None
        if "timezone" in fields:
            zone_node = fields["timezone"][1]
            if isinstance(zone_node, yaml.ScalarNode):
                zone = self.attempt(zone_node, what, check_timezone, zone_node.value)
            else:
                self.problem(zone_node, f"{what}: 'timezone' must be a name like Europe/London")
        days: list[tuple[Span, ...]] = [()] * 7
        day_nodes: dict[int, yaml.Node] = {}
        weekly = fields["weekly"][1] if "weekly" in fields else None
        if weekly is not None and (not isinstance(weekly, yaml.MappingNode) or not weekly.value):
            self.problem(
                weekly,
                f"{what}: 'weekly' must map days to times, like {{mon: '18:00-22:00'}}, got {show(weekly)}",
            )
        elif isinstance(weekly, yaml.MappingNode):
            for key_node, value_node in weekly.value:
                day = self.attempt(key_node, what, parse_day, str(key_node.value))
                items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                spans: list[Span] = []
                day_problems = len(self.problems)
                for item in items or [value_node]:
                    if isinstance(item, yaml.ScalarNode) and item.tag != "tag:yaml.org,2002:null":
                        spans.extend(self.attempt(item, what, parse_ranges, item.value) or ())
                    elif isinstance(item, yaml.SequenceNode) and not item.value:
                        self.attempt(item, what, parse_ranges, "")  # an empty list: says what to write
                    else:
                        self.problem(
                            item,
                            f"{what}: the times of a day must be text like 18:00-22:00, got {show(item)}",
                        )
                # A half-read day is left out of the overlap check: what it overlaps may not be meant.
                if day is not None and len(self.problems) == day_problems:
                    days[day], day_nodes[day] = tuple(sorted(spans)), value_node
        for day, message in find_overlaps(days):
            self.problem(day_nodes[day], f"{what}: {message}")
        if len(self.problems) > before or zone is None:
            return None
        return Hours(zone, tuple(days))

    def when_unhosted(self, node: yaml.Node, what: str) -> str | None:
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        if value not in WHEN_UNHOSTED:
            self.problem(node, f"{what} must be one of {', '.join(WHEN_UNHOSTED)}, got {show(node)}")
            return None
        return str(value)

    def snippet_texts(self, node: yaml.Node, where: str) -> dict[str, Text]:
        """name -> text (or {language: text}) of a snippets mapping; a bad name is reported and left
        out, a bad text kept as ""."""
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.problem(
                node, f'{where} must map names to texts, like {{welcome: "Welcome ..."}}, got {show(node)}'
            )
            return {}
        texts: dict[str, Text] = {}

        def bad_name(key: yaml.Node) -> str:
            return (
                f"snippet name {show(key)} in {where} is not valid "
                "(expected 1 to 40 characters from a-z, 0-9, '_' and '-', e.g. check_in)"
            )

        for name, _, text_node in self.entries(node, lambda k: bool(SNIPPET_NAME.fullmatch(k)), bad_name):
            # Kept even when empty (already reported), so rooms naming it are not told it is unknown.
            read = self.localized(text_node, f"snippet '{name}' in {where}", required=True, strip=True)
            texts[name] = read[1] if read else ""
        return texts

    def room_snippets(self, node: yaml.Node, where: str) -> dict[str, Text]:
        """A list of top-level snippet names, or the room's own mapping of names to texts."""
        if isinstance(node, yaml.MappingNode):
            return self.snippet_texts(node, f"'snippets' in {where}")
        if not isinstance(node, yaml.SequenceNode):
            self.problem(
                node,
                f"'snippets' in {where} must be a list of snippet names like [welcome, closing] "
                f"or a mapping of names to texts, got {show(node)}",
            )
            return {}
        chosen: dict[str, Text] = {}
        for item in node.value:
            name = item.value if isinstance(item, yaml.ScalarNode) else None
            if isinstance(name, str) and name in self.snippet_library:
                chosen[name] = self.snippet_library[name]
            else:
                known = ", ".join(self.snippet_library) or "none defined"
                self.problem(
                    item,
                    f"'snippets' in {where} names {show(item)}, which is not a top-level snippet ({known})",
                )
        return chosen

    def script(self, node: yaml.Node, what: str, snippets: Mapping[str, Text]) -> str | None:
        """The snippet name an `opening:` or `closing:` gives, which must be one the room offers."""
        name = node.value if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(name, str) or name not in snippets:
            known = ", ".join(snippets) or "none"
            self.problem(
                node, f"{what} names {show(node)}, which is not one of the room's snippets ({known})"
            )
            return None
        return name

    def room_scripts(
        self,
        node: yaml.Node,
        fields: Mapping[str, tuple[yaml.Node, yaml.Node]],
        where: str,
        defaults: Mapping[str, Any],
        max_length: int,
    ) -> tuple[dict[str, Text], dict[str, str | None]]:
        """The snippets a room offers (its own, else the defaults', else every top-level one) and its
        opening and closing snippet names."""
        if "snippets" in fields:
            snippets = self.room_snippets(fields["snippets"][1], where)
        else:
            snippets = defaults.get("snippets", self.snippet_library)
        for name, text in snippets.items():
            # A host sends a snippet as a message, so one longer than the room allows could never go out.
            for code, words in ({"": text} if isinstance(text, str) else text).items():
                if len(words) > max_length:
                    self.problem(
                        fields["snippets"][0] if "snippets" in fields else node,
                        f"snippet '{name}'{f' in {code!r}' if code else ''} in {where} is {len(words)} "
                        f"characters, more than the room's max_length of {max_length}, so a host could "
                        "not send it",
                    )
        scripts: dict[str, str | None] = {"opening": None, "closing": None}
        for key in scripts:
            if key in fields:
                name_node, what = fields[key][1], f"'{key}' in {where}"
            elif key in defaults:
                name_node, what = defaults[key], f"'{key}' in defaults (for {where})"
            else:
                continue
            if name_node.tag != "tag:yaml.org,2002:null":  # `opening:` left empty: no script for this room
                scripts[key] = self.script(name_node, what, snippets)
        return snippets, scripts
