"""rooms.yaml: the library of good information, professional-led sessions, and what peer support
is not (issue 20).

```yaml
tags: [sleep, panic, grief]          # optional: the tags cards may use (default: TAGS)
library:                             # cards by id, shared by every room
  slow-breathing:
    title: Slow breathing for panic
    text: A two-minute exercise that calms the body when panic rises.
    url: https://www.nhs.uk/mental-health/self-help/guides-tools-and-activities/breathing-exercises-for-stress/
    tags: [panic]
rooms:
  - id: anxiety
    library: [slow-breathing]        # the cards this room offers (defaults may name them too)
    professional_led: true           # sessions led by a professional: said in the room list
    peer_note: "..."                 # this room's words on what peer support is (and is not)
```

A card's link must be allowed in every room that offers it (the room's `links` filter `allow`
list, when it has a links filter), so a host never pushes a link the room would hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from chatserver import helplines
from chatserver.filters import Filter
from chatserver.filters.links import LinksFilter
from chatserver.rooms.about import (
    CARD_ID,
    CARD_KEYS,
    NOTE_MAX,
    PEER_NOTE,
    PROFESSIONAL_NOTE,
    TAG,
    TAGS,
    TEXT_MAX,
    TITLE_MAX,
    Card,
    RoomAbout,
    link_allowed,
)
from chatserver.rooms.languages import Text
from chatserver.rooms.reader import Fields, Reader
from chatserver.yamlnodes import line_of, show


def links_allow(filters: list[Filter]) -> tuple[str, ...] | None:
    """The allow list of a room's links filter; None when the room has no links filter (any link passes)."""
    return next((f.allow for f in filters if isinstance(f, LinksFilter)), None)


class LibraryReader(Reader):
    """The top-level `tags:` and `library:`, and each room's cards, session flag and peer note."""

    #: The top-level library by card id, and the line of each card's link (for room-level problems).
    cards: dict[str, Card]
    card_lines: dict[str, int]

    def library(self, node: yaml.Node | None, tags_node: yaml.Node | None) -> None:
        """Read `library:` into `self.cards`, every card checked against the known tags."""
        self.cards, self.card_lines = {}, {}
        tags = self.tag_names(tags_node) if tags_node is not None else TAGS
        if node is None:
            return
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.problem(
                node,
                f"'library' must map card ids to cards, like {{sleep-basics: {{...}}}}, got {show(node)}",
            )
            return

        def bad_id(key: yaml.Node) -> str:
            return (
                f"card id {show(key)} in the library is not valid "
                "(expected 1 to 40 characters from a-z, 0-9, '_' and '-', e.g. sleep-basics)"
            )

        for card_id, key_node, card_node in self.entries(node, lambda k: bool(CARD_ID.fullmatch(k)), bad_id):
            card = self.card(card_id, key_node, card_node, tags)
            if card is not None:
                self.cards[card_id] = card

    def tag_names(self, node: yaml.Node) -> tuple[str, ...]:
        names = self.names(node, "'tags'") or ()
        for name, item in zip(names, node.value, strict=False):
            if not TAG.fullmatch(name):
                self.problem(
                    item, f"tag '{name}' is not valid (expected 1 to 30 characters from a-z, 0-9 and '-')"
                )
        return names

    def card(self, card_id: str, at: yaml.Node, node: yaml.Node, tags: tuple[str, ...]) -> Card | None:
        """One card; every problem reported at its line, None when there was one."""
        where = f"card '{card_id}'"
        fields = self.mapping(node, where, CARD_KEYS)
        if fields is None:
            return None
        before = len(self.problems)
        missing = [k for k in ("title", "text", "url") if k not in fields]
        if missing:
            self.problem(
                at, f"{where} has no {' or '.join(repr(k) for k in missing)} (a card needs all three)"
            )
        # Title and text may be a map {language: text} (issue 19); the link is one for every language.
        values = {
            key: self.card_text(fields[key][1], f"'{key}' of {where}", limit)
            for key, limit in (("title", TITLE_MAX), ("text", TEXT_MAX))
            if key in fields
        }
        url = (
            (self.text(fields["url"][1], f"'url' of {where}", required=True) or "").strip()
            if "url" in fields
            else ""
        )
        if url:
            problem = helplines.check_url(url)
            if problem:
                self.problem(fields["url"][1], f"'url' of {where}: {problem}")
            self.card_lines[card_id] = line_of(fields["url"][1])
        card_tags = self.card_tags(fields["tags"][1], where, tags) if "tags" in fields else ()
        if len(self.problems) > before:
            return None
        plain = {k: v if isinstance(v, str) else v[self.fallback_language] for k, v in values.items()}
        maps = MappingProxyType({k: v for k, v in values.items() if not isinstance(v, str)})
        return Card(card_id, plain["title"], plain["text"], url, card_tags, maps)

    def card_text(self, node: yaml.Node, what: str, limit: int) -> Text:
        """A text or a map {language: text}, stripped; each language's text at most `limit` characters."""
        read = self.localized(node, what, required=True, strip=True)
        if read is None:
            return ""
        for code, text in ({"": read[1]} if isinstance(read[1], str) else read[1]).items():
            if len(text) > limit:
                where = f"{what} in '{code}'" if code else what
                self.problem(
                    node, f"{where} is {len(text)} characters; keep it to {limit} (a sentence or two)"
                )
        return read[1]

    def card_tags(self, node: yaml.Node, where: str, known: tuple[str, ...]) -> tuple[str, ...]:
        names = self.names(node, f"'tags' of {where}") or ()
        for name, item in zip(names, node.value, strict=False):
            if name not in known:
                self.problem(item, f"'tags' of {where}: unknown tag '{name}' (known: {', '.join(known)})")
        return names

    # ---- defaults and rooms ------------------------------------------------------------------
    def about_settings(self, fields: Fields, where: str) -> dict[str, Any]:
        """The library keys given in `defaults` (or a room): card ids with their nodes, the flag, the note."""
        out: dict[str, Any] = {}
        if "library" in fields:
            node = fields["library"][1]
            names = self.names(node, f"'library' in {where}")
            if names is not None:
                out["library"] = list(zip(names, node.value, strict=True))
        if "professional_led" in fields:
            node = fields["professional_led"][1]
            value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
            if isinstance(value, bool):
                out["professional_led"] = value
            else:
                self.problem(node, f"'professional_led' in {where} must be true or false, got {show(node)}")
        if "peer_note" in fields:
            note = self.card_text(fields["peer_note"][1], f"'peer_note' in {where}", NOTE_MAX)
            if note:
                out["peer_note"] = note  # a text, or a map {language: text}
        return out

    def room_about(
        self, fields: Fields, where: str, defaults: Mapping[str, Any], allow: tuple[str, ...] | None
    ) -> RoomAbout:
        """The room's cards (each link checked against `allow`, its links filter's list, when it has
        one), whether a professional leads it, and its peer note."""
        about = {**defaults, **self.about_settings(fields, where)}
        cards: list[Card] = []
        for name, node in about.get("library", ()):
            card = self.cards.get(name)
            if card is None:
                if name not in self.card_lines:  # a broken card was reported already
                    known = ", ".join(self.cards) or "none defined"
                    self.problem(
                        node, f"'library' in {where} names '{name}', which is not a library card ({known})"
                    )
                continue
            if allow is not None and not link_allowed(card.url, allow):
                host = urlsplit(card.url).hostname
                self.problem(
                    self.card_lines[name],
                    f"card '{name}': its link is off the links allow list of {where} "
                    f"({', '.join(allow) or 'nothing allowed'}); add {host} to that room's links 'allow' "
                    "or choose another link",
                )
                continue
            cards.append(card)
        professional = bool(about.get("professional_led", False))
        note = about.get("peer_note")
        if not note:  # the built-in words, in English; `note_code` lets a page show its own translation
            code = "professional_note" if professional else "peer_note"
            return RoomAbout(
                tuple(cards), professional, PROFESSIONAL_NOTE if professional else PEER_NOTE, note_code=code
            )
        if isinstance(note, str):
            return RoomAbout(tuple(cards), professional, note)
        return RoomAbout(tuple(cards), professional, note[self.fallback_language], note_texts=note)
