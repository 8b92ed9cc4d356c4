"""The admin view of a deployment of two machines (issue 18), in a real Chromium: each audit row and
transcript line says which machine recorded it, and a machine that does not answer is named above
the results. Two `chatserver serve` machines share one real redis-server.

Screenshots of that state (phone and desktop) go to /tmp/shots/ (not committed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.browser_support import Tabs, axe_script, axe_violations
from tests.support import ClientPool, strict
from tests.test_admin_ui import admin_view, search
from tests.test_audit_view import two_machines

pytestmark = [
    pytest.mark.browser,
    pytest.mark.redis,
    pytest.mark.timeout(90),
    pytest.mark.asyncio(loop_scope="module"),
]

SHOTS = Path("/tmp/shots")
#: Scroll so the search's status, the notice and the results fill the screenshot.
TO_RESULTS = "document.querySelector('#search-status').scrollIntoView({block: 'start'})"


@pytest_asyncio.fixture(loop_scope="module")
async def clients() -> AsyncIterator[ClientPool]:
    """conftest's `clients`, on this module's event loop (the one the browser and the tests run on)."""
    pool = ClientPool()
    yield pool
    await pool.close()


async def test_rows_say_their_machine_and_a_machine_that_does_not_answer_is_named(
    browser, redis_server, make_server, clients: ClientPool
):
    """Search and transcript on A label rows "machine a" / "machine b"; with B stopped, a calm notice
    names B and A's rows are still shown."""
    script = axe_script()
    if isinstance(script, str) and strict():
        pytest.fail(script + ": CI/CHATSERVER_STRICT is set, so axe-core cannot be left out")
    a, b, _ = two_machines(make_server, redis_server.url)
    ann = await clients.user(a, "ann", ("lobby",))
    ben = await clients.user(b, "ben", ("lobby",))
    assert (await ann.post("lobby", "hello from machine a"))["status"] == "published"
    await ben.expect("message", text="hello from machine a")
    assert (await ben.post("lobby", "<b>hello</b> from machine b"))["status"] == "published"

    tabs = Tabs(browser, a.base)
    try:
        # bypass_csp lets axe be injected as a script tag; nothing else here depends on it.
        page = await admin_view(tabs, a.tokens["root"], bypass_csp=True)
        await search(page, "lobby", "published", since_min=-5, until_min=5)
        rows = page.locator("#results-table tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0).locator(".source")).to_have_text("machine a")
        await expect(rows.nth(1).locator(".source")).to_have_text("machine b")
        await expect(rows.nth(1).locator(".row-text")).to_contain_text("<b>hello</b>")  # text, not markup
        await expect(page.locator("#search-missing")).to_be_hidden()
        SHOTS.mkdir(exist_ok=True)
        await page.evaluate(TO_RESULTS)
        await page.screenshot(path=str(SHOTS / "audit-view-both-desktop.png"))

        b.stop()
        await search(page, "lobby", "published", since_min=-5, until_min=5)
        notice = page.locator("#search-missing")
        await expect(notice).to_have_text("Rows from machine b are not shown: it did not answer.")
        await expect(rows).to_have_count(1)
        await expect(rows.nth(0).locator(".source")).to_have_text("machine a")
        await page.evaluate(TO_RESULTS)
        await page.screenshot(path=str(SHOTS / "audit-view-missing-desktop.png"))
        if not isinstance(script, str):  # the machine labels and the notice, light and dark
            for scheme in ("light", "dark"):
                await page.emulate_media(color_scheme=scheme)
                assert await axe_violations(page, script) == [], scheme
            await page.emulate_media(color_scheme="light")

        await page.get_by_role("button", name="Show transcript").click()
        items = page.locator("#transcript-list li")
        await expect(items).to_have_count(1)
        await expect(items.nth(0).locator(".source")).to_have_text("machine a")
        await expect(notice).to_have_text("Rows from machine b are not shown: it did not answer.")
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.evaluate(TO_RESULTS)
        await page.screenshot(path=str(SHOTS / "audit-view-missing-phone.png"))
        await search(page, "lobby", "published", since_min=-5, until_min=5)
        await expect(rows).to_have_count(1)
        await page.evaluate(TO_RESULTS)
        await page.screenshot(path=str(SHOTS / "audit-view-results-phone.png"))
    finally:
        await tabs.close()
    assert not tabs.errors, tabs.errors
