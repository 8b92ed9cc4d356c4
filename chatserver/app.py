"""The ASGI app: HTTP routes, the lifespan that builds everything, and the front door to /ws.

The only module that builds a Starlette app. Endpoints are module-level and read the worker's
parts from `request.app.state.chat`, a typed `State` the lifespan stores; /ws is chatserver.ws.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatserver import audit as audit_mod
from chatserver import summaries
from chatserver.admission import Admission
from chatserver.audit import AuditLog
from chatserver.audit.machines import MachineRegistry, check_url
from chatserver.audit_views import admin_transcript, audit_api, require_admin
from chatserver.auth import HostDirectory
from chatserver.brokers import open_backend
from chatserver.collector import settle_for_a_long_life
from chatserver.crisis import client_hints
from chatserver.errors import ChatError, ConfigError
from chatserver.headers import SECURITY_HEADERS
from chatserver.hub import Hub, new_worker_id
from chatserver.metrics import CONTENT_TYPE, Metrics
from chatserver.rooms import load_rooms
from chatserver.rooms.languages import requested
from chatserver.settings import Settings
from chatserver.ws import WebSocketEndpoint

log = logging.getLogger(__name__)

#: How long a /metrics scrape waits for the held queue's figures from the shared store.
HELD_SCRAPE_S = 1.0
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
    """One worker's long-lived parts: built by `lifespan`, read by every endpoint."""

    settings: Settings
    hub: Hub
    audit: AuditLog
    hosts: HostDirectory
    metrics: Metrics
    #: The deployment's machines in the shared Redis, for one audit view; None without Redis.
    machines: MachineRegistry | None = None


def chat_state(app: Starlette) -> State:
    """The worker's `State` (only while the lifespan runs: it is stored at startup)."""
    state: State = app.state.chat
    return state


def create_app(settings: Settings, admission: Admission | None = None) -> ASGIApp:
    """Build the app for one worker process; `admission` is shared with its HTTP protocol."""
    admission = admission or Admission.from_settings(settings)
    routes: list[BaseRoute] = [
        Route("/", index),
        Route("/api/rooms", rooms_api),
        Route("/api/crisis-hints", crisis_hints_api),
        Route("/api/library", library_api),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_api),
        Route("/api/audit", audit_api),
        Route("/api/admin/reload", reload_api, methods=["POST"]),
        Route("/api/admin/rooms", admin_rooms),
        Route("/api/admin/transcript", admin_transcript),
        Mount("/static", StaticFiles(directory=settings.web_dir, check_dir=False), name="static"),
        Mount("/", StaticFiles(directory=settings.web_dir, html=True, check_dir=False), name="web"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    # What the lifespan builds from; set before it runs, so `index` can serve before it too.
    app.state.settings = settings
    app.state.admission = admission
    # Outermost, so even a 500 from Starlette's error middleware carries the headers.
    return Front(app, WebSocketEndpoint(lambda: chat_state(app).hub, settings, admission))


# ---- lifespan --------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Build the worker's parts from `app.state.settings`, store them as `app.state.chat`, run the
    background loops; on the way out, stop the loops, the hub, then flush and close in that order.

    Stored on the app rather than yielded as Starlette's per-request lifespan state: /ws bypasses
    Starlette (see Front) and reads the same `State` from the app.
    """
    settings: Settings = app.state.settings
    admission: Admission = app.state.admission
    rooms = await asyncio.to_thread(load_rooms, settings.rooms)
    worker_id = new_worker_id()
    metrics = Metrics()
    metrics.bind_refusals(lambda: dict(admission.refused))
    audit = await AuditLog.open(settings.db)
    hosts = await HostDirectory.open(settings.db)
    backend = open_backend(settings.broker_url, worker_id=worker_id)
    hub = Hub(
        rooms=rooms,
        broker=backend.broker,
        store=backend.store,
        audit=audit,
        hosts=hosts,
        metrics=metrics,
        worker_id=worker_id,
    )
    if settings.evasion_secret:
        hub.moderation.evasion_secret = settings.evasion_secret.encode()
    # Per-address limits off means addresses are a proxy's: ban evasion then ignores the network.
    hub.moderation.evasion_network = settings.max_connections_per_ip > 0
    metrics.bind_audit(lambda: float(audit.queue_depth), lambda: float(audit.last_commit_seconds))
    await hub.start()
    url = check_url(settings.machine_url) if settings.machine_url else None
    machines = MachineRegistry.for_broker(backend.broker, settings.machine_name, url)
    st = app.state.chat = State(settings, hub, audit, hosts, metrics, machines)
    hub.reload_hook = lambda by: hub.spawn(reload_rooms(st, by=by))
    tasks = await _start_loops(st)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, lambda: hub.spawn(reload_rooms(st)))
    log.info("worker %s ready: %d rooms, broker %s", worker_id, len(rooms.rooms), backend.broker.name)
    settle_for_a_long_life()  # (collector.py: a reconnect storm's objects, and what exists now)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signal.SIGHUP)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.stop()
        # Commit what is queued first: its callbacks publish, so the broker must still be up.
        with contextlib.suppress(Exception):
            await audit.flush()
        await backend.close()
        await audit.close()
        await hosts.close()


async def _start_loops(st: State) -> list[asyncio.Task[None]]:
    """The worker's background loops, in the order shutdown cancels them. The hosts are read once
    before: their names are reserved before the worker takes its first hello."""
    hosts_source = await st.hub.signin.refresh_first(st.settings.db, st.hub.broker)
    tasks = [asyncio.create_task(st.hub.signin.refresh_loop(hosts_source), name="hosts")]
    if st.metrics.multiprocess_dir:
        tasks.append(asyncio.create_task(metrics_loop(st.metrics), name="metrics"))
    if st.machines is not None:
        tasks.append(asyncio.create_task(st.machines.loop(), name="machines"))
    if st.settings.retention_days:
        tasks.append(asyncio.create_task(retention_loop(st.settings, st.hub), name="retention"))
    return tasks


# ---- endpoints -------------------------------------------------------------------------------------
async def rooms_api(request: Request) -> Response:
    asked = requested(request.query_params.get("lang"), request.headers.get("accept-language"))
    body = summaries.room_summaries(chat_state(request.app).hub, asked)
    return Response(orjson.dumps(body), media_type="application/json")


async def crisis_hints_api(request: Request) -> Response:
    """The page's "while typing" patterns for a room's languages (all without ?room=); cacheable."""
    room_id = request.query_params.get("room")
    room = chat_state(request.app).hub.rooms.get(room_id) if room_id else None
    if room_id and room is None:
        return JSONResponse({"error": "unknown_room", "message": f"No room '{room_id}'"}, status_code=404)
    languages = room.config.languages if room else None
    body = {"patterns": client_hints(languages)}
    return JSONResponse(body, headers={"cache-control": "public, max-age=300"})


async def library_api(request: Request) -> Response:
    """A room's library cards and its words on what peer support is (issue 20), in ?lang= (issue 19)."""
    body = summaries.library(chat_state(request.app).hub, request.query_params, request.headers)
    if body is None:
        return JSONResponse({"error": "unknown_room", "message": "No such room"}, status_code=404)
    return JSONResponse(body)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    st = chat_state(request.app)
    broker_ok, db_ok = await asyncio.gather(st.hub.broker.ping(), st.audit.ping())
    failed = [name for name, ok in (("broker", broker_ok), ("database", db_ok)) if not ok]
    checks = {
        "broker": f"{st.hub.broker.name}: " + ("ok" if broker_ok else "not answering"),
        "database": f"sqlite {st.settings.db.name}: " + ("ok" if db_ok else "not answering"),
    }
    if failed:
        return JSONResponse({"status": "unavailable", "failed": failed, "checks": checks}, status_code=503)
    return JSONResponse({"status": "ready", "checks": checks})


async def metrics_api(request: Request) -> Response:
    st = chat_state(request.app)
    try:  # the held queue is in the shared store: a hung Redis must not hang the scrape too
        held = await asyncio.wait_for(summaries.held_summary(st.hub), HELD_SCRAPE_S)
    except (TimeoutError, ChatError):  # Unavailable is a ChatError
        held = []
    for room in held:
        st.metrics.held_depth.labels(room["id"]).set(room["held"])
        st.metrics.held_oldest.labels(room["id"]).set(room["oldest_held_s"])
    return Response(st.metrics.render(), media_type=CONTENT_TYPE)


async def admin_rooms(request: Request) -> Response:
    refused = await require_admin(request)
    if refused is not None:
        return refused
    hub = chat_state(request.app).hub
    held = {r["id"]: r for r in await summaries.held_summary(hub)}
    rooms = [
        {**r, **held.get(r["id"], {}), **summaries.coverage(hub, r["id"])}
        for r in summaries.room_summaries(hub)
    ]
    return Response(orjson.dumps(rooms), media_type="application/json")


async def reload_api(request: Request) -> Response:
    refused = await require_admin(request)
    if refused is not None:
        return refused
    ok, result = await reload_rooms(chat_state(request.app), everywhere=True, by=request.state.admin)
    if not ok:
        return JSONResponse({"status": "unchanged", "problems": result}, status_code=400)
    return JSONResponse({"status": "reloaded", **result})


async def index(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    return FileResponse(settings.web_dir / "index.html")


async def not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Not found", status_code=404)


# ---- what the lifespan runs ------------------------------------------------------------------------
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
    changes = await st.hub.apply_rooms(config)
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
