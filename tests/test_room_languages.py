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


TEXTS = """\
resources:
  crisis:
    - name: {en: "Listening line", es: "Línea de escucha"}
      hours: {en: "Every day, any hour", es: "Todos los días, a cualquier hora"}
      phone: "116 123"
      countries: [GB, IE]
snippets:
  welcome: {en: "Welcome, glad you are here.", es: "Bienvenida, qué bien que estés aquí."}
library:
  slow-breathing:
    title: {en: "Slow breathing for panic", es: "Respirar despacio ante el pánico"}
    text: {en: "A two-minute exercise.", es: "Un ejercicio de dos minutos."}
    url: https://www.nhs.uk/breathing
    tags: [panic]
rooms:
  - id: grief
    title: {en: "Grief and loss", es: "Duelo y pérdida"}
    topic: For anyone missing someone.
    hosts: [alice]
    resources: [crisis]
    snippets: [welcome]
    opening: welcome
    library: [slow-breathing]
    peer_note: {en: "Everyone here is a peer.", es: "Aquí todos somos pares."}
    filters: []
  - id: lobby
    title: Lobby
    topic: Anyone.
    library: [slow-breathing]
    filters: []
"""


def test_resources_snippets_cards_and_the_peer_note_take_a_map() -> None:
    """Each keeps its fallback text where a string was read before; Room.served resolves the rest."""
    room = parse_rooms(TEXTS).rooms["grief"]
    assert room.resources[0]["name"] == "Listening line" and room.snippets["welcome"].startswith("Welcome")
    assert room.about.cards[0].title == "Slow breathing for panic"
    assert room.about.peer_note == "Everyone here is a peer." and room.about.note_code is None
    spanish = room.served("es")
    assert spanish.resources[0]["name"] == "Línea de escucha"
    assert spanish.resources[0]["hours"] == "Todos los días, a cualquier hora"
    assert spanish.resources[0]["phone"] == "116 123"
    assert spanish.snippets["welcome"].startswith("Bienvenida")
    assert (spanish.cards[0]["title"], spanish.cards[0]["lang"]) == ("Respirar despacio ante el pánico", "es")
    assert (spanish.peer_note, spanish.peer_note_lang) == ("Aquí todos somos pares.", "es")
    lobby = parse_rooms(TEXTS).rooms["lobby"]
    assert lobby.about.note_code == "peer_note" and lobby.served("es").peer_note_lang == "en"


def test_check_rooms_reports_unknown_codes_and_missing_fallbacks_in_every_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Helplines, snippets, cards and the peer note: PATH:LINE at the code, or at the map without 'en'."""
    from chatserver.cli import main

    text = (
        TEXTS.replace('name: {en: "Listening line", ', 'name: {xx: "Nope", ')
        .replace('hours: {en: "Every day, any hour", ', "hours: {")
        .replace('welcome: {en: "Welcome, glad you are here.", ', "welcome: {")
        .replace('text: {en: "A two-minute exercise.", ', 'text: {en: "A two-minute exercise.", zz: "?", ')
        .replace('peer_note: {en: "Everyone here is a peer.", ', "peer_note: {")
    )
    path = tmp_path / "rooms.yaml"
    path.write_text(text)
    assert main(["check-rooms", str(path)]) == 1
    err = capsys.readouterr().err
    expected = [
        (
            line_with(text, "- name:"),
            "'name' in an item of resources list 'crisis': unknown language code 'xx'",
        ),
        (line_with(text, "hours:"), "'hours' in an item of resources list 'crisis' has no 'en' text"),
        (line_with(text, "welcome:"), "snippet 'welcome' in the top-level snippets has no 'en' text"),
        (line_with(text, "zz:"), "'text' of card 'slow-breathing': unknown language code 'zz'"),
        (line_with(text, "peer_note:"), "'peer_note' in room 'grief' has no 'en' text"),
    ]
    for line, message in expected:
        assert f"{path}:{line}: {message}" in err, (line, message, err)


def test_a_snippet_too_long_in_one_language_is_reported() -> None:
    """A host sends a snippet as a message: every language's text must fit the room's max_length."""
    text = TEXTS.replace("    snippets: [welcome]\n", "    max_length: 30\n    snippets: [welcome]\n")
    problems = problems_of(text)
    assert len(problems) == 1 and "snippet 'welcome' in 'es' in room 'grief' is 36 characters" in problems[0]


def test_api_library_serves_cards_and_the_note_in_the_language_asked(make_server: Any) -> None:
    """?lang= else Accept-Language; each card and the note say their language; a built-in note its code."""
    server = make_server(TEXTS)
    lib = httpx.get(server.base + "/api/library?room=grief&lang=es-ES", timeout=5).json()
    assert (lib["cards"][0]["title"], lib["cards"][0]["lang"]) == ("Respirar despacio ante el pánico", "es")
    assert (lib["peer_note"], lib["lang"], lib["peer_note_code"]) == ("Aquí todos somos pares.", "es", None)
    header = httpx.get(server.base + "/api/library?room=grief", headers={"Accept-Language": "es"}, timeout=5)
    assert header.json()["cards"][0]["text"] == "Un ejercicio de dos minutos."
    english = httpx.get(server.base + "/api/library?room=grief&lang=de", timeout=5).json()
    assert (english["cards"][0]["title"], english["lang"]) == ("Slow breathing for panic", "en")
    lobby = httpx.get(server.base + "/api/library?room=lobby&lang=es", timeout=5).json()
    assert (lobby["peer_note_code"], lobby["lang"]) == ("peer_note", "en")
    assert lobby["cards"][0]["title"] == "Respirar despacio ante el pánico"
    bare = httpx.get(server.base + "/api/library?lang=es", timeout=5).json()
    assert (bare["peer_note_code"], bare["lang"]) == ("peer_note", "en")


def test_the_shipped_helplines_speak_each_shipped_language() -> None:
    """The shipped rooms.yaml: the anywhere helplines and emergency numbers in all seven languages;
    everyone else (no language asked) reads the English as before."""
    from chatserver.rooms import load_rooms
    from chatserver.rooms.languages import SHIPPED

    room = load_rooms(Path(__file__).resolve().parent.parent / "rooms.yaml").rooms["welcome"]
    assert room.resources[0]["name"] == "Emergency services"
    names = {lang: {item["name"] for item in room.served(lang).resources} for lang in SHIPPED}
    assert "Servicios de emergencia" in names["es"] and "Notruf" in names["de"]
    assert all(len({*names[lang]} - names["en"]) >= 1 for lang in SHIPPED if lang != "en")
    spanish = next(i for i in room.served("es").resources if i.get("countries") == ["GB"])
    assert (spanish["phone"], spanish["text"]) == ("999", "Si tú o alguien más está en peligro ahora mismo.")
