"""Issue 19, server half: room texts in several languages in rooms.yaml, and /api/rooms serving them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chatserver.errors import ConfigError
from chatserver.rooms import parse_rooms

ROOMS = """\
rooms:
  - id: grief
    title: {en: "Grief and loss", es: "Duelo y pérdida", pt: "Luto e perda"}
    topic:
      en: "For anyone missing someone."
      es: "Para quien echa de menos a alguien."
    guidelines: {en: "Be kind.", es: "Sé amable."}
    languages: [en, es]
    filters: []
  - id: lobby
    title: Lobby
    topic: A calm place to talk.
    filters: []
"""


def line_with(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_rooms(text, "rooms.yaml")
    return err.value.problems


def test_a_map_keeps_every_language_and_the_fallback_is_what_strings_see() -> None:
    """Everything that read a string before (frames, join) sees the fallback language's text."""
    grief = parse_rooms(ROOMS).rooms["grief"]
    assert (grief.title, grief.topic, grief.guidelines) == (
        "Grief and loss",
        "For anyone missing someone.",
        "Be kind.",
    )
    assert grief.text_in("title", "es-MX") == ("Duelo y pérdida", "es")
    assert grief.text_in("guidelines", "es") == ("Sé amable.", "es")
    assert grief.text_in("topic", "pt") == ("For anyone missing someone.", "en")
    assert parse_rooms(ROOMS).rooms["lobby"].text_in("title", "es") == ("Lobby", "en")


def test_default_language_is_the_fallback() -> None:
    text = "default_language: es\n" + ROOMS.replace('en: "Grief and loss", ', "").replace(
        "Lobby", "Vestíbulo"
    )
    text = text.replace('      en: "For anyone missing someone."\n', "").replace('en: "Be kind.", ', "")
    grief = parse_rooms(text).rooms["grief"]
    assert grief.title == "Duelo y pérdida"
    assert grief.text_in("title", "de") == ("Duelo y pérdida", "es")
    assert parse_rooms(text).rooms["lobby"].text_in("title", "en") == ("Vestíbulo", "es")


def test_check_rooms_reports_a_map_without_the_fallback_and_an_unknown_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chatserver check-rooms` exits 1 with PATH:LINE for each: the map's line, the code's line."""
    from chatserver.cli import main

    text = ROOMS.replace('en: "Grief and loss", ', "").replace(
        '      es: "Para quien', '      xx: "Nope"\n      es: "Para quien'
    )
    path = tmp_path / "rooms.yaml"
    path.write_text(text)
    assert main(["check-rooms", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line_with(text, 'title:')}: 'title' in room 'grief' has no 'en' text" in err, err
    assert f"{path}:{line_with(text, 'xx:')}: 'topic' in room 'grief': unknown language code" in err, err


def test_a_bad_default_language_is_reported_at_its_line() -> None:
    text = "default_language: english\n" + ROOMS
    assert problems_of(text) == [
        "rooms.yaml:1: 'default_language' must be a language code like en or es, got 'english'"
    ]


def rooms_of(server: Any, path: str = "/api/rooms", **kw: Any) -> dict[str, dict[str, Any]]:
    response = httpx.get(server.base + path, timeout=5, **kw)
    assert response.status_code == 200, response.text
    return {room["id"]: room for room in response.json()}


def test_api_rooms_serves_the_texts_in_the_language_asked(make_server: Any) -> None:
    """?lang= wins, else Accept-Language, else the fallback; each room says which and what hosts read."""
    server = make_server(ROOMS)
    asked = rooms_of(server, "/api/rooms?lang=es", headers={"Accept-Language": "pt"})
    assert asked["grief"]["title"] == "Duelo y pérdida"
    assert asked["grief"]["topic"] == "Para quien echa de menos a alguien."
    assert (asked["grief"]["lang"], asked["grief"]["languages"]) == ("es", ["en", "es"])
    assert (asked["lobby"]["title"], asked["lobby"]["lang"]) == ("Lobby", "en")
    assert asked["lobby"]["languages"] == [], "no `languages`: nothing is promised about the hosts"
    assert isinstance(asked["grief"]["members"], list | int)

    header = rooms_of(server, headers={"Accept-Language": "fr;q=0.5, es-MX;q=0.9, de;q=0"})
    assert (header["grief"]["title"], header["grief"]["lang"]) == ("Duelo y pérdida", "es")
    portuguese = rooms_of(server, headers={"Accept-Language": "pt-BR"})
    assert (portuguese["grief"]["title"], portuguese["grief"]["lang"]) == ("Luto e perda", "pt")
    assert portuguese["grief"]["topic"] == "For anyone missing someone."

    for plain in (
        rooms_of(server),
        rooms_of(server, "/api/rooms?lang=de"),
        rooms_of(server, "/api/rooms?lang=!!"),
    ):
        assert plain["grief"]["title"] == "Grief and loss"
        assert plain["grief"]["topic"] == "For anyone missing someone."
        assert plain["grief"]["lang"] == "en"
