"""Hosts on duty, deployment-wide: every worker agrees within seconds who is hosting a room."""

from __future__ import annotations

import asyncio

import pytest

from tests.fault_fixtures import aget


@pytest.mark.redis
async def test_both_workers_agree_on_hosts_on_duty_within_five_seconds(make_server, redis_server, clients):
    """A host joins, takes a break, comes back, leaves, returns and disconnects on worker one; worker
    two's members and its /api/rooms follow each change within 5 s."""
    one = make_server(redis=redis_server.url)
    two = make_server(redis=redis_server.url, share=one)
    ben = await clients.user(two, "ben", ("lobby",))
    assert ben.joined["lobby"]["hosts"] == 0
    alice = await clients.host(one, "alice", ("lobby",))
    assert alice.joined["lobby"]["hosts"] == 1

    async def ben_sees(count: int) -> None:
        await ben.expect("presence", timeout=5, room="lobby", hosts=count)

    async def api_says(count: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while True:
            rooms = (await aget(two, "/api/rooms")).json()
            if next(r for r in rooms if r["id"] == "lobby")["hosts"] == count:
                return
            assert loop.time() < deadline, f"/api/rooms on worker two never said {count} host(s)"
            await asyncio.sleep(0.05)

    await ben_sees(1)
    await api_says(1)
    await alice.send(type="duty", on=False)
    await alice.expect("notice", code="duty", on_duty=False)
    await ben_sees(0)
    await api_says(0)
    await alice.send(type="duty", on=True)
    await ben_sees(1)
    await alice.send(type="leave", room="lobby")
    await ben_sees(0)
    assert (await alice.join("lobby"))["type"] == "joined"
    await ben_sees(1)
    await alice.close()
    await ben_sees(0)
    await api_says(0)


async def test_only_hosts_go_on_and_off_duty(server, clients):
    """A participant's duty frame is refused; it changes nothing."""
    sam = await clients.user(server, "sam", ("lobby",))
    await sam.send(type="duty", on=False)
    error = await sam.expect("error")
    assert error["code"] == "forbidden"
