"""What a room says about itself beyond its topic (issue 20): its library cards, whether a
professional leads it, and its words on what peer support is. Plain frozen data; rooms.yaml's
`library:`, `tags:`, `professional_led` and `peer_note` are read by library.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from chatserver.rooms.languages import resolve

#: Keys allowed in `defaults:` and in each room.
LIBRARY_KEYS = ("library", "professional_led", "peer_note")
CARD_KEYS = ("title", "text", "url", "tags")
CARD_ID = re.compile(r"[a-z0-9_-]{1,40}")
TAG = re.compile(r"[a-z0-9-]{1,30}")
TITLE_MAX = 80
TEXT_MAX = 300
NOTE_MAX = 1200
#: Tags a card may carry when rooms.yaml has no top-level `tags:` list.
TAGS = (
    "anxiety",
    "panic",
    "low-mood",
    "sleep",
    "grief",
    "loneliness",
    "stress",
    "self-care",
    "self-harm",
    "crisis",
    "therapy",
    "medication",
    "relationships",
    "work",
    "young-people",
    "carers",
    "eating",
    "alcohol",
    "trauma",
)

#: What the product says about itself, once on first join and always with "Get help now".
PEER_NOTE = (
    "The people here, hosts included, are peers: people with their own experience of hard times, "
    "not doctors or therapists, unless a badge beside their name says so. Talking here can help, "
    "and it sits alongside professional care, never in place of it. For a diagnosis, treatment or "
    "questions about medication, please talk to your doctor or a local health service. If you are "
    "in danger now, “Get help now” lists people you can reach at any hour."
)
PROFESSIONAL_NOTE = (
    "This session is led by a professional, marked by a badge beside their name; everyone else "
    "here is a peer, with their own experience of hard times. A group chat is not therapy and "
    "cannot give you a diagnosis or treatment: it sits alongside professional care, never in place "
    "of it. For care of your own, please talk to your doctor or a local health service. If you are "
    "in danger now, “Get help now” lists people you can reach at any hour."
)


@dataclass(frozen=True, slots=True)
class Card:
    """One card of the library: a title, a sentence or two, an allowed link, tags."""

    id: str
    title: str
    text: str
    url: str
    tags: tuple[str, ...] = ()
    #: `title` and `text` when rooms.yaml gave a map {language: text} (issue 19); the fields above
    #: hold the fallback language's.
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    def wire(self, lang: str | None = None, fallback: str = "en") -> dict[str, Any]:
        """The card as browsers get it (the `card` of a pushed card, an item of /api/library), its
        words in `lang` where the card has them; `lang` says which language its title is in."""
        title, served = resolve(self.texts.get("title", self.title), lang, fallback)
        return {
            "id": self.id,
            "title": title,
            "text": resolve(self.texts.get("text", self.text), lang, fallback)[0],
            "url": self.url,
            "tags": list(self.tags),
            "lang": served,
        }


@dataclass(frozen=True, slots=True)
class RoomAbout:
    """What a room says about itself beyond its topic: its cards, whether a professional leads it,
    and its words on what peer support is."""

    cards: tuple[Card, ...] = ()
    professional_led: bool = False
    peer_note: str = field(default=PEER_NOTE)
    #: The note as a map {language: text} when rooms.yaml gave one (issue 19), else empty.
    note_texts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: `peer_note` or `professional_note` when the note is the built-in English one (no `peer_note:`),
    #: so a page can show its own translation; None for a room's own words.
    note_code: str | None = None

    def card(self, card_id: str) -> Card | None:
        return next((c for c in self.cards if c.id == card_id), None)


def link_allowed(url: str, allow: tuple[str, ...]) -> bool:
    """Whether a links filter allowing `allow` lets `url` through (its host, or a subdomain)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allow)
