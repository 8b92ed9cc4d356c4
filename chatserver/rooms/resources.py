"""rooms.yaml `resources:`: help lines by list name, numbers and links checked, pairs kept together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from chatserver import helplines
from chatserver.rooms.model import RESOURCE_KEYS
from chatserver.rooms.reader import Reader
from chatserver.rooms.served import RESOURCE_TEXT_KEYS, ResourceItem
from chatserver.yamlnodes import line_of, show


class ResourcesReader(Reader):
    """The top-level resource lists, and the list names that defaults and rooms choose from them."""

    def resources(self, node: yaml.Node) -> dict[str, tuple[ResourceItem, ...]]:
        lists: dict[str, tuple[ResourceItem, ...]] = {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"'resources' must map list names to lists of items, got {show(node)}")
            return lists
        for key_node, list_node in node.value:
            name = self.text(key_node, "a resources list name", required=True)
            if name is None:
                continue
            if not isinstance(list_node, yaml.SequenceNode):
                self.problem(
                    list_node, f"resources list '{name}' must be a list of items, got {show(list_node)}"
                )
                continue
            where = f"an item of resources list '{name}'"
            items = [(item_node, self.resource_item(item_node, where)) for item_node in list_node.value]
            self.resource_pairs(name, [(n, item) for n, item in items if item is not None])
            lists[name] = tuple(item for _, item in items if item is not None)
        return lists

    def resource_item(self, item_node: yaml.Node, where: str) -> ResourceItem | None:
        """One helpline: text fields as given (words may be a map {language: text}), `countries` as
        upper-case codes; numbers and links checked."""
        fields = self.mapping(item_node, where, RESOURCE_KEYS)
        if fields is None:
            return None
        if "name" not in fields:
            self.problem(item_node, f"{where} needs a 'name'")
        item = ResourceItem()
        texts: dict[str, Any] = {}
        countries: tuple[str, ...] = ()
        if "countries" in fields:
            countries = self.resource_countries(fields["countries"][1], where)
            if countries:
                item["countries"] = list(countries)
        for key, (_, value_node) in fields.items():
            if key == "countries":
                continue
            if key in RESOURCE_TEXT_KEYS and isinstance(value_node, yaml.MappingNode):
                read = self.localized(value_node, f"'{key}' in {where}", required=True, strip=False)
                if read is not None:
                    item[key], texts[key] = read
                continue
            value = self.value(value_node) if isinstance(value_node, yaml.ScalarNode) else None
            if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
                self.problem(value_node, f"'{key}' in {where} must be a text, got {show(value_node)}")
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
        item.texts = texts
        return item

    def resource_countries(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        """[GB, IE] as written (the raw scalars: YAML would read a bare NO, Norway, as false)."""
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(
                node,
                f"'countries' in {where} must be a list of country codes like [GB, IE], got {show(node)}",
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
                        f"(this one: {countries}; line {line_of(first_node)}: {first_countries})",
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
