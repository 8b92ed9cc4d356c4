"""Proportionate moderation (issue 16) in a real Chromium against a real server: the warning a
participant sees and acknowledges, the person card with the ladder's proposal, a kind refusal with
resources, shield mode on and off; axe-core on each; everything people typed shown as text.

Also takes the screenshots for docs/ui.md:

    .venv/bin/python -m tests.test_proportionate_browser   # writes docs/screenshots/moderation-*.png
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
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
    host_console,
    main,
    pick_name,
    say,
)
from tests.support import ServerProcess, add_host, strict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

ROOMS = """\
resources:
  crisis:
    - {name: "Emergency services", phone: "112 / 911 / 999"}
    - {name: "Listening line (example)", phone: "116 123"}
rooms:
  - id: evening
    title: Evening check-in
    topic: A calm room to talk about the day.
    guidelines: |
      Be gentle with each other. Share what feels right; reading along is fine too.
    rules:
      - "Be kind: no insults or name-calling."
      - "No advice about medication doses."
      - "Keep other people's stories private."
    ladder: [warn, mute 10m, mute 24h, ban]
    reasons:
      - "It wasn't shared, so that everyone here can feel safe. You are welcome to keep talking."
      - "Details of methods aren't shared here, to keep others safe. If you are struggling, please reach out."
    resources: [crisis]
    hosts: [alice]
    filters:
      - links: {action: hold, allow: [example.org]}
    shield: {slowmode: 30, premoderate: new_members, premoderate_count: 2, hold_links: true}
    join_burst: off
"""
#: Typed by people, so shown as text and never obeyed.
TRICK = '<img src=x onerror="window.pwned=1">'
Shoot = Callable[[Page, str], Awaitable[None]]


@pytest.fixture
def server(make_server) -> ServerProcess:
    return make_server(ROOMS)


async def participant(tabs: Tabs, name: str, room_title: str, **options: Any) -> Page:
    """Someone who read the room's guidelines and numbered rules, accepted them and is in the room."""
    page = await tabs.new(name, **options)
    await pick_name(page, tabs.base, name)
    await page.get_by_role("button", name=f"Join {room_title}").click()
    await expect(page.locator("#guidelines-rules li")).to_have_count(3)
    await page.get_by_role("button", name="I have read these and agree").click()
    await expect(page.locator("#room-title")).to_have_text(room_title)
    return page


def card_of(host: Page):
    return host.locator('.room-card[data-room="evening"]')


async def open_actions(host: Page, name: str) -> None:
    card = card_of(host)
    await expect(card.locator(".people")).to_contain_text(name)
    await card.get_by_role("button", name=f"Actions for {name}").click()


async def warn_and_acknowledge(
    tabs: Tabs, token: str, shoot: Shoot | None = None, trick: str = TRICK
) -> tuple[Page, Page]:
    """Alice warns Maya citing rule 2 with her own words; Maya sees it alone, reads, and posts again."""
    host = await host_console(tabs, token, "Alice", bypass_csp=True)
    maya = await participant(tabs, "Maya", "Evening check-in", bypass_csp=True)
    kim = await participant(tabs, "Kim", "Evening check-in", bypass_csp=True)
    await expect(maya.locator("#room-rules li")).to_have_count(3)
    await say(maya, "Honestly just double your dose, it worked for me")
    await open_actions(host, "Maya")
    card = card_of(host)
    await card.get_by_label("Warn Maya about").select_option("2")
    await card.get_by_label("Your words (optional, only they will see them)").fill(
        ("Please leave dosing to doctors. " + trick).strip()
    )
    await card.get_by_role("button", name="Send warning").click()
    warning = maya.locator("#warning")
    await expect(warning).to_contain_text("Rule 2")
    await expect(warning).to_contain_text("No advice about medication doses.")
    words = warning.locator(".warning-words .text")
    await expect(words).to_have_text(("Please leave dosing to doctors. " + trick).strip())
    await expect(warning.locator("img")).to_have_count(0)
    await expect(maya.locator("#composer")).to_be_hidden()
    await expect(kim.locator("#warning")).to_have_count(0)
    if shoot:
        await shoot(maya, "moderation-warning")
    await warning.get_by_role("button", name="I understand").click()
    await expect(maya.locator("#warning")).to_have_count(0)
    await expect(maya.locator("#composer")).to_be_visible()
    await say(maya, "Sorry, I understand. I'll keep to my own story.")
    await expect(kim.locator("#log")).to_contain_text("I'll keep to my own story.")
    assert await maya.evaluate("window.pwned") is None
    return host, maya


async def person_card(host: Page, maya: Page, shoot: Shoot | None = None, trick: str = TRICK) -> None:
    """The card: Maya's messages, counts, the warning with its rule, and the ladder's next step."""
    await say(maya, ("my blog " + trick).strip() + " https://shady.example.net/p")
    card = card_of(host)
    await card.get_by_role("button", name="Person card").click()
    person = card.locator(".person-card")
    await expect(person).to_contain_text("Maya — person card")
    await expect(person).to_contain_text("1 held")
    await expect(person).to_contain_text("1 strike now")
    await expect(person.locator(".proposal")).to_contain_text("The room's ladder suggests next: mute 10 min")
    await expect(person).to_contain_text(
        "Warned in evening by alice (rule 2: No advice about medication doses.)"
    )
    await expect(person).to_contain_text(trick)
    await expect(person).not_to_contain_text("null")
    await expect(person.locator("img")).to_have_count(0)
    if shoot:
        await person.evaluate("node => node.scrollIntoView({block: 'start'})")
        await shoot(host, "moderation-person-card")


async def kind_refusal(host: Page, maya: Page, shoot: Shoot | None = None) -> None:
    """Alice does not share the held link, choosing the room's second reason: Maya reads it, with help."""
    held = host.locator("#queue .held").first
    await held.get_by_role("button", name="Reject…").click()
    await held.get_by_label("What they will read").select_option("2")
    await held.get_by_role("button", name="Reject", exact=True).click()
    told = maya.locator("#log .not-shared")
    await expect(told).to_contain_text("Details of methods aren't shared here")
    await expect(told).to_contain_text("Emergency services")
    if shoot:
        await shoot(maya, "moderation-not-shared")


async def shield_on_and_off(tabs: Tabs, host: Page, maya: Page, shoot: Shoot | None = None) -> None:
    """One click: slow mode 30 s and a newcomer's messages wait; off: the room exactly as it was."""
    card = card_of(host)
    await card.get_by_role("button", name="Shield mode").click()
    await expect(card.get_by_role("button", name="Turn shield mode off")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(maya.locator("#log")).to_contain_text("The hosts have turned on extra care")
    await expect(maya.locator("#room-flags")).to_contain_text("Slow mode: one message every 30 seconds.")
    newcomer = await participant(tabs, "Ade", "Evening check-in", bypass_csp=True)
    await say(newcomer, "hello, first time here")
    await expect(host.locator("#queue .held")).to_contain_text("hello, first time here")
    if shoot:
        await shoot(host, "moderation-shield")
    await card.get_by_role("button", name="Turn shield mode off").click()
    await expect(maya.locator("#log")).to_contain_text("Extra care is off")
    await expect(maya.locator("#room-flags")).not_to_contain_text("Slow mode")
    await expect(card.get_by_role("button", name="Shield mode")).to_have_attribute("aria-pressed", "false")


async def test_a_warning_is_seen_privately_and_posting_resumes_after_i_understand(
    tabs: Tabs, server: ServerProcess
) -> None:
    """Only Maya sees the warning, with the rule's number and words and the host's own (as text); her
    message box comes back once she chooses "I understand"."""
    await warn_and_acknowledge(tabs, server.tokens["alice"])


async def test_the_person_card_a_kind_refusal_and_shield_mode(tabs: Tabs, server: ServerProcess) -> None:
    """The console's person card with the ladder's proposal; a rejected message tells Maya why with help;
    shield mode on and off as participants see it."""
    host, maya = await warn_and_acknowledge(tabs, server.tokens["alice"])
    await person_card(host, maya)
    await kind_refusal(host, maya)
    await shield_on_and_off(tabs, host, maya)


async def test_axe_finds_nothing_serious_in_the_moderation_views(tabs: Tabs, server: ServerProcess) -> None:
    """axe-core on the participant's warning and refusal and the console's card and shield mode, light
    and dark."""
    script = axe_script()
    if isinstance(script, str):
        if strict():
            pytest.fail(script + ": CI/CHATSERVER_STRICT is set, so this cannot be skipped")
        pytest.skip(script)
    found: dict[str, list[Any]] = {}

    async def check(page: Page, where: str) -> None:
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            found[f"{where} ({scheme})"] = await axe_violations(page, script)

    async def shoot(page: Page, stem: str) -> None:
        await check(page, stem)

    host, maya = await warn_and_acknowledge(tabs, server.tokens["alice"], shoot)
    await person_card(host, maya, shoot)
    await kind_refusal(host, maya, shoot)
    await shield_on_and_off(tabs, host, maya, shoot)
    serious = {where: v for where, v in found.items() if v}
    assert not serious, serious


async def take_screenshots(out: Path = SCREENSHOTS) -> list[Path]:
    """The warning a participant sees, the person card, a kind refusal and shield mode: phone and desktop."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "chat.db"
        tokens = {"alice": add_host(db, "alice")}
        rooms = work / "rooms.yaml"
        rooms.write_text(ROOMS)
        server = ServerProcess(
            work, rooms_path=rooms, db_path=db, redis_url=None, extra=(), tokens=tokens, label="demo"
        )
        server.start()

        async def shoot(page: Page, stem: str) -> None:
            for width, height, kind in ((390, 844, "phone"), (1280, 800, "desktop")):
                await page.set_viewport_size({"width": width, "height": height})
                await page.evaluate("document.getElementById('toast')?.replaceChildren()")
                if stem == "moderation-person-card":
                    await page.locator(".person-card").evaluate("n => n.scrollIntoView({block: 'start'})")
                path = out / f"{stem}-{kind}.png"
                await page.screenshot(path=str(path))
                written.append(path)

        try:
            async with chromium() as browser:
                tabs = Tabs(browser, server.base)
                host, maya = await warn_and_acknowledge(tabs, tokens["alice"], shoot, trick="")
                await person_card(host, maya, shoot, trick="")
                await kind_refusal(host, maya, shoot)
                await shield_on_and_off(tabs, host, maya, shoot)
                await tabs.close()
        finally:
            server.stop()
    return written


if __name__ == "__main__":
    raise SystemExit(main(take_screenshots))
