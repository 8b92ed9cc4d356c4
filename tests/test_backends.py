"""One backend contract, run over memory:// and a real redis://: the broker and the shared store a
worker gets from one URL behave the same, whichever it is."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatserver.brokers import Backend, open_backend


class Listener:
    """A BrokerListener that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, int, str]] = []
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    def on_message(self, room: str, seq: int, message_id: str, frame: bytes) -> None:
        self.messages.append((room, seq, message_id))
        self.arrived.set()

    def on_event(self, envelope: dict[str, Any]) -> None:
        self.events.append(envelope)
        self.arrived.set()

    def on_broker_state(self, healthy: bool, reason: str) -> None:
        pass

    async def wait(self, check) -> None:
        while not check():
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request) -> AsyncIterator[tuple[Backend, Listener]]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_server").url
    opened = open_backend(url, worker_id="w1")
    listener = Listener()
    await opened.broker.start(listener, ["lobby"], {})
    yield opened, listener
    await opened.close()


async def publish(backend: Backend, message_id: str) -> tuple[int | None, BaseException | None]:
    done: asyncio.Future[tuple[int | None, BaseException | None]] = asyncio.get_running_loop().create_future()
    body = b'{"type":"message","room":"lobby","id":"%s","text":"hi","ts":"2026-01-01T00:00:00.000Z"}' % (
        message_id.encode()
    )
    backend.broker.publish_message("lobby", message_id, body, lambda seq, err: done.set_result((seq, err)))
    return await asyncio.wait_for(done, 5)


async def test_messages_are_numbered_one_by_one_and_delivered(backend):
    """Each publish takes the next seq and reaches the listener with it."""
    b, listener = backend
    assert [(await publish(b, f"m{i}"))[0] for i in range(3)] == [1, 2, 3]
    await listener.wait(lambda: len(listener.messages) == 3)
    assert [m[1:] for m in listener.messages] == [(1, "m0"), (2, "m1"), (3, "m2")]


async def test_events_reach_every_worker_including_this_one(backend):
    """publish_event is delivered back to the listener."""
    b, listener = backend
    b.broker.publish_event({"kind": "note", "room": "lobby", "n": 1})
    await listener.wait(lambda: any(e.get("n") == 1 for e in listener.events))


async def test_a_held_item_is_taken_exactly_once(backend):
    """Two hosts pressing release at once: one gets the item, the other None."""
    store = backend[0].store
    await store.put_held("lobby", {"id": "m1", "text": "t", "ts": "1"})
    assert [i["id"] for i in await store.list_held("lobby")] == ["m1"]
    taken = await asyncio.gather(store.take_held("lobby", "m1"), store.take_held("lobby", "m1"))
    assert sorted(t is None for t in taken) == [False, True]
    assert await store.list_held("lobby") == []


async def test_sanctions_flags_notes_and_identities_are_kept(backend):
    """What the shared store is for, the same over both backends."""
    store = backend[0].store
    await store.set_sanction("lobby", "ban", "s1", None)
    await store.set_sanction("lobby", "mute", "s2", 4102444800.0)
    await store.set_sanction("lobby", "mute", "s3", 1.0)  # already over
    assert await store.sanctions("lobby") == {"ban": {"s1": 0}, "mute": {"s2": 4102444800.0}}
    await store.set_sanction("lobby", "ban", "s1", 0)
    assert (await store.sanctions("lobby"))["ban"] == {}
    await store.set_flag("lobby", "locked", True)
    assert (await store.flags("lobby"))["locked"] is True
    await store.add_note("lobby", "s1", {"by": "alice", "text": "check in", "ts": "2026-01-01T00:00:00Z"})
    assert [n["text"] for n in await store.notes("lobby", "s1")] == ["check in"]
    await store.save_identity("h1", {"session": "s1", "created": 1e12})
    assert (await store.load_identity("h1"))["session"] == "s1"
    assert await store.load_identity("nobody") is None


async def test_a_name_is_claimed_by_one_session_at_a_time(backend):
    """claim_name: free, ours again, taken by someone else; release frees it, and only its holder's."""
    store = backend[0].store
    assert await store.claim_name("lobby", "sam", "s1", "w1", {"w1"})
    assert await store.claim_name("lobby", "sam", "s1", "w1", {"w1"})
    assert not await store.claim_name("lobby", "sam", "s2", "w1", {"w1"})
    await store.release_name("lobby", "sam", "s2")
    assert not await store.claim_name("lobby", "sam", "s2", "w1", {"w1"}), "released by one not holding it"
    await store.release_name("lobby", "sam", "s1")
    assert await store.claim_name("lobby", "sam", "s2", "w1", {"w1"})


async def test_a_deleted_message_is_never_published_afterwards(backend):
    """delete_message before its publish: the publish is refused (Redis) or it never was kept (memory)."""
    b, _ = backend
    assert (await publish(b, "m1"))[0] == 1
    await b.broker.delete_message("lobby", "m1")
    assert [entry[1] for entry in await b.broker.recent("lobby", 10)] == []


def test_the_memory_backend_never_imports_redis():
    """`redis` stays an optional import: a memory:// worker does not load it."""
    code = (
        "import sys, chatserver.app, chatserver.cli\n"
        "from chatserver.brokers import open_backend\n"
        "open_backend(None, worker_id='w')\n"
        "print('redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_unknown_scheme_is_named():
    """open_backend('kafka://…') raises ValueError naming the scheme."""
    with pytest.raises(ValueError, match="'kafka'"):
        open_backend("kafka://somewhere", worker_id="w")
