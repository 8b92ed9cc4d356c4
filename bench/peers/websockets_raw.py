"""Raw ``websockets`` peer, the Python upper bound: chatserver's JSON frames, ``broadcast()``, nothing else.

    python -m bench.peers.websockets_raw PORT

No Redis, no filters, no audit, no validation beyond what the load generator needs: hello → welcome,
join → joined, send → ack to the sender and ``message`` to everyone in the room (sender included).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
import uuid
from collections import defaultdict

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve


async def main(port: int) -> None:
    rooms: defaultdict[str, set[ServerConnection]] = defaultdict(set)
    seqs: defaultdict[str, int] = defaultdict(int)
    ids = itertools.count(1)
    host = uuid.uuid4().hex[:8]

    async def handler(ws: ServerConnection) -> None:
        name, session, joined = "", uuid.uuid4().hex, set[str]()
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "hello":
                    name = str(frame.get("name", ""))[:32]
                    reply = {"type": "welcome", "session": session, "name": name, "role": "participant"}
                    await ws.send(orjson.dumps(reply).decode())
                elif kind == "join":
                    room = str(frame["room"])
                    rooms[room].add(ws)
                    joined.add(room)
                    await ws.send(orjson.dumps({"type": "joined", "room": room, "history": []}).decode())
                elif kind == "send":
                    room = str(frame["room"])
                    seqs[room] += 1
                    msg_id = f"{host}-{next(ids)}"
                    message = {
                        "type": "message",
                        "room": room,
                        "id": msg_id,
                        "seq": seqs[room],
                        "from": {"name": name, "session": session, "role": "participant"},
                        "text": str(frame["text"]),
                        "ts": time.time(),
                    }
                    broadcast(rooms[room], orjson.dumps(message).decode())
                    ack = {
                        "type": "ack",
                        "client_id": frame.get("client_id"),
                        "id": msg_id,
                        "status": "published",
                    }
                    await ws.send(orjson.dumps(ack).decode())
        finally:
            for room in joined:
                rooms[room].discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=64 * 1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main(int(sys.argv[1])))
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
