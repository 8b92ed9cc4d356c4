"""A room's texts as one reader gets them (issue 19): resolved once per (room, language), then reused.

Pure. rooms.yaml keys a map by ISO 639-1 code only, so what a reader of `pt-BR` gets depends on `pt`
alone: `key_of` turns any asked-for tag into the language to serve (a known code, else the fallback),
which also bounds a room's cache to the codes there are, whatever tags clients send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from chatserver.rooms import languages
from chatserver.rooms.languages import resolve

if TYPE_CHECKING:
    from chatserver.rooms.model import Room

#: The fields of a resources item that are words (a map per language allowed); numbers and links are not.
RESOURCE_TEXT_KEYS = ("name", "text", "hours", "region")


class ResourceItem(dict[str, Any]):
    """One helpline as sent to browsers: the fallback language's words (so it serialises as before),
    with `texts` holding the fields rooms.yaml gave as {language: text} maps."""

    __slots__ = ("texts",)

    def __init__(
        self, fields: Mapping[str, Any] | None = None, texts: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        super().__init__(fields or {})
        self.texts: Mapping[str, Mapping[str, str]] = texts or {}

    def __repr__(self) -> str:  # in Room.source: a changed translation is a changed room
        return f"ResourceItem({dict.__repr__(self)}, {dict(self.texts)!r})"

    def served(self, lang: str, fallback: str) -> dict[str, Any]:
        """The item in `lang` (each field that has it; the rest in the fallback language)."""
        if not self.texts:
            return self
        return {**self, **{key: resolve(text, lang, fallback)[0] for key, text in self.texts.items()}}


def key_of(tag: str | None, fallback: str) -> str:
    """The language a reader of `tag` is served in: its base language when it is a known code."""
    base = tag.split("-")[0].strip().lower() if tag else ""
    return base if languages.known(base) else fallback


@dataclass(frozen=True, slots=True)
class Served:
    """Everything a room says, in one language: what `joined`, `guidelines_required`, `resources`
    and `lang` frames carry. `lang` is the language the title came in (as /api/rooms says); a text
    the room does not have in it comes in the fallback language."""

    lang: str
    title: str
    topic: str
    guidelines: str
    guidelines_lang: str
    resources: tuple[dict[str, Any], ...]
    lists: Mapping[str, tuple[dict[str, Any], ...]]
    snippets: Mapping[str, str]
    cards: tuple[dict[str, Any], ...]
    peer_note: str
    peer_note_lang: str

    def texts(self, *, host: bool) -> dict[str, Any]:
        """The room's words for a `lang` frame (a host also gets the snippets the console offers)."""
        out: dict[str, Any] = {
            "lang": self.lang,
            "title": self.title,
            "topic": self.topic,
            "guidelines": self.guidelines,
            "resources": list(self.resources),
        }
        if host:
            out["snippets"] = dict(self.snippets)
        return out


def serve(room: Room, lang: str) -> Served:
    """Resolve every text of `room` for `lang` (a `key_of` result); Room.served caches the result."""
    fallback = room.fallback_language
    title, served = room.text_in("title", lang)
    guidelines, guidelines_lang = room.text_in("guidelines", lang)
    lists = {
        name: tuple(_item(item, lang, fallback) for item in items)
        for name, items in room.resource_lists.items()
    }
    snippets = {
        name: resolve(room.snippet_texts.get(name, text), lang, fallback)[0]
        for name, text in room.snippets.items()
    }
    about = room.about
    note, note_lang = resolve(about.note_texts or about.peer_note, lang, fallback)
    if about.note_code:  # the built-in note is in English whatever the file's fallback
        note_lang = "en"
    return Served(
        lang=served,
        title=title,
        topic=room.text_in("topic", lang)[0],
        guidelines=guidelines,
        guidelines_lang=guidelines_lang,
        resources=tuple(_item(item, lang, fallback) for item in room.resources),
        lists=MappingProxyType(lists),
        snippets=MappingProxyType(snippets),
        cards=tuple(card.wire(lang, fallback) for card in about.cards),
        peer_note=note,
        peer_note_lang=note_lang,
    )


def _item(item: dict[str, Any], lang: str, fallback: str) -> dict[str, Any]:
    return item.served(lang, fallback) if isinstance(item, ResourceItem) else item
