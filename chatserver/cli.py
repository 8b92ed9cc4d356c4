"""The `chatserver` command: serve, check-rooms, hosts, audit (the only uvicorn import)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import orjson

from chatserver.errors import ChatError, ConfigError
from chatserver.settings import Settings, env

log = logging.getLogger("chatserver")


# ---- logging ---------------------------------------------------------------------
class _NoClientAddresses(logging.Filter):
    """uvicorn logs each WebSocket handshake with the client's address: we store no clear IPs."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (
            msg.startswith('%s - "WebSocket') or "connection open" in msg or "connection closed" in msg
        )


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import orjson

        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_NoClientAddresses())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # These log query parameters or frame payloads at DEBUG: message text must never reach a log.
    for name in ("aiosqlite", "websockets", "redis", "asyncio", "uvicorn.error"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


# ---- serve -----------------------------------------------------------------------
def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from parsed `serve` flags: every flag named like its field is taken as is."""
    values = {f.name: getattr(args, f.name) for f in fields(Settings) if hasattr(args, f.name)}
    values.update(
        rooms=Path(args.rooms),
        db=Path(args.db),
        redis_url=args.redis or None,
        allowed_origins=tuple(o for o in (args.allowed_origin or []) if o),
    )
    return Settings(**values)


def cmd_serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_format, args.log_level)
    settings = settings_from(args)
    if settings.workers < 1:
        print("--workers must be 1 or more", file=sys.stderr)
        return 2
    if settings.workers > 1 and not settings.redis_url:
        print(
            f"--workers {settings.workers} needs Redis: several processes can only share rooms through a "
            "broker. Start redis-server and pass --redis redis://127.0.0.1:6379/0 "
            "(or CHATSERVER_REDIS_URL), or run one worker.",
            file=sys.stderr,
        )
        return 2
    try:
        from chatserver.rooms import load_rooms

        rooms = load_rooms(settings.rooms)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"chatserver: not started: fix {settings.rooms} (check it with `chatserver check-rooms`)",
            file=sys.stderr,
        )
        return 1
    if not (settings.web_dir / "index.html").is_file():
        print(
            f"chatserver: not started: the web UI's files are not in {settings.web_dir} (no index.html). "
            "Set CHATSERVER_WEB to the web/ folder of the release.",
            file=sys.stderr,
        )
        return 1
    if settings.redis_url and not _redis_reachable(settings.redis_url):
        print(
            f"chatserver: Redis at {settings.redis_url.split('@')[-1]} does not answer. Start redis-server, "
            "or fix --redis / CHATSERVER_REDIS_URL.",
            file=sys.stderr,
        )
        return 1
    log.info(
        "serving %d rooms on http://%s:%d (%s)",
        len(rooms.rooms),
        settings.host,
        settings.port,
        "redis" if settings.redis_url else "in-process broker",
    )
    if args.worker_fd is not None:
        return _run_worker(settings, fd=args.worker_fd)
    if settings.workers == 1:
        return _run_worker(settings)
    return _supervise(settings)


def _redis_reachable(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _uvicorn_config(settings: Settings, **kw: object):  # type: ignore[no-untyped-def]
    import uvicorn

    from chatserver.admission import Admission
    from chatserver.app import create_app
    from chatserver.transport import ChatHttpProtocol

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    admission = Admission.from_settings(settings)
    return uvicorn.Config(
        create_app(settings, admission),
        host=settings.host,
        port=settings.port,
        loop=loop,
        http=ChatHttpProtocol.configured(settings.handshake_timeout, admission),
        ws="chatserver.transport:ChatWebSocketProtocol",
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
        **kw,
    )


def _run_worker(settings: Settings, fd: int | None = None) -> int:
    import uvicorn

    server = uvicorn.Server(_uvicorn_config(settings))
    # A worker of `--workers N` serves the socket its supervisor bound (family detected from the fd).
    server.run(sockets=[socket.socket(fileno=fd)] if fd is not None else None)
    return 0 if server.started else 1


def _supervise(settings: Settings) -> int:
    """Bind once, run N worker processes on the shared socket, restart any that die."""
    from prometheus_client.multiprocess import mark_process_dead

    from chatserver.metrics import MULTIPROCESS_ENV

    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        print(
            f"chatserver: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    sock.listen(2048)
    sock.set_inheritable(True)
    # Workers share their metrics through files here, so any worker can answer /metrics for all.
    metrics_dir = tempfile.mkdtemp(prefix="chatserver-metrics-")
    env = {**os.environ, **settings.to_env(), MULTIPROCESS_ENV: metrics_dir}
    argv = [sys.executable, "-m", "chatserver", "serve", "--worker-fd", str(sock.fileno())]

    def spawn(index: int) -> subprocess.Popen[bytes]:
        # Retention purges run in the first worker only, so N workers never purge at once.
        worker_env = env if index == 0 else {**env, "CHATSERVER_RETENTION_DAYS": "0"}
        return subprocess.Popen(argv, env=worker_env, pass_fds=(sock.fileno(),))

    workers = [spawn(i) for i in range(settings.workers)]
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    log.info("supervising %d workers", settings.workers)
    try:
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(workers):
                if proc.poll() is not None and not stopping:
                    log.warning("worker %d exited with %s; starting a new one", proc.pid, proc.returncode)
                    mark_process_dead(proc.pid, metrics_dir)  # its live gauges go; its counters stay
                    workers[i] = spawn(i)
        deadline = time.monotonic() + 15
        for proc in workers:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


# ---- check-rooms -----------------------------------------------------------------
def cmd_check_rooms(args: argparse.Namespace) -> int:
    from chatserver.rooms import load_rooms

    try:
        config = load_rooms(args.path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {args.path}", file=sys.stderr)
        return 1
    rooms = config.rooms
    print(f"{args.path}: OK, {len(rooms)} room(s): {', '.join(rooms)}")
    return 0


# ---- hosts -----------------------------------------------------------------------
def cmd_hosts(args: argparse.Namespace) -> int:
    from chatserver import auth

    db = Path(args.db)
    if args.hosts_cmd == "add":
        token = auth.add_host(db, args.name, admin=args.admin)
        role = "admin" if args.admin else "host"
        print(f"Added {role} {args.name!r}. Give them this token privately; it is shown only once.")
        print(f"token: {token}")
        return 0
    if args.hosts_cmd == "list":
        records = auth.list_hosts(db)
        if not records:
            print("No hosts yet. Add one with: chatserver hosts add NAME [--admin]")
        for r in records:
            state = "revoked" if r.revoked else "active"
            print(f"{r.name}\t{'admin' if r.is_admin else 'host'}\t{state}\tadded {r.created_at}")
        return 0
    if auth.revoke_host(db, args.name):
        print(f"Revoked {args.name!r}: their token no longer works.")
        return 0
    print(f"No host named {args.name!r}", file=sys.stderr)
    return 1


# ---- audit -----------------------------------------------------------------------
def cmd_audit(args: argparse.Namespace) -> int:
    from chatserver import audit

    db = Path(args.db)
    if not db.exists():
        print(f"No database at {db}: pass --db PATH (or CHATSERVER_DB)", file=sys.stderr)
        return 1
    if args.audit_cmd == "export":
        audit.export(
            db,
            sys.stdout,
            room=args.room,
            since=args.since,
            until=args.until,
            kind=args.kind,
            fmt=args.format,
            redact=args.redact,
        )
        return 0
    if args.audit_cmd == "verify":
        result = audit.verify(db)
        if result.ok:
            print(
                f"OK: {result.rows} row(s), hash chain intact; last row {result.head_id} {result.head_hash}"
            )
            print("Keep that id and hash somewhere else: a later verify can then show no rows were cut off.")
            return 0
        print(f"FAILED at row {result.first_bad_id}: {result.problem}", file=sys.stderr)
        return 1
    if args.audit_cmd == "transcript":
        for message in audit.transcript(db, args.room, args.since, args.until):
            if args.format == "jsonl":
                sys.stdout.write(orjson.dumps(message).decode() + "\n")
            else:
                who = message["from"]["name"]
                print(f"[{message['ts']}] #{message.get('seq') or '?'} {who}: {message['text']}")
        return 0
    deleted = audit.purge(db, args.older_than)
    print(
        f"Deleted {deleted} audit row(s) older than {args.older_than:g} day(s); the chain stays verifiable."
    )
    return 0


# ---- parser ----------------------------------------------------------------------
def twin(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    default: str | None,
    help: str,
    env_name: str | None = None,
    **kw: object,
) -> None:
    """A flag with its CHATSERVER_* environment twin (argparse converts and checks either value)."""
    env_name = env_name or flag.lstrip("-").replace("-", "_").upper()
    parser.add_argument(
        flag, default=env(env_name, default), help=f"{help} (env CHATSERVER_{env_name})", **kw
    )  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatserver", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db_kw = {"default": env("DB", "chat.db"), "help": "SQLite database (env CHATSERVER_DB; default chat.db)"}

    serve = sub.add_parser("serve", help="run the server")
    twin(serve, "--host", default="127.0.0.1", help="address to listen on")
    twin(serve, "--port", type=int, default="8000", help="port")
    twin(serve, "--rooms", default="rooms.yaml", help="the rooms file")
    twin(serve, "--db", default="chat.db", help="SQLite database: audit log and host credentials")
    twin(
        serve,
        "--redis",
        env_name="REDIS_URL",
        default=None,
        help="redis://host:port/db: fan-out and shared state for several workers or hosts",
    )
    twin(serve, "--workers", type=int, default="1", help="worker processes; more than 1 needs --redis")
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[o.strip() for o in (env("ALLOWED_ORIGIN", "") or "").split(",") if o.strip()],
        help="an extra browser Origin allowed to connect, exact match; repeatable "
        "(env CHATSERVER_ALLOWED_ORIGIN, comma-separated)",
    )
    twin(serve, "--log-format", choices=["text", "json"], default="text", help="log lines as text or JSON")
    twin(serve, "--log-level", default="info", help="debug, info, warning or error")
    twin(
        serve,
        "--retention-days",
        type=float,
        default="0",
        help="purge audit rows older than this many days, once a day; 0 keeps everything",
    )
    twin(
        serve,
        "--max-connections",
        type=int,
        default="10000",
        help="WebSocket connections per worker; more get HTTP 429",
    )
    twin(
        serve,
        "--max-connections-per-ip",
        type=int,
        default="256",
        help="connections from one address per worker, 0 for no cap; behind a reverse proxy every "
        "client shares the proxy's address, so raise it or set 0",
    )
    twin(
        serve,
        "--connect-rate-per-ip",
        type=float,
        default="600",
        help="new connections a minute from one address (bursts of half of it); more get HTTP 429; "
        "0, or --max-connections-per-ip 0, turns it off",
    )
    twin(
        serve,
        "--max-frames-per-second",
        type=float,
        default="20",
        help="frames one connection may send per second (bursts of three times that); more are refused "
        "with rate_limited and a flooder is closed",
    )
    twin(
        serve,
        "--handshake-timeout",
        type=float,
        default="10",
        help="seconds a new connection may take to send its request head, 0 for no limit",
    )
    twin(serve, "--ping-interval", type=float, default="20", help="seconds between WebSocket pings")
    twin(
        serve,
        "--ping-timeout",
        type=float,
        default="20",
        help="seconds a peer may take to answer a ping before it is dropped",
    )
    serve.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-rooms", help="validate rooms.yaml")
    check.add_argument("path", nargs="?", default=env("ROOMS", "rooms.yaml"))
    check.set_defaults(func=cmd_check_rooms)

    hosts = sub.add_parser("hosts", help="manage host and admin credentials")
    hosts_sub = hosts.add_subparsers(dest="hosts_cmd", required=True)
    add = hosts_sub.add_parser("add", help="add a host (prints a token once)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an admin: may moderate every room")
    add.add_argument("--db", **db_kw)
    lst = hosts_sub.add_parser("list", help="list hosts (never tokens)")
    lst.add_argument("--db", **db_kw)
    rev = hosts_sub.add_parser("revoke", help="revoke a host's token")
    rev.add_argument("name")
    rev.add_argument("--db", **db_kw)
    hosts.set_defaults(func=cmd_hosts)

    aud = sub.add_parser("audit", help="export, verify or purge the audit log")
    aud_sub = aud.add_subparsers(dest="audit_cmd", required=True)
    exp = aud_sub.add_parser("export", help="write audit rows to stdout")
    exp.add_argument("--room")
    exp.add_argument("--since", help="ISO date/time (UTC unless an offset is given)")
    exp.add_argument("--until", help="ISO date/time")
    exp.add_argument("--kind", help="event kind, or several comma-separated")
    exp.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    exp.add_argument("--redact", action="store_true", help="mask e-mail addresses and phone numbers")
    exp.add_argument("--db", **db_kw)
    ver = aud_sub.add_parser("verify", help="check the hash chain")
    ver.add_argument("--db", **db_kw)
    pur = aud_sub.add_parser("purge", help="delete rows older than DAYS, keeping the chain verifiable")
    pur.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    pur.add_argument("--db", **db_kw)
    tra = aud_sub.add_parser("transcript", help="what a room's participants saw, in order")
    tra.add_argument("--room", required=True)
    tra.add_argument("--since", help="ISO date/time")
    tra.add_argument("--until", help="ISO date/time")
    tra.add_argument("--format", choices=["text", "jsonl"], default="text")
    tra.add_argument("--db", **db_kw)
    aud.set_defaults(func=cmd_audit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ChatError as exc:
        print(f"chatserver: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
