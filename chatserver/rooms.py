"""rooms.yaml: parse, validate with file and line, and build frozen Room objects (pure).

Every problem is collected, not just the first, each as `PATH:LINE: message`.
The YAML is composed into nodes (safe-loader semantics, line marks kept) and
walked by hand, so each problem points at the line that needs changing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from chatserver import helplines
from chatserver.crisis import pack_problems as crisis_pack_problems
from chatserver.crisis import packs as crisis_packs
from chatserver.crisis import shipped_languages as crisis_shipped_languages
from chatserver.errors import ConfigError
from chatserver.filters import (
    CrisisFilter,
    Filter,
    FilterChain,
    FilterConfigError,
    MaxLengthFilter,
    PremoderateFilter,
    build_filter,
    parse_spec,
)
from chatserver.filters.crisis import option_problems as crisis_option_problems
from chatserver.hours import Hours, Span, check_timezone, find_overlaps, parse_day, parse_ranges

TOP_KEYS = ("defaults", "resources", "snippets", "rooms")
#: Keys for rooms with hosts on a timetable, allowed in defaults and in each room (issue 15).
HOSTED_KEYS = ("hours", "when_unhosted", "unhosted_grace", "snippets", "opening", "closing")
DEFAULT_KEYS = (
    "history",
    "max_length",
    "premoderate",
    "premoderate_count",
    "filters",
    "escalate_after",
    "resources",
    *HOSTED_KEYS,
    "languages",  # the crisis filter's phrase packs (issue 13)
)
ROOM_KEYS = (
    "id",
    "title",
    "topic",
    "guidelines",
    "hosts",
    "backup_hosts",
    "escalate_after",
    "history",
    "max_length",
    "premoderate",
    "premoderate_count",
    "resources",
    "filters",
    *HOSTED_KEYS,
    "languages",  # the crisis filter's phrase packs (issue 13)
)
RESOURCE_KEYS = (
    "name",
    "phone",
    "sms",
    "sms_keyword",
    "url",
    "text",
    "hours",
    "region",
    "countries",
    "pair",
    "checked",
)
#: One helpline as sent to browsers: text fields, and `countries` as a list of ISO 3166-1 alpha-2 codes.
ResourceItem = dict[str, Any]
PREMODERATE = ("off", "new_members", "all")
ROOM_ID = re.compile(r"[a-z0-9-]{1,40}")
BUILTIN_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "history": 50,
        "max_length": 2000,
        "premoderate": "off",
        "premoderate_count": 3,
        "escalate_after": 120.0,
        "hours": None,  # always open
        "when_unhosted": "open",  # as before hosts were tracked
        "unhosted_grace": 60.0,
        "languages": None,  # every shipped crisis phrase pack
    }
)
#: What a room does while no host is on duty; docs/protocol.md says what each means for participants.
WHEN_UNHOSTED = ("open", "premoderate", "read_only", "closed")
SNIPPET_NAME = re.compile(r"[a-z0-9_-]{1,40}")
_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class Room:
    """One room, fully validated. `chain` is built once: max_length, the configured filters, premoderate."""

    id: str
    title: str
    topic: str
    guidelines: str  # "" when none
    hosts: tuple[str, ...]
    backup_hosts: tuple[str, ...]
    escalate_after: float
    history: int
    max_length: int
    premoderate: str  # "off" | "new_members" | "all"
    resources: tuple[ResourceItem, ...]  # the items of the room's resource lists, in order
    resource_lists: Mapping[str, tuple[ResourceItem, ...]]  # every list by name, for crisis verdicts
    chain: FilterChain
    premoderate_count: int = 3
    #: Everything this room was built from, as text: a reload changes a room only when this differs
    #: (rooms compare by identity, since their filter chains hold live filter objects).
    source: str = ""
    #: Opening hours (None: always open). Within them, once the last on-duty host has been gone for
    #: `unhosted_grace` seconds, the room runs as `when_unhosted` says ("open" | "premoderate" |
    #: "read_only" | "closed") until a host returns.
    hours: Hours | None = None
    when_unhosted: str = "open"
    unhosted_grace: float = 60.0
    #: Host messages offered with one click, name -> text in the order written; `opening` and `closing`
    #: name the ones that start and end a session (None: no script).
    snippets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType[str, str]({}))
    opening: str | None = None
    closing: str | None = None
    #: The crisis phrase packs the room reads (language codes); None: every shipped pack.
    languages: tuple[str, ...] | None = None

    @property
    def guidelines_required(self) -> bool:
        """Joining needs `accept_guidelines` when the room has guidelines."""
        return bool(self.guidelines.strip())


@dataclass(frozen=True, eq=False)
class RoomsConfig:
    """Every room of a rooms.yaml, in file order."""

    path: str
    rooms: Mapping[str, Room]


def load_rooms(path: str | Path) -> RoomsConfig:
    """Read and validate a rooms.yaml; raise ConfigError listing every problem."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{shown}: no such file (expected a rooms.yaml; pass its path)"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read it ({exc.strerror or exc})"]) from None
    return parse_rooms(text, shown)


def parse_rooms(text: str, path: str = "rooms.yaml") -> RoomsConfig:
    """Validate rooms.yaml text; `path` only labels the problems. Raises ConfigError with every problem."""
    parser = _Parser(path)
    rooms = parser.parse(text)
    broken_packs = crisis_pack_problems()  # already PACK_PATH:LINE: message
    if parser.problems or broken_packs:
        parser.problems.sort(key=lambda p: p[0])
        raise ConfigError([f"{path}:{line}: {message}" for line, message in parser.problems] + broken_packs)
    return RoomsConfig(path, MappingProxyType(rooms))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _show(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    return repr(node.value) if node.tag == "tag:yaml.org,2002:str" else str(node.value)


class _Parser:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[tuple[int, str]] = []
        self.loader: yaml.SafeLoader | None = None
        #: The top-level `snippets:` texts by name, which defaults and rooms may name.
        self.snippet_library: dict[str, str] = {}

    def problem(self, node: yaml.Node | int, message: str) -> None:
        self.problems.append((node if isinstance(node, int) else _line(node), message))

    def value(self, node: yaml.Node) -> Any:
        assert self.loader is not None
        return self.loader.construct_object(node, deep=True)

    # -- structure ---------------------------------------------------------

    def parse(self, text: str) -> dict[str, Room]:
        self.loader = yaml.SafeLoader(text)
        try:
            root = self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            detail = exc.problem or exc.context or "cannot parse"
            if exc.context and exc.context_mark and exc.problem:
                detail += f" ({exc.context} on line {exc.context_mark.line + 1})"
            self.problem(mark.line + 1 if mark else 1, f"YAML syntax error: {detail}")
            return {}
        except yaml.YAMLError as exc:
            self.problem(1, f"YAML error: {exc}")
            return {}
        finally:
            self.loader.dispose()
        if root is None:
            self.problem(1, f"the file is empty (expected top-level keys: {', '.join(TOP_KEYS)})")
            return {}
        self.check_duplicate_keys(root, set())
        try:
            # Once over everything, so a bad tag is reported here, not half-way through the walk.
            self.loader.construct_document(root)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            self.problem(
                mark.line + 1 if mark else 1, f"cannot read this value: {getattr(exc, 'problem', exc)}"
            )
            return {}
        top = self.mapping(root, "the top level", TOP_KEYS)
        if top is None:
            return {}
        # An empty `defaults:` or `resources:` section (YAML null) is as good as leaving it out.
        sections = {k: v for k, (_, v) in top.items() if v.tag != "tag:yaml.org,2002:null"}
        lists = self.resources(sections["resources"]) if "resources" in sections else {}
        if "snippets" in sections:
            self.snippet_library = self.snippet_texts(sections["snippets"], "the top-level snippets")
        defaults = self.defaults(sections["defaults"], lists) if "defaults" in sections else {}
        if "rooms" not in top:
            self.problem(root, "no 'rooms' list (expected 'rooms:' with at least one room)")
            return {}
        rooms_node = top["rooms"][1]
        if not isinstance(rooms_node, yaml.SequenceNode) or not rooms_node.value:
            self.problem(rooms_node, f"'rooms' must be a list of at least one room, got {_show(rooms_node)}")
            return {}
        rooms: dict[str, Room] = {}
        first_line: dict[str, int] = {}
        for number, node in enumerate(rooms_node.value, 1):
            room = self.room(node, number, defaults, lists, first_line)
            if room is not None:
                rooms[room.id] = room
        return rooms

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
                    keys[key] = _line(key_node)
                self.check_duplicate_keys(value_node, seen)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self.check_duplicate_keys(item, seen)

    def mapping(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """key -> (key node, value node) of a mapping with only `allowed` keys (others reported)."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where} must be a mapping of keys, got {_show(node)}")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key not in allowed:
                self.problem(
                    key_node,
                    f"unknown key {_show(key_node)} in {where} (expected one of: {', '.join(allowed)})",
                )
            else:
                out.setdefault(key, (key_node, value_node))
        return out

    # -- scalars -----------------------------------------------------------

    def text(self, node: yaml.Node, what: str, *, required: bool) -> str | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else node
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            quotes = isinstance(node, yaml.ScalarNode) and value is not None and not isinstance(value, str)
            hint = " (put it in quotes)" if quotes else ""
            self.problem(node, f"{what} must be a non-empty text, got {_show(node)}{hint}")
            return None
        return value

    def integer(self, node: yaml.Node, what: str, minimum: int) -> int | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(node, f"{what} must be a whole number of at least {minimum}, got {_show(node)}")
            return None
        return value

    def number(self, node: yaml.Node, what: str) -> float | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self.problem(node, f"{what} must be a number of seconds above 0, got {_show(node)}")
            return None
        return float(value)

    def premoderate(self, node: yaml.Node, what: str) -> str | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if value is False:  # YAML reads a bare `off` (or `no`) as false
            return "off"
        if not isinstance(value, str) or value not in PREMODERATE:
            self.problem(node, f"{what} must be one of {', '.join(PREMODERATE)}, got {_show(node)}")
            return None
        return value

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list of names like [alice, bob], got {_show(node)}")
            return None
        names = []
        for item in node.value:
            name = self.text(item, f"each of {what}", required=True)
            if name is not None:
                names.append(name.strip())
        return tuple(names) if len(names) == len(node.value) else None

    # -- sections ----------------------------------------------------------

    def resources(self, node: yaml.Node) -> dict[str, tuple[ResourceItem, ...]]:
        lists: dict[str, tuple[ResourceItem, ...]] = {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"'resources' must map list names to lists of items, got {_show(node)}")
            return lists
        for key_node, list_node in node.value:
            name = self.text(key_node, "a resources list name", required=True)
            if name is None:
                continue
            if not isinstance(list_node, yaml.SequenceNode):
                self.problem(
                    list_node, f"resources list '{name}' must be a list of items, got {_show(list_node)}"
                )
                continue
            where = f"an item of resources list '{name}'"
            items = [(item_node, self.resource_item(item_node, where)) for item_node in list_node.value]
            self.resource_pairs(name, [(n, item) for n, item in items if item is not None])
            lists[name] = tuple(item for _, item in items if item is not None)
        return lists

    def resource_item(self, item_node: yaml.Node, where: str) -> ResourceItem | None:
        """One helpline: text fields as given, `countries` as upper-case codes; numbers and links checked."""
        fields = self.mapping(item_node, where, RESOURCE_KEYS)
        if fields is None:
            return None
        if "name" not in fields:
            self.problem(item_node, f"{where} needs a 'name'")
        item: ResourceItem = {}
        countries: tuple[str, ...] = ()
        if "countries" in fields:
            countries = self.resource_countries(fields["countries"][1], where)
            if countries:
                item["countries"] = list(countries)
        for key, (_, value_node) in fields.items():
            if key == "countries":
                continue
            value = self.value(value_node) if isinstance(value_node, yaml.ScalarNode) else None
            if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
                self.problem(value_node, f"'{key}' in {where} must be a text, got {_show(value_node)}")
                continue
            text = str(value)
            problems: list[str | None] = []
            if key == "phone":
                problems = [*helplines.check_phone(text, countries)]
            elif key == "sms":
                problems = [helplines.check_sms(text, countries)]
            elif key == "sms_keyword":
                problems = [helplines.check_sms_keyword(text)]
            elif key == "url":
                problems = [helplines.check_url(text)]
            elif key == "checked":
                problems = [helplines.check_checked(text)]
            elif key == "pair" and not helplines.PAIR_KEY.fullmatch(text):
                problems = [f"'{text}' is not a pair key (1 to 40 characters from a-z, 0-9 and '-')"]
            for problem in problems:
                if problem:
                    self.problem(value_node, f"'{key}' in {where}: {problem}")
            if any(problems):
                continue
            item[key] = text.strip() if key in ("pair", "checked") else text
        if "sms_keyword" in item and "sms" not in fields:
            self.problem(fields["sms_keyword"][1], f"'sms_keyword' in {where} needs an 'sms' number to text")
        return item

    def resource_countries(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        """[GB, IE] as written (the raw scalars: YAML would read a bare NO, Norway, as false)."""
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(
                node,
                f"'countries' in {where} must be a list of country codes like [GB, IE], got {_show(node)}",
            )
            return ()
        codes: list[str] = []
        for code_node in node.value:
            code = code_node.value if isinstance(code_node, yaml.ScalarNode) else None
            problem = helplines.check_country(code) if isinstance(code, str) else "expected a country code"
            if problem:
                self.problem(code_node, f"'countries' in {where}: {problem}")
            elif isinstance(code, str) and code.strip().upper() not in codes:
                codes.append(code.strip().upper())
        return tuple(codes) if len(codes) == len(node.value) else ()

    def resource_pairs(self, name: str, items: list[tuple[yaml.Node, ResourceItem]]) -> None:
        """Services marked as a pair are shown together, so a pair needs two or more items, same countries."""
        pairs: dict[str, list[tuple[yaml.Node, ResourceItem]]] = {}
        for item_node, item in items:
            if "pair" in item:
                pairs.setdefault(item["pair"], []).append((item_node, item))
        for key, members in pairs.items():
            first_node, first = members[0]
            if len(members) == 1:
                self.problem(
                    first_node,
                    f"pair '{key}' in resources list '{name}' has only this item (give the same 'pair' "
                    "to the services always shown together, e.g. an adult and a youth line)",
                )
            first_countries = ", ".join(first.get("countries", [])) or "none"
            for item_node, item in members[1:]:
                countries = ", ".join(item.get("countries", [])) or "none"
                if sorted(item.get("countries", [])) != sorted(first.get("countries", [])):
                    self.problem(
                        item_node,
                        f"the items of pair '{key}' in resources list '{name}' must list the same countries "
                        f"(this one: {countries}; line {_line(first_node)}: {first_countries})",
                    )

    def list_names(self, node: yaml.Node, what: str, lists: Mapping[str, Any]) -> tuple[str, ...] | None:
        names = self.names(node, what)
        if names is None:
            return None
        ok = True
        for name, item in zip(names, node.value, strict=True):
            if name not in lists:
                known = ", ".join(lists) or "none defined"
                self.problem(
                    item, f"{what} names '{name}', which is not a top-level resources list ({known})"
                )
                ok = False
        return names if ok else None

    def settings(self, fields: Mapping[str, tuple[yaml.Node, yaml.Node]], where: str) -> dict[str, Any]:
        """The scalar settings shared by defaults and rooms; a bad one is reported and left out."""
        out: dict[str, Any] = {}
        checks: dict[str, Callable[[yaml.Node], Any]] = {
            "history": lambda n: self.integer(n, f"'history' in {where}", 0),
            "max_length": lambda n: self.integer(n, f"'max_length' in {where}", 1),
            "premoderate_count": lambda n: self.integer(n, f"'premoderate_count' in {where}", 1),
            "premoderate": lambda n: self.premoderate(n, f"'premoderate' in {where}"),
            "escalate_after": lambda n: self.number(n, f"'escalate_after' in {where}"),
            "hours": lambda n: self.hours(n, f"'hours' in {where}"),
            "when_unhosted": lambda n: self.when_unhosted(n, f"'when_unhosted' in {where}"),
            "unhosted_grace": lambda n: self.seconds(n, f"'unhosted_grace' in {where}"),
            "languages": lambda n: self.languages(n, f"'languages' in {where}"),
        }
        for key, check in checks.items():
            if key in fields:
                value = check(fields[key][1])
                if value is not None:
                    out[key] = value
        return out

    def defaults(self, node: yaml.Node, lists: Mapping[str, Any]) -> dict[str, Any]:
        fields = self.mapping(node, "defaults", DEFAULT_KEYS)
        if fields is None:
            return {"broken_filters": True}
        out = self.settings(fields, "defaults")
        if "languages" in fields:
            out["languages_at"] = fields["languages"]
        if "resources" in fields:
            names = self.list_names(fields["resources"][1], "'resources' in defaults", lists)
            if names is not None:
                out["resources"] = names
        if "filters" in fields:
            filters_node = fields["filters"][1]
            # Built here only to report problems once, at these lines; each room builds its own.
            languages = out.get("languages")
            if self.filters(filters_node, "defaults", lists, languages, fields.get("languages")) is None:
                out["broken_filters"] = True
            out["filters"] = filters_node
        if "snippets" in fields:
            out["snippets"] = self.room_snippets(fields["snippets"][1], "defaults")
        for key in ("opening", "closing"):
            if key in fields:
                out[key] = fields[key][1]  # checked in each room, against the snippets that room offers
        return out

    def filters(
        self,
        node: yaml.Node,
        where: str,
        lists: Mapping[str, Any],
        languages: tuple[str, ...] | None = None,
        languages_at: tuple[yaml.Node, yaml.Node] | None = None,
    ) -> list[Filter] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(
                node, f"'filters' in {where} must be a list of filters (use [] for none), got {_show(node)}"
            )
            return None
        before = len(self.problems)
        built: list[Filter] = []
        for item in node.value:
            try:
                name, options = parse_spec(self.value(item))
                if name == "crisis":
                    if not self.crisis_options(item, options, where, languages, languages_at):
                        continue
                    if languages is not None and "languages" not in options:
                        options = {**options, "languages": list(languages)}
                built.append(build_filter(name, options))
            except FilterConfigError as exc:
                self.problem(item, f"{where}: {exc}")
                continue
            except (yaml.YAMLError, TypeError) as exc:
                self.problem(item, f"{where}: this filter item cannot be read ({exc})")
                continue
            for list_name in built[-1].resource_lists if isinstance(built[-1], CrisisFilter) else ():
                if list_name not in lists:
                    known = ", ".join(lists) or "none defined"
                    self.problem(
                        item,
                        f"{where}: the crisis filter names resources list '{list_name}', "
                        f"which is not a top-level resources list ({known})",
                    )
        return None if len(self.problems) > before else built

    # -- crisis: languages and phrase-pack extensions (issue 13) ------------

    def languages(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        """`languages: [en, es]`: crisis phrase-pack codes, checked against the packs by the crisis filter."""
        codes = self.names(node, what)
        if codes is None:
            return None
        for code, item in zip(codes, node.value, strict=True):
            if not crisis_packs.LANGUAGE.fullmatch(code):
                self.problem(item, f"each of {what} must be a language code like en or pt, got {code!r}")
                return None
        return tuple(dict.fromkeys(codes))

    def crisis_options(
        self,
        item: yaml.Node,
        options: Mapping[str, Any],
        where: str,
        languages: tuple[str, ...] | None,
        languages_at: tuple[yaml.Node, yaml.Node] | None,
    ) -> bool:
        """Report the crisis filter's `levels`, `phrases` and languages problems at their own lines."""
        ok = True
        for path, message in crisis_option_problems(options):
            self.problem(_node_at(_options_node(item), path), f"{where}: filter 'crisis': {message}")
            ok = False
        phrases = options.get("phrases")
        added = set(phrases) if isinstance(phrases, Mapping) else set()
        chosen = options.get("languages", languages)
        shipped = set(crisis_shipped_languages())
        for code in chosen if isinstance(chosen, list | tuple) else ():
            if code not in shipped and code not in added:
                at = languages_at[1] if languages_at is not None and "languages" not in options else item
                self.problem(
                    at,
                    f"{where}: no crisis phrase pack for language '{code}' (shipped: "
                    f"{', '.join(sorted(shipped))}; or add phrases for it under the crisis filter's "
                    f"'phrases: {{{code}: {{...}}}}')",
                )
                ok = False
        return ok

    # -- hosted rooms: hours, unhosted mode, snippets -----------------------

    def attempt(self, node: yaml.Node, what: str, check: Callable[[str], _T], text: str) -> _T | None:
        """`check(text)`, or None with its ValueError reported at `node`."""
        try:
            return check(text)
        except ValueError as exc:
            self.problem(node, f"{what}: {exc}")
            return None

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
                f"{what}: 'weekly' must map days to times, like {{mon: '18:00-22:00'}}, got {_show(weekly)}",
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
                            f"{what}: the times of a day must be text like 18:00-22:00, got {_show(item)}",
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
            self.problem(node, f"{what} must be one of {', '.join(WHEN_UNHOSTED)}, got {_show(node)}")
            return None
        return str(value)

    def seconds(self, node: yaml.Node, what: str) -> float | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            self.problem(node, f"{what} must be a number of seconds, 0 or more, got {_show(node)}")
            return None
        return float(value)

    def snippet_texts(self, node: yaml.Node, where: str) -> dict[str, str]:
        """name -> text of a snippets mapping; a bad name is reported and left out, a bad text kept as ""."""
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.problem(
                node, f'{where} must map names to texts, like {{welcome: "Welcome ..."}}, got {_show(node)}'
            )
            return {}
        texts: dict[str, str] = {}
        for key_node, text_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(name, str) or not SNIPPET_NAME.fullmatch(name):
                self.problem(
                    key_node,
                    f"snippet name {_show(key_node)} in {where} is not valid "
                    "(expected 1 to 40 characters from a-z, 0-9, '_' and '-', e.g. check_in)",
                )
                continue
            # Kept even when empty (already reported), so rooms naming it are not told it is unknown.
            texts[name] = (self.text(text_node, f"snippet '{name}' in {where}", required=True) or "").strip()
        return texts

    def room_snippets(self, node: yaml.Node, where: str) -> dict[str, str]:
        """A list of top-level snippet names, or the room's own mapping of names to texts."""
        if isinstance(node, yaml.MappingNode):
            return self.snippet_texts(node, f"'snippets' in {where}")
        if not isinstance(node, yaml.SequenceNode):
            self.problem(
                node,
                f"'snippets' in {where} must be a list of snippet names like [welcome, closing] "
                f"or a mapping of names to texts, got {_show(node)}",
            )
            return {}
        chosen: dict[str, str] = {}
        for item in node.value:
            name = item.value if isinstance(item, yaml.ScalarNode) else None
            if isinstance(name, str) and name in self.snippet_library:
                chosen[name] = self.snippet_library[name]
            else:
                known = ", ".join(self.snippet_library) or "none defined"
                self.problem(
                    item,
                    f"'snippets' in {where} names {_show(item)}, which is not a top-level snippet ({known})",
                )
        return chosen

    def script(self, node: yaml.Node, what: str, snippets: Mapping[str, str]) -> str | None:
        """The snippet name an `opening:` or `closing:` gives, which must be one the room offers."""
        name = node.value if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(name, str) or name not in snippets:
            known = ", ".join(snippets) or "none"
            self.problem(
                node, f"{what} names {_show(node)}, which is not one of the room's snippets ({known})"
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
    ) -> tuple[dict[str, str], dict[str, str | None]]:
        """The snippets a room offers (its own, else the defaults', else every top-level one) and its
        opening and closing snippet names."""
        if "snippets" in fields:
            snippets = self.room_snippets(fields["snippets"][1], where)
        else:
            snippets = defaults.get("snippets", self.snippet_library)
        for name, text in snippets.items():
            # A host sends a snippet as a message, so one longer than the room allows could never go out.
            if len(text) > max_length:
                self.problem(
                    fields["snippets"][0] if "snippets" in fields else node,
                    f"snippet '{name}' in {where} is {len(text)} characters, more than the room's "
                    f"max_length of {max_length}, so a host could not send it",
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

    def room(
        self,
        node: yaml.Node,
        number: int,
        defaults: Mapping[str, Any],
        lists: Mapping[str, tuple[ResourceItem, ...]],
        first_line: dict[str, int],
    ) -> Room | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                node, f"room #{number} must be a mapping with id, title and topic, got {_show(node)}"
            )
            return None
        raw_id = next(
            (v.value for k, v in node.value if k.value == "id" and isinstance(v, yaml.ScalarNode)), None
        )
        where = f"room '{raw_id}'" if raw_id else f"room #{number}"
        before = len(self.problems)
        fields = self.mapping(node, where, ROOM_KEYS)
        assert fields is not None
        room_id = None
        if "id" not in fields:
            self.problem(node, f"{where} has no 'id'")
        else:
            id_node = fields["id"][1]
            value = self.value(id_node) if isinstance(id_node, yaml.ScalarNode) else None
            if not isinstance(value, str) or not ROOM_ID.fullmatch(value):
                self.problem(
                    id_node,
                    f"room id {_show(id_node)} is not valid "
                    "(expected 1 to 40 characters from a-z, 0-9 and '-', e.g. 'late-night')",
                )
            elif value in first_line:
                self.problem(id_node, f"duplicate room id '{value}' (first used on line {first_line[value]})")
            else:
                first_line[value] = _line(id_node)
                room_id = value
        missing = [key for key in ("title", "topic") if key not in fields]
        if missing:
            self.problem(node, f"{where} has no {' or '.join(repr(k) for k in missing)} (both are required)")
        title = (
            self.text(fields["title"][1], f"'title' in {where}", required=True) if "title" in fields else None
        )
        topic = (
            self.text(fields["topic"][1], f"'topic' in {where}", required=True) if "topic" in fields else None
        )
        guidelines = (
            self.text(fields["guidelines"][1], f"'guidelines' in {where}", required=False)
            if "guidelines" in fields
            else ""
        )
        hosts = self.names(fields["hosts"][1], f"'hosts' in {where}") if "hosts" in fields else ()
        backups = (
            self.names(fields["backup_hosts"][1], f"'backup_hosts' in {where}")
            if "backup_hosts" in fields
            else ()
        )
        settings = {**BUILTIN_DEFAULTS, **{k: v for k, v in defaults.items() if k in BUILTIN_DEFAULTS}}
        own = self.settings(fields, where)
        settings.update(own)
        if "resources" in fields:
            names = self.list_names(fields["resources"][1], f"'resources' in {where}", lists)
        else:
            names = defaults.get("resources", tuple(lists))
        filters_node = None
        languages_at = fields.get("languages") or defaults.get("languages_at")
        if "filters" in fields:
            filters_node = fields["filters"][1]
            filters = self.filters(filters_node, where, lists, settings["languages"], languages_at)
        elif "filters" in defaults and not defaults.get("broken_filters"):
            filters_node = defaults["filters"]
            filters = self.filters(filters_node, "defaults", lists, settings["languages"], languages_at)
        else:
            filters = [] if not defaults.get("broken_filters") else None
        snippets, scripts = self.room_scripts(node, fields, where, defaults, settings["max_length"])
        if len(self.problems) > before or room_id is None or filters is None or names is None:
            return None
        assert title is not None and topic is not None and guidelines is not None
        assert hosts is not None and backups is not None
        chain: list[Filter] = [MaxLengthFilter(chars=settings["max_length"]), *filters]
        if settings["premoderate"] != "off":
            chain.append(PremoderateFilter(mode=settings["premoderate"], count=settings["premoderate_count"]))
        return Room(
            id=room_id,
            title=title.strip(),
            topic=topic.strip(),
            guidelines=guidelines,
            hosts=hosts,
            backup_hosts=backups,
            escalate_after=settings["escalate_after"],
            history=settings["history"],
            max_length=settings["max_length"],
            premoderate=settings["premoderate"],
            resources=tuple(item for name in names for item in lists[name]),
            resource_lists=MappingProxyType(dict(lists)),
            chain=FilterChain(chain),
            premoderate_count=settings["premoderate_count"],
            source=repr(
                (
                    yaml.serialize(node),
                    yaml.serialize(filters_node) if filters_node is not None else "",
                    sorted(settings.items()),
                    names,
                    sorted(lists.items()),
                    list(snippets.items()),  # top-level texts a room names are not in its own node
                    scripts,
                )
            ),
            hours=settings["hours"],
            when_unhosted=settings["when_unhosted"],
            unhosted_grace=settings["unhosted_grace"],
            snippets=MappingProxyType(dict(snippets)),
            opening=scripts["opening"],
            closing=scripts["closing"],
            languages=settings["languages"],
        )


def _options_node(item: yaml.Node) -> yaml.Node:
    # `- crisis: {...}` holds its options under the name; `- {filter: crisis, ...}` holds them itself.
    if isinstance(item, yaml.MappingNode) and len(item.value) == 1:
        key, value = item.value[0]
        if isinstance(key, yaml.ScalarNode) and key.value != "filter" and isinstance(value, yaml.Node):
            return value
    return item


def _node_at(node: yaml.Node, path: tuple[str | int, ...]) -> yaml.Node:
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
