"""The admin view (web/admin.html) in a real Chromium against a real server: rooms, escalations, audit search.

Each test starts its own server (tests/rooms.yaml, admin token `root`); Chromium is shared by the module.
People in the rooms are WebSocket clients (tests/support.py), so only the admin page is a browser tab.

Also takes the admin view's screenshots for docs/ui.md:

    .venv/bin/python -m tests.test_admin_ui   # writes docs/screenshots/admin-*.png
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.browser_support import (
    DEMO_ROOMS,
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
from tests.support import ClientPool, ServerProcess, strict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def clients() -> AsyncIterator[ClientPool]:
    """conftest's `clients`, on this module's event loop (the one the browser and the tests run on)."""
    pool = ClientPool()
    yield pool
    await pool.close()


async def admin_view(tabs: Tabs, token: str, **options: Any) -> Page:
    """The admin view, signed in, with the rooms table drawn."""
    page = await tabs.new("admin", **options)
    await page.goto(tabs.base + "/admin.html")
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(room_row(page, "lobby")).to_be_visible()
    return page


def room_row(page: Page, room: str):
    return page.locator(f'#rooms-table tbody tr[data-room="{room}"]')


LOCAL_INPUT = """(minutes) => {
    const d = new Date(Date.now() + minutes * 60000), p = (n) => String(n).padStart(2, "0");
    const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
    return `${day}T${p(d.getHours())}:${p(d.getMinutes())}`;
}"""


async def search(
    page: Page, room: str = "", kind: str = "", since_min: int = -60, until_min: int = 5
) -> None:
    """Fill the audit search (times in minutes from now, in the page's local time) and run it."""
    await page.get_by_label("Room", exact=True).select_option(room)
    await page.get_by_label("Kind", exact=True).select_option(kind)
    await page.get_by_label("From", exact=True).fill(await page.evaluate(LOCAL_INPUT, since_min))
    await page.get_by_label("To", exact=True).fill(await page.evaluate(LOCAL_INPUT, until_min))
    await page.get_by_role("button", name="Search", exact=True).click()


def results(page: Page, kind: str | None = None):
    """Rows of the audit results table, optionally of one kind."""
    return page.locator("#results-table tbody tr" + (f'[data-kind="{kind}"]' if kind else ""))


async def test_rooms_show_live_members_held_queue_and_escalations(
    tabs: Tabs, server: ServerProcess, clients: ClientPool
) -> None:
    """Member and held counts change by themselves; a long wait is marked and listed as an escalation."""
    admin = await admin_view(tabs, server.tokens["root"])
    moderated = room_row(admin, "moderated")
    await expect(moderated.locator(".members")).to_have_text("0")
    await expect(moderated.locator(".held")).to_have_text("0")
    await expect(admin.locator("#held-summary")).to_have_text("Nothing is waiting for a host.")
    await expect(admin.locator("#esc-empty")).to_be_visible()

    alice = await clients.host(server, "alice")
    ana = await clients.user(server, "Ana", ("moderated", "safe"))
    assert (await ana.post("moderated", "Is anyone around tonight?"))["status"] == "held"
    assert (await ana.post("safe", "a grapefruit story"))["status"] == "held"  # Safe escalates after 2 s
    # No click: the 5-second refresh brings the changes.
    await expect(moderated.locator(".members")).to_have_text("1")
    await expect(moderated.locator(".held")).to_have_text("1")
    await expect(moderated).not_to_have_class(re.compile(r"\blong\b"))  # 120 s there

    # Once the hosts hear of the escalation, the admin view shows it too.
    await alice.expect("escalated", room="safe", timeout=10)
    await admin.get_by_role("button", name="Refresh now").click()
    escalation = admin.locator("#escalations li")
    await expect(escalation).to_have_count(1)
    await expect(escalation).to_contain_text("Safe")
    await expect(escalation).to_contain_text(re.compile(r"waited [23] s"))
    safe = room_row(admin, "safe")
    await expect(safe).to_have_class(re.compile(r"\blong\b"))
    await expect(safe.locator(".oldest")).to_contain_text("waiting long")
    await expect(admin.locator("#held-summary")).to_have_text(
        "2 messages are waiting for a host in 2 rooms; 1 room has a message waiting long."
    )

    await escalation.get_by_role("button", name=re.compile(r"^Find in the log: Safe, ")).click()
    await expect(admin.get_by_label("Room", exact=True)).to_have_value("safe")
    await expect(results(admin, "escalated")).to_have_count(1)
    await expect(results(admin, "held")).to_contain_text("a grapefruit story")


async def test_audit_search_by_room_and_time_and_redaction(
    tabs: Tabs, server: ServerProcess, clients: ClientPool
) -> None:
    """From the console's link, search by room and time window, mask e-mail, and open the transcript."""
    ana = await clients.user(server, "Ana", ("lobby", "short"))
    assert (await ana.post("lobby", "Write to me at ana.b@example.org any time"))["status"] == "published"
    assert (await ana.post("short", "in another room"))["status"] == "published"
    # An admin signed in to the host console comes over by its link, without typing the token again.
    admin = await host_console(tabs, server.tokens["root"], "Root")
    await admin.get_by_role("link", name="Admin view").click()
    await expect(room_row(admin, "lobby")).to_be_visible()
    status = admin.locator("#search-status")

    await search(admin, "lobby", "published", since_min=-120, until_min=-60)
    await expect(status).to_have_text("No rows match this search.")
    await expect(results(admin)).to_have_count(0)

    await search(admin, "lobby", "published", since_min=-5, until_min=5)
    await expect(status).to_have_text("1 row found, oldest first.")
    row = results(admin)
    await expect(row).to_have_count(1)
    await expect(row.locator(".row-text")).to_have_text("Write to me at ana.b@example.org any time")
    await expect(row.locator(".who bdi")).to_have_text("Ana")
    await expect(row.locator(".kind")).to_have_text("published")

    await search(admin, "", "published", since_min=-5, until_min=5)  # all rooms: both messages
    await expect(results(admin)).to_have_count(2)

    await admin.get_by_label("Mask e-mail addresses and phone numbers").check()
    await search(admin, "lobby", "published", since_min=-5, until_min=5)
    await expect(status).to_contain_text("E-mail addresses and phone numbers are masked")
    await expect(row.locator(".row-text")).to_have_text("Write to me at [email] any time")

    await admin.get_by_role("button", name="Show transcript").click()
    transcript = admin.locator("#transcript-list li")
    await expect(transcript).to_have_count(1)
    await expect(transcript.locator(".text")).to_have_text("Write to me at ana.b@example.org any time")
    await expect(admin.locator("#transcript-title")).to_have_text("Transcript of Lobby")
    await expect(admin.locator("#results")).to_be_hidden()


async def test_host_token_is_refused_and_a_revoked_admin_is_signed_out(
    tabs: Tabs, server: ServerProcess
) -> None:
    """A host's token gets a clear refusal; an admin token revoked mid-session returns to sign-in."""
    page = await tabs.new("host")
    await page.goto(tabs.base + "/admin.html")
    await page.get_by_label("Admin token").fill(server.tokens["alice"])
    await page.get_by_role("button", name="Sign in").click()
    error = page.get_by_role("alert")
    await expect(error).to_contain_text("it is not an admin token")
    await expect(error).to_contain_text("chatserver hosts add NAME --admin")
    await expect(page.locator("#view-admin")).to_be_hidden()
    await expect(page.get_by_label("Admin token")).to_be_focused()
    assert await page.evaluate("sessionStorage.getItem('cs.admin.token')") is None

    await page.get_by_label("Admin token").fill(server.tokens["root"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(room_row(page, "lobby")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('cs.admin.token')") is not None
    done = await asyncio.to_thread(server.cli, "hosts", "revoke", "root")
    assert done.returncode == 0, done.stderr
    await page.get_by_role("button", name="Refresh now").click()
    await expect(error).to_contain_text("no longer accepts this admin token")
    await expect(page.locator("#view-admin")).to_be_hidden()
    await expect(page.locator("#rooms-table tbody tr")).to_have_count(0)
    assert await page.evaluate("sessionStorage.getItem('cs.admin.token')") is None


XSS_NAME = "<img src=x onerror=__xss=1>"
XSS_TEXT = '<img src=x onerror="window.__xss=2"><script>window.__xss=3</script><b>bold</b> \u202egnp.exe'
XSS_SHOWN = '<img src=x onerror="window.__xss=2"><script>window.__xss=3</script><b>bold</b> U+202Egnp.exe'
XSS_REASON = "<iframe srcdoc='<script>parent.__xss=5</script>'>"
NO_MARKUP = "document.querySelectorAll('img, svg, b, iframe, script:not([src])').length"


async def test_markup_in_audit_rows_stays_inert(
    tabs: Tabs, server: ServerProcess, clients: ClientPool
) -> None:
    """Markup and bidi tricks in names, texts and report reasons show literally in results and transcript."""
    evil = await clients.user(server, XSS_NAME, ("lobby",))
    ben = await clients.user(server, "Ben", ("lobby",))
    ack = await evil.post("lobby", XSS_TEXT)
    assert ack["status"] == "published"
    await ben.send(type="report", room="lobby", message_id=ack["id"], reason=XSS_REASON)
    await ben.expect("notice", room="lobby")
    # bypass_csp: the page's own escaping is under test here, not the Content-Security-Policy.
    admin = await admin_view(tabs, server.tokens["root"], bypass_csp=True)

    await search(admin, "lobby", "", since_min=-5, until_min=5)
    published = results(admin, "published")
    await expect(published.locator(".row-text")).to_have_text(XSS_SHOWN)
    await expect(published.locator(".row-text .ctl")).to_have_text("U+202E")
    await expect(published.locator(".who bdi.name")).to_have_text(XSS_NAME)
    await expect(published.locator(".row-text .text")).to_have_attribute("dir", "auto")
    report = results(admin, "report")
    await expect(report.locator(".details")).to_contain_text(XSS_REASON)

    await admin.get_by_role("button", name="Show transcript").click()
    line = admin.locator("#transcript-list li")
    await expect(line.locator(".text")).to_have_text(XSS_SHOWN)
    await expect(line.locator("bdi.name")).to_have_text(XSS_NAME)

    assert await admin.evaluate("typeof window.__xss") == "undefined"
    assert await admin.evaluate(NO_MARKUP) == 0


async def test_axe_finds_no_serious_violations(
    tabs: Tabs, server: ServerProcess, clients: ClientPool
) -> None:
    """axe-core finds nothing serious or critical: sign-in, rooms, results, transcript; light and dark."""
    script = axe_script()
    if isinstance(script, str):
        if strict():
            pytest.fail(script + ": CI/CHATSERVER_STRICT is set, so this cannot be skipped")
        pytest.skip(script)
    alice = await clients.host(server, "alice")
    ana = await clients.user(server, "Ana", ("lobby", "safe", "moderated"))
    await ana.post("lobby", "Thanks for having me, call 020 7946 0958 if needed", cw="phone")
    await ana.post("moderated", "Is anyone around tonight?")
    await ana.post("safe", "a grapefruit story")
    # bypass_csp lets axe be injected as a script tag; nothing else in this test depends on it.
    page = await tabs.new("admin", bypass_csp=True)
    await page.goto(tabs.base + "/admin.html")
    await page.get_by_label("Admin token").fill(server.tokens["carol"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not an admin token")
    found: dict[str, list] = {"sign-in, refused": await axe_violations(page, script)}

    await page.get_by_label("Admin token").fill(server.tokens["root"])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("Mask e-mail addresses and phone numbers").check()
    await search(page, "lobby", "", since_min=-5, until_min=5)
    await expect(page.locator("#search-status")).to_contain_text("found")
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        found[f"results ({scheme})"] = await axe_violations(page, script)

    # Meanwhile Safe's item has waited long: the marked row and the escalation are checked from here on.
    await alice.expect("escalated", room="safe", timeout=10)
    await page.get_by_role("button", name="Refresh now").click()
    await expect(room_row(page, "safe")).to_have_class(re.compile(r"\blong\b"))
    await expect(page.locator("#escalations li")).to_have_count(1)
    await page.get_by_role("button", name="Show transcript").click()
    await expect(page.locator("#transcript-list li")).to_have_count(1)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        found[f"transcript ({scheme})"] = await axe_violations(page, script)
    await page.set_viewport_size({"width": 390, "height": 844})
    found["phone (dark)"] = await axe_violations(page, script)

    serious = {where: v for where, v in found.items() if v}
    assert not serious, serious


# ---- screenshots for docs/ui.md ------------------------------------------------------
async def take_screenshots(out: Path = SCREENSHOTS) -> list[Path]:
    """The demo rooms with a little going on, photographed in the admin view (desktop and phone)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rooms = DEMO_ROOMS.replace("  - id: anxiety\n", "    escalate_after: 3\n  - id: anxiety\n", 1)
    with throwaway_server(rooms, "demo", admins=("root",)) as (server, tokens):
        async with chromium() as browser:
            tabs = Tabs(browser, server.base)
            maya = await participant(tabs, "Maya", "Late-night check-in")
            await say(maya, "Evening all. Couldn't sleep again, so I thought I'd check in.")
            sam = await participant(tabs, "Sam", "Late-night check-in")
            await say(sam, "Hi Maya, glad you came. You can reach me at sam@example.org")
            await participant(tabs, "Jo", "Anxiety")
            await say(maya, "I ate a grapefruit at midnight, is that weird?")  # held (blocklist)
            await expect(sam.locator("#log article.msg .text")).to_have_count(2)
            admin = await tabs.new("admin")
            await admin.goto(server.base + "/admin.html")
            await admin.get_by_label("Admin token").fill(tokens["root"])
            await admin.get_by_role("button", name="Sign in").click()
            await expect(room_row(admin, "night")).to_have_class(re.compile(r"\blong\b"), timeout=20_000)
            await admin.get_by_label("Mask e-mail addresses and phone numbers").check()
            await search(admin, "night", "", since_min=-10, until_min=5)
            await expect(admin.locator("#search-status")).to_contain_text("found")
            for width, height, kind in ((1280, 800, "desktop"), (390, 844, "phone")):
                await admin.set_viewport_size({"width": width, "height": height})
                await admin.evaluate("window.scrollTo(0, 0)")
                path = out / f"admin-{kind}.png"
                await admin.screenshot(path=str(path), full_page=kind == "desktop")
                written.append(path)
            await tabs.close()
    return written


if __name__ == "__main__":
    raise SystemExit(main(take_screenshots))
