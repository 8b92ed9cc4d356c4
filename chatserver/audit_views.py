"""The admin's live views of the audit log: `GET /api/audit` and `GET /api/admin/transcript`.

One machine answers for the whole deployment (issue 18): with a shared Redis, the machines are
listed there (chatserver/audit/machines.py) and this machine merges its own rows with every other
machine's, read over HTTP with `scope=local` (chatserver/audit/remote.py). A machine whose rows
could not be read is named in `Chatserver-Audit-Missing`: an audit view never leaves a machine out
silently. `?scope=local`, or a machine without Redis, answers from this machine's file alone, as
before. Filters are checked here first, so a bad one is a 400 before any machine is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from chatserver import audit as audit_mod
from chatserver.audit import remote
from chatserver.audit.records import HIDING_KINDS
from chatserver.errors import ChatError

if TYPE_CHECKING:
    from chatserver.app import State

MISSING_HEADER = "Chatserver-Audit-Missing"
SOURCES_HEADER = "Chatserver-Audit-Sources"
_TRUE = ("1", "true", "yes")


def _state(request: Request) -> State:
    state: State = request.app.state.chat
    return state


async def require_admin(request: Request) -> Response | None:
    """None for a request bearing an admin token (its name kept as `request.state.admin`), else the
    401 or 403 to answer with."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not token:
        return JSONResponse(
            {"error": "unauthorized", "message": "Send an admin token as 'Authorization: Bearer TOKEN'"},
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
    record = await _state(request).hosts.authenticate(token)
    if record is None or not record.is_admin:
        return JSONResponse({"error": "forbidden", "message": "This needs an admin token"}, status_code=403)
    request.state.admin = record.name
    return None


def _bad(exc: ChatError) -> Response:
    return JSONResponse({"error": "bad_request", "message": exc.message}, status_code=400)


@dataclass
class View:
    """Which machines a deployment-wide answer reads: this one, the others with a URL, and those it
    cannot read (name, why)."""

    me: str
    others: list[tuple[str, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def tag(self) -> bool:
        """Rows say which machine they come from whenever the deployment has more than one."""
        return bool(self.others or self.missing)

    def headers(self, peers: list[remote.Peer]) -> dict[str, str]:
        missing = self.missing + [(p.name, p.missing) for p in peers if p.missing]
        sources = [self.me] + [p.name for p in peers if not p.missing]
        headers = {SOURCES_HEADER: ", ".join(sources)}
        if missing:
            headers[MISSING_HEADER] = ", ".join(f"{name} ({why})" for name, why in missing)
        return headers


async def _view(request: Request) -> View | None:
    """The machines to read, or None to answer from this file alone (`scope=local`, no Redis, or a
    deployment of one machine)."""
    st = _state(request)
    if request.query_params.get("scope") == "local" or st.machines is None:
        return None
    view = View(me=st.machines.name)
    try:
        machines = await st.machines.machines()
    except Exception:  # Redis down: say so, rather than pass this machine off as the deployment
        view.missing.append((remote.UNKNOWN, remote.NO_REGISTRY))
        return view
    for machine in machines:
        if machine.name == view.me:
            continue
        if machine.url:
            view.others.append((machine.name, machine.url))
        else:
            view.missing.append((machine.name, remote.NO_URL))
    return view if view.tag else None


async def _open(request: Request, view: View, path: str, params: dict[str, str]) -> list[remote.Peer]:
    """Every other machine asked at once, each answer's status known before a byte is sent."""
    auth = request.headers.get("authorization", "")
    return list(
        await asyncio.gather(
            *(asyncio.to_thread(remote.open_peer, name, url, path, params, auth) for name, url in view.others)
        )
    )


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "room": q.get("room") or None,
        "since": q.get("since") or None,
        "until": q.get("until") or None,
        "kind": q.get("kind") or None,
        "redact": q.get("redact") in _TRUE,
    }


#: How long /api/audit waits for this worker's queued rows to reach the file before it reads.
FLUSH_BEFORE_READ_S = 2.0


async def audit_api(request: Request) -> Response:
    """Audit rows as JSON lines: this machine's (`scope=local`), or the deployment's in time order."""
    refused = await require_admin(request)
    if refused is not None:
        return refused
    # What this worker queued before the question is in the answer: rows nobody waits for (joins,
    # sign-ins) may be waiting a moment for company (audit/writer.py). A stalled disk does not hold
    # the answer up for long: then it has what is in the file.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(FLUSH_BEFORE_READ_S):
            await _state(request).audit.flush()
    view = await _view(request)
    order = "ts" if view is not None or request.query_params.get("order") == "ts" else "id"
    rows = audit_mod.iter_rows(_state(request).settings.db, order=order, **_filters(request))
    try:
        first = await asyncio.to_thread(next, rows, None)  # bad filters fail here, before any byte is sent
    except ChatError as exc:
        return _bad(exc)

    def local() -> Iterator[dict[str, Any]]:
        if first is not None:
            yield first
            yield from rows

    if view is None:
        return _lines(local(), [], {})
    params = {
        k: v for k, v in request.query_params.items() if k in ("room", "since", "until", "kind", "redact")
    }
    peers = await _open(request, view, "/api/audit", {**params, "order": "ts"})
    sources = [(view.me, local())] + [(p.name, remote.json_lines(p)) for p in peers if not p.missing]
    return _lines(remote.merge_rows(sources, view.tag), peers, view.headers(peers))


def _lines(rows: Iterator[dict[str, Any]], peers: list[remote.Peer], headers: dict[str, str]) -> Response:
    def body() -> Iterator[bytes]:
        try:
            for row in rows:
                yield orjson.dumps(row) + b"\n"
        finally:  # also when the admin goes away mid-way: let the other machines go too
            remote.close(peers)

    # A sync iterator: Starlette reads it in a worker thread, so a large export never blocks the loop.
    return StreamingResponse(body(), media_type="application/x-ndjson", headers=headers)


async def admin_transcript(request: Request) -> Response:
    """What a room's participants were shown, in `seq` order: on this machine, or the deployment's."""
    refused = await require_admin(request)
    if refused is not None:
        return refused
    q = request.query_params
    room = q.get("room")
    if not room:
        return JSONResponse({"error": "bad_request", "message": "Name a room: ?room=ID"}, status_code=400)
    db = _state(request).settings.db
    since, until, redact = q.get("since") or None, q.get("until") or None, q.get("redact") in _TRUE
    try:
        messages = await asyncio.to_thread(audit_mod.transcript, db, room, since, until, redact=redact)
    except ChatError as exc:
        return _bad(exc)
    view = await _view(request)
    if view is None:
        return Response(orjson.dumps(messages), media_type="application/json")
    params = {k: v for k, v in q.items() if k in ("room", "since", "until", "redact")}
    # A host on another machine may have deleted a message published here: every machine's deletions
    # count, whatever the time window (a deletion comes after the message it hides).
    hiding = {"room": room, "kind": ",".join(HIDING_KINDS)}
    shown, hidden_rows = await asyncio.gather(
        _read_all(request, view, "/api/admin/transcript", params),
        _read_all(request, view, "/api/audit", hiding),
    )
    hidden_here = await asyncio.to_thread(
        lambda: [r["message_id"] for r in audit_mod.iter_rows(db, room=room, kind=list(HIDING_KINDS))]
    )
    hidden = {str(mid) for mid in hidden_here}
    for peer in hidden_rows:
        hidden.update(str(row.get("message_id")) for row in peer.extra if isinstance(row, dict))
    peers = [_worse(a, b) for a, b in zip(shown, hidden_rows, strict=True)]
    sources = [(view.me, messages)] + [(p.name, p.extra) for p in peers if not p.missing]
    merged = remote.merge_messages(sources, hidden, view.tag)
    return Response(orjson.dumps(merged), media_type="application/json", headers=view.headers(peers))


async def _read_all(request: Request, view: View, path: str, params: dict[str, str]) -> list[remote.Peer]:
    """Every other machine's whole answer (`peer.extra`): a JSON list, or JSON lines as a list."""
    peers = await _open(request, view, path, params)

    def read(peer: remote.Peer) -> remote.Peer:
        if path == "/api/admin/transcript":
            return remote.read_json(peer)
        try:
            peer.extra = list(remote.json_lines(peer))
        except (OSError, ValueError):
            peer.missing = peer.missing or remote.NO_ANSWER
        peer.response = None
        return peer

    return list(await asyncio.gather(*(asyncio.to_thread(read, p) for p in peers)))


def _worse(shown: remote.Peer, hiding: remote.Peer) -> remote.Peer:
    """A machine's transcript counts only if its deletions could be read too."""
    if not shown.missing and hiding.missing:
        shown.missing = hiding.missing
    return shown
