"""The ASGI app: HTTP routes, the /ws endpoint and the lifespan that builds everything.

The only module that imports Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatserver import audit as audit_mod
from chatserver.admission import TOO_FAST, Admission
from chatserver.audit import AuditLog
from chatserver.auth import HostDirectory, list_hosts
from chatserver.brokers import open_backend
from chatserver.connection import Connection
from chatserver.errors import ChatError, ConfigError
from chatserver.headers import SECURITY_HEADERS
from chatserver.helplines import crisis_hints
from chatserver.hub import Hub, new_worker_id
from chatserver.metrics import CONTENT_TYPE, Metrics
from chatserver.protocol import CLOSE_POLICY, HELLO_TIMEOUT_S, error_frame, parse_frame
from chatserver.rooms import load_rooms
from chatserver.settings import Settings
from chatserver.transport import EXTENSION

log = logging.getLogger(__name__)

#: How often each worker re-reads the host list (revocations take effect within this).
HOST_REFRESH_S = 3.0
#: How often each worker copies its audit queue and refusal counts into the shared metrics.
METRICS_REFRESH_S = 2.0


class Front:
    """The outermost layer: /ws straight to its endpoint, security headers on every HTTP response.

    /ws skips Starlette's router and middleware on purpose: each open connection
    keeps its whole chain of suspended calls alive, so fewer layers means less
    memory per idle connection, and nothing there is needed by a WebSocket.
    """

    def __init__(self, app: ASGIApp, ws: ASGIApp) -> None:
        self.app = app
        self.ws = ws

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await self.ws(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class State:
    settings: Settings
    hub: Hub
    audit: AuditLog
    hosts: HostDirectory
    metrics: Metrics


def create_app(settings: Settings, admission: Admission | None = None) -> ASGIApp:
    """Build the app for one worker process; `admission` is shared with its HTTP protocol."""
    admission = admission or Admission.from_settings(settings)
    holder: dict[str, State] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rooms = await asyncio.to_thread(load_rooms, settings.rooms)
        worker_id = new_worker_id()
        metrics = Metrics()
        metrics.bind_refusals(lambda: dict(admission.refused))
        audit = await AuditLog.open(settings.db)
        hosts = await HostDirectory.open(settings.db)
        backend = open_backend(settings.broker_url, worker_id=worker_id)
        broker, store = backend.broker, backend.store
        hub = Hub(
            rooms=rooms,
            broker=broker,
            store=store,
            audit=audit,
            hosts=hosts,
            metrics=metrics,
            worker_id=worker_id,
        )
        metrics.bind_audit(lambda: float(audit.queue_depth), lambda: float(audit.last_commit_seconds))
        await hub.start()
        st = holder["state"] = State(settings=settings, hub=hub, audit=audit, hosts=hosts, metrics=metrics)
        hub.reload_hook = lambda by: hub.spawn(reload_rooms(st, by=by))
        host_names = asyncio.create_task(host_names_loop(settings, hub), name="host-names")
        shared_metrics = (
            asyncio.create_task(metrics_loop(metrics), name="metrics") if metrics.multiprocess_dir else None
        )
        loop = asyncio.get_running_loop()
        retention = (
            asyncio.create_task(retention_loop(settings, hub), name="retention")
            if settings.retention_days
            else None
        )
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: hub.spawn(reload_rooms(holder["state"])))
        log.info("worker %s ready: %d rooms, broker %s", worker_id, len(rooms.rooms), broker.name)
        # What exists now lives as long as the process: keep it out of the collector's way,
        # so full collections stay short while thousands of people are connected.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGHUP)
            for task in (host_names, shared_metrics):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            await hub.stop()
            # Commit what is queued first: its callbacks publish, so the broker must still be up.
            with contextlib.suppress(Exception):
                await audit.flush()
            await backend.close()
            await audit.close()
            await hosts.close()

    def state() -> State:
        return holder["state"]

    async def rooms_api(request: Request) -> Response:
        return Response(orjson.dumps(state().hub.room_summaries()), media_type="application/json")

    async def crisis_hints_api(request: Request) -> Response:
        """The page's "while typing" patterns for a room's languages (all without ?room=); cacheable."""
        room_id = request.query_params.get("room")
        room = state().hub.rooms.get(room_id) if room_id else None
        if room_id and room is None:
            return JSONResponse({"error": "unknown_room", "message": f"No room '{room_id}'"}, status_code=404)
        languages = getattr(room.config, "languages", None) if room else None
        body = {"patterns": crisis_hints(languages)}
        return JSONResponse(body, headers={"cache-control": "public, max-age=300"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        st = state()
        broker_ok, db_ok = await asyncio.gather(st.hub.broker.ping(), st.audit.ping())
        failed = [name for name, ok in (("broker", broker_ok), ("database", db_ok)) if not ok]
        checks = {
            "broker": f"{st.hub.broker.name}: " + ("ok" if broker_ok else "not answering"),
            "database": f"sqlite {st.settings.db.name}: " + ("ok" if db_ok else "not answering"),
        }
        if failed:
            return JSONResponse(
                {"status": "unavailable", "failed": failed, "checks": checks}, status_code=503
            )
        return JSONResponse({"status": "ready", "checks": checks})

    async def metrics(request: Request) -> Response:
        st = state()
        for room in await st.hub.held_summary():
            st.metrics.held_depth.labels(room["id"]).set(room["held"])
            st.metrics.held_oldest.labels(room["id"]).set(room["oldest_held_s"])
        return Response(st.metrics.render(), media_type=CONTENT_TYPE)

    async def admin_rooms(request: Request) -> Response:
        refused = await require_admin(request)
        if refused is not None:
            return refused
        hub = state().hub
        held = {r["id"]: r for r in await hub.held_summary()}
        rooms = [
            {**r, **held.get(r["id"], {}), "escalate_after": hub.rooms[r["id"]].config.escalate_after}
            for r in hub.room_summaries()
        ]
        return Response(orjson.dumps(rooms), media_type="application/json")

    async def admin_transcript(request: Request) -> Response:
        refused = await require_admin(request)
        if refused is not None:
            return refused
        q = request.query_params
        if not q.get("room"):
            return JSONResponse({"error": "bad_request", "message": "Name a room: ?room=ID"}, status_code=400)
        try:
            messages = await asyncio.to_thread(
                audit_mod.transcript, settings.db, q["room"], q.get("since") or None, q.get("until") or None
            )
        except ChatError as exc:
            return JSONResponse({"error": "bad_request", "message": exc.message}, status_code=400)
        if q.get("redact") in ("1", "true", "yes"):
            for message in messages:
                message["text"] = audit_mod.redact_text(message["text"])
                message["from"]["name"] = audit_mod.redact_text(message["from"]["name"])
        return Response(orjson.dumps(messages), media_type="application/json")

    async def require_admin(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            return JSONResponse(
                {"error": "unauthorized", "message": "Send an admin token as 'Authorization: Bearer TOKEN'"},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        record = await state().hosts.authenticate(token)
        if record is None or not record.is_admin:
            return JSONResponse(
                {"error": "forbidden", "message": "This needs an admin token"}, status_code=403
            )
        request.state.admin = record.name
        return None

    async def audit_api(request: Request) -> Response:
        refused = await require_admin(request)
        if refused is not None:
            return refused
        q = request.query_params
        rows = audit_mod.iter_rows(
            settings.db,
            room=q.get("room") or None,
            since=q.get("since") or None,
            until=q.get("until") or None,
            kind=q.get("kind") or None,
            redact=q.get("redact") in ("1", "true", "yes"),
        )
        try:
            first = await asyncio.to_thread(
                next, rows, None
            )  # bad filters fail here, before any byte is sent
        except ChatError as exc:
            return JSONResponse({"error": "bad_request", "message": exc.message}, status_code=400)

        def lines() -> Iterator[bytes]:
            if first is None:
                return
            yield orjson.dumps(first) + b"\n"
            for row in rows:
                yield orjson.dumps(row) + b"\n"

        # A sync iterator: Starlette reads it in a worker thread, so a large export never blocks the loop.
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def reload_api(request: Request) -> Response:
        refused = await require_admin(request)
        if refused is not None:
            return refused
        ok, result = await reload_rooms(state(), everywhere=True, by=request.state.admin)
        if not ok:
            return JSONResponse({"status": "unchanged", "problems": result}, status_code=400)
        return JSONResponse({"status": "reloaded", **result})

    async def index(request: Request) -> Response:
        return FileResponse(settings.web_dir / "index.html")

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("Not found", status_code=404)

    routes: list[Any] = [
        Route("/", index),
        Route("/api/rooms", rooms_api),
        Route("/api/crisis-hints", crisis_hints_api),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/audit", audit_api),
        Route("/api/admin/reload", reload_api, methods=["POST"]),
        Route("/api/admin/rooms", admin_rooms),
        Route("/api/admin/transcript", admin_transcript),
        Mount("/static", StaticFiles(directory=settings.web_dir, check_dir=False), name="static"),
        Mount("/", StaticFiles(directory=settings.web_dir, html=True, check_dir=False), name="web"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    # Outermost, so even a 500 from Starlette's error middleware carries the headers.
    return Front(app, WebSocketEndpoint(state, settings, admission))


async def reload_rooms(st: State, *, everywhere: bool = False, by: str = "signal") -> tuple[bool, Any]:
    """Re-read rooms.yaml; a broken file changes nothing and every problem is logged.

    Args:
        everywhere: also ask every other worker (on every host) to reload, as
            POST /api/admin/reload does; SIGHUP already reaches each local worker.
        by: who asked, for the audit row.
    """
    try:
        config = await asyncio.to_thread(load_rooms, st.settings.rooms)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("rooms reload refused: %s", problem)
        st.audit.append(
            "reload",
            detail={"status": "refused", "problems": exc.problems, "by": by, "worker": st.hub.worker_id},
        )
        return False, exc.problems
    changes = st.hub.apply_rooms(config)
    st.audit.append("reload", detail={"status": "reloaded", "by": by, "worker": st.hub.worker_id, **changes})
    log.info("rooms reloaded: %s", changes)
    if everywhere:
        st.hub.broker.publish_event({"kind": "reload", "origin": st.hub.worker_id, "by": by})
    return True, changes


async def metrics_loop(metrics: Metrics) -> None:
    """Under the supervisor, keep this worker's share of /metrics current for whichever worker is scraped."""
    while True:
        await asyncio.sleep(METRICS_REFRESH_S)
        try:
            metrics.refresh()
        except Exception:
            log.exception("metrics refresh failed")


async def host_names_loop(settings: Settings, hub: Hub) -> None:
    """Keep the hub's host list fresh: new hosts' names are reserved; revoked, replaced or
    re-roled credentials are signed out."""
    while True:
        try:
            records = await asyncio.to_thread(list_hosts, settings.db)
            hub.host_names = {r.name for r in records if not r.revoked}
            hub.check_credentials(records)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("host names not refreshed", exc_info=True)
        await asyncio.sleep(HOST_REFRESH_S)


async def retention_loop(settings: Settings, hub: Hub) -> None:
    """Apply `--retention-days` once a day: the audit log (keeping `audit verify` passing), and what the
    shared store and this worker keep of people's words (room histories in Redis, care notes)."""
    while True:
        try:
            await hub.purge_before(time.time() - settings.retention_days * 86400)
            deleted = await asyncio.to_thread(audit_mod.purge, settings.db, settings.retention_days)
            if deleted:
                log.info(
                    "retention: purged %d audit rows older than %g days", deleted, settings.retention_days
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention purge failed; will retry")
            await asyncio.sleep(600)
            continue
        await asyncio.sleep(24 * 3600)


class WebSocketEndpoint:
    """/ws as a plain ASGI callable: origin check, hello, then the frame loop."""

    def __init__(self, state: Any, settings: Settings, admission: Admission) -> None:
        self._state = state
        self.allowed = set(settings.allowed_origins)
        self.frames_per_second = settings.max_frames_per_second
        self.admission = admission

    def origin_ok(self, scope: Scope) -> bool:
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is None:
            # Not a browser (bots and load generators send no Origin), unless it says it is one:
            # only browsers send fetch metadata, and a browser always sends its Origin.
            return b"sec-fetch-site" not in headers and b"sec-fetch-mode" not in headers
        value = origin.decode("latin-1")
        if value in self.allowed:
            return True
        host = headers.get(b"host", b"").decode("latin-1")
        return bool(host) and value in (f"http://{host}", f"https://{host}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not self.origin_ok(scope):
            await _refuse(send, 403, "This page's origin may not connect to this chat server.")
            return
        address = (scope.get("client") or ("?", 0))[0]
        refusal = self.admission.refusal(address)
        if refusal:
            wait = self.admission.wait_before_retry(address) if refusal == TOO_FAST else 30
            await _refuse(send, 429, refusal, retry_after=wait)
            return
        self.admission.opened(address)
        try:
            await self._serve(scope, receive, send, address)
        finally:
            self.admission.closed(address)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, address: str) -> None:
        raw = scope.get("extensions", {}).get(EXTENSION)
        if raw is None:
            raise RuntimeError("chatserver must be served with chatserver.transport.ChatWebSocketProtocol")
        await send({"type": "websocket.accept"})
        hub: Hub = self._state().hub
        conn = Connection(raw, frames_per_second=self.frames_per_second)
        hub.attach(conn)
        try:
            if await self._hello(hub, conn, receive) and await self._frames(hub, conn, receive):
                # Shut the address out now, before this connection's teardown awaits anything.
                self.admission.cool_off(address)
        finally:
            await hub.detach(conn)

    async def _hello(self, hub: Hub, conn: Connection, receive: Receive) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HELLO_TIMEOUT_S
        while not conn.session:
            remaining = deadline - loop.time()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.001))
            except TimeoutError:
                conn.raw.abort(CLOSE_POLICY, "no hello within 10 seconds")
                return False
            if message["type"] == "websocket.disconnect":
                return False
            if not hub.admit_frame(conn, None):
                if conn.raw.closed:
                    return False
                continue
            try:
                frame = parse_frame(_data(message))
                await hub.hello(conn, frame)
            except ChatError as exc:
                conn.send(error_frame(exc.code, exc.message))
        return True

    async def _frames(self, hub: Hub, conn: Connection, receive: Receive) -> bool:
        """Hand each frame to the hub until the connection ends; True if it was closed for flooding."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect" or conn.raw.closed:
                return False  # frames already queued by a peer we closed are not worth reading
            try:
                await hub.handle(conn, _data(message))
            except Exception:
                log.exception("frame handling failed")
                conn.send(error_frame("bad_request", "That frame could not be handled"))
            if conn.flooded:
                return True


async def _refuse(send: Send, status: int, text: str, *, retry_after: float = 30) -> None:
    """Answer a WebSocket handshake with a plain HTTP error (the ASGI websocket.http.response extension)."""
    body = text.encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"retry-after", b"%d" % max(1, math.ceil(retry_after))),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


def _data(message: Message) -> str | bytes:
    text = message.get("text")
    return text if text is not None else (message.get("bytes") or b"")
