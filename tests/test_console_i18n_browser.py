"""The host console and the admin view in your own language (issue 19) in a real Chromium against a
real server: every word from the catalogs (no raw key, no unfilled {placeholder} on screen), the
picker in the header changes the words without a reload, axe-core finds nothing serious, and the
picker never cuts a language's name on a phone. A participant's `muted` notice is read from the
catalogs with its minutes.

Also takes the console screenshots in Spanish for docs/web-languages.md:

    .venv/bin/python -m tests.test_console_i18n_browser   # writes docs/screenshots/console-es-*.png
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser_support import (
    SCREENSHOTS,
    Tabs,
    axe_script,
    axe_violations,
    chromium,
    host_console,
    main,
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
rooms:
  - id: lobby
    title: Lobby
    topic: A calm place to talk.
    max_length: 80
    hosts: [alice]
    resources: [crisis]
    filters:
      - blocklist: {words: [grapefruit], action: hold}
      - crisis: {action: hold, resources: crisis}
"""


def words(*names: str) -> dict[str, str]:
    """The catalogs `names` (e.g. "en", "console/en") merged, later ones winning."""
    out: dict[str, str] = {}
    for name in names:
        entries = json.loads((CATALOGS / f"{name}.json").read_text(encoding="utf-8"))
        out |= {k: v for k, v in entries.items() if not k.startswith("_")}
    return out


EN = words("en", "console/en")
ES = words("es", "console/es")
FR = words("fr", "console/fr")
DE = words("de", "console/de")
CONSOLE_EN = words("console/en")


@pytest.fixture
def server(make_server) -> ServerProcess:
    return make_server(ROOMS)


# Every visible text node and read attribute of the page (people's words left out: names, messages).
SHOWN = """() => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const text = n.textContent.trim();
        const parent = n.parentElement;
        if (!text || !parent || parent.closest(".text, bdi, .name, option, time, .room-name, code")) continue;
        if (!parent.checkVisibility({visibilityProperty: true})) continue;
        out.push(text);
    }
    for (const node of document.querySelectorAll("[placeholder], [aria-label], [title]")) {
        for (const attr of ["placeholder", "aria-label", "title"]) {
            const value = node.getAttribute(attr);
            if (value) out.push(value);
        }
    }
    out.push(document.title);
    return out;
}"""
RAW_KEY = re.compile(r"\b(?:host|admin|pcard|console|code|lang|action)\.[a-z_]+(?:\.[a-z_]+)*\b|\{\w+\}")


async def raw_keys_on_screen(page: Page) -> list[str]:
    """Visible words that are a catalog key or hold an unfilled {placeholder}: a key the catalogs lack."""
    shown: list[str] = await page.evaluate(SHOWN)
    return sorted({s for s in shown if RAW_KEY.search(s)})


async def english_on_screen(page: Page, other: dict[str, str] = ES) -> list[str]:
    """Visible console sentences in English that the other console catalog says differently."""
    shown: list[str] = await page.evaluate(SHOWN)
    sentences = {v for k, v in CONSOLE_EN.items() if other.get(k) != v and len(v) > 3 and "{" not in v}
    return sorted({s for s in shown if s in sentences})


async def busy_console(tabs: Tabs, server: ServerProcess) -> tuple[Page, Page]:
    """Kim in the lobby with a held message, and Alice's console with Kim's actions and card open."""
    kim = await participant(tabs, "Kim", "Lobby")
    host = await host_console(tabs, server.tokens["alice"], "Alice")
    await say(kim, "I love grapefruit")
    await expect(host.locator("#queue .held")).to_have_count(1)
    await host.get_by_role("button", name="Actions for Kim").click()
    await host.get_by_role("button", name="Person card").click()
    await expect(host.locator(".person-card h3")).to_contain_text("person card")
    return kim, host


async def test_the_host_console_in_english_shows_no_raw_key(tabs: Tabs, server: ServerProcess) -> None:
    """Signed in, with a held message, a person's actions and their card open: every word on screen
    is a catalog's, none a key or a {placeholder}; the page says it is English."""
    _, host = await busy_console(tabs, server)
    await expect(host.locator("html")).to_have_attribute("lang", "en")
    await expect(host.locator("#queue-title")).to_have_text("Waiting for a host 1")
    assert await raw_keys_on_screen(host) == []
    # The check is real: a key on screen is found.
    await host.evaluate(
        "document.getElementById('queue-empty').hidden = false;"
        "document.getElementById('queue-empty').textContent = 'host.no_such_words'"
    )
    assert await raw_keys_on_screen(host) == ["host.no_such_words"]
    assert tabs.errors == []


async def test_switching_the_console_language_changes_its_words(tabs: Tabs, server: ServerProcess) -> None:
    """Choosing Español, then Français, in the console's header: the words change at once, without a
    reload (the held message and the open panels stay), no English console sentence is left, <html
    lang> follows, and a reload keeps the choice."""
    _, host = await busy_console(tabs, server)
    await host.evaluate("window.__sameConsole = true")
    # The blocklist filter's own English explanation is shown beside "Blocked word" in English only.
    explain = host.locator("#queue .held .explain")
    await expect(explain).to_contain_text("blocklist")
    await expect(host.get_by_label("Language")).to_be_visible()
    picker = host.locator("select.lang-pick")  # its label changes with the language
    await expect(picker.locator("option")).to_have_text(
        ["Deutsch", "English", "Español", "Français", "Italiano", "Nederlands", "Português"]
    )
    await picker.select_option("es")
    await expect(host.locator("html")).to_have_attribute("lang", "es")
    await expect(host.locator("#queue-title")).to_have_text("A la espera de un anfitrión 1")
    await expect(host.locator("#queue .held button.release")).to_have_text(ES["host.held.release"])
    await expect(host.locator("#duty-toggle")).to_have_text(ES["host.duty.take_break"])
    await expect(host.locator("#queue .held .reasons strong")).to_have_text(ES["host.reason.blocklist"])
    await expect(explain).to_be_hidden()
    await expect(host.locator(".person-card h3")).to_contain_text("ficha de la persona")
    assert await host.evaluate("window.__sameConsole") is True
    assert await english_on_screen(host) == []
    assert await raw_keys_on_screen(host) == []
    assert await host.title() == ES["host.page_title_count"].replace("{count}", "1")
    # And on to French: every console sentence again, nothing left in English or Spanish.
    await picker.select_option("fr")
    await expect(host.locator("#queue-title")).to_have_text("En attente d'un hôte 1")
    await expect(host.locator(".person-card h3")).to_contain_text("fiche de la personne")
    assert await english_on_screen(host, FR) == []
    assert await raw_keys_on_screen(host) == []
    # And German, one of the four added later: nothing left in English either.
    await picker.select_option("de")
    await expect(host.locator("#queue-title")).to_have_text(DE["host.queue.title"].replace("{count}", "1"))
    await expect(host.locator("#queue .held button.release")).to_have_text(DE["host.held.release"])
    assert await english_on_screen(host, DE) == []
    assert await raw_keys_on_screen(host) == []
    await picker.select_option("fr")
    await expect(host.locator("#queue-title")).to_have_text("En attente d'un hôte 1")
    # The choice is this browser's: a reload keeps it.
    await host.reload()
    await expect(host.locator("#queue-title")).to_contain_text("En attente d'un hôte")
    assert tabs.errors == []


async def test_the_admin_view_follows_the_picker(tabs: Tabs, server: ServerProcess) -> None:
    """The admin view in English has no raw key; Español redraws its tables and sentences at once."""
    page = await tabs.new("admin")
    await page.goto(server.base + "/admin.html")
    await page.get_by_label("Admin token").fill(server.tokens["root"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator('#rooms-table tbody tr[data-room="lobby"]')).to_be_visible()
    await expect(page.locator("#coverage-summary")).not_to_be_empty()
    assert await raw_keys_on_screen(page) == []
    await page.get_by_label("Language").select_option("es")
    await expect(page.locator("#coverage-title")).to_have_text(ES["admin.coverage.title"])
    await expect(page.locator("#rooms-updated")).to_contain_text("Actualizado")
    await expect(page.locator("#coverage-table th").first).to_have_text(ES["admin.col.room"])
    await expect(page.locator("#rooms-table .link").first).to_have_text(ES["admin.rooms.search"])
    assert await english_on_screen(page) == []
    assert await raw_keys_on_screen(page) == []
    assert tabs.errors == []


@pytest.mark.parametrize("code", ["en", "es", "fr"])
async def test_axe_finds_nothing_serious_in_the_console(tabs: Tabs, server: ServerProcess, code: str) -> None:
    """The host console (held message, person panel and card open) and the admin view, on a phone, in
    English and Spanish: no serious or critical axe-core findings."""
    script = axe_script()
    if isinstance(script, str):
        pytest.fail(script) if strict() else pytest.skip(script)
    kim = await participant(tabs, "Kim", "Lobby")
    host = await host_console(tabs, server.tokens["alice"], "Alice", width=390, height=844, bypass_csp=True)
    await say(kim, "I love grapefruit")
    await expect(host.locator("#queue .held")).to_have_count(1)
    await host.get_by_role("button", name="Actions for Kim").click()
    await host.get_by_role("button", name="Person card").click()
    await expect(host.locator(".person-card h3")).to_be_visible()
    await host.get_by_label("Language").select_option(code)
    await expect(host.locator("html")).to_have_attribute("lang", code)
    assert await axe_violations(host, script) == []
    admin = await tabs.new(f"admin {code}", width=390, height=844, bypass_csp=True, locale=code)
    await admin.goto(server.base + "/admin.html")
    await expect(admin.locator("html")).to_have_attribute("lang", code)
    await admin.get_by_label(words(code, f"console/{code}")["admin.signin.token"]).fill(server.tokens["root"])
    await admin.locator("#signin-form button[type=submit]").click()
    await expect(admin.locator('#rooms-table tbody tr[data-room="lobby"]')).to_be_visible()
    assert await axe_violations(admin, script) == []


PICKER_FITS = """(select) => {
    // The width the select takes when nothing limits it (as wide as its longest name and its arrow)
    // against the width it has: narrower, and a name is cut ("Françai").
    const had = select.getBoundingClientRect().width;
    const saved = [select.style.width, select.style.maxWidth, select.style.minWidth];
    Object.assign(select.style, {width: "max-content", maxWidth: "none", minWidth: "0"});
    const natural = select.getBoundingClientRect().width;
    [select.style.width, select.style.maxWidth, select.style.minWidth] = saved;
    const bar = select.closest(".bar").getBoundingClientRect();
    const box = select.getBoundingClientRect();
    return {had, natural, inside: box.left >= bar.left && box.right <= bar.right};
}"""


@pytest.mark.parametrize(
    ("page_path", "locale"), [("/", "fr-FR"), ("/", "nl-NL"), ("/", "pt-PT"), ("/host.html", "es-ES")]
)
async def test_the_picker_shows_the_whole_name_on_a_phone(
    tabs: Tabs, server: ServerProcess, page_path: str, locale: str
) -> None:
    """On a 360 px phone the picker shows its language's whole name ("Français", not "Françai"),
    with room for the arrow, and stays inside the header."""
    page = await tabs.new(locale, locale=locale, width=360, height=740)
    await page.goto(server.base + page_path)
    select = page.locator("select.lang-pick")
    await expect(select).to_have_value(locale[:2])
    fit = await select.evaluate(PICKER_FITS)
    assert fit["inside"], fit
    assert fit["had"] >= fit["natural"] - 0.5, fit


async def test_a_muted_notice_is_read_with_its_minutes(tabs: Tabs, server: ServerProcess) -> None:
    """A host mutes a Spanish participant for 5 minutes: the notice is the catalog's, with the 5."""
    kim = await tabs.new("kim", locale="es-ES")
    await kim.goto(server.base + "/")
    await kim.get_by_label(ES["name.label"]).fill("Kim")
    await kim.get_by_role("button", name=ES["name.continue"]).click()
    await kim.get_by_role("button", name=f"{ES['rooms.join']} Lobby").click()
    await expect(kim.locator("#room-title")).to_have_text("Lobby")
    await kim.get_by_label(ES["composer.label"]).fill("hola")
    await kim.get_by_label(ES["composer.label"]).press("Enter")
    host = await host_console(tabs, server.tokens["alice"], "Alice")
    await host.get_by_role("button", name="Actions for Kim").click()
    await host.get_by_label("Mute for").select_option("5")
    await host.get_by_role("button", name="Mute", exact=True).click()
    want = ES["code.muted"].replace("{minutes}", "5")
    await expect(kim.locator("#log").get_by_text(want)).to_be_visible()
    # Posting while muted: the error's retry_after says how long is left, in Spanish.
    await kim.get_by_label(ES["composer.label"]).fill("¿sigo aquí?")
    await kim.get_by_label(ES["composer.label"]).press("Enter")
    left = re.escape(ES["code.muted.left"]).replace(re.escape("{minutes}"), "[56]")
    await expect(kim.locator("#log .msg .status").last).to_contain_text(re.compile(left))


async def test_errors_that_read_differently_by_a_field(tabs: Tabs, server: ServerProcess) -> None:
    """Still muted (retry_after: how long is left) and a room read-only for want of a host (mode) are
    said in the person's language, not as "locked", and a message taken back (taken_back) not as
    "nothing was posted"; in English the server's words."""
    page = await tabs.new("codes", locale="es-ES")
    await page.goto(server.base + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    shown = await page.evaluate(
        """async () => {
            const { serverText } = await import('/static/i18n.js');
            return [
                serverText({type: 'error', code: 'muted', retry_after: 125, message: 'Muted for 3 more.'}),
                serverText({type: 'error', code: 'locked', mode: 'read_only', message: 'Read-only now.'}),
                serverText({type: 'error', code: 'locked', message: 'Locked.'}),
                serverText({type: 'error', code: 'unavailable', taken_back: true, message: 'Taken back.'}),
                serverText({type: 'error', code: 'unavailable', message: 'Nothing posted.'}),
            ];
        }"""
    )
    assert shown == [
        ES["code.muted.left"].replace("{minutes}", "3"),
        ES["code.mode.read_only"],
        ES["code.locked"],
        ES["code.unavailable.taken_back"],
        ES["code.unavailable"],
    ]


async def send_too_long(tabs: Tabs, server: ServerProcess, code: str, locale: str) -> Page:
    """A person in the lobby, in `code`, who sent a message longer than the room allows (80)."""
    cat = words(code)
    page = await tabs.new(code, locale=locale)
    await page.goto(server.base + "/")
    await page.get_by_label(cat["name.label"]).fill("Kim" + code)
    await page.get_by_role("button", name=cat["name.continue"]).click()
    await page.get_by_role("button", name=f"{cat['rooms.join']} Lobby").click()
    await expect(page.locator("#room-title")).to_have_text("Lobby")
    await page.get_by_label(cat["composer.label"]).fill("x" * 120)
    await page.get_by_label(cat["composer.label"]).press("Enter")
    return page


async def test_a_refusal_the_catalogs_have_no_code_for_is_said_in_the_persons_language(
    tabs: Tabs, server: ServerProcess
) -> None:
    """A message too long for the room comes back rejected with the filter's English words (code
    rejected_max_length, not in the catalogs): a Spanish page says why in Spanish, never in English;
    an English page shows the server's words, which say more."""
    spanish = await send_too_long(tabs, server, "es", "es-ES")
    status = spanish.locator("#log .msg .status").last
    await expect(status).to_contain_text(ES["reason.max_length"])
    await expect(status).not_to_contain_text("characters")
    english = await send_too_long(tabs, server, "en", "en-GB")
    status = english.locator("#log .msg .status").last
    await expect(status).to_contain_text("longer than this room's limit of 80 characters")
    # A switch of language follows: the Spanish words for the case, not the English explanation.
    await english.get_by_label("Language").select_option("es")
    await expect(status).to_contain_text(ES["reason.max_length"])


# ---- screenshots -------------------------------------------------------------------------------
async def take_screenshots(out: Path = SCREENSHOTS) -> list[Path]:
    """The host console and the admin view in Spanish, on a phone and a desktop."""
    written: list[Path] = []
    with throwaway_server(ROOMS, "console-lang", admins=("root",)) as (server, tokens):
        async with chromium() as browser:
            tabs = Tabs(browser, server.base)
            kim = await participant(tabs, "Kim", "Lobby")
            await say(kim, "Hola a todos. Esta noche me cuesta dormir.")
            await say(kim, "I love grapefruit")
            host = await tabs.new("host", locale="es-ES")
            await host.goto(server.base + "/host.html")
            await host.get_by_label(ES["host.signin.name"]).fill("Alicia")
            await host.get_by_label(ES["host.signin.token"]).fill(tokens["alice"])
            await host.get_by_role("button", name=ES["console.sign_in"]).click()
            await expect(host.locator("#queue .held")).to_have_count(1)
            admin = await tabs.new("admin", locale="es-ES")
            await admin.goto(server.base + "/admin.html")
            await admin.get_by_label(ES["admin.signin.token"]).fill(tokens["root"])
            await admin.locator("#signin-form button[type=submit]").click()
            await expect(admin.locator('#rooms-table tbody tr[data-room="lobby"]')).to_be_visible()
            for page, stem in ((host, "console"), (admin, "admin")):
                for width, height, kind in ((390, 844, "phone"), (1280, 800, "desktop")):
                    await page.set_viewport_size({"width": width, "height": height})
                    await page.evaluate("window.scrollTo(0, 0)")
                    path = out / f"{stem}-es-{kind}.png"
                    await page.screenshot(path=str(path))
                    written.append(path)
            await tabs.close()
    return written


if __name__ == "__main__":
    raise SystemExit(main(take_screenshots))
