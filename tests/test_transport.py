"""The per-connection stand-ins for uvicorn's asyncio.Queue and Event (idle memory, issue 17), and when
ChatWebSocketProtocol stops reading a socket."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.ws_standins import Inbox, Writable


async def test_the_inbox_hands_messages_over_in_order():
    """Messages put before a get come out first in, first out."""
    inbox = Inbox()
    for i in range(3):
        inbox.put_nowait(i)
    assert inbox.qsize() == 3 and not inbox.empty()
    assert [await inbox.get() for _ in range(3)] == [0, 1, 2]
    assert inbox.empty()


async def test_a_get_waits_for_the_next_message():
    """A get on an empty inbox returns when a message is put."""
    inbox = Inbox()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not getter.done()
    inbox.put_nowait("hello")
    assert await asyncio.wait_for(getter, 5) == "hello"


async def test_a_get_that_times_out_loses_nothing():
    """A reader that gives up (the hello deadline) leaves what arrives for its next get."""
    inbox = Inbox()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(inbox.get(), 0.01)
    inbox.put_nowait("late")
    assert await asyncio.wait_for(inbox.get(), 5) == "late"


async def test_a_second_reader_is_refused():
    """The inbox serves one reader; a second waiting one is a bug, said so."""
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await inbox.get()
    inbox.put_nowait(1)
    assert await asyncio.wait_for(first, 5) == 1


async def test_writable_waits_while_cleared_and_wakes_every_waiter_when_set():
    """A paused transport holds sends until it drains; then all of them go."""
    flag = Writable()
    flag.set()
    assert await flag.wait() is True
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters) and not flag.is_set()
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True, True]


async def test_a_cancelled_writable_waiter_is_forgotten():
    """A send cancelled while waiting (its connection went away) leaves nothing behind."""
    flag = Writable()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not flag._waiters
    flag.set()


async def test_reading_stops_only_while_a_message_waits_untaken():
    """A real socket into ChatWebSocketProtocol: while the app is there to take each message, the socket
    is never paused (uvicorn paused and resumed it for every one); while the app is busy, reading stops
    once a message waits, and starts again when the app has taken what waited."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from chatserver.transport import ChatWebSocketProtocol
    from tests.fault_fixtures import until
    from tests.support import RAW_UPGRADE, text_frame

    received: list[str] = []
    busy = asyncio.Event()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            received.append(message["text"])
            if message["text"] == '{"busy": true}':
                await busy.wait()

    config = Config(app=app, lifespan="off", ws_ping_interval=None, log_level="warning")
    config.load()
    state = ServerState()
    made: list[ChatWebSocketProtocol] = []

    def protocol() -> ChatWebSocketProtocol:
        made.append(ChatWebSocketProtocol(config=config, server_state=state, app_state={}))
        return made[-1]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(RAW_UPGRADE)
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        (proto,) = made
        pauses = 0
        pause = proto.transport.pause_reading

        def counted_pause() -> None:
            nonlocal pauses
            pauses += 1
            pause()

        proto.transport.pause_reading = counted_pause  # type: ignore[method-assign]
        for i in range(20):  # one by one, each taken by the waiting app before the next comes
            writer.write(text_frame({"n": i}))
            await until(lambda i=i: len(received) == i + 1, 5, f"message {i}")
        assert pauses == 0 and proto.transport.is_reading()

        writer.write(text_frame({"busy": True}))
        await until(lambda: received[-1:] == ['{"busy": true}'], 5, "the busy message")
        writer.write(text_frame({"n": "a"}))
        await until(lambda: proto.queue.qsize() == 1, 5, "a waits")
        assert proto.transport.is_reading(), "one message waiting: the socket is still read"
        writer.write(text_frame({"n": "b"}))
        await until(lambda: proto.queue.qsize() == 2, 5, "b waits")
        assert pauses == 1 and not proto.transport.is_reading(), "a second one waiting: reading stops"
        busy.set()
        await until(lambda: received[-2:] == ['{"n": "a"}', '{"n": "b"}'], 5, "the app takes what waited")
        assert proto.transport.is_reading() and not proto.read_paused
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_a_connection_has_every_attribute_uvicorn_would_give_it_and_no_websockets_object_yet():
    """ChatWebSocketProtocol sets uvicorn's per-connection state itself (no queue, event or `websockets`
    protocol made to be thrown away): a uvicorn upgrade that adds an attribute fails here, not in a
    connection. The `websockets` protocol is made when first asked for, open if the handshake is done."""
    from uvicorn.config import Config
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from uvicorn.server import ServerState
    from websockets.protocol import State

    from chatserver.transport import ChatWebSocketProtocol

    config = Config(
        app=lambda scope, receive, send: None,
        ws=ChatWebSocketProtocol,
        ws_max_size=4096,
        ws_per_message_deflate=False,
    )
    config.load()
    loop = asyncio.new_event_loop()
    try:
        state = ServerState()
        theirs = WebSocketsSansIOProtocol(config=config, server_state=state, app_state={}, _loop=loop)
        ours = ChatWebSocketProtocol(config=config, server_state=state, app_state={}, _loop=loop)
        missing = set(vars(theirs)) - set(vars(ours)) - {"conn"}
        assert not missing, f"uvicorn sets {sorted(missing)}, ChatWebSocketProtocol does not"
        for name, value in vars(theirs).items():
            if isinstance(value, (bool, int, float, str)) or value is None:
                assert getattr(ours, name) == value, name
        assert ours._conn is None
        ours._plain = ours.handshake_complete = True  # (as after a plain handshake's accept)
        assert ours.conn.state is State.OPEN and ours.conn.max_message_size == 4096
        assert ours.conn is ours._conn
    finally:
        loop.close()
