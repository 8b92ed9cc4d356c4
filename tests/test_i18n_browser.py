"""A room in your own language (issue 19) in a real Chromium against a real server: the language
starts from the browser's preferences, changes from the page in one step without reloading the
conversation, is remembered in this browser only, and falls back to English; the room's own texts
and the server's notices follow it; axe-core finds nothing serious in Spanish, French or German.

Also takes the phone screenshots for docs/web-languages.md:

    .venv/bin/python -m tests.test_i18n_browser   # writes docs/screenshots/lang-*.png
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser_support import (
    SCREENSHOTS,
    Tabs,
    axe_script,
    axe_violations,
    chromium,
    main,
    message_texts,
    participant,
    say,
    throwaway_server,
)
from tests.support import ROOT, ServerProcess, strict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

CATALOGS = ROOT / "web" / "i18n"
ROOMS = """\
resources:
  crisis:
    - {name: "Emergency services", phone: "112 / 911 / 999"}
    - {name: "Listening line (example)", phone: "116 123"}
rooms:
  - id: lobby
    title: Lobby
    topic: A calm place to talk.
    hosts: [alice]
    resources: [crisis]
    filters:
      - crisis: {action: hold, resources: crisis}
"""


def words(code: str) -> dict[str, str]:
    entries = json.loads((CATALOGS / f"{code}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in entries.items() if not k.startswith("_")}


ES, FR, EN = words("es"), words("fr"), words("en")


@pytest.fixture
def server(make_server) -> ServerProcess:
    return make_server(ROOMS)


def watch_hellos(page: Page) -> list[dict[str, Any]]:
    """Every hello frame the page sends, as sent."""
    hellos: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        def sent(payload: Any) -> None:
            try:
                frame = json.loads(payload)
            except (TypeError, ValueError):
                return
            if isinstance(frame, dict) and frame.get("type") == "hello":
                hellos.append(frame)

        ws.on("framesent", sent)

    page.on("websocket", on_socket)
    return hellos


def watch_api(page: Page) -> list[str]:
    """The URLs of every /api/ request the page makes."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url) if "/api/" in request.url else None)
    return urls


async def say_in(page: Page, words_of: dict[str, str], text: str) -> None:
    """Write and send a message on a page in any language."""
    box = page.get_by_label(words_of["composer.label"])
    await box.fill(text)
    await box.press("Enter")


async def eventually(check: Any, timeout_s: float = 10.0) -> bool:
    """True as soon as check() is, False after timeout_s."""
    for _ in range(int(timeout_s * 10)):
        if check():
            return True
        await asyncio.sleep(0.1)
    return bool(check())


async def english_words_on_screen(page: Page, english: dict[str, str], other: dict[str, str]) -> list[str]:
    """Visible words that are an English catalog sentence the other catalog says differently.

    People's words (names, messages, helpline names) and the room's own texts (title, topic, its note
    on peer support: the server resolves those with ?lang=) are left out."""
    shown: list[str] = await page.evaluate(
        """() => {
            const skip = ".text, bdi, .name, #room-title, #room-topic, .res-name, .res-text, option, time, "
                + "#peer-note-text, #help-note, #help-card-note";
            const out = [];
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                const text = n.textContent.trim();
                const parent = n.parentElement;
                if (!text || !parent || parent.closest(skip)) continue;
                if (!parent.checkVisibility({visibilityProperty: true})) continue;
                out.push(text);
            }
            for (const node of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
                if (!node.checkVisibility()) continue;
                for (const attr of ['placeholder', 'aria-label', 'title']) {
                    const value = node.getAttribute(attr);
                    if (value) out.push(value);
                }
            }
            return out;
        }"""
    )
    sentences = {v for k, v in english.items() if other.get(k) != v and len(v) > 3 and "{" not in v}
    return sorted({s for s in shown if s in sentences})


async def test_a_browser_preferring_spanish_gets_the_spanish_pages(tabs: Tabs, server: ServerProcess) -> None:
    """Spanish from the browser's preferences: the name page, the room list, the room, the help card and
    dialog; the room list is asked for ?lang=es and the hello says lang es; axe finds nothing serious."""
    # bypass_csp lets axe be injected as a script tag; nothing else in this test depends on it.
    page = await tabs.new("Lucía", locale="es-ES", width=390, height=844, bypass_csp=True)
    hellos = watch_hellos(page)
    api = watch_api(page)
    await page.goto(server.base + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    await expect(page.get_by_role("heading", level=1)).to_have_text(ES["name.title"])
    await expect(page.get_by_label(ES["lang.label"])).to_have_value("es")
    await expect(page.get_by_role("button", name=ES["exit.button"])).to_be_visible()
    await page.get_by_label(ES["name.label"]).fill("Lucía")
    await page.get_by_role("button", name=ES["name.continue"]).click()
    await expect(page.get_by_role("heading", name=ES["rooms.title"])).to_be_visible()
    await expect(page.locator("#me-name")).to_have_text("Lucía")
    await expect(page.locator(".room-item .count")).to_have_text(
        ES["rooms.people_many"].replace("{count}", "0")
    )
    assert any("/api/rooms?lang=es" in url for url in api), api
    await page.get_by_role("button", name=f"{ES['rooms.join']} Lobby").click()
    await expect(page.locator("#room-title")).to_have_text("Lobby")
    assert hellos and all(h.get("lang") == "es" for h in hellos), hellos
    await expect(page.get_by_label(ES["composer.label"])).to_have_attribute(
        "placeholder", ES["composer.placeholder"]
    )
    await expect(page.locator("#host-status")).to_contain_text(ES["status.no_host"])
    await say_in(page, ES, "Hola a todos")
    await expect(page.locator("#log article.msg.own .status")).to_have_text(ES["send.sent"])
    await expect(page.locator("#log article.msg.own .name")).to_have_text(ES["msg.you"])
    await say_in(page, ES, "I want to kill myself tonight")
    await expect(page.locator("#help-card")).to_be_visible()
    await expect(page.locator("#help-card-title")).to_have_text(ES["card.title"])
    await expect(page.locator("#help-card-foot")).to_have_text(ES["card.foot_unhosted"])
    await expect(page.locator("#help-card-list")).to_contain_text(ES["help.not_working"])
    script = axe_script()
    if isinstance(script, str):
        pytest.fail(script) if strict() else pytest.skip(script)
    assert await axe_violations(page, script) == []
    await page.get_by_role("button", name=ES["help.open"]).first.click()
    await expect(page.locator("#help-title")).to_have_text(ES["help.title"])
    await expect(page.locator("#help-dialog")).to_contain_text(ES["help.intro"])
    assert await axe_violations(page, script) == []
    await page.get_by_role("button", name=ES["action.close"]).last.click()
    assert await english_words_on_screen(page, EN, ES) == []


async def test_switching_to_french_changes_every_word_without_reloading(
    tabs: Tabs, server: ServerProcess
) -> None:
    """One choice in the picker: every visible word turns French, the conversation stays as it is
    (no reload, same messages), the room list is fetched again with ?lang=fr, and the choice is
    remembered in this browser (a reload stays French) and nowhere else."""
    ana = await participant(tabs, "Ana", "Lobby", locale="en-GB")
    api = watch_api(ana)
    ben = await participant(tabs, "Ben", "Lobby", locale="en-GB")
    await expect(ana.locator("#log")).to_contain_text("Ben joined")
    await say(ana, "Good evening")
    await say(ben, "Hello Ana")
    await expect(message_texts(ana)).to_have_text(["Good evening", "Hello Ana"])
    await ben.get_by_label("Your message").press_sequentially("typing", delay=20)
    await ana.evaluate("window.__sameDocument = true")
    await ana.get_by_label("Language").select_option("fr")
    await expect(ana.locator("html")).to_have_attribute("lang", "fr")
    assert await ana.evaluate("window.__sameDocument === true"), "the page was reloaded"
    await expect(message_texts(ana)).to_have_text(["Good evening", "Hello Ana"])
    await expect(ana.locator("#log article.msg.own .status")).to_have_text(FR["send.sent"])
    await expect(ana.locator("#log article.msg.own .name")).to_have_text(FR["msg.you"])
    await expect(ana.locator("#log .sys").first).to_have_text(
        "Ben " + FR["room.joined"].replace("{name} ", "")
    )
    await expect(ana.locator("#member-count")).to_have_text(FR["rooms.people_many"].replace("{count}", "2"))
    await expect(ana.get_by_role("button", name=FR["help.open"])).to_be_visible()
    await expect(ana.get_by_label(FR["composer.label"])).to_have_attribute(
        "placeholder", FR["composer.placeholder"]
    )
    await expect(ana.get_by_role("button", name=FR["cw.add"])).to_be_visible()
    assert await eventually(lambda: any("/api/rooms?lang=fr" in url for url in api)), api
    assert await english_words_on_screen(ana, EN, FR) == []
    # Still the same conversation: a new message arrives and is shown, in French surroundings.
    await say(ben, "Still here")
    await expect(message_texts(ana)).to_have_text(["Good evening", "Hello Ana", "Still here"])
    # Remembered in this browser only: a reload is French, another browser is not.
    assert await ana.evaluate("localStorage.getItem('cs.lang')") == '"fr"'
    await ana.reload()
    await expect(ana.locator("html")).to_have_attribute("lang", "fr")
    await expect(ana.get_by_label(FR["lang.label"])).to_have_value("fr")
    await expect(ben.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize("code", ["es", "fr", "de"])
async def test_axe_finds_nothing_serious_in_each_language(
    tabs: Tabs, server: ServerProcess, code: str
) -> None:
    """On a phone, in Spanish, French and German: the name page, the room with the support box, and
    "Get help now" have no serious or critical axe-core findings."""
    script = axe_script()
    if isinstance(script, str):
        pytest.fail(script) if strict() else pytest.skip(script)
    cat = words(code)
    page = await tabs.new(code, locale=code, width=390, height=844, bypass_csp=True)
    await page.goto(server.base + "/")
    await expect(page.locator("html")).to_have_attribute("lang", code)
    assert await axe_violations(page, script) == []
    await page.get_by_label(cat["name.label"]).fill("Kim")
    await page.get_by_role("button", name=cat["name.continue"]).click()
    await expect(page.get_by_role("heading", name=cat["rooms.title"])).to_be_visible()
    assert await axe_violations(page, script) == []
    await page.get_by_role("button", name=f"{cat['rooms.join']} Lobby").click()
    await expect(page.locator("#room-title")).to_have_text("Lobby")
    await say_in(page, cat, "I want to kill myself tonight")
    await expect(page.locator("#help-card-title")).to_have_text(cat["card.title"])
    assert await axe_violations(page, script) == []
    await page.get_by_role("button", name=cat["help.open"]).first.click()
    await expect(page.locator("#help-title")).to_have_text(cat["help.title"])
    assert await axe_violations(page, script) == []


async def test_an_unknown_preference_falls_back_to_english(tabs: Tabs, server: ServerProcess) -> None:
    """A browser asking for Japanese gets English (lang="en"); one asking for Swiss German gets German."""
    page = await tabs.new("ja", locale="ja-JP")
    await page.goto(server.base + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text(EN["name.title"])
    await expect(page.get_by_label("Language")).to_have_value("en")
    names = await page.locator("#lang-pick option").all_text_contents()
    assert names == ["English", "Español", "Français", "Deutsch", "Português", "Italiano", "Nederlands"]
    swiss = await tabs.new("de-CH", locale="de-CH")
    await swiss.goto(server.base + "/")
    await expect(swiss.locator("html")).to_have_attribute("lang", "de")
    await expect(swiss.get_by_role("heading", level=1)).to_have_text(words("de")["name.title"])


async def test_the_servers_notices_are_shown_by_code(tabs: Tabs, server: ServerProcess) -> None:
    """A notice or error is shown by its code in the person's language; an unknown code shows the
    server's own words; in English the server's words are shown as they are."""
    page = await tabs.new("codes", locale="it-IT")
    await page.goto(server.base + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "it")
    shown = await page.evaluate(
        """async () => {
            const { serverText } = await import('/static/i18n.js');
            return [
                serverText({type: 'notice', code: 'slowmode', slowmode: 30, text: 'Slow mode is on.'}),
                serverText({type: 'notice', code: 'locked', locked: false, text: 'Open again.'}),
                serverText({type: 'error', code: 'rate_limited', message: 'Sending quickly.'}),
                serverText({type: 'notice', code: 'muted', text: 'A host has muted you.'}),
                serverText({type: 'notice', code: 'something_new', text: 'Words only the server knows.'}),
            ];
        }"""
    )
    it = words("it")
    assert shown == [
        it["code.slowmode"].replace("{seconds}", "30"),
        it["code.locked.off"],
        it["code.rate_limited"],
        "A host has muted you.",  # no minutes in the frame: the catalog cannot say it, the server can
        "Words only the server knows.",
    ]


async def test_right_to_left_needs_only_a_catalog(tabs: Tabs, server: ServerProcess) -> None:
    """A catalog that says "dir": "rtl" turns the page right to left: no code knows which languages do."""
    page = await tabs.new("rtl", locale="ar")
    catalog = {**EN, "_meta": {"dir": "rtl", "status": "test"}, "name.title": "مرحبا"}

    async def languages(route: Any) -> None:
        await route.fulfill(json={**json.loads((CATALOGS / "languages.json").read_text()), "ar": "العربية"})

    await page.route("**/static/i18n/languages.json", languages)
    await page.route("**/static/i18n/ar.json", lambda route: route.fulfill(json=catalog))
    await page.goto(server.base + "/")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(page.locator("html")).to_have_attribute("lang", "ar")
    await expect(page.get_by_role("heading", level=1)).to_have_text("مرحبا")
    await page.get_by_label(EN["lang.label"]).select_option("en")
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")


async def test_leave_quickly_works_in_every_language(tabs: Tabs, server: ServerProcess) -> None:
    """The quick exit is wired before the catalogs load, and forgets the language choice with the rest."""
    page = await tabs.new("exit", locale="nl-NL", neutral=True)
    await page.goto(server.base + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "nl")
    await page.get_by_label(words("nl")["lang.label"]).select_option("de")
    await page.get_by_role("button", name=words("de")["exit.button"]).click()
    await expect(page).to_have_title("Weather")
    assert await page.evaluate("localStorage.getItem('cs.lang')") is None


# ---- the room's own texts (the server half of issue 19) ------------------------------------
TRANSLATED_ROOMS = """\
rooms:
  - id: lobby
    title: {en: Lobby, es: Vestíbulo}
    topic:
      en: A calm place to talk.
      es: Un lugar tranquilo para hablar.
    languages: [en, es]
    hosts: [alice]
    filters: []
"""


async def test_the_room_texts_come_in_the_persons_language(browser: Any, make_server) -> None:
    """The room list and the room show the room's Spanish title and topic, and which languages its
    hosts read, each in its own name. (rooms.yaml maps, /api/rooms?lang=.)"""
    server = make_server(TRANSLATED_ROOMS)
    tabs = Tabs(browser, server.base)
    try:
        page = await tabs.new("Lucía", locale="es-ES")
        await page.goto(server.base + "/")
        await page.get_by_label(ES["name.label"]).fill("Lucía")
        await page.get_by_role("button", name=ES["name.continue"]).click()
        item = page.locator('.room-item[data-room="lobby"]')
        await expect(item.locator("h2")).to_have_text("Vestíbulo")
        await expect(item).to_contain_text("Un lugar tranquilo para hablar.")
        await expect(item.locator(".room-languages")).to_have_text(
            ES["rooms.hosts_read"].replace("{languages}", "English, Español")
        )
        await page.get_by_role("button", name=f"{ES['rooms.join']} Vestíbulo").click()
        await expect(page.locator("#room-title")).to_have_text("Vestíbulo")  # not `joined`'s fallback
        await expect(page.locator("#room-topic")).to_have_text("Un lugar tranquilo para hablar.")
        await page.get_by_label(ES["lang.label"]).select_option("en")
        await expect(page.locator("#room-title")).to_have_text("Lobby")
        await expect(item.locator("h2")).to_have_text("Lobby")
        await expect(item.locator(".room-languages")).to_have_text("Hosts read: English, Español")
        assert not tabs.errors, tabs.errors
    finally:
        await tabs.close()


GUIDED_ROOMS = """\
resources:
  crisis:
    - name: {en: "Listening line (example)", fr: "Ligne d'écoute (exemple)"}
      phone: "116 123"
rooms:
  - id: guided
    title: {en: Guided, fr: Accompagné}
    topic: A calm place to talk.
    guidelines: {en: "Be gentle with each other.", fr: "Soyez doux les uns avec les autres."}
    hosts: [alice]
    resources: [crisis]
"""


async def test_switching_language_changes_the_rooms_own_words_without_rejoining(
    browser: Any, make_server
) -> None:
    """The room's guidelines and helplines are rooms.yaml maps: a switch to French shows them in
    French (the guidelines before joining, then in the room, and the help dialog's helpline) with no
    reload and no rejoin: the page sends a `lang` frame and the server answers with the words."""
    server = make_server(GUIDED_ROOMS)
    tabs = Tabs(browser, server.base)
    try:
        page = await tabs.new("Ana", locale="en-GB")
        await page.goto(server.base + "/")
        await page.get_by_label(EN["name.label"]).fill("Ana")
        await page.get_by_role("button", name=EN["name.continue"]).click()
        await page.get_by_role("button", name=f"{EN['rooms.join']} Guided").click()
        await expect(page.locator("#guidelines-text")).to_have_text("Be gentle with each other.")
        await page.get_by_label(EN["lang.label"]).select_option("fr")
        await expect(page.locator("#guidelines-text")).to_have_text("Soyez doux les uns avec les autres.")
        await expect(page.locator("#guidelines-room")).to_have_text("Accompagné")
        await page.get_by_label(FR["lang.label"]).select_option("en")
        await expect(page.locator("#guidelines-text")).to_have_text("Be gentle with each other.")
        await page.get_by_role("button", name=EN["guidelines.accept"]).click()
        await expect(page.locator("#room-title")).to_have_text("Guided")
        await expect(page.locator("#room-guidelines-text")).to_have_text("Be gentle with each other.")
        await page.evaluate("window.__sameDocument = true")
        await page.get_by_label(EN["lang.label"]).select_option("fr")
        await expect(page.locator("#room-guidelines-text")).to_have_text(
            "Soyez doux les uns avec les autres."
        )
        await expect(page.locator("#room-title")).to_have_text("Accompagné")
        await page.get_by_role("button", name=FR["help.open"]).first.click()
        await expect(page.locator("#help-dialog")).to_contain_text("Ligne d'écoute (exemple)")
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        assert not tabs.errors, tabs.errors
    finally:
        await tabs.close()


async def test_the_built_in_peer_note_is_in_the_persons_language(tabs: Tabs, server: ServerProcess) -> None:
    """The server's built-in note on what peer support is (peer_note_code, in English) is shown on
    first joining a room: in German it is the German catalog's, in English the server's own words."""
    for code, locale in (("de", "de-DE"), ("en", "en-GB")):
        cat = words(code)
        page = await tabs.new(code, locale=locale)
        await page.goto(server.base + "/")
        await page.get_by_label(cat["name.label"]).fill("Kim " + code)
        await page.get_by_role("button", name=cat["name.continue"]).click()
        await page.get_by_role("button", name=f"{cat['rooms.join']} Lobby").click()
        await expect(page.locator("#peer-note")).to_be_visible()
        if code == "de":
            await expect(page.locator("#peer-note-text")).to_have_text(cat["peer.note"])
        else:
            await expect(page.locator("#peer-note-text")).to_contain_text("hosts included, are peers")


async def test_the_support_box_says_why_in_the_persons_language(tabs: Tabs, server: ServerProcess) -> None:
    """The support box's reason comes from the server in English with code crisis_resources: a
    Spanish page says it in Spanish (the catalog's), never in English."""
    page = await tabs.new("es", locale="es-ES")
    await page.goto(server.base + "/")
    await page.get_by_label(ES["name.label"]).fill("Lucía")
    await page.get_by_role("button", name=ES["name.continue"]).click()
    await page.get_by_role("button", name=f"{ES['rooms.join']} Lobby").click()
    await expect(page.locator("#room-title")).to_have_text("Lobby")
    await say_in(page, ES, "I want to kill myself tonight")
    await expect(page.locator("#help-card-title")).to_have_text(ES["card.title"])
    want = ES.get("code.crisis_resources", ES["card.why"])
    await expect(page.locator("#help-card-why")).to_have_text(want)


# ---- screenshots -------------------------------------------------------------------------------
async def take_screenshots(out: Path = SCREENSHOTS) -> list[Path]:
    """A phone in Spanish, French and German: the room with a conversation and the support box."""
    written: list[Path] = []
    with throwaway_server(ROOMS, "lang") as (server, _):
        async with chromium() as browser:
            tabs = Tabs(browser, server.base)
            for code, locale, me, friend_name, lines in (
                ("es", "es-ES", "Lucía", "Sam", ("Buenas noches a todos.", "No puedo dormir otra vez.")),
                ("fr", "fr-FR", "Léa", "Alex", ("Bonsoir à tous.", "Je n'arrive pas à dormir.")),
                (
                    "de",
                    "de-DE",
                    "Jonas",
                    "Robin",
                    ("Guten Abend zusammen.", "Ich kann wieder nicht schlafen."),
                ),
            ):
                cat = words(code)
                friend = await participant(tabs, friend_name, "Lobby", locale="en-GB")
                page = await tabs.new(code, locale=locale, width=390, height=844)
                await page.goto(server.base + "/")
                await page.get_by_label(cat["name.label"]).fill(me)
                await page.get_by_role("button", name=cat["name.continue"]).click()
                await page.get_by_role("button", name=f"{cat['rooms.join']} Lobby").click()
                await expect(page.locator("#room-title")).to_have_text("Lobby")
                if await page.locator("#peer-note").is_visible():
                    await page.get_by_role("button", name=cat["peer.ok"]).click()
                await say_in(page, cat, lines[0])
                await say(friend, f"Hi {me}, glad you are here.")
                await say_in(page, cat, lines[1])
                await expect(message_texts(page).last).to_have_text(lines[1])
                await friend.close()
                await page.evaluate("document.getElementById('toast').textContent = ''")
                path = out / f"lang-{code}-room-phone.png"
                await page.screenshot(path=str(path))
                written.append(path)
                await page.get_by_role("button", name=cat["help.open"]).first.click()
                await expect(page.locator("#help-dialog")).to_be_visible()
                path = out / f"lang-{code}-help-phone.png"
                await page.screenshot(path=str(path))
                written.append(path)
            await tabs.close()
    return written


if __name__ == "__main__":
    raise SystemExit(main(take_screenshots))
