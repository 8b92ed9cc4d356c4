"""Security: who may connect, who may act, what reaches logs and disk.

Origins (exact allow-list), logs free of tokens, message text and addresses,
tokens only as hashes and compared in constant time, host powers checked per
room (and refusals audited), admin-only HTTP routes, security headers on every
response, a private database file with no clear IP address in it.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import socket
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
from starlette.routing import Route
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chatserver import auth
from chatserver.app import create_app
from chatserver.protocol import HOST_ACTIONS
from chatserver.settings import Settings
from tests.fault_fixtures import assert_clean_log
from tests.support import CHATSERVER, LOOPBACK, Client, clean_env

pytestmark = pytest.mark.security

ALLOWED = "https://chat.example.org"
#: An unusual loopback address: if it shows up anywhere, it came from our client.
CLIENT_IP = "127.13.37.42"


# ---- origins -------------------------------------------------------------------------------------


@pytest.fixture
def guarded(make_server):
    """A server that allows one extra browser origin."""
    return make_server(extra=("--allowed-origin", ALLOWED))


async def test_own_and_allowed_origins_are_accepted(guarded, clients):
    """The server's own origin and the exact allowed origin get a WebSocket."""
    for origin in ("own", ALLOWED):
        c = await clients.connect(guarded, origin=origin)
        assert (await c.hello("visitor"))["role"] == "participant"


FOREIGN = [
    "null",
    "http://chat.example.org",
    "https://chat.example.org:8443",
    "https://chat.example.org/",
    "https://chat.example.org.evil.example",
    "https://evilchat.example.org",
    "https://sub.chat.example.org",
    "https://CHAT.EXAMPLE.ORG",
    "https://chat.example.org, https://evil.example",
    "file://",
    "http://localhost",
    "",
]


async def test_origins_that_are_not_exactly_allowed_get_403(guarded, clients):
    """Anything but an exact match (scheme, port, slash, suffix, case, null, a list, empty) gets 403."""
    for origin in [*FOREIGN, f"http://{LOOPBACK}:{guarded.port + 1}"]:
        with pytest.raises(InvalidStatus) as refused:
            await clients.connect(guarded, origin=origin)
        assert refused.value.response.status_code == 403, origin
    assert_clean_log(guarded)


async def test_a_client_without_origin_and_without_browser_headers_is_a_bot_and_accepted(guarded, clients):
    """No Origin and no fetch metadata: a bot or load generator, let in as the contract says."""
    c = await clients.connect(guarded, origin=None)
    assert (await c.hello("bot"))["role"] == "participant"


async def test_a_browser_handshake_without_origin_is_refused(guarded):
    """A handshake that says it comes from a browser (Sec-Fetch-*) but hides its Origin gets 403."""
    with pytest.raises(InvalidStatus) as refused:
        ws = await connect(
            guarded.ws_url,
            compression=None,
            origin=None,
            additional_headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "websocket"},
            user_agent_header="Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0",
        )
        await ws.close()
    assert refused.value.response.status_code == 403


# ---- logs ----------------------------------------------------------------------------------------

CANARY = "Zebracanary"


async def full_session(server, clients) -> tuple[list[str], list[str]]:
    """Exercise every path that might log: returns (secrets that must never be logged, client ports)."""
    secrets = [server.tokens["alice"], server.tokens["root"], "not-a-token-" + CANARY]
    ws = await connect(
        server.ws_url, origin=server.base, compression=None, local_addr=(CLIENT_IP, 0), close_timeout=1
    )
    sam = Client(ws, "sam")
    clients.clients.append(sam)
    await sam.hello("sam")
    secrets.append(sam.resume_token)
    for room in ("lobby", "safe", "moderated"):
        await sam.join(room)
    alice = await clients.host(server, "alice", ("lobby", "safe", "moderated"))
    root = await clients.host(server, "root", ("lobby",))
    secrets.append(alice.resume_token)
    forger = await clients.connect(server)
    await forger.hello("forger", token="not-a-token-" + CANARY)
    resumed = await clients.connect(server)
    await resumed.hello("sam again", resume=sam.resume_token)

    texts = {
        "lobby": [f"{CANARY} published words", f"{CANARY} mail me at someone@example.com"],
        "safe": [f"{CANARY} grapefruit is held", f"{CANARY} I want to kill myself tonight"],
        "moderated": [f"{CANARY} waits for a host", f"{CANARY} to be rejected"],
    }
    acks = {}
    for room, words in texts.items():
        for text in words:
            acks[text] = await sam.post(room, text)
    held = [a["id"] for a in acks.values() if a.get("status") == "held"]
    assert len(held) >= 3, acks
    await alice.send(type="release", room="moderated", message_id=acks[f"{CANARY} waits for a host"]["id"])
    await alice.send(type="reject", room="moderated", message_id=acks[f"{CANARY} to be rejected"]["id"])
    published = acks[f"{CANARY} published words"]["id"]
    await alice.send(type="note", room="lobby", session=sam.session, text=f"{CANARY} care note")
    await sam.send(type="report", room="lobby", message_id=published, reason=f"{CANARY} report reason")
    await alice.send(type="delete", room="lobby", message_id=published)
    await alice.send(type="mute", room="lobby", session=sam.session, minutes=1, reason=f"{CANARY} reason")
    await sam.send(type="send", room="lobby", text=f"{CANARY} while muted", client_id="m")
    await sam.send(type="send", room="lobby", text="x", client_id=f"{CANARY}-cid")
    await root.send(type="kick", room="lobby", session=forger.session, reason=f"{CANARY} kick")
    await forger.send(type="ban", room="lobby", session=sam.session, reason=f"{CANARY} refused")
    await sam.ws.send('{"type": "send", "room": "lobby", "text": "' + CANARY + " unterminated")
    await sam.ws.send('{"type": "' + CANARY + '"}')
    await sam.ws.send(b'{"type":"ping","x":"' + CANARY.encode() + b'\xff"}', text=True)
    await asyncio.wait_for(sam.closed.wait(), 5)
    ports = [str(c.ws.local_address[1]) for c in clients.clients if c.ws.local_address]
    await root.send(type="ping")
    await root.expect("pong")
    async with httpx.AsyncClient(base_url=server.base, timeout=5) as http:
        for token in (server.tokens["root"], server.tokens["alice"], "not-a-token-" + CANARY):
            await http.get("/api/audit", headers={"Authorization": f"Bearer {token}"})
        await http.get(f"/api/audit?token={server.tokens['root']}")
        await http.get(f"/{CANARY}-missing-page")
    return secrets, ports


@pytest.mark.parametrize(
    "extra", [(), ("--log-format", "json", "--log-level", "debug")], ids=["text-info", "json-debug"]
)
async def test_no_token_message_text_or_address_in_any_log_line(make_server, clients, extra):
    """After a full session (hosts, holds, notes, reports, errors, admin API) the log holds no secrets."""
    server = make_server(extra=extra)
    secrets, ports = await full_session(server, clients)
    await clients.close()
    server.stop()
    log = server.log()
    assert "ready" in log, "the log was captured"
    for secret in secrets:
        assert secret not in log, "a token reached the log"
    for line in log.splitlines():
        assert CANARY not in line, f"message text reached the log: {line[:300]}"
        assert CLIENT_IP not in line, f"a client address reached the log: {line[:300]}"
        for port in ports:
            assert f"{LOOPBACK}:{port}" not in line, f"a client address reached the log: {line[:300]}"


# ---- tokens --------------------------------------------------------------------------------------


async def test_tokens_are_stored_hashed_and_compared_in_constant_time(tmp_path, monkeypatch):
    """Only a hash of a host token is stored; checking one goes through hmac.compare_digest."""
    db = tmp_path / "chat.db"
    token = auth.add_host(db, "hana", admin=True)
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT token_hash FROM hosts WHERE name = 'hana'").fetchone()[0]
    assert stored == auth.hash_token(token) and token not in stored
    assert token.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("chat.db*"))

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    async with await auth.HostDirectory.open(db) as hosts:
        assert (await hosts.authenticate(token)).name == "hana"
        assert calls and all(token not in (a, b) for a, b in calls), "compare hashes, never the token"
        calls.clear()
        assert await hosts.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert await hosts.authenticate("x" * 10_000) is None
        assert await hosts.authenticate("") is None


@pytest.mark.redis
async def test_no_token_in_the_database_or_in_redis(make_server, redis_server, clients):
    """Host tokens and resume tokens are nowhere in the SQLite files or in any Redis key or value."""
    server = make_server(redis=redis_server.url)
    alice = await clients.host(server, "alice", ("moderated",))
    sam = await clients.user(server, "sam", ("moderated",))
    held = await sam.post("moderated", "hold me")
    await alice.send(type="note", room="moderated", session=sam.session, text="check in")
    await alice.expect("held", id=held["id"])
    secrets = [server.tokens[n] for n in ("alice", "bob", "carol", "root")] + [
        alice.resume_token,
        sam.resume_token,
    ]
    await clients.close()
    server.stop()
    disk = b"".join(p.read_bytes() for p in server.db_path.parent.glob(server.db_path.name + "*"))
    r = redis_lib.Redis.from_url(redis_server.url)
    try:
        dump = b"".join(key + b"=" + repr(r.dump(key)).encode() for key in r.scan_iter("*"))
    finally:
        r.close()
    assert dump, "Redis should hold the session's shared state"
    for secret in secrets:
        assert secret.encode() not in disk, "a token is stored in clear in the database"
        assert secret.encode() not in dump, "a token is stored in clear in Redis"


# ---- host powers ---------------------------------------------------------------------------------


def action_frame(action: str, room: str, session: str, message_id: str) -> dict:
    fields = {
        "release": {"message_id": message_id},
        "reject": {"message_id": message_id},
        "delete": {"message_id": message_id},
        "mute": {"session": session, "minutes": 5},
        "unmute": {"session": session},
        "kick": {"session": session},
        "ban": {"session": session},
        "unban": {"session": session},
        "slowmode": {"seconds": 30},
        "lock": {"locked": True},
        "note": {"session": session, "text": "a note"},
        "greet": {"session": session, "text": "welcome"},
        "push_card": {"card": "breathing"},
        "warn": {"session": session, "text": "please be kind"},
        "reject_all": {"session": session},
        "delete_last": {"session": session, "count": 1},
        "person": {"session": session},
        "shield": {"on": True},
    }[action]
    return {"type": action, "room": room, **fields}


async def test_every_host_action_is_checked_per_room_and_refusals_are_audited(server, clients):
    """Participants, a host of other rooms and a host with no room get `forbidden` for every host action."""
    assert set(HOST_ACTIONS) == {
        "release",
        "reject",
        "delete",
        "mute",
        "unmute",
        "kick",
        "ban",
        "unban",
        "slowmode",
        "lock",
        "note",
        "greet",
        "push_card",
        "warn",
        "reject_all",
        "delete_last",
        "person",
        "shield",
    }, "a new host action needs a case here"
    # `short` is hosted by alice only: bob hosts other rooms, carol hosts none.
    sam = await clients.user(server, "sam", ("short",))
    ack = await sam.post("short", "an ordinary message")
    outsiders = [
        await clients.user(server, "pat", ("short",)),
        await clients.host(server, "bob", ("short",)),
        await clients.host(server, "carol", ("short",)),
    ]
    for who in outsiders:
        for action in sorted(HOST_ACTIONS):
            await who.send(**action_frame(action, "short", sam.session, ack["id"]))
            error = await who.expect("error")
            assert error["code"] == "forbidden", (who.label, action, error)
    # Nothing took effect: sam can still post, the room is neither locked nor slow, the message stands.
    again = await sam.post("short", "still allowed")
    assert again["status"] == "published"
    kim = await clients.user(server, "kim", ("short",))
    assert ack["id"] in [m["id"] for m in kim.joined["short"]["history"]]
    await clients.close()
    server.stop()
    refused = server.export("--room", "short", "--kind", "refused")
    got = {(r["actor"]["name"], r["detail"]["action"]) for r in refused}
    wanted = {(who.label, action) for who in outsiders for action in HOST_ACTIONS}
    assert wanted <= got, sorted(wanted - got)


async def test_the_rooms_host_and_an_admin_may_act(server, clients):
    """The room's own host and an admin (who moderates every room) get their actions done."""
    sam = await clients.user(server, "sam", ("short",))
    alice = await clients.host(server, "alice", ("short",))
    root = await clients.host(server, "root", ("short",))
    for host, locked in ((alice, True), (root, False)):
        await host.send(type="lock", room="short", locked=locked)
        await sam.expect("notice", code="locked", locked=locked, timeout=5)
        assert not [f for f in host.frames if f.get("type") == "error"], host.frames[-3:]


async def test_a_claimed_role_or_a_bad_token_gives_no_powers(server, clients):
    """A hello that claims a role, or carries a wrong or revoked token, is a plain participant."""
    claims = await clients.connect(server)
    assert (await claims.hello("alice2", role="admin", is_admin=True))["role"] == "participant"
    wrong = await clients.connect(server)
    assert (await wrong.hello("mallory", token=server.tokens["alice"][:-2] + "xx"))["role"] == "participant"
    tess_token = server.cli("hosts", "add", "tess").stdout.split("token: ")[1].strip()
    assert server.cli("hosts", "revoke", "tess").returncode == 0
    revoked = await clients.connect(server)
    assert (await revoked.hello("tess-ex", token=tess_token))["role"] == "participant"
    await revoked.join("lobby")
    await revoked.send(type="lock", room="lobby", locked=True)
    assert (await revoked.expect("error"))["code"] == "forbidden"


# ---- admin HTTP routes ---------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/api/audit"),
    ("POST", "/api/admin/reload"),
    ("GET", "/api/admin/rooms"),
    ("GET", "/api/admin/transcript?room=lobby"),
]


def test_every_admin_route_is_covered_here(tmp_path):
    """Each /api/audit and /api/admin/* route of the app is in ADMIN_ROUTES (a new one must be added)."""
    app = create_app(Settings(db=tmp_path / "chat.db"))
    while not hasattr(app, "routes"):
        app = app.app
    paths = {r.path for r in app.routes if isinstance(r, Route)}
    admin = {p for p in paths if p.startswith("/api/admin") or p == "/api/audit"}
    assert admin == {path.split("?")[0] for _, path in ADMIN_ROUTES}


@pytest.mark.parametrize("method,path", ADMIN_ROUTES, ids=[p for _, p in ADMIN_ROUTES])
async def test_admin_routes_answer_only_an_admin_token(server, method, path):
    """No token 401, Basic or token-in-URL 401, a wrong, host or revoked token 403, an admin token 200."""
    gone = server.cli("hosts", "add", "gone", "--admin").stdout.split("token: ")[1].strip()
    assert server.cli("hosts", "revoke", "gone").returncode == 0
    sep = "&" if "?" in path else "?"
    cases = [
        ({}, path, 401),
        ({"Authorization": "Basic cm9vdDpyb290"}, path, 401),
        ({"Authorization": "Bearer"}, path, 401),
        ({}, f"{path}{sep}token={server.tokens['root']}", 401),
        ({"Authorization": "Bearer wrong"}, path, 403),
        ({"Authorization": f"Bearer {server.tokens['alice']}"}, path, 403),
        ({"Authorization": f"Bearer {gone}"}, path, 403),
        ({"Authorization": f"Bearer {server.tokens['root']}"}, path, 200),
    ]
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        for headers, url, status in cases:
            r = await http.request(method, url, headers=headers)
            assert r.status_code == status, (headers, url, r.status_code, r.text[:200])
            if status == 401:
                assert r.headers.get("www-authenticate") == "Bearer"
            if status != 200:
                assert "kind" not in r.text and "message_id" not in r.text, "a refusal leaked data"


# ---- headers on every response -------------------------------------------------------------------


def assert_security_headers(r: httpx.Response, what: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp, what
    assert "frame-ancestors 'none'" in csp, what
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert r.headers.get("x-content-type-options") == "nosniff", what
    assert r.headers.get("referrer-policy") == "no-referrer", what
    assert "server" not in r.headers, f"{what}: the Server header names the software"


REQUESTS = [
    ("GET", "/"),
    ("GET", "/index.html"),
    ("GET", "/host.html"),
    ("GET", "/static/app.css"),
    ("GET", "/app.css"),
    ("GET", "/favicon.svg"),
    ("GET", "/api/rooms"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/audit"),
    ("GET", "/api/admin/reload"),
    ("POST", "/api/admin/reload"),
    ("GET", "/api/admin/rooms"),
    ("GET", "/missing"),
    ("GET", "/static/missing.js"),
    ("GET", "/static/../pyproject.toml"),
    ("GET", "/static/%2e%2e/%2e%2e/pyproject.toml"),
    ("GET", "/..%2fchatserver%2fapp.py"),
    ("HEAD", "/"),
    ("OPTIONS", "/api/rooms"),
    ("POST", "/api/rooms"),
    ("DELETE", "/healthz"),
    ("GET", "/ws"),
]


async def test_security_headers_and_csp_on_every_http_response(server):
    """Pages, API, errors (401/403/404/405), HEAD and OPTIONS all carry CSP, nosniff and no-referrer."""
    async with httpx.AsyncClient(base_url=server.base, timeout=5) as http:
        for method, path in REQUESTS:
            r = await http.request(method, path)
            assert r.status_code < 500, (method, path, r.status_code)
            assert_security_headers(r, f"{method} {path} -> {r.status_code}")
            if "pyproject" in path or "app.py" in path:
                assert r.status_code == 404 and "[project]" not in r.text and "import" not in r.text
        r = await http.get("/api/audit", headers={"Authorization": f"Bearer {server.tokens['root']}"})
        assert_security_headers(r, "admin export")
    assert_clean_log(server)


async def test_a_handshake_refused_for_a_full_server_carries_the_headers(make_server):
    """The HTTP 429 that refuses a handshake over the connection cap carries the security headers."""
    server = make_server(extra=("--max-connections-per-ip", "1"))
    first = await connect(server.ws_url, compression=None)
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.ws_url, compression=None)
        assert refused.value.response.status_code == 429
        headers = httpx.Headers(list(refused.value.response.headers.raw_items()))
        assert_security_headers(httpx.Response(429, headers=headers), "429 handshake")
    finally:
        await first.close()


async def test_a_handshake_refused_for_its_origin_carries_the_headers(server):
    """The HTTP 403 that refuses a foreign Origin carries the security headers too."""
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws_url, origin="http://evil.example", compression=None)
    assert refused.value.response.status_code == 403
    headers = httpx.Headers(list(refused.value.response.headers.raw_items()))
    assert_security_headers(httpx.Response(403, headers=headers), "403 handshake")


# ---- the database file ---------------------------------------------------------------------------


def test_a_new_database_is_private_even_under_a_permissive_umask(tmp_path):
    """`hosts add` on a fresh path, with umask 000, creates chat.db (and WAL/SHM) with mode 0600."""
    db = tmp_path / "fresh" / "chat.db"
    done = subprocess.run(
        [*CHATSERVER, "hosts", "add", "someone", "--db", str(db)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0),
    )
    assert done.returncode == 0, done.stderr
    for path in tmp_path.glob("fresh/chat.db*"):
        assert oct(path.stat().st_mode & 0o777) == oct(0o600), path.name


async def test_the_server_creates_its_database_private(make_server, clients):
    """`serve --db NEW` creates the file with mode 0600, and its WAL and SHM files too."""
    server = make_server(extra=("--db", "created-by-serve.db"))
    c = await clients.user(server, "ann", ("lobby",))
    await c.post("lobby", "something to write")
    files = list(server.workdir.glob("created-by-serve.db*"))
    assert {p.name for p in files} >= {"created-by-serve.db", "created-by-serve.db-wal"}
    for path in files:
        assert oct(path.stat().st_mode & 0o777) == oct(0o600), path.name


@pytest.mark.redis
async def test_no_clear_ip_address_in_the_database_or_redis(make_server, redis_server, clients):
    """After a session from a distinctive address, neither the SQLite files nor Redis hold that address."""
    server = make_server(redis=redis_server.url)
    ws = await connect(
        server.ws_url, origin=server.base, compression=None, local_addr=(CLIENT_IP, 0), close_timeout=1
    )
    ann = Client(ws, "ann")
    clients.clients.append(ann)
    await ann.hello("ann")
    for room in ("lobby", "moderated", "safe"):
        await ann.join(room)
    ack = await ann.post("lobby", "hello from an unusual address")
    await ann.post("moderated", "held for a host")
    await ann.post("safe", "grapefruit")
    await ann.send(type="report", room="lobby", message_id=ack["id"], reason="testing")
    await ann.expect("notice", code="report_sent")
    await ann.send(type="lock", room="lobby", locked=True)
    await ann.expect("error", code="forbidden")
    await clients.close()
    server.stop()
    ip = ipaddress.ip_address(CLIENT_IP)
    forms = [
        CLIENT_IP.encode(),
        f"::ffff:{CLIENT_IP}".encode(),
        str(int(ip)).encode(),
        ip.packed,
        socket.inet_aton(CLIENT_IP).hex().encode(),
    ]
    disk = b"".join(p.read_bytes() for p in Path(server.db_path).parent.glob(server.db_path.name + "*"))
    r = redis_lib.Redis.from_url(redis_server.url)
    try:
        dump = b"".join(key + b"=" + (r.dump(key) or b"") for key in r.scan_iter("*"))
    finally:
        r.close()
    for form in forms:
        assert form not in disk, f"the client's address ({form!r}) is stored in the database"
        assert form not in dump, f"the client's address ({form!r}) is stored in Redis"
