"""A message shown and then taken back, in a real Chromium (issue 17, publication.py).

A worker shows its own members a message once it is recorded, before Redis has published it; when
Redis then refuses it, the worker takes it back. The sender keeps their words with "Try again", the
others read that it could not be delivered (not that a host removed it). The release is held in the
network by tests/proxy.py's `hold_when`; one worker, one real redis-server.

Screenshots of both pages, desktop and phone, go to /tmp/shots/ (not committed); axe-core finds
nothing serious on them, light or dark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser_support import Tabs, axe_script, axe_violations, message_texts, participant, say
from tests.support import strict

pytestmark = [
    pytest.mark.browser,
    pytest.mark.redis,
    pytest.mark.timeout(90),
    pytest.mark.asyncio(loop_scope="module"),
]

SHOTS = Path("/tmp/shots")
WORDS = "words that could not go out"
OTHER_WORDS = "palabras que no pudieron salir"
ES = {
    k: v
    for k, v in json.loads((Path(__file__).parent.parent / "web/i18n/es.json").read_text("utf-8")).items()
    if not k.startswith("_")
}


async def test_a_message_taken_back_keeps_its_words_for_the_sender_and_says_so_to_the_others(
    browser, redis_server, redis_proxy, make_server
):
    script = axe_script()
    if isinstance(script, str) and strict():
        pytest.fail(script + ": CI/CHATSERVER_STRICT is set, so axe-core cannot be left out")
    server = make_server(redis=redis_proxy.url)
    tabs = Tabs(browser, server.base)
    try:
        # bypass_csp lets axe be injected as a script tag; nothing else here depends on it.
        ann = await participant(tabs, "Ann", "Lobby", bypass_csp=True)
        ben = await participant(tabs, "Ben", "Lobby", bypass_csp=True)
        for page in (ann, ben):  # what peer support is, read: the log has the screen
            await page.get_by_role("button", name="OK, thank you").click()
        redis_proxy.hold_when(WORDS.encode())
        try:
            await say(ann, WORDS)
            await expect(message_texts(ben).last).to_have_text(WORDS)  # shown once recorded
            gone = ben.locator("#log article.msg.removed")
            await expect(gone).to_contain_text("could not be delivered", timeout=15_000)
            await expect(gone).not_to_contain_text("host")
            mine = ann.locator("#log article.msg.own").last
            await expect(mine.get_by_role("button", name="Try again")).to_be_visible()
            await expect(mine).to_contain_text(WORDS)
            await expect(mine).to_contain_text("Not posted")
            await expect(mine).to_contain_text("taken back")
            await look(ann, "taken-back-sender", script)
            await look(ben, "taken-back-other", script)
        finally:
            redis_proxy.heal()
        await mine.get_by_role("button", name="Try again").click()
        await expect(mine).to_contain_text("Sent")
        await expect(ann.locator("#log article.msg.own", has_text=WORDS)).to_have_count(1)
        await expect(ben.locator("#log article.msg:not(.removed)", has_text=WORDS)).to_have_count(1)

        # In another language the sender reads the same in their own words, not "nothing was posted".
        await ann.get_by_label("Language").select_option("es")
        await expect(ann.locator("html")).to_have_attribute("lang", "es")
        redis_proxy.hold_when(OTHER_WORDS.encode())
        try:
            await ann.get_by_label(ES["composer.label"]).fill(OTHER_WORDS)
            await ann.get_by_label(ES["composer.label"]).press("Enter")
            again = ann.locator("#log article.msg.own", has_text=OTHER_WORDS)
            await expect(again).to_contain_text(ES["code.unavailable.taken_back"], timeout=15_000)
            await expect(again.get_by_role("button", name=ES["send.try_again"])).to_be_visible()
            await look(ann, "taken-back-sender-es", script)
        finally:
            redis_proxy.heal()
        assert not tabs.errors, tabs.errors
    finally:
        await tabs.close()


async def look(page, name: str, script) -> None:
    """Desktop and phone screenshots of the page as it is, and axe-core's serious findings (none)."""
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(SHOTS / f"{name}-phone.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})
    if isinstance(script, str):
        return  # axe-core could not be installed here (CI insists on it above)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        assert await axe_violations(page, script) == [], f"{name} ({scheme})"
