"""The deployment examples in docs/examples work the way docs/deploy.md says they do.

nginx is never installed by these tests: without it the nginx checks skip, even
under CI. redis-server follows the suite's rule (skip locally, fail under CI).
Everything listens on loopback, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chatserver.audit import AuditLog
from chatserver.cli import _uvicorn_config, build_parser, settings_from
from chatserver.metrics import Metrics
from chatserver.settings import Settings
from tests.conftest import need_binary
from tests.support import LOOPBACK, ROOT, clean_env, cli, free_port, wait_for

EXAMPLES = ROOT / "docs" / "examples"
DEPLOY_MD = ROOT / "docs" / "deploy.md"
TESTS = Path(__file__).resolve().parent

# What the examples say, and what a test puts in its place.
INSTALLED_CLI = "/opt/chatserver/.venv/bin/chatserver"
INSTALLED_BACKUP = "/usr/local/bin/chatserver-backup"
CERT = "/etc/letsencrypt/live/chat.example.org/fullchain.pem"
KEY = "/etc/letsencrypt/live/chat.example.org/privkey.pem"
NGINX_LOGS = "/var/log/nginx/"
NGINX_LISTEN = "listen 8443 ssl;"
NGINX_UPSTREAM = "server 127.0.0.1:8000 "
UNITS = ("chatserver.service", "chatserver-backup.service", "chatserver-backup.timer")

NEVER_INSTALLED = "this test never installs it, so it skips without it, even under CI"


def need_tool(name: str, purpose: str) -> str:
    """The tool's path, or a skip that says why (these tools are never required, not even by CI)."""
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed ({purpose}): {NEVER_INSTALLED} (apt-get install {name})")
    return found


# ---- readers for the three file formats --------------------------------------------
def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), f"{path.name}:{number}: keep each setting on one line"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: not KEY=value: {raw!r}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def read_env_file(path: Path) -> dict[str, str]:
    """A systemd EnvironmentFile: NAME=value lines, # comments."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(\S*)", line)
        assert match, f"{path.name}:{number}: expected NAME=value with no spaces or quotes: {raw!r}"
        assert match[1] not in values, f"{path.name}:{number}: {match[1]} is set twice"
        values[match[1]] = match[2]
    return values


def nginx_tree(text: str) -> list[tuple[str, list[str], list | None]]:
    """nginx.conf as nested (directive, args, children-or-None)."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', re.sub(r"(?m)#.*$", "", text))
    pos = 0

    def block() -> list[tuple[str, list[str], list | None]]:
        nonlocal pos
        items: list[tuple[str, list[str], list | None]] = []
        words: list[str] = []
        while pos < len(tokens):
            token = tokens[pos]
            pos += 1
            if token == ";":
                items.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                name, args, words = words[0], words[1:], []
                items.append((name, args, block()))
            elif token == "}":
                assert not words, f"unterminated directive {words}"
                return items
            else:
                words.append(token.strip("\"'") if token[0] in "\"'" else token)
        assert not words, f"unterminated directive {words}"
        return items

    return block()


def find_blocks(tree: list, name: str) -> list[tuple[str, list[str], list | None]]:
    found = []
    for item in tree:
        if item[0] == name:
            found.append(item)
        if item[2]:
            found.extend(find_blocks(item[2], name))
    return found


def directives(block: list, name: str) -> list[list[str]]:
    return [args for (n, args, children) in block if n == name and children is None]


def header_values(block: list) -> dict[str, str]:
    return {
        args[0].lower(): (args[1] if len(args) > 1 else "") for args in directives(block, "proxy_set_header")
    }


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, value
    return int(match[1]) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[match[2]]


# ---- processes ---------------------------------------------------------------------
def children_of(pid: int) -> list[int]:
    """Live child processes of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL to the whole process group if it does not go in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def http_ok(url: str, **kw: Any) -> bool:
    try:
        return httpx.get(url, timeout=1, **kw).status_code == 200
    except httpx.HTTPError:
        return False


def command_line(line: str, **swap: str) -> list[str]:
    """A unit's Exec line as argv, with the installed paths swapped for this checkout's."""
    argv = shlex.split(line)
    if argv[0] == INSTALLED_CLI:
        argv = [sys.executable, "-m", "chatserver", *argv[1:]]
    return [swap.get(a, a) for a in argv]


# ---- nginx -------------------------------------------------------------------------
def nginx_copy(tmp: Path, *, listen: int | None = None, upstream: int | None = None) -> Path:
    """The example nginx.conf with a fresh self-signed certificate and every path inside `tmp`."""
    openssl = need_tool("openssl", "it makes the test certificate")
    (tmp / "logs").mkdir(parents=True, exist_ok=True)
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=chat.example.org"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    text = (EXAMPLES / "nginx.conf").read_text()
    for original in (CERT, KEY, NGINX_LOGS, NGINX_LISTEN, NGINX_UPSTREAM, "http {"):
        assert original in text, f"nginx.conf no longer contains {original!r}: update this test"
    text = text.replace(CERT, str(cert)).replace(KEY, str(key)).replace(NGINX_LOGS, f"{tmp}/logs/")
    if listen is not None:
        text = text.replace(NGINX_LISTEN, f"listen {LOOPBACK}:{listen} ssl;")
    if upstream is not None:
        text = text.replace(NGINX_UPSTREAM, f"server {LOOPBACK}:{upstream} ")
    temp_paths = "".join(
        f"\n    {kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {", "http {" + temp_paths, 1)
    copy = tmp / "nginx.conf"
    copy.write_text(text)
    return copy


def nginx_argv(nginx: str, conf: Path, tmp: Path, *, test: bool = False) -> list[str]:
    """nginx on the copy, in the foreground, with its pid file and logs inside `tmp`."""
    globals_ = f"pid {tmp}/nginx.pid; daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    argv = [nginx, "-c", str(conf), "-p", str(tmp), "-e", f"{tmp}/logs/error.log", "-g", globals_]
    return [*argv, "-t"] if test else argv


def test_nginx_conf_proxies_websockets_as_documented():
    """The /ws location upgrades, does not buffer, outlives the ping interval and forwards no address."""
    tree = nginx_tree((EXAMPLES / "nginx.conf").read_text())
    assert find_blocks(tree, "events") and find_blocks(tree, "http")
    (ws,) = [b for b in find_blocks(tree, "location") if b[1] == ["=", "/ws"]]
    body = ws[2]
    assert directives(body, "proxy_http_version") == [["1.1"]]
    headers = header_values(body)
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    assert directives(body, "proxy_buffering") == [["off"]]
    ping = _uvicorn_config(Settings()).ws_ping_interval
    (read_timeout,) = directives(body, "proxy_read_timeout")
    assert seconds(read_timeout[0]) > 2 * ping, "nginx would cut quiet chats between two pings"
    (upgrade_map,) = find_blocks(tree, "map")
    assert upgrade_map[1] == ["$http_upgrade", "$connection_upgrade"]

    text = (EXAMPLES / "nginx.conf").read_text()
    uncommented = re.sub(r"(?m)#.*$", "", text)
    assert "$remote_addr" not in uncommented and "$proxy_add_x_forwarded_for" not in uncommented
    for location in find_blocks(tree, "location"):
        assert directives(location[2], "proxy_pass"), f"location {location[1]} does not proxy"
        headers = header_values(location[2])
        for name in ("x-forwarded-for", "x-real-ip", "forwarded"):
            assert headers.get(name) == "", f"location {location[1]} may pass on {name}"
    (server,) = [s for s in find_blocks(tree, "server") if s[2] and directives(s[2], "ssl_certificate")]
    assert directives(server[2], "listen") == [["8443", "ssl"]]
    added = {args[0].lower() for args in directives(server[2], "add_header")}
    assert added == {"strict-transport-security"}, "chatserver sends the other security headers itself"


def test_nginx_conf_passes_nginx_t(tmp_path: Path):
    """`nginx -t` accepts the example (with a generated certificate), with no warnings."""
    nginx = need_tool("nginx", "it checks the nginx example")
    conf = nginx_copy(tmp_path)
    done = subprocess.run(
        nginx_argv(nginx, conf, tmp_path, test=True), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
    assert "[warn]" not in done.stderr and "[emerg]" not in done.stderr, done.stderr


async def test_nginx_carries_a_chat_over_tls(tmp_path: Path, make_server, clients):
    """Through the example nginx: a WebSocket chat from the public origin works, a foreign origin gets 403."""
    nginx = need_tool("nginx", "it runs the nginx example")
    origin = read_env_file(EXAMPLES / "chatserver.env")["CHATSERVER_ALLOWED_ORIGIN"]
    server = make_server(extra=("--allowed-origin", origin))
    port = free_port()
    conf = nginx_copy(tmp_path, listen=port, upstream=server.port)
    proc = subprocess.Popen(
        nginx_argv(nginx, conf, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"https://{LOOPBACK}:{port}"
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    try:
        wait_for(lambda: http_ok(base + "/api/rooms", verify=False), 15, "nginx answering")
        page = httpx.get(base + "/", verify=False, timeout=5)
        assert page.status_code == 200
        assert len(page.headers.get_list("content-security-policy")) == 1
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert httpx.get(base + "/readyz", verify=False, timeout=5).status_code == 200

        url = f"wss://{LOOPBACK}:{port}/ws"
        async with connect(url, ssl=tls, origin=origin, open_timeout=10, close_timeout=2) as ws:
            await ws.send(json.dumps({"type": "hello", "name": "ann"}))
            await ws.send(json.dumps({"type": "join", "room": "lobby", "accept_guidelines": True}))
            await ws.send(json.dumps({"type": "send", "room": "lobby", "text": "hi", "client_id": "c1"}))
            seen: dict[str, dict[str, Any]] = {}
            async with asyncio.timeout(10):
                while not {"welcome", "joined", "ack", "message"} <= seen.keys():
                    frame = json.loads(await ws.recv())
                    seen.setdefault(frame["type"], frame)
            assert seen["ack"]["status"] == "published" and seen["message"]["text"] == "hi"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, ssl=tls, origin="https://elsewhere.example", open_timeout=10):
                pass
        assert refused.value.response.status_code == 403
        access_log = (tmp_path / "logs" / "chatserver.access.log").read_text()
        assert "/ws" in access_log and LOOPBACK not in access_log
    finally:
        stop_process(proc)


# ---- systemd -----------------------------------------------------------------------
def test_unit_file_runs_serve_reloads_on_hup_and_is_hardened():
    """chatserver.service runs `chatserver serve`, reloads with HUP, restarts on failure, is locked down."""
    unit = read_unit(EXAMPLES / "chatserver.service")
    service = unit["Service"]
    assert shlex.split(service["ExecStart"][0]) == [INSTALLED_CLI, "serve"]
    assert service["ExecReload"][-1] == "/bin/kill -HUP $MAINPID"
    assert all("check-rooms" in line for line in service["ExecReload"][:-1])
    assert service["Restart"] == ["on-failure"]
    assert service["EnvironmentFile"] == ["/etc/chatserver/chatserver.env"]
    assert service.get("User") or service.get("DynamicUser") == ["yes"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "KillMode": "mixed",
    }.items():
        assert service.get(key) == [value], key
    db_dir = str(Path(read_env_file(EXAMPLES / "chatserver.env")["CHATSERVER_DB"]).parent)
    assert db_dir in " ".join(service["ReadWritePaths"]).split()
    # The supervisor gives its workers 15 s to close their chats.
    assert seconds(service["TimeoutStopSec"][0]) > 15
    # Enough open files for nginx's connections to reach chatserver.
    (events,) = find_blocks(nginx_tree((EXAMPLES / "nginx.conf").read_text()), "events")
    assert int(service["LimitNOFILE"][0]) > int(directives(events[2], "worker_connections")[0][0])
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_backup_units_run_the_script_as_the_server_user():
    """The backup service runs backup.sh as the server's user into a writable folder; a timer starts it."""
    service = read_unit(EXAMPLES / "chatserver-backup.service")["Service"]
    main = read_unit(EXAMPLES / "chatserver.service")["Service"]
    assert service["Type"] == ["oneshot"] and service["User"] == main["User"]
    program, db, outdir, keep = shlex.split(service["ExecStart"][0])
    assert program == INSTALLED_BACKUP and keep.isdigit()
    assert db == read_env_file(EXAMPLES / "chatserver.env")["CHATSERVER_DB"]
    assert outdir in service["ReadWritePaths"][0].split()
    assert service["ProtectSystem"] == ["strict"] and service["NoNewPrivileges"] == ["yes"]
    timer = read_unit(EXAMPLES / "chatserver-backup.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == ["yes"]


def test_units_pass_systemd_analyze_verify(tmp_path: Path):
    """`systemd-analyze verify` finds nothing to say about the three units."""
    analyze = need_tool("systemd-analyze", "it checks the systemd units")
    cli_binary = Path(sys.executable).with_name("chatserver")
    if not cli_binary.exists():
        pytest.skip(f"no {cli_binary}: install the package into the test's environment")
    backup = tmp_path / "chatserver-backup"
    shutil.copy(EXAMPLES / "backup.sh", backup)
    backup.chmod(0o755)
    for name in UNITS:
        text = (EXAMPLES / name).read_text()
        (tmp_path / name).write_text(
            text.replace(INSTALLED_CLI, str(cli_binary)).replace(INSTALLED_BACKUP, str(backup))
        )
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in UNITS)], capture_output=True, text=True, timeout=60
    )
    ours = [line for line in done.stderr.splitlines() if any(n in line for n in UNITS)]
    assert done.returncode == 0 and not ours, done.stderr


def test_env_file_sets_only_real_settings(monkeypatch: pytest.MonkeyPatch):
    """Every name in chatserver.env is a real `serve` setting, and each value is the one the server gets."""
    values = read_env_file(EXAMPLES / "chatserver.env")
    for name in list(os.environ):
        if name.startswith("CHATSERVER_"):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = settings_from(build_parser().parse_args(["serve"]))
    real = settings.to_env()  # the code's own list of CHATSERVER_* settings, with the values it got
    unknown = sorted(set(values) - set(real))
    assert not unknown, f"not chatserver settings: {unknown}"
    for name, value in values.items():
        if name == "CHATSERVER_WORKERS":  # workers of a supervisor are told 1; the supervisor runs N
            assert settings.workers == int(value) > 1 and settings.redis_url, "N workers need Redis"
        elif name in ("CHATSERVER_PORT", "CHATSERVER_RETENTION_DAYS"):
            assert float(real[name]) == float(value), name
        else:
            assert real[name] == value, name
    assert set(settings.allowed_origins) == {"https://chat.example.org"}


@pytest.mark.redis
def test_service_as_configured_serves_reloads_and_stops(tmp_path: Path, redis_server):
    """ExecStart + chatserver.env run N workers; ExecReload refuses a broken rooms.yaml, then reloads all."""
    unit = read_unit(EXAMPLES / "chatserver.service")["Service"]
    env = read_env_file(EXAMPLES / "chatserver.env")
    workers = int(env["CHATSERVER_WORKERS"])
    rooms = tmp_path / "rooms.yaml"
    good_rooms = (TESTS / "rooms.yaml").read_text()
    rooms.write_text(good_rooms)
    port = free_port()
    swap = {
        "CHATSERVER_PORT": str(port),
        "CHATSERVER_DB": str(tmp_path / "chat.db"),
        "CHATSERVER_ROOMS": str(rooms),
        "CHATSERVER_REDIS_URL": redis_server.url,
    }
    assert set(swap) <= set(env) and env["CHATSERVER_HOST"] == LOOPBACK
    process_env = clean_env(**{**env, **swap})
    log_path = tmp_path / "journal.log"
    with open(log_path, "wb") as journal:
        proc = subprocess.Popen(
            command_line(unit["ExecStart"][0]),
            cwd=tmp_path,
            env=process_env,
            stdout=journal,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://{LOOPBACK}:{port}"

    def room_ids() -> set[str]:
        with httpx.Client(timeout=2) as client:  # a new connection each time: any worker may answer
            return {r["id"] for r in client.get(base + "/api/rooms").json()}

    def reload() -> list[int]:
        codes = []
        for line in unit["ExecReload"]:  # systemd runs them in order and stops at the first failure
            argv = command_line(line, **{"$MAINPID": str(proc.pid)})
            done = subprocess.run(argv, env=process_env, capture_output=True, text=True, timeout=30)
            codes.append(done.returncode)
            if done.returncode:
                break
        return codes

    try:
        wait_for(lambda: proc.poll() is None and http_ok(base + "/readyz"), 30, "the service ready")
        wait_for(lambda: len(children_of(proc.pid)) == workers, 10, f"{workers} workers")
        assert "garden" not in room_ids()

        rooms.write_text(good_rooms + "\n  - id: Not A Valid Id\n    title: Broken\n")
        assert reload() == [1], "a broken rooms.yaml must fail `systemctl reload` before any HUP"

        rooms.write_text(
            good_rooms + "\n  - id: garden\n    title: Garden\n    topic: Added.\n    filters: []\n"
        )
        assert reload() == [0] * len(unit["ExecReload"])
        wait_for(lambda: all("garden" in room_ids() for _ in range(12)), 20, "every worker reloaded")
        assert proc.poll() is None and len(children_of(proc.pid)) == workers

        proc.send_signal(signal.SIGTERM)  # KillMode=mixed: systemd signals the main process only
        assert proc.wait(seconds(unit["TimeoutStopSec"][0])) == 0
        assert children_of(proc.pid) == []
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        assert lines and all(json.loads(line).get("level") for line in lines), "CHATSERVER_LOG_FORMAT=json"
    finally:
        stop_process(proc)


# ---- Redis -------------------------------------------------------------------------
def redis_directives(path: Path) -> list[list[str]]:
    return [
        line.split()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def redis_bytes(word: str) -> str:
    """Redis memory units (1k = 1000, 1kb = 1024, ...) as a byte count; other words unchanged."""
    match = re.fullmatch(r"(\d+)(k|kb|m|mb|g|gb)", word.lower())
    if not match:
        return word
    unit = {"k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}[match[2]]
    return str(int(match[1]) * unit)


def start_redis(binary: str, conf: Path, workdir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [binary, str(conf), "--port", str(port), "--bind", LOOPBACK, "--dir", str(workdir)]
        + ["--daemonize", "no", "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2, socket_connect_timeout=1)

    def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"redis-server exited: {(workdir / 'redis.log').read_text()[-2000:]}")
        with contextlib.suppress(redis.RedisError):
            return bool(client.ping())
        return False

    wait_for(answers, 10, "redis-server answering")
    client.close()
    return proc


@pytest.mark.redis
def test_redis_fragment_is_what_redis_runs_with_and_keeps_rooms_across_a_restart(tmp_path: Path):
    """redis-server started with redis.conf reports each setting back, and room state survives a restart."""
    binary = need_binary("redis-server", "/usr/bin/redis-server")
    conf = EXAMPLES / "redis.conf"
    wanted = redis_directives(conf)
    assert {"appendonly", "appendfsync", "maxmemory-policy", "client-output-buffer-limit"} <= {
        d[0] for d in wanted
    }
    port = free_port()
    proc = start_redis(binary, conf, tmp_path, port)
    try:
        client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2, decode_responses=True)
        for name, *args in wanted:
            (actual,) = client.config_get(name).values()
            expected = [redis_bytes(a) for a in args]
            if name == "client-output-buffer-limit":
                words = actual.split()
                limits = {words[i]: words[i + 1 : i + 4] for i in range(0, len(words), 4)}
                assert limits[expected[0]] == expected[1:], actual
            else:
                assert actual == " ".join(expected), f"{name}: {actual!r}"

        client.xadd("chatserver:room:lobby:log", {"id": "m1", "f": "{}"}, id="1-1")
        client.set("chatserver:room:lobby:seq", 1)
        client.hset("chatserver:room:lobby:held", "m2", "{}")
        client.hset("chatserver:room:lobby:ban", "s1", "0")
        client.close()
        stop_process(proc)
        assert proc.returncode == 0
        proc = start_redis(binary, conf, tmp_path, port)
        client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2, decode_responses=True)
        assert client.xlen("chatserver:room:lobby:log") == 1
        assert client.get("chatserver:room:lobby:seq") == "1"
        assert client.hkeys("chatserver:room:lobby:held") == ["m2"]
        assert client.hkeys("chatserver:room:lobby:ban") == ["s1"]
        client.close()
    finally:
        stop_process(proc)


# ---- backup.sh ---------------------------------------------------------------------
def run_backup(db: Path, outdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        ["bash", str(EXAMPLES / "backup.sh"), str(db), str(outdir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_backup_script_copies_a_live_database_and_verifies_it(tmp_path: Path, server, clients):
    """backup.sh copies the database while messages flow, checks it, keeps it private, prunes old copies."""
    need_tool("sqlite3", "backup.sh uses it")
    user = await clients.user(server, "ann", ("lobby",))
    for i in range(20):
        assert (await user.post("lobby", f"before the backup {i}"))["status"] == "published"
    outdir = tmp_path / "backups"
    outdir.mkdir()
    old = [outdir / "chat-2000-01-01.db", outdir / "chat-2000-01-01.db.sha256", outdir / "notes.txt"]
    for path in old:
        path.write_text("old")
        os.utime(path, (time.time() - 30 * 86400,) * 2)

    async def keep_talking() -> None:
        for i in range(40):
            await user.post("lobby", f"during the backup {i}")

    talking = asyncio.create_task(keep_talking())
    done = await asyncio.to_thread(run_backup, server.db_path, outdir, "14")
    await asyncio.wait_for(talking, 30)
    assert done.returncode == 0, done.stderr

    (copy,) = outdir.glob("chat-2*.db")
    assert copy.name != "chat-2000-01-01.db"
    assert not (outdir / "chat-2000-01-01.db").exists() and not old[1].exists()
    assert old[2].exists(), "only backup copies are pruned"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(outdir.glob(".*partial*")) and not list(outdir.glob("*-wal"))
    digest, name = (outdir / f"{copy.name}.sha256").read_text().split()
    assert name == copy.name and digest == hashlib.sha256(copy.read_bytes()).hexdigest()
    with contextlib.closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as db:
        published = db.execute("SELECT count(*) FROM audit WHERE kind = 'published'").fetchone()[0]
        head_id, head_hash = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert published >= 20
    assert f"audit head: row {head_id} hash {head_hash}" in done.stdout
    verify = cli("audit", "verify", "--db", str(copy))
    assert verify.returncode == 0, verify.stderr


async def test_backup_script_refuses_a_log_that_does_not_verify(tmp_path: Path):
    """backup.sh exits non-zero, keeps no copy and says why when a row of the log was altered."""
    need_tool("sqlite3", "backup.sh uses it")
    db = tmp_path / "chat.db"
    assert cli("hosts", "add", "x", "--db", str(db)).returncode == 0
    async with await AuditLog.open(db) as log:
        for i in range(5):
            log.append(
                "published",
                room="lobby",
                actor_session="s1",
                actor_name="ann",
                message_id=f"m{i}",
                text=f"hi {i}",
            )
        await log.flush()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE audit SET text = 'something else' WHERE id = 3")
    outdir = tmp_path / "backups"
    done = run_backup(db, outdir)
    assert done.returncode == 1
    assert "does not verify" in done.stderr and "row 3" in done.stderr
    assert list(outdir.iterdir()) == []
    assert stat.S_IMODE(outdir.stat().st_mode) == 0o700, "a folder backup.sh creates is private"


def test_backup_script_checks_its_arguments(tmp_path: Path):
    """backup.sh without its arguments, or with a missing database, says what is wrong and stops."""
    need_tool("sqlite3", "backup.sh uses it")
    assert run_backup(tmp_path / "nothing.db", tmp_path / "out").returncode == 1
    usage = subprocess.run(["bash", str(EXAMPLES / "backup.sh")], capture_output=True, text=True, timeout=10)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    assert run_backup(tmp_path / "x.db", tmp_path / "out", "soon").returncode == 1
    assert not (tmp_path / "out").exists()


def test_backup_script_passes_shellcheck():
    """backup.sh is shellcheck-clean and executable."""
    assert os.access(EXAMPLES / "backup.sh", os.X_OK)
    shellcheck = need_tool("shellcheck", "it lints backup.sh")
    done = subprocess.run(
        [shellcheck, str(EXAMPLES / "backup.sh")], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout


# ---- the guide itself --------------------------------------------------------------
def test_deploy_guide_names_only_real_metrics_settings_and_flags():
    """docs/deploy.md names every exported metric, and no metric, setting or flag that does not exist."""
    text = DEPLOY_MD.read_text()
    rendered = Metrics().render().decode()
    exported = {n for n in re.findall(r"(?m)^# TYPE (\S+) ", rendered) if not n.endswith("_created")}
    named = {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\bchatserver_[a-z_]+[a-z]", text)}
    assert not exported - named, f"metrics not in the guide: {sorted(exported - named)}"
    assert not named - exported, f"metrics the server does not export: {sorted(named - exported)}"

    # to_env leaves out settings that are None: give those the guide names a value.
    settings = set(Settings(redis_url="redis://x", machine_url="http://10.0.0.12:8000").to_env())
    assert not set(re.findall(r"\bCHATSERVER_[A-Z_]+[A-Z]", text)) - settings

    options: set[str] = set()
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            options.update(o for o in action.option_strings if o.startswith("--"))
            if action.choices and isinstance(action.choices, dict):
                parsers.extend(action.choices.values())
    for line in re.findall(r"(?m)^.*\bchatserver (?:serve|hosts|audit|check-rooms)\b.*$", text):
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", line):
            assert flag in options, f"docs/deploy.md: {flag} is not a chatserver flag: {line.strip()}"
