"""rooms.yaml: parse, validate with file and line, and build frozen Room objects (pure).

Every problem is collected, not just the first, each as `PATH:LINE: message`.
The YAML is composed into nodes (safe-loader semantics, line marks kept) and
walked by hand, so each problem points at the line that needs changing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from chatserver.crisis import pack_problems as crisis_pack_problems
from chatserver.errors import ConfigError
from chatserver.filters import Filter, FilterChain, MaxLengthFilter, PremoderateFilter
from chatserver.rooms import languages
from chatserver.rooms.filters import FiltersReader
from chatserver.rooms.hosted import HostedReader
from chatserver.rooms.library import LibraryReader, links_allow
from chatserver.rooms.model import (
    BUILTIN_DEFAULTS,
    DEFAULT_KEYS,
    ROOM_ID,
    ROOM_KEYS,
    TOP_KEYS,
    ResourceItem,
    Room,
    RoomsConfig,
)
from chatserver.rooms.moderation_reader import ModerationReader
from chatserver.rooms.reader import Fields
from chatserver.rooms.resources import ResourcesReader
from chatserver.yamlnodes import line_of, show


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


class _Parser(ResourcesReader, FiltersReader, HostedReader, ModerationReader, LibraryReader):
    """The whole file: top-level sections, defaults, then each room built from them."""

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
        if "default_language" in sections:
            self.default_language(sections["default_language"])
        lists = self.resources(sections["resources"]) if "resources" in sections else {}
        if "snippets" in sections:
            self.snippet_library = self.snippet_texts(sections["snippets"], "the top-level snippets")
        self.library(sections.get("library"), sections.get("tags"))
        defaults = self.defaults(sections["defaults"], lists) if "defaults" in sections else {}
        if "rooms" not in top:
            self.problem(root, "no 'rooms' list (expected 'rooms:' with at least one room)")
            return {}
        rooms_node = top["rooms"][1]
        if not isinstance(rooms_node, yaml.SequenceNode) or not rooms_node.value:
            self.problem(rooms_node, f"'rooms' must be a list of at least one room, got {show(rooms_node)}")
            return {}
        rooms: dict[str, Room] = {}
        first_line: dict[str, int] = {}
        for number, node in enumerate(rooms_node.value, 1):
            room = self.room(node, number, defaults, lists, first_line)
            if room is not None:
                rooms[room.id] = room
        return rooms

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
        out["moderation"] = self.moderation_settings(fields, "defaults")
        out["about"] = self.about_settings(fields, "defaults")
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

    def room(
        self,
        node: yaml.Node,
        number: int,
        defaults: Mapping[str, Any],
        lists: Mapping[str, tuple[ResourceItem, ...]],
        first_line: dict[str, int],
    ) -> Room | None:
        """One room from its node, the defaults and the resource lists; None when it has a problem."""
        # Long on purpose: the Room is built in one call, a line per field, from the readers above.
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"room #{number} must be a mapping with id, title and topic, got {show(node)}")
            return None
        raw_id = next(
            (v.value for k, v in node.value if k.value == "id" and isinstance(v, yaml.ScalarNode)), None
        )
        where = f"room '{raw_id}'" if raw_id else f"room #{number}"
        before = len(self.problems)
        fields = self.mapping(node, where, ROOM_KEYS)
        assert fields is not None
        room_id = self.room_id(node, fields, where, first_line)
        texts = self.room_texts(node, fields, where)
        settings = {**BUILTIN_DEFAULTS, **{k: v for k, v in defaults.items() if k in BUILTIN_DEFAULTS}}
        settings.update(self.settings(fields, where))
        if "resources" in fields:
            names = self.list_names(fields["resources"][1], f"'resources' in {where}", lists)
        else:
            names = defaults.get("resources", tuple(lists))
        filters_node, filters = self.room_filters(fields, where, defaults, lists, settings["languages"])
        snippets, scripts = self.room_scripts(node, fields, where, defaults, settings["max_length"])
        moderation = self.room_moderation(fields, where, defaults.get("moderation", {}))
        about = self.room_about(fields, where, defaults.get("about", {}), links_allow(filters or []))
        if len(self.problems) > before or room_id is None or filters is None or names is None:
            return None
        chain: list[Filter] = [MaxLengthFilter(chars=settings["max_length"]), *filters]
        if settings["premoderate"] != "off":
            chain.append(PremoderateFilter(mode=settings["premoderate"], count=settings["premoderate_count"]))
        # Everything the room is built from, so a reload changes only the rooms whose source differs.
        source = (
            yaml.serialize(node),
            yaml.serialize(filters_node) if filters_node is not None else "",
            sorted(settings.items()),
            names,
            sorted(lists.items()),
            list(snippets.items()),  # top-level texts a room names are not in its own node
            scripts,
            moderation,  # defaults' issue-16 keys are not in the room's node either
            about,  # and neither are the library cards it names
            self.fallback_language,  # nor the file's default_language
        )
        return Room(
            id=room_id,
            title=texts["title"],
            topic=texts["topic"],
            guidelines=texts["guidelines"],
            hosts=texts["hosts"],
            backup_hosts=texts["backup_hosts"],
            escalate_after=settings["escalate_after"],
            history=settings["history"],
            max_length=settings["max_length"],
            premoderate=settings["premoderate"],
            resources=tuple(item for name in names for item in lists[name]),
            resource_lists=MappingProxyType(dict(lists)),
            chain=FilterChain(chain),
            premoderate_count=settings["premoderate_count"],
            source=repr(source),
            hours=settings["hours"],
            when_unhosted=settings["when_unhosted"],
            unhosted_grace=settings["unhosted_grace"],
            snippets=MappingProxyType(
                {k: v if isinstance(v, str) else v[self.fallback_language] for k, v in snippets.items()}
            ),
            snippet_texts=MappingProxyType({k: v for k, v in snippets.items() if not isinstance(v, str)}),
            opening=scripts["opening"],
            closing=scripts["closing"],
            languages=settings["languages"],
            moderation=moderation,
            about=about,
            texts=MappingProxyType(texts["maps"]),
            fallback_language=self.fallback_language,
        )

    def room_id(self, node: yaml.Node, fields: Fields, where: str, first_line: dict[str, int]) -> str | None:
        """The room's id when valid and not used by an earlier room (`first_line` remembers those)."""
        if "id" not in fields:
            self.problem(node, f"{where} has no 'id'")
            return None
        id_node = fields["id"][1]
        value = self.value(id_node) if isinstance(id_node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not ROOM_ID.fullmatch(value):
            self.problem(
                id_node,
                f"room id {show(id_node)} is not valid "
                "(expected 1 to 40 characters from a-z, 0-9 and '-', e.g. 'late-night')",
            )
            return None
        if value in first_line:
            self.problem(id_node, f"duplicate room id '{value}' (first used on line {first_line[value]})")
            return None
        first_line[value] = line_of(id_node)
        return value

    def room_texts(self, node: yaml.Node, fields: Fields, where: str) -> dict[str, Any]:
        """Title, topic and guidelines (stripped), hosts and backup hosts; problems reported."""
        missing = [key for key in ("title", "topic") if key not in fields]
        if missing:
            self.problem(node, f"{where} has no {' or '.join(repr(k) for k in missing)} (both are required)")
        texts: dict[str, Any] = {"guidelines": "", "hosts": (), "backup_hosts": (), "maps": {}}
        for key in ("title", "topic", "guidelines"):
            if key in fields:
                plain = key == "guidelines"  # kept as written; title and topic are stripped
                read = self.localized(
                    fields[key][1], f"'{key}' in {where}", required=not plain, strip=not plain
                )
                texts[key] = read[0] if read else None
                if read and not isinstance(read[1], str):
                    texts["maps"][key] = read[1]
        for key in ("hosts", "backup_hosts"):
            if key in fields:
                texts[key] = self.names(fields[key][1], f"'{key}' in {where}")
        return texts

    def default_language(self, node: yaml.Node) -> None:
        """The top-level `default_language: es`: a known code, else reported (and `en` kept)."""
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not languages.known(value):
            self.problem(node, f"'default_language' must be a language code like en or es, got {show(node)}")
            return
        self.fallback_language = value

    def room_filters(
        self,
        fields: Fields,
        where: str,
        defaults: Mapping[str, Any],
        lists: Mapping[str, tuple[ResourceItem, ...]],
        languages: tuple[str, ...] | None,
    ) -> tuple[yaml.Node | None, list[Filter] | None]:
        """The room's own filters, else the defaults' (None when they are broken), and the node read."""
        languages_at = fields.get("languages") or defaults.get("languages_at")
        if "filters" in fields:
            node = fields["filters"][1]
            return node, self.filters(node, where, lists, languages, languages_at)
        if "filters" in defaults and not defaults.get("broken_filters"):
            node = defaults["filters"]
            return node, self.filters(node, "defaults", lists, languages, languages_at)
        return None, [] if not defaults.get("broken_filters") else None
