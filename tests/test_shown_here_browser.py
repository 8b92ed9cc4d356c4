"""A message shown and then taken back, in a real Chromium (issue 17, publication.py).

A worker shows its own members a message once it is recorded, before Redis has published it; when
Redis then refuses it, the worker takes it back. The sender keeps their words with "Try again", the
others read that it could not be delivered (not that a host removed it). The release is held in the
network by tests/proxy.py's `hold_when`; one worker, one real redis-server.

Screenshots of both pages go to /tmp/shots/ (not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser_support import Tabs, message_texts, participant, say
from tests.proxy import TcpProxy

pytestmark = [
    pytest.mark.browser,
    pytest.mark.redis,
    pytest.mark.timeout(90),
    pytest.mark.asyncio(loop_scope="module"),
]

SHOTS = Path("/tmp/shots")
WORDS = "words that could not go out"


@pytest.fixture
def redis_proxy(redis_server) -> Iterator[TcpProxy]:
    proxy = TcpProxy(redis_server.port).start()
    yield proxy
    proxy.stop()


async def test_a_message_taken_back_keeps_its_words_for_the_sender_and_says_so_to_the_others(
    browser, redis_server, redis_proxy, make_server
):
    server = make_server(redis=redis_proxy.url)
    tabs = Tabs(browser, server.base)
    try:
        ann = await participant(tabs, "Ann", "Lobby")
        ben = await participant(tabs, "Ben", "Lobby")
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
            SHOTS.mkdir(exist_ok=True)
            await ann.screenshot(path=str(SHOTS / "taken-back-sender.png"))
            await ben.screenshot(path=str(SHOTS / "taken-back-other.png"))
        finally:
            redis_proxy.heal()
        await mine.get_by_role("button", name="Try again").click()
        await expect(mine).to_contain_text("Sent")
        await expect(ann.locator("#log article.msg.own", has_text=WORDS)).to_have_count(1)
        await expect(ben.locator("#log article.msg:not(.removed)", has_text=WORDS)).to_have_count(1)
        assert not tabs.errors, tabs.errors
    finally:
        await tabs.close()
