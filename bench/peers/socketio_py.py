"""python-socketio peer: ``AsyncServer`` + ``AsyncRedisManager`` as an ASGI app on uvicorn, as its docs show.

    python -m bench.peers.socketio_py PORT REDIS_URL

Events mirror chatserver's frames: ``hello`` and ``join`` are answered through Socket.IO acknowledgements
(``welcome``/``joined``), ``send`` is acknowledged to the sender and emitted to the room as ``message``
through the Redis manager (published to Redis, delivered by every server's subscriber).
"""

from __future__ import annotations

import itertools
import sys
import time
import uuid
from typing import Any

import socketio
import uvicorn


def create_app(redis_url: str) -> socketio.ASGIApp:
    mgr = socketio.AsyncRedisManager(redis_url)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    host = uuid.uuid4().hex[:8]
    ids = itertools.count(1)
    seqs: dict[str, itertools.count[int]] = {}

    @sio.on("hello")
    async def hello(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        name = str(data.get("name", ""))[:32]
        await sio.save_session(sid, {"name": name})
        return {"type": "welcome", "session": sid, "name": name, "role": "participant"}

    @sio.on("join")
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        room = str(data["room"])
        await sio.enter_room(sid, room)
        return {"type": "joined", "room": room, "title": room, "history": []}

    @sio.on("send")
    async def send(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = await sio.get_session(sid)
        room = str(data["room"])
        msg_id = f"{host}-{next(ids)}"
        message = {
            "room": room,
            "id": msg_id,
            "seq": next(seqs.setdefault(room, itertools.count(1))),
            "from": {"name": session["name"], "session": sid, "role": "participant"},
            "text": str(data["text"]),
            "ts": time.time(),
        }
        await sio.emit("message", message, room=room)
        return {"type": "ack", "client_id": data.get("client_id"), "id": msg_id, "status": "published"}

    return socketio.ASGIApp(sio)


if __name__ == "__main__":
    port, redis_url = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(create_app(redis_url), host="127.0.0.1", port=port, log_level="warning")
