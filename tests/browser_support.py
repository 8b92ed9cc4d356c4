"""Helpers for the browser tests: Chromium, axe-core, and the steps a person takes in the UI.

Also a small program that takes the README's screenshots against a real server:

    .venv/bin/python -m tests.browser_support   # writes docs/screenshots/*.png
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.support import ROOT, add_host

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_DIR = ROOT / "tests" / ".axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
#: How long the UI may take to show something a test waits for.
UI_TIMEOUT_MS = 10_000
NEUTRAL_URL = "https://www.bbc.co.uk/weather"

expect.set_options(timeout=UI_TIMEOUT_MS)


def axe_script() -> Path | str:
    """axe.min.js from the npm registry, cached in tests/.axe; a reason string when it cannot be had."""
    if AXE_JS.exists():
        return AXE_JS
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed, so axe-core cannot be fetched (apt-get install npm)"
    AXE_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            npm,
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--no-package-lock",
            "--prefix",
            str(AXE_DIR),
            "axe-core@4",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0 or not AXE_JS.exists():
        return f"npm install axe-core@4 failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    return AXE_JS


@asynccontextmanager
async def chromium(executable: str = CHROMIUM) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Tabs:
    """Browser tabs for one test, each in its own context (so its own sessionStorage),
    with every uncaught page error collected so a test can insist there were none."""

    def __init__(self, browser: Browser, base: str) -> None:
        self.browser = browser
        self.base = base
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def new(
        self, label: str, *, width: int = 1280, height: int = 800, neutral: bool = False, **options: Any
    ) -> Page:
        context = await self.browser.new_context(viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(UI_TIMEOUT_MS)
        if neutral:
            # The neutral site "Leave quickly" goes to is stood in for, so no test touches the internet.
            # (Only when asked: a route makes every request of the context take a trip through Python.)
            await context.route(
                NEUTRAL_URL + "**",
                lambda route: route.fulfill(
                    status=200, content_type="text/html", body="<title>Weather</title><h1>Weather</h1>"
                ),
            )
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"[{label}] {exc}"))
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


async def pick_name(page: Page, base: str, name: str) -> None:
    await page.goto(base + "/")
    await page.get_by_label("What should we call you?").fill(name)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Choose a room")).to_be_visible()


async def enter_room(page: Page, title: str) -> None:
    await page.get_by_role("button", name=f"Join {title}").click()
    await expect(page.locator("#room-title")).to_have_text(title)


async def participant(tabs: Tabs, name: str, room_title: str, **options: Any) -> Page:
    """A person who picked a name and is in a room."""
    page = await tabs.new(name, **options)
    await pick_name(page, tabs.base, name)
    await enter_room(page, room_title)
    return page


async def say(page: Page, text: str, cw: str | None = None) -> None:
    if cw is not None:
        await page.get_by_role("button", name="Add a content warning").click()
        await page.get_by_label("Content warning").fill(cw)
    await page.get_by_label("Your message").fill(text)
    await page.get_by_label("Your message").press("Enter")


async def host_console(tabs: Tabs, token: str, name: str = "Alice", **options: Any) -> Page:
    """The host console, signed in."""
    page = await tabs.new("host " + name, **options)
    await page.goto(tabs.base + "/host.html")
    await page.get_by_label("Name shown in the rooms").fill(name)
    await page.get_by_label("Host token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who")).to_contain_text(name)
    await expect(page.locator("#rooms-loading")).to_be_hidden()
    return page


def message_texts(page: Page):
    """Every message text in the room, in order (hidden ones included)."""
    return page.locator("#log article.msg .text")


async def axe_violations(page: Page, script: Path) -> list[dict[str, Any]]:
    """Serious and critical axe-core findings on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(script))
    result = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


# ---- screenshots for the README ----------------------------------------------
SCREENSHOTS = ROOT / "docs" / "screenshots"


async def take_screenshots(out: Path = SCREENSHOTS) -> list[Path]:
    """Start a server with the demo rooms, act out a calm conversation, and photograph both pages."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with throwaway_server(DEMO_ROOMS, "demo") as (server, tokens):
        token = tokens["alice"]
        async with chromium() as browser:
            tabs = Tabs(browser, server.base)
            maya = await participant(tabs, "Maya", "Late-night check-in")
            await say(maya, "Evening all. Couldn't sleep again, so I thought I'd check in.")
            sam = await participant(tabs, "Sam", "Late-night check-in")
            await say(sam, "Hi Maya, glad you came. Same here, my head is busy tonight.")
            await expect(message_texts(maya)).to_have_count(2)
            await say(maya, "The breathing thing from last week helped a bit, 4 in, 6 out.")
            await say(sam, "I'm going to try that. Thank you for sharing it.")
            await say(maya, "It's been a rough few days, work and family stuff.", cw="family conflict")
            jo = await participant(tabs, "Jo", "Late-night check-in")
            await say(jo, "Hi both. Is it OK if I just read for a while?")
            await expect(message_texts(maya)).to_have_count(6)
            await say(sam, "Of course. No pressure to write anything.")
            await expect(message_texts(maya)).to_have_count(7)
            await say(jo, "Honestly I can't go on like this much longer")
            await expect(jo.locator("#help-card")).to_be_visible()
            await say(maya, "Jo, we're here. Take your time.")
            await expect(message_texts(maya)).to_have_count(8)
            host = await host_console(tabs, token, "Alice")
            await expect(host.locator("#queue .held")).to_have_count(1)
            await host.get_by_role("button", name="Actions for Jo").click()
            await host.get_by_label("Care note for the hosts").fill(
                "Mentioned a hard week at work; check in gently."
            )
            await host.get_by_role("button", name="Save note").click()
            await expect(host.locator("#queue .held .notes")).to_contain_text("check in gently")
            await host.get_by_role("button", name="Actions for Jo").click()
            await maya.get_by_label("Your message").press_sequentially(
                "Anyone else up for a short walk tomorrow?", delay=80
            )
            await expect(sam.locator("#typing")).to_contain_text("typing")
            for page, stem in ((sam, "room"), (host, "console")):
                for width, height, kind in ((390, 844, "phone"), (1280, 800, "desktop")):
                    await page.set_viewport_size({"width": width, "height": height})
                    await page.evaluate(
                        "document.getElementById('toast').textContent = ''; window.scrollTo(0, 0)"
                    )
                    path = out / f"{stem}-{kind}.png"
                    await page.screenshot(path=str(path))
                    written.append(path)
            crisis = jo
            await crisis.set_viewport_size({"width": 390, "height": 844})
            path = out / "help-phone.png"
            await crisis.screenshot(path=str(path))
            written.append(path)
            await tabs.close()
    return written


@contextmanager
def throwaway_server(
    rooms_yaml: str, label: str, hosts: tuple[str, ...] = ("alice",), admins: tuple[str, ...] = ()
) -> Iterator[Any]:
    """For the screenshot scripts: a server of its own in a temporary folder, with these rooms and a
    database holding these hosts and admins; yields (server, {name: token}) and stops it afterwards."""
    from tests.support import ServerProcess

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "chat.db"
        tokens = {name: add_host(db, name, admin=name in admins) for name in (*hosts, *admins)}
        rooms = work / "rooms.yaml"
        rooms.write_text(rooms_yaml)
        server = ServerProcess(
            work, rooms_path=rooms, db_path=db, redis_url=None, extra=(), tokens=tokens, label=label
        )
        server.start()
        try:
            yield server, tokens
        finally:
            server.stop()


DEMO_ROOMS = """\
resources:
  crisis:
    - {name: "Emergency services", phone: "112 / 911 / 999", text: "If you are in danger right now."}
    - {name: "Samaritans (UK & Ireland)", phone: "116 123", text: "Free, any time, day or night."}
rooms:
  - id: night
    title: Late-night check-in
    topic: For when it's late and your mind won't settle. Gentle company, no advice unless asked.
    hosts: [alice]
    resources: [crisis]
    filters:
      - blocklist: {words: [grapefruit], action: hold}
      - crisis: {action: hold, resources: crisis}
  - id: anxiety
    title: Anxiety
    topic: A calm room to talk about worry and panic.
    hosts: [alice]
    resources: [crisis]
    filters:
      - crisis: {action: hold, resources: crisis}
  - id: grief
    title: Grief
    topic: Losing someone, and everything that comes with it.
    guidelines: |
      Be gentle. Everyone grieves differently.
      Share your own experience rather than advice.
    hosts: [alice]
    resources: [crisis]
    filters:
      - crisis: {action: hold, resources: crisis}
"""


def main(take: Any = None) -> int:
    """Write screenshots with `take` (default: the room and console ones) and print their paths."""
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    for path in asyncio.run((take or take_screenshots)()):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
