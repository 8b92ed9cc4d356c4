"""Hosted rooms in a real Chromium against a real server (issue 15): honest host status in the room
list and the room, closed rooms, held messages with no host, and the console's duty toggle, snippets,
private greetings, notifications and keyboard shortcuts; coverage in the admin view.

Also takes the screenshots for docs/ui.md:

    .venv/bin/python -m tests.test_hosted_browser   # writes docs/screenshots/hosted-*.png
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from tests.browser_support import (
    SCREENSHOTS,
    Tabs,
    axe_script,
    axe_violations,
    chromium,
    enter_room,
    host_console,
    main,
    participant,
    pick_name,
    say,
)
from tests.support import ServerProcess, add_host, strict, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="module")]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Where the people in these tests are: their own time zone, 24-hour clock.
PERSON = {"locale": "en-GB", "timezone_id": "America/New_York"}


def timetabled_opening(now: datetime | None = None) -> datetime:
    """19:00 UTC three days from today: a weekly opening that never includes now."""
    day = ((now or datetime.now(UTC)) + timedelta(days=3)).date()
    return datetime.combine(day, time(19, 0), tzinfo=UTC)


OPENS = timetabled_opening()

ROOMS = f"""\
defaults:
  unhosted_grace: 1
resources:
  crisis:
    - {{name: "Emergency services", phone: "112 / 911 / 999"}}
    - {{name: "Listening line (example)", phone: "116 123"}}
snippets:
  welcome: "Hello, and welcome. Take your time: reading along is fine."
  opening: "Hello everyone, and welcome to tonight's session."
  closing: "We're coming to the end of this session. Thank you for being here."
  check_in: "I wanted to check in with you. How are you doing right now?"
rooms:
  - id: evening
    title: Evening check-in
    topic: Messages wait for a host when none is here.
    hosts: [alice]
    when_unhosted: premoderate
    opening: opening
    closing: closing
    filters: []
  - id: quiet
    title: Quiet room
    topic: Read-only without a host.
    hosts: [alice]
    when_unhosted: read_only
    snippets: [welcome, check_in]
    filters: []
  - id: grief
    title: Grief circle
    topic: A weekly session with a host.
    hosts: [alice]
    hours: {{timezone: UTC, weekly: {{{DAYS[OPENS.weekday()]}: "19:00-21:00"}}}}
    when_unhosted: closed
    filters: []
  - id: dropin
    title: Drop-in
    topic: Open only while a host is here.
    hosts: [alice]
    when_unhosted: closed
    unhosted_grace: 0
    filters: []
  - id: waiting
    title: Waiting room
    topic: Every message waits for a host.
    premoderate: all
    hosts: [alice]
    resources: [crisis]
    filters: []
"""
#: The same rooms, with the crisis filter in the waiting room (urgent held items); only the test that
#: needs it loads the phrase packs.
CRISIS_ROOMS = ROOMS.replace(
    "    resources: [crisis]\n    filters: []\n",
    "    resources: [crisis]\n    filters:\n      - crisis: {action: hold, resources: crisis}\n",
)

OPENING = "Hello everyone, and welcome to tonight's session."
WELCOME = "Hello, and welcome. Take your time: reading along is fine."


@pytest.fixture
def server(make_server) -> ServerProcess:
    """One server: rooms that premoderate, go read-only or close without a host, and a timetabled one,
    returned once the grace after start is over (every room in the mode it has with nobody here)."""
    started = make_server(ROOMS)

    wait_for(lambda: mode_of(started, "evening") == "premoderate", 10, "the rooms' unhosted modes")
    return started


def mode_of(server: ServerProcess, room: str) -> str:
    return {r["id"]: r["mode"] for r in server.get("/api/rooms").json()}[room]


def opens_in_new_york() -> str:
    """How the timetabled opening reads in New York: "Thursday 14:00"."""
    local = OPENS.astimezone(ZoneInfo(PERSON["timezone_id"]))
    return f"{local.strftime('%A')} {local.hour}:{local.minute:02d}"  # en-GB: 14:00, 9:05


def room_item(page: Page, room: str):
    return page.locator(f'#rooms li[data-room="{room}"]')


async def person(tabs: Tabs, name: str, **options: Any) -> Page:
    """Someone who has picked a name and sees the room list, in New York."""
    page = await tabs.new(name, **{**PERSON, **options})
    await pick_name(page, tabs.base, name)
    return page


async def test_the_room_list_says_who_is_here_and_when_a_closed_room_opens(
    tabs: Tabs, server: ServerProcess
) -> None:
    """No host: what that means per room; closed rooms say when they open, in the person's time."""
    ana = await person(tabs, "Ana")
    evening = room_item(ana, "evening").locator(".room-status")
    await expect(evening).to_have_text("No host right now · messages wait for a host")
    await expect(room_item(ana, "quiet").locator(".room-status")).to_have_text(
        "No host right now · read-only"
    )
    grief = room_item(ana, "grief")
    await expect(grief.locator(".room-status")).to_contain_text(f"Closed · Opens {opens_in_new_york()} (in ")
    await expect(grief.locator(".room-status")).to_have_text(re.compile(r"\(in [34] days\)$"))
    await expect(grief.get_by_role("button", name="Opening times for Grief circle")).to_be_visible()
    await expect(room_item(ana, "dropin").locator(".room-status")).to_have_text(
        "Closed · Opens when a host is here"
    )
    await expect(room_item(ana, "dropin").locator(".count")).to_be_hidden()

    await host_console(tabs, server.tokens["alice"], "Alice")
    wait_for(lambda: mode_of(server, "dropin") == "open", 10, "drop-in opening with a host on duty")
    await ana.reload()
    await expect(evening).to_have_text("1 host here")
    await expect(room_item(ana, "dropin").locator(".room-status")).to_have_text("1 host here")
    await expect(room_item(ana, "dropin").get_by_role("button", name="Join Drop-in")).to_be_visible()
    await expect(grief.locator(".room-status")).to_contain_text("Closed · Opens")  # hours win over hosts


async def test_a_closed_room_says_when_it_opens_and_offers_help_and_open_rooms(tabs: Tabs) -> None:
    """Joining a closed room shows when it opens (own time), "Get help now", and the rooms open now."""
    ben = await person(tabs, "Ben")
    await ben.get_by_role("button", name="Opening times for Grief circle").click()
    closed = ben.locator("#view-closed")
    await expect(ben.get_by_role("heading", level=1)).to_have_text("Grief circle is closed right now")
    await expect(closed.locator("#closed-when")).to_contain_text(
        f"It opens {opens_in_new_york()} your time (in "
    )
    await expect(closed.locator("#closed-rooms li")).to_have_count(
        3
    )  # evening, quiet, waiting: not grief, not drop-in
    await expect(closed.get_by_role("button", name="Join Evening check-in")).to_be_visible()
    await expect(closed.get_by_role("button", name="Opening times for Drop-in")).to_have_count(0)

    await closed.get_by_role("button", name="Get help now").click()
    dialog = ben.get_by_role("dialog", name="Help, right now")
    await expect(dialog).to_contain_text("Emergency services")
    await ben.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    await closed.get_by_role("button", name="See all rooms").click()
    await ben.get_by_role("button", name="Opening times for Drop-in").click()
    await expect(closed.locator("#closed-when")).to_contain_text("It opens when a volunteer host is here")
    await closed.get_by_role("button", name="Join Quiet room").click()
    await expect(ben.locator("#room-title")).to_have_text("Quiet room")
    await expect(ben.locator("#host-status")).to_have_text("No host right now · read-only")


async def test_a_held_message_with_no_host_here_says_so_and_points_to_help(tabs: Tabs) -> None:
    """premoderate without a host: the status says nobody is here to read it yet, and offers help now."""
    cara = await person(tabs, "Cara")
    await enter_room(cara, "Evening check-in")
    await expect(cara.locator("#host-status")).to_have_text("No host right now · messages wait for a host")
    await say(cara, "Is anyone around tonight?")
    status = cara.locator("#log article.msg.own").last.locator(".status")
    await expect(status).to_contain_text(
        "No host is here right now, so it may be a while before anyone reads it."
    )
    await expect(status).not_to_contain_text("soon")
    await status.get_by_role("button", name="Get help now").click()
    await expect(cara.get_by_role("dialog", name="Help, right now")).to_be_visible()


async def test_the_duty_toggle_changes_what_participants_see(tabs: Tabs, server: ServerProcess) -> None:
    """A break: the room says no host, then premoderates (or closes); coming back says a host is here."""
    host = await host_console(tabs, server.tokens["alice"], "Alice")
    # A room's mode follows its hosts once a second: had Dan come in before Alice's arrival was
    # counted, his log would also hold that change ("A host is here now"), a second mode line.
    for room in ("evening", "dropin"):
        await asyncio.to_thread(wait_for, lambda r=room: mode_of(server, r) == "open", 10, f"{room} open")
    dan = await participant(tabs, "Dan", "Evening check-in", **PERSON)
    eve = await participant(tabs, "Eve", "Drop-in", **PERSON)
    await expect(dan.locator("#host-status")).to_have_text("1 host here")
    await expect(host.locator("#duty-status")).to_contain_text("On duty")

    await host.get_by_role("button", name="Take a break").click()
    await expect(host.locator("#duty-status")).to_contain_text("Taking a break")
    await expect(host.get_by_role("button", name="Back on duty")).to_be_visible()
    await expect(dan.locator("#host-status")).to_have_text("No host right now · messages wait for a host")
    await expect(dan.locator("#log .sys.mode")).to_contain_text(
        "No host is here right now. You can still post"
    )
    card = host.locator('.room-card[data-room="evening"] .room-cover')
    await expect(card).to_contain_text("every participant message waits for a host")

    # A room that closes without a host sends its people to the closed page, with what the room said.
    await expect(eve.get_by_role("heading", level=1)).to_have_text("Drop-in is closed right now")
    await expect(eve.locator("#closed-said")).to_contain_text(
        "The room is closed now. Thank you for being here."
    )
    await expect(eve.locator("#view-closed").get_by_role("button", name="Get help now")).to_be_visible()

    await say(dan, "hello?")
    await expect(dan.locator("#log article.msg.own .status")).to_contain_text("No host is here right now")
    await expect(host.locator("#queue .held")).to_have_count(1)  # hosts on a break still see the queue

    await host.get_by_role("button", name="Back on duty").click()
    await expect(dan.locator("#host-status")).to_have_text("1 host here")
    await expect(dan.locator("#log .sys.mode").last).to_have_text(
        "A host is here now. Welcome back, everyone."
    )
    await expect(card).to_have_text("1 host on duty")

    # A break survives a reload of the console: the new connection goes off duty again at once.
    await host.get_by_role("button", name="Take a break").click()
    await expect(dan.locator("#host-status")).to_contain_text("No host right now")
    await host.reload()
    await expect(host.locator("#duty-status")).to_contain_text("Taking a break")
    await dan.wait_for_timeout(1500)
    await expect(dan.locator("#host-status")).to_contain_text("No host right now")


async def test_snippets_fill_the_box_and_a_newcomer_is_greeted_privately(
    tabs: Tabs, server: ServerProcess
) -> None:
    """One click puts a snippet in the editable box (scripts marked); a greeting reaches one person only."""
    host = await host_console(tabs, server.tokens["alice"], "Alice")
    fay = await participant(tabs, "Fay", "Evening check-in", **PERSON)
    gus = await participant(tabs, "Gus", "Evening check-in", **PERSON)
    card = host.locator('.room-card[data-room="evening"]')
    snippets = card.get_by_role("group", name="Snippets").get_by_role("button")
    await expect(snippets).to_have_text(["Opening script", "Welcome", "Check in", "Closing script"])
    quiet = (
        host.locator('.room-card[data-room="quiet"]')
        .get_by_role("group", name="Snippets")
        .get_by_role("button")
    )
    await expect(quiet).to_have_text(["Welcome", "Check in"])

    box = card.get_by_label("Post in this room as a host")
    await card.get_by_role("button", name="Opening script").click()
    await expect(box).to_have_value(OPENING)
    await expect(box).to_be_focused()
    await box.press("End")
    await box.press_sequentially(" We meet until nine.")
    await card.get_by_role("button", name="Post", exact=True).click()
    await expect(fay.locator("#log article.msg.host .text")).to_have_text(OPENING + " We meet until nine.")
    await expect(box).to_have_value("")

    # Fay writes, so the console knows her; one click opens the greeting with the welcome, editable.
    await say(fay, "hi, first time here")
    await expect(card.locator(".people")).to_contain_text("Fay")
    await card.get_by_role("button", name="Greet Fay privately").click()
    greeting = card.get_by_label("Private message to Fay (only they will see it)")
    await expect(greeting).to_have_value(WELCOME)
    await greeting.press_sequentially(" I'm Alice.")
    await card.get_by_role("button", name="Send privately").click()
    private = fay.locator("#log article.private")
    await expect(private.locator(".text")).to_have_text(WELCOME + " I'm Alice.")
    await expect(private).to_contain_text("Only you can see this")
    # The server names the host by their account (alice) here, not the display name they signed in with.
    await expect(private.locator(".msg-head")).to_contain_text(re.compile("alice", re.IGNORECASE))
    await expect(card.locator(".person").filter(has_text="Fay")).to_contain_text("greeted")
    await gus.wait_for_timeout(500)
    await expect(gus.locator("#log article.private")).to_have_count(0)


async def test_keyboard_shortcuts_work_the_held_queue_but_never_while_typing(
    tabs: Tabs, server: ServerProcess
) -> None:
    """? shows the help; j/k select, r reads, a releases, x opens Reject; keys typed in a box stay text."""
    host = await host_console(tabs, server.tokens["alice"], "Alice")
    hal = await participant(tabs, "Hal", "Waiting room", **PERSON)
    for text in ("first one", "second one", "third one"):
        await say(hal, text)
    items = host.locator("#queue .held")
    await expect(items).to_have_count(3)

    await host.locator("#queue-title").click()  # focus on the page, not in a box
    await host.keyboard.press("?")
    help_box = host.locator("#shortcuts")
    await expect(help_box).to_have_attribute("open", "")
    await expect(help_box).to_contain_text("Release it")
    await host.keyboard.press("?")
    await expect(help_box).not_to_have_attribute("open", "")

    await host.keyboard.press("j")
    await expect(items.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    await host.keyboard.press("j")
    await expect(items.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    await host.keyboard.press("k")
    await expect(items.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    await host.keyboard.press("r")
    await expect(items.nth(0).locator(".held-text")).not_to_have_class(re.compile(r"\bblurred\b"))
    await expect(items.nth(0).locator(".held-text")).to_have_text("first one")
    await host.keyboard.press("a")
    await expect(hal.locator("#log article.msg .text").first).to_have_text("first one")
    await expect(items).to_have_count(2)
    await expect(items.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))  # the next one takes its place

    # Typing in a box (the post box, then the reject note) never triggers a shortcut.
    post = host.locator('.room-card[data-room="waiting"]').get_by_label("Post in this room as a host")
    await post.press_sequentially("a jar of x and r?")
    await expect(post).to_have_value("a jar of x and r?")
    await expect(items).to_have_count(2)
    await expect(help_box).not_to_have_attribute("open", "")
    await post.fill("")

    await items.nth(0).focus()
    await host.keyboard.press("x")
    note = items.nth(0).get_by_label("Note to the person")
    await expect(note).to_be_focused()
    await note.press_sequentially("a kind note")
    await expect(note).to_have_value("a kind note")
    await expect(items).to_have_count(2)
    await items.nth(0).get_by_role("button", name="Reject", exact=True).click()
    await expect(items).to_have_count(1)
    await expect(hal.locator("#log article.msg.own .status").nth(1)).to_contain_text("a kind note")


NOTIFY_STUB = """
(() => {
  window.__notes = [];
  window.__tones = 0;
  class FakeNotification {
    constructor(title, options) { window.__notes.push({title, body: (options || {}).body || ""}); }
    close() {}
  }
  FakeNotification.permission = "default";
  FakeNotification.requestPermission = async () => (FakeNotification.permission = "granted");
  window.Notification = FakeNotification;
  class FakeAudio {
    constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
    resume() { return Promise.resolve(); }
    createGain() {
      const param = {setValueAtTime() {}, exponentialRampToValueAtTime() {}};
      return {gain: param, connect: (next) => next};
    }
    createOscillator() {
      window.__tones += 1;
      return {frequency: {}, connect: (next) => next, start() {}, stop() {}};
    }
  }
  window.AudioContext = FakeAudio;
  // The console is in the background: another tab or window has the focus.
  Object.defineProperty(document, "visibilityState", {get: () => "hidden", configurable: true});
  document.hasFocus = () => false;
})();
"""


async def test_notifications_and_a_tone_reach_a_host_in_the_background(browser: Any, make_server) -> None:
    """Only after the host allows it: a notification (without the message) and a short tone, when urgent."""
    server = make_server(CRISIS_ROOMS)
    tabs = Tabs(browser, server.base)
    try:
        await notifications_and_tone(tabs, server)
    finally:
        await tabs.close()
    assert not tabs.errors, tabs.errors


async def notifications_and_tone(tabs: Tabs, server: ServerProcess) -> None:
    page = await tabs.new("host in the background")
    await page.add_init_script(NOTIFY_STUB)
    await page.goto(tabs.base + "/host.html")
    await page.get_by_label("Name shown in the rooms").fill("Alice")
    await page.get_by_label("Host token").fill(server.tokens["alice"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#rooms-loading")).to_be_hidden()
    sound = page.get_by_label("Play a sound")
    await expect(sound).not_to_be_checked()  # off unless the host turns it on

    await page.get_by_role("button", name="Turn on desktop notifications").click()
    await expect(page.locator("#notify-status")).to_contain_text("Desktop notifications are on")
    await expect(page.get_by_role("button", name="Turn on desktop notifications")).to_be_hidden()
    await sound.check()
    assert await page.evaluate("window.__tones") == 2  # a sample of the two-note tone

    ivy = await participant(tabs, "Ivy", "Waiting room", **PERSON)
    await say(ivy, "just a normal message")  # held, not urgent: nobody is called
    await expect(page.locator("#queue .held")).to_have_count(1)
    assert await page.evaluate("window.__notes") == []
    await say(ivy, "Honestly I want to die, I can't go on")
    await expect(page.locator("#queue .held")).to_have_count(2)
    notes = await page.evaluate("window.__notes")
    assert "An urgent message is waiting" in [n["title"] for n in notes], notes
    assert "Waiting room" in notes[0]["body"] and "die" not in str(notes)
    assert await page.evaluate("window.__tones") >= 4


def coverage_row(page: Page, room: str):
    return page.locator(f'#coverage-table tbody tr[data-room="{room}"]')


async def test_the_admin_view_shows_coverage_at_a_glance(tabs: Tabs, server: ServerProcess) -> None:
    """Rooms open without a host, the next gaps in the timetable, and who is on duty where."""
    admin = await tabs.new("admin", **PERSON)
    await admin.goto(tabs.base + "/admin.html")
    await admin.get_by_label("Admin token").fill(server.tokens["root"])
    await admin.get_by_role("button", name="Sign in").click()
    summary = admin.locator("#coverage-summary")
    await expect(summary).to_have_text(
        "3 rooms are open without a host: Evening check-in, Quiet room, Waiting room."
    )
    await expect(admin.locator("#coverage-hosts")).to_have_text("No host is on duty anywhere right now.")
    await expect(coverage_row(admin, "evening")).to_contain_text(
        "Open without a host: messages wait for a host"
    )
    await expect(coverage_row(admin, "dropin")).to_contain_text("Closed: no host on duty")
    grief = coverage_row(admin, "grief")
    await expect(grief.locator(".mode")).to_contain_text(f"Closed until {opens_in_new_york()} (in ")
    await expect(grief.locator(".gap")).to_contain_text(f"now, until {opens_in_new_york()}")
    await expect(grief).to_contain_text("its hosts: alice")
    await expect(coverage_row(admin, "evening").locator(".gap")).to_have_text("none: always open")
    await expect(admin.locator("#coverage-next")).to_contain_text(
        "Next to open: Grief circle, " + opens_in_new_york()
    )
    await expect(admin.locator("#coverage-next")).to_contain_text("none of its hosts is on duty now.")

    await host_console(tabs, server.tokens["alice"], "Alice")
    await admin.get_by_role("button", name="Refresh now").click()
    await expect(summary).to_have_text("All 4 open rooms have a host on duty.")  # grief keeps its hours
    await expect(admin.locator("#coverage-hosts")).to_contain_text(
        "On duty: alice in Evening check-in, Quiet room"
    )
    await expect(coverage_row(admin, "evening").locator(".on-duty")).to_have_text("alice")
    await expect(coverage_row(admin, "evening").locator(".mode")).to_have_text("Open, hosted")


async def test_axe_finds_nothing_serious_on_the_hosted_pages(tabs: Tabs, server: ServerProcess) -> None:
    """axe-core: room list, closed page, a room with a no-host held message and a private word, the
    console with its shift bar, snippets, greeting and shortcuts, and the admin coverage; light and dark."""
    script = axe_script()
    if isinstance(script, str):
        if strict():
            pytest.fail(script + ": CI/CHATSERVER_STRICT is set, so this cannot be skipped")
        pytest.skip(script)
    found: dict[str, list] = {}

    async def check(page: Page, where: str) -> None:
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            found[f"{where} ({scheme})"] = await axe_violations(page, script)

    jo = await person(tabs, "Jo", bypass_csp=True)
    await expect(room_item(jo, "grief").locator(".room-status")).to_contain_text("Opens")
    await check(jo, "room list")
    await jo.get_by_role("button", name="Opening times for Grief circle").click()
    await expect(jo.locator("#view-closed")).to_be_visible()
    await check(jo, "closed page")
    await jo.locator("#view-closed").get_by_role("button", name="Join Evening check-in").click()
    await say(jo, "anyone here?")
    await expect(jo.locator("#log article.msg.own .status")).to_contain_text("No host is here right now")
    await check(jo, "room, held with no host")

    host = await host_console(tabs, server.tokens["alice"], "Alice", bypass_csp=True)
    await say(jo, "thanks for coming")
    card = host.locator('.room-card[data-room="evening"]')
    await expect(card.locator(".people")).to_contain_text("Jo")
    await card.get_by_role("button", name="Greet Jo privately").click()
    await card.get_by_role("button", name="Send privately").click()
    await expect(jo.locator("#log article.private")).to_be_visible()
    await check(jo, "room with a private word")
    await card.get_by_role("button", name="Opening script").click()
    await host.get_by_role("button", name="Take a break").click()
    await expect(host.locator("#duty-status")).to_contain_text("Taking a break")
    await host.locator("#shortcuts summary").click()
    await card.get_by_role("button", name="Greet Jo privately").click()
    await check(host, "console")

    admin = await tabs.new("admin", bypass_csp=True, **PERSON)
    await admin.goto(tabs.base + "/admin.html")
    await admin.get_by_label("Admin token").fill(server.tokens["root"])
    await admin.get_by_role("button", name="Sign in").click()
    await expect(admin.locator("#coverage-table tbody tr")).to_have_count(5)
    await check(admin, "admin coverage")
    serious = {where: v for where, v in found.items() if v}
    assert not serious, serious


# ---- screenshots for docs/ui.md ------------------------------------------------------
DEMO_OPENS = timetabled_opening(datetime.now(UTC) - timedelta(days=1))  # two days from today
DEMO_ROOMS = f"""\
defaults:
  unhosted_grace: 1
resources:
  crisis:
    - {{name: "Emergency services", phone: "112 / 911 / 999", text: "If you are in danger right now."}}
    - {{name: "Samaritans (UK & Ireland)", phone: "116 123", text: "Free, any time, day or night."}}
snippets:
  welcome: >-
    Hello, and welcome. I'm one of the volunteer hosts. Take your time: reading along is fine,
    and you can share as much or as little as you like.
  opening: >-
    Hello everyone, and welcome. This is a peer-support space: we share what we have lived
    through, not professional advice. If you need help right now, "Get help now" lists people
    you can reach at any hour.
  closing: >-
    We're coming to the end of this session. Thank you for being here and for the care
    you've shown each other. Be gentle with yourself.
  redirect: >-
    Thank you for sharing that. Could we talk about how it feels and what helps, rather than
    the details? Your feelings are welcome here.
  check_in: I wanted to check in with you. How are you doing right now?
rooms:
  - id: night
    title: Late-night check-in
    topic: For when it's late and your mind won't settle. Gentle company, no advice unless asked.
    hosts: [alice]
    when_unhosted: premoderate
    opening: opening
    closing: closing
    resources: [crisis]
    filters: []
  - id: anxiety
    title: Anxiety
    topic: A calm room to talk about worry and panic.
    hosts: [bob]
    when_unhosted: premoderate
    snippets: [welcome, redirect, check_in]
    resources: [crisis]
    filters: []
  - id: welcome
    title: Welcome room
    topic: New here? Say hello, read the guidelines, ask how things work.
    hosts: [bob]
    when_unhosted: read_only
    resources: [crisis]
    filters: []
  - id: grief
    title: Grief support group
    topic: Losing someone, and everything that comes with it. A weekly session with a host.
    hosts: [alice]
    hours: {{timezone: Europe/London, weekly: {{{DAYS[DEMO_OPENS.weekday()]}: "19:00-20:30"}}}}
    when_unhosted: closed
    opening: opening
    closing: closing
    resources: [crisis]
    filters: []
"""


async def take_screenshots(out: Path = SCREENSHOTS) -> list[Path]:
    """The room list with host status, a closed room, a held message with no host, the console's
    snippets and duty toggle (on duty and on a break), and the admin's coverage: phone and desktop."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "chat.db"
        tokens = {name: add_host(db, name, admin=(name == "root")) for name in ("alice", "bob", "root")}
        rooms = work / "rooms.yaml"
        rooms.write_text(DEMO_ROOMS)
        server = ServerProcess(
            work, rooms_path=rooms, db_path=db, redis_url=None, extra=(), tokens=tokens, label="demo"
        )
        server.start()
        place = {"locale": "en-GB", "timezone_id": "Europe/London"}

        async def shoot(page: Page, stem: str, *, phone: Any = None, desktop: Any = None) -> None:
            """`phone` / `desktop`: what to do before each shot (scroll, or "full" for the whole page)."""
            for width, height, kind, prepare in ((390, 844, "phone", phone), (1280, 800, "desktop", desktop)):
                await page.set_viewport_size({"width": width, "height": height})
                await page.evaluate("window.scrollTo(0, 0)")
                if callable(prepare):
                    await prepare(page)
                await page.evaluate("document.getElementById('toast')?.replaceChildren()")
                path = out / f"{stem}-{kind}.png"
                await page.screenshot(path=str(path), full_page=prepare == "full")
                written.append(path)

        try:
            async with chromium() as browser:
                tabs = Tabs(browser, server.base)
                host = await host_console(tabs, tokens["alice"], "Alice", **place)
                wait_for(lambda: mode_of(server, "night") == "open", 10, "the late-night room hosted")
                maya = await participant(tabs, "Maya", "Late-night check-in", **place)
                await say(maya, "Evening all. Couldn't sleep again, so I thought I'd check in.")
                card = host.locator('.room-card[data-room="night"]')
                await expect(card.locator(".people")).to_contain_text("Maya")

                # The room list: one room hosted, two without a host, one closed until its session.
                sam = await tabs.new("Sam", **place)
                await pick_name(sam, server.base, "Sam")
                grief = sam.locator('#rooms li[data-room="grief"] .room-status')
                await expect(grief).to_contain_text("Opens")
                await expect(sam.locator('#rooms li[data-room="night"] .room-status')).to_have_text(
                    "1 host here"
                )
                await shoot(sam, "hosted-rooms", phone="full")

                # A closed room: when it opens, help now, the rooms open now.
                await sam.get_by_role("button", name="Opening times for Grief support group").click()
                await expect(sam.locator("#closed-rooms li")).to_have_count(3)
                await shoot(sam, "hosted-closed")

                # The console on duty: the shortcuts, the snippets, the opening script in the box.
                await host.locator("#shortcuts summary").click()
                await card.get_by_role("button", name="Opening script").click()
                await host.locator("#queue-title").click()  # the box's focus ring is not the point here

                async def snippets_in_view(page: Page) -> None:
                    await card.locator(".post-form").evaluate("node => node.scrollIntoView({block: 'start'})")
                    await page.evaluate("window.scrollBy(0, -70)")

                await shoot(host, "hosted-console")
                await host.set_viewport_size({"width": 390, "height": 844})
                await snippets_in_view(host)
                path = out / "hosted-snippets-phone.png"
                await host.screenshot(path=str(path))
                written.append(path)
                await card.get_by_label("Post in this room as a host").fill("")

                # The host takes a break: the room premoderates, and a held message says so honestly.
                await host.get_by_role("button", name="Take a break").click()
                await expect(maya.locator("#host-status")).to_have_text(
                    "No host right now · messages wait for a host"
                )
                await say(maya, "Is anyone around? It's been a long day.")
                await expect(maya.locator("#log article.msg.own .status").last).to_contain_text(
                    "No host is here"
                )
                await shoot(maya, "hosted-held")
                await expect(host.locator("#queue .held")).to_have_count(1)
                await host.locator("#shortcuts summary").click()
                await shoot(host, "hosted-break")

                # Bob is on duty in his two rooms; Alice is on her break; grief waits for its session.
                await host_console(tabs, tokens["bob"], "Bob", **place)
                admin = await tabs.new("admin", **place)
                await admin.goto(server.base + "/admin.html")
                await admin.get_by_label("Admin token").fill(tokens["root"])
                await admin.get_by_role("button", name="Sign in").click()
                await expect(admin.locator("#coverage-hosts")).to_contain_text("bob in Anxiety, Welcome room")
                await shoot(admin, "hosted-admin")
                await tabs.close()
        finally:
            server.stop()
    return written


if __name__ == "__main__":
    raise SystemExit(main(take_screenshots))
