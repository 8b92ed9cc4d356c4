"""What a rooms.yaml becomes: frozen Room objects, and the keys and defaults the file may use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chatserver.filters import FilterChain
from chatserver.hours import Hours
from chatserver.rooms.about import LIBRARY_KEYS, RoomAbout
from chatserver.rooms.languages import Text, resolve
from chatserver.rooms.moderation import MODERATION_KEYS, RoomModeration
from chatserver.rooms.served import ResourceItem, Served, key_of, serve

TOP_KEYS = ("default_language", "defaults", "resources", "snippets", "tags", "library", "rooms")
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
    *MODERATION_KEYS,  # rules, ladder, strikes, reasons, shield, join bursts (issue 16)
    *LIBRARY_KEYS,  # cards, professional-led sessions, the peer-support note (issue 20)
)
#: A room takes what defaults take, and who and what it is.
ROOM_KEYS = ("id", "title", "topic", "guidelines", "hosts", "backup_hosts", *DEFAULT_KEYS)
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
__all__ = ["ResourceItem", "Room", "RoomsConfig"]
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
    #: Rules, the ladder, strike expiry, refusal reasons, the shield preset, join bursts (issue 16).
    moderation: RoomModeration = field(default_factory=RoomModeration)
    #: The room's library cards, whether a professional leads it, its peer-support note (issue 20).
    about: RoomAbout = field(default_factory=RoomAbout)
    #: `title`, `topic`, `guidelines` as rooms.yaml gave them when a map {language: text} (issue 19);
    #: the fields above hold the fallback language's text, for everything that reads a string.
    texts: Mapping[str, Text] = field(default_factory=lambda: MappingProxyType[str, Text]({}))
    fallback_language: str = "en"  # the file's `default_language`
    #: Snippets rooms.yaml gave as a map {language: text}, by name (`snippets` holds the fallback's).
    snippet_texts: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType[str, Mapping[str, str]]({})
    )
    #: Served texts by language, filled as readers of each language arrive (never more than one per
    #: known code: see served.key_of); a reload builds new Rooms, so nothing here goes stale.
    _served: dict[str, Served] = field(default_factory=dict, init=False, repr=False)

    def text_in(self, key: str, tag: str | None) -> tuple[str, str]:
        """(text, the language it is in) of `title`, `topic` or `guidelines` for a reader of `tag`."""
        plain = {"title": self.title, "topic": self.topic, "guidelines": self.guidelines}[key]
        return resolve(self.texts.get(key, plain), tag, self.fallback_language)

    def served(self, tag: str | None) -> Served:
        """Everything the room says, for a reader of `tag`, resolved once per language."""
        lang = key_of(tag, self.fallback_language)
        found = self._served.get(lang)
        if found is None:
            found = self._served[lang] = serve(self, lang)
        return found

    @property
    def guidelines_required(self) -> bool:
        """Joining needs `accept_guidelines` when the room has guidelines."""
        return bool(self.guidelines.strip())


@dataclass(frozen=True, eq=False)
class RoomsConfig:
    """Every room of a rooms.yaml, in file order."""

    path: str
    rooms: Mapping[str, Room]
