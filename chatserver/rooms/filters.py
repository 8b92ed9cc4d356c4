"""rooms.yaml `filters:` and `languages:`: filter chains built once per room, crisis options checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from chatserver.crisis import packs as crisis_packs
from chatserver.crisis import shipped_languages as crisis_shipped_languages
from chatserver.filters import CrisisFilter, Filter, FilterConfigError, build_filter, parse_spec
from chatserver.filters.crisis import option_problems as crisis_option_problems
from chatserver.rooms.reader import Reader, node_at, options_node
from chatserver.yamlnodes import show


class FiltersReader(Reader):
    """A room's filter list, with the crisis filter's languages and options reported at their lines."""

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
                node, f"'filters' in {where} must be a list of filters (use [] for none), got {show(node)}"
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
            self.problem(node_at(options_node(item), path), f"{where}: filter 'crisis': {message}")
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
