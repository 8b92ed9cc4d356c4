"""Issue 19 over a real server and real WebSockets: `hello` says a language, the room's own words come
in it (join, guidelines, resources), and a `lang` frame changes it without rejoining."""

from __future__ import annotations

from typing import Any

import pytest

from chatserver.rooms import parse_rooms
from chatserver.rooms.languages import ISO_639_1

ROOMS = """\
resources:
  crisis:
    - name: {en: "Listening line", es: "Línea de escucha"}
      text: {en: "Someone to talk to, any hour.", es: "Alguien con quien hablar, a cualquier hora."}
      phone: "116 123"
      countries: [GB, IE]
rooms:
  - id: grief
    title: {en: "Grief and loss", es: "Duelo y pérdida", fr: "Deuil"}
    topic: {en: "For anyone missing someone.", es: "Para quien echa de menos a alguien."}
    guidelines: {en: "Be kind.", es: "Sé amable."}
    hosts: [alice]
    resources: [crisis]
    filters:
      - crisis: {resources: crisis}
"""

IMMINENT = "I have the pills in my hand right now and I'm taking all of them tonight"


def test_a_room_is_resolved_once_per_language_whatever_tags_arrive() -> None:
    """pt-BR and pt share one cache entry; tags of unknown languages all get the fallback's entry."""
    room = parse_rooms(ROOMS).rooms["grief"]
    assert room.served("es-MX") is room.served("es") is room.served("ES")
    assert room.served("es").title == "Duelo y pérdida"
    assert room.served("es").resources[0]["name"] == "Línea de escucha"
    assert room.served("x-junk") is room.served(None) is room.served("zz-Top")
    for n in range(500):
        room.served(f"q{n}-x")
    assert set(room._served) <= ISO_639_1 and len(room._served) == 2  # es and the fallback en


async def test_hello_lang_serves_guidelines_and_join_in_that_language(make_server: Any, clients: Any) -> None:
    """A Spanish reader gets the guidelines, the title, topic and helplines in Spanish; `lang` says so."""
    server = make_server(ROOMS)
    ana = await clients.user(server, "ana", lang="es-MX")
    await ana.send(type="join", room="grief")
    asked = await ana.expect("error", code="guidelines_required", room="grief")
    assert (asked["guidelines"], asked["lang"]) == ("Sé amable.", "es")
    joined = await ana.join("grief")
    assert joined["type"] == "joined"
    assert (joined["title"], joined["topic"], joined["guidelines"], joined["lang"]) == (
        "Duelo y pérdida",
        "Para quien echa de menos a alguien.",
        "Sé amable.",
        "es",
    )
    item = joined["resources"][0]
    assert (item["name"], item["phone"], item["countries"]) == ("Línea de escucha", "116 123", ["GB", "IE"])

    ben = await clients.user(server, "ben", ("grief",))  # no lang: the fallback, as before
    plain = ben.joined["grief"]
    assert (plain["title"], plain["guidelines"], plain["lang"]) == ("Grief and loss", "Be kind.", "en")
    assert plain["resources"][0]["name"] == "Listening line"

    fay = await clients.user(server, "fay", ("grief",), lang="fr")  # a title only: the rest falls back
    french = fay.joined["grief"]
    assert (french["title"], french["topic"], french["lang"]) == (
        "Deuil",
        "For anyone missing someone.",
        "fr",
    )


async def test_a_bad_lang_in_hello_is_a_bad_request_and_the_hello_can_be_sent_again(
    make_server: Any, clients: Any
) -> None:
    """Not a language tag (or not a string): error bad_request, no welcome; a good hello then works."""
    server = make_server(ROOMS)
    client = await clients.connect(server)
    for bad in ("<script>", "a" * 40, 5):
        await client.send(type="hello", name="cat", lang=bad)
        error = await client.expect("error")
        assert error["code"] == "bad_request" and "lang" in error["message"], error
    assert not [f for f in client.frames if f["type"] == "welcome"]
    welcome = await client.hello("cat", lang="pt-BR")
    assert welcome["name"] == "cat"


async def test_the_lang_frame_changes_the_language_without_rejoining(make_server: Any, clients: Any) -> None:
    """`lang` answers with each joined room's words in the new language; what follows comes in it
    (the private helplines after a crisis message), and the person stays in the room."""
    server = make_server(ROOMS)
    alice = await clients.host(server, "alice", ("grief",))
    ana = await clients.user(server, "ana", ("grief",))
    assert ana.joined["grief"]["title"] == "Grief and loss"

    await ana.send(type="lang", lang="es")
    answer = await ana.expect("lang")
    assert answer["lang"] == "es"
    room = answer["rooms"]["grief"]
    assert (room["title"], room["guidelines"], room["lang"]) == ("Duelo y pérdida", "Sé amable.", "es")
    assert room["resources"][0]["name"] == "Línea de escucha" and "snippets" not in room

    ack = await ana.post("grief", IMMINENT)  # still in the room: the send is answered, not refused
    assert ack["status"] == "held", ack
    help_ = await ana.expect("resources", room="grief")
    assert help_["items"][0]["name"] == "Línea de escucha"
    assert (help_["lang"], help_["code"]) == ("es", "crisis_resources")
    await alice.expect("held", id=ack["id"])

    await ana.send(type="lang", lang="en-GB")
    back = await ana.expect("lang")
    assert back["rooms"]["grief"]["title"] == "Grief and loss" and back["rooms"]["grief"]["lang"] == "en"

    await ana.send(type="lang", lang="no way")
    error = await ana.expect("error", code="bad_request")
    assert "lang" in error["message"]

    await alice.send(type="lang", lang="es")
    hosted = (await alice.expect("lang"))["rooms"]["grief"]
    assert hosted["snippets"] == {} and hosted["title"] == "Duelo y pérdida"


async def test_snippets_and_a_shared_card_come_in_each_readers_language(
    make_server: Any, clients: Any
) -> None:
    """A Spanish host's console gets the Spanish snippets; a pushed card reaches each member in theirs."""
    from tests.test_room_languages import TEXTS

    server = make_server(TEXTS)
    alice = await clients.user(server, "alice", ("grief",), token=server.tokens["alice"], lang="es")
    assert alice.joined["grief"]["snippets"]["welcome"].startswith("Bienvenida")
    ana = await clients.user(server, "ana", ("grief",), lang="es")
    ben = await clients.user(server, "ben", ("grief",))
    await alice.send(type="push_card", room="grief", card="slow-breathing")
    spanish = await ana.expect("card", room="grief")
    english = await ben.expect("card", room="grief")
    assert (spanish["card"]["title"], spanish["card"]["lang"]) == ("Respirar despacio ante el pánico", "es")
    assert (english["card"]["title"], english["card"]["lang"]) == ("Slow breathing for panic", "en")
    assert spanish["id"] == english["id"] and spanish["card"]["url"] == english["card"]["url"]


@pytest.mark.redis
async def test_across_workers_each_reader_gets_their_language(
    make_server: Any, redis_server: Any, clients: Any
) -> None:
    """Through real Redis: a host on one worker refuses a held message and shares a card; a Spanish
    reader on the other worker is told with Spanish helplines and sees the Spanish card."""
    from tests.test_room_languages import TEXTS

    text = TEXTS.replace("    snippets: [welcome]\n", "    premoderate: all\n    snippets: [welcome]\n")
    one = make_server(text, redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    alice = await clients.host(one, "alice", ("grief",))
    ana = await clients.user(two, "ana", ("grief",), lang="es")
    ack = await ana.post("grief", "is anyone here tonight?")
    assert ack["status"] == "held"
    await alice.expect("held", id=ack["id"], timeout=10)
    await alice.send(type="reject", room="grief", message_id=ack["id"], note="Please keep it kind.")
    told = await ana.expect("notice", code="not_shared", timeout=10)
    assert told["lang"] == "es" and told["resources"][0]["name"] == "Línea de escucha"
    await alice.send(type="push_card", room="grief", card="slow-breathing")
    card = await ana.expect("card", room="grief", timeout=10)
    assert card["card"]["title"] == "Respirar despacio ante el pánico"
    assert (await alice.expect("card", room="grief"))["card"]["title"] == "Slow breathing for panic"
