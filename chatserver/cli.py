"""The `chatserver` command: serve, check-rooms, hosts, audit (the only uvicorn import)."""

# The docstring is also `--help`'s description. Here: the parser and thin subcommands; the serve
# flags are in settings.py, `--workers N` runs supervisor.py, the log setup is logs.py.

from __future__ import annotations

import argparse
import functools
import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from chatserver.errors import ChatError, ConfigError
from chatserver.logs import setup_logging
from chatserver.settings import Settings, add_serve_flags, env, serve_problem, settings_from

if TYPE_CHECKING:
    import uvicorn

    # What add_subparsers returns; argparse names it privately and makes it generic only in typeshed.
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger("chatserver")


# ---- serve -----------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_format, args.log_level)
    settings = settings_from(args)
    problem = serve_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        from chatserver.rooms import load_rooms

        rooms = load_rooms(settings.rooms)
    except ConfigError as exc:
        lines = [
            *exc.problems,
            f"chatserver: not started: fix {settings.rooms} (check it with `chatserver check-rooms`)",
        ]
        for line in lines:
            if args.log_format == "json":  # a journal that reads JSON lines gets JSON lines, even now
                log.error("%s", line)
            else:
                print(line, file=sys.stderr)
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
    from chatserver.supervisor import supervise

    return supervise(settings)


def _redis_reachable(url: str) -> bool:
    from chatserver.brokers.redis_url import reachable

    return reachable(url)


def _uvicorn_config(settings: Settings) -> uvicorn.Config:
    import uvicorn

    from chatserver.admission import Admission
    from chatserver.app import create_app
    from chatserver.http_protocol import ChatHttpProtocol

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
    )


def _run_worker(settings: Settings, fd: int | None = None) -> int:
    import uvicorn

    server = uvicorn.Server(_uvicorn_config(settings))
    # A worker of `--workers N` serves the socket its supervisor bound (family detected from the fd).
    server.run(sockets=[socket.socket(fileno=fd)] if fd is not None else None)
    return 0 if server.started else 1


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


# ---- crisis-score -----------------------------------------------------------------
def cmd_crisis_score(args: argparse.Namespace) -> int:
    from chatserver.crisis.score import main as score

    languages = [code.strip() for code in (args.languages or "").split(",") if code.strip()] or None
    return score(Path(args.corpus), languages, check=args.check, misses=args.misses)


# ---- hosts -----------------------------------------------------------------------
def cmd_hosts(args: argparse.Namespace) -> int:
    from chatserver import auth, shared_hosts

    db = Path(args.db)
    url = args.redis or None
    if args.hosts_cmd == "add":
        add = functools.partial(
            auth.add_host, db, args.name, admin=args.admin, title=args.title, professional=args.professional
        )
        token = shared_hosts.shared_add(url, db, add, args.name) if url else add()
        role = "admin" if args.admin else "host"
        print(f"Added {role} {args.name!r}. Give them this token privately; it is shown only once.")
        print(f"token: {token}")
        return 0
    if args.hosts_cmd == "list":
        records = shared_hosts.around(url, db)[1] if url else auth.list_hosts(db)
        if not records:
            print("No hosts yet. Add one with: chatserver hosts add NAME [--admin]")
        for r in records:
            state = "revoked" if r.revoked else "active"
            badge = f"\t{r.title}{' (professional)' if r.professional else ''}" if r.title else ""
            print(f"{r.name}\t{'admin' if r.is_admin else 'host'}\t{state}\tadded {r.created_at}{badge}")
        return 0
    if args.hosts_cmd == "title":
        return _hosts_title(args, db, url)
    revoked = shared_hosts.shared_revoke(url, db, args.name) if url else auth.revoke_host(db, args.name)
    if revoked:
        print(f"Revoked {args.name!r}: their token no longer works" + (" on any machine." if url else "."))
        return 0
    print(f"No host named {args.name!r}", file=sys.stderr)
    return 1


def _hosts_title(args: argparse.Namespace, db: Path, url: str | None) -> int:
    from chatserver import auth, shared_hosts

    title = None if args.clear else args.title
    if title is None and not args.clear:
        print("Give a title (hosts title NAME 'Registered counsellor') or --clear", file=sys.stderr)
        return 2
    if url:
        title = auth.title_of(title, args.professional)
        found = shared_hosts.shared_title(url, db, args.name.strip(), title, args.professional)
    else:
        found = auth.set_title(db, args.name, title, professional=args.professional)
    if not found:
        print(f"No host named {args.name!r}", file=sys.stderr)
        return 1
    shown = f"{title!r}{' (professional)' if args.professional else ''}" if title else "no title"
    print(f"{args.name!r} now shows {shown}.")
    return 0


# ---- audit -----------------------------------------------------------------------
def cmd_audit(args: argparse.Namespace) -> int:
    from chatserver import audit

    if args.audit_cmd in ("export", "verify"):
        return _audit_machines(args)
    db = Path(args.db)
    if not db.exists():
        print(f"No database at {db}: pass --db PATH (or CHATSERVER_DB)", file=sys.stderr)
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


def _audit_machines(args: argparse.Namespace) -> int:
    """export and verify: one file, or several machines' files (--db once per file, or a glob)."""
    from chatserver import audit
    from chatserver.audit import merge

    paths = merge.expand(args.db or [env("DB", "chat.db") or "chat.db"])
    if args.audit_cmd == "export":
        filters = {"room": args.room, "since": args.since, "until": args.until, "kind": args.kind}
        if len(paths) == 1:
            audit.export(paths[0], sys.stdout, fmt=args.format, redact=args.redact, **filters)
        else:
            merge.export_merged(paths, sys.stdout, fmt=args.format, redact=args.redact, **filters)
        return 0
    failed = 0
    for path, result in merge.verify_each(paths):
        named = f"{path}: " if len(paths) > 1 else ""
        if result.ok:
            head = f"last row {result.head_id} {result.head_hash}"
            print(f"{named}OK: {result.rows} row(s), hash chain intact; {head}")
        else:
            failed += 1
            print(f"{named}FAILED at row {result.first_bad_id}: {result.problem}", file=sys.stderr)
    if failed:
        return 1
    print("Keep that id and hash somewhere else: a later verify can then show no rows were cut off.")
    return 0


# ---- parser ----------------------------------------------------------------------
def _db_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=env("DB", "chat.db"), help="SQLite database (env CHATSERVER_DB; default chat.db)"
    )


def _dbs_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        action="append",
        help="SQLite database (env CHATSERVER_DB; default chat.db); give it once per machine's file, "
        "or a quoted glob, to read several machines' logs as one",
    )


def _redis_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis",
        default=env("REDIS_URL"),
        help="the deployment's Redis (env CHATSERVER_REDIS_URL): hosts are then shared by every machine",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatserver", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)

    check = sub.add_parser("check-rooms", help="validate rooms.yaml")
    check.add_argument("path", nargs="?", default=env("ROOMS", "rooms.yaml"))
    check.set_defaults(func=cmd_check_rooms)

    score = sub.add_parser("crisis-score", help="score the crisis recogniser on a labelled corpus")
    score.add_argument("--corpus", default="tests/data/crisis", help="directory of <language>.jsonl files")
    score.add_argument("--languages", help="comma-separated pack codes (default: every corpus file)")
    score.add_argument("--check", action="store_true", help="exit 1 when a target of issue 13 is missed")
    score.add_argument("--misses", action="store_true", help="also list the lines read wrongly")
    score.set_defaults(func=cmd_crisis_score)

    _add_hosts(sub)
    _add_audit(sub)
    return parser


def _add_serve(sub: _Subparsers) -> None:
    serve = sub.add_parser("serve", help="run the server")
    add_serve_flags(serve)
    serve.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)


def _add_hosts(sub: _Subparsers) -> None:
    hosts = sub.add_parser("hosts", help="manage host and admin credentials")
    hosts_sub = hosts.add_subparsers(dest="hosts_cmd", required=True)
    add = hosts_sub.add_parser("add", help="add a host (prints a token once)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an admin: may moderate every room")
    _title_flags(add)
    _db_flag(add)
    _redis_flag(add)
    title = hosts_sub.add_parser("title", help="set or clear a host's title (keeps their token)")
    title.add_argument("name")
    title.add_argument("title", nargs="?", default=None, help="e.g. 'Registered counsellor'")
    title.add_argument("--professional", action="store_true", help="a licensed professional")
    title.add_argument("--clear", action="store_true", help="take the title away")
    _db_flag(title)
    _redis_flag(title)
    lst = hosts_sub.add_parser("list", help="list hosts (never tokens)")
    _db_flag(lst)
    _redis_flag(lst)
    rev = hosts_sub.add_parser("revoke", help="revoke a host's token")
    rev.add_argument("name")
    _db_flag(rev)
    _redis_flag(rev)
    hosts.set_defaults(func=cmd_hosts)


def _title_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--title",
        default=None,
        help="shown beside their name, e.g. 'Registered counsellor' (1-40 characters)",
    )
    parser.add_argument(
        "--professional", action="store_true", help="a licensed professional (needs --title): marked as one"
    )


def _add_audit(sub: _Subparsers) -> None:
    aud = sub.add_parser("audit", help="export, verify or purge the audit log")
    aud_sub = aud.add_subparsers(dest="audit_cmd", required=True)
    exp = aud_sub.add_parser("export", help="write audit rows to stdout")
    exp.add_argument("--room")
    exp.add_argument("--since", help="ISO date/time (UTC unless an offset is given)")
    exp.add_argument("--until", help="ISO date/time")
    exp.add_argument("--kind", help="event kind, or several comma-separated")
    exp.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    exp.add_argument("--redact", action="store_true", help="mask e-mail addresses and phone numbers")
    _dbs_flag(exp)
    ver = aud_sub.add_parser("verify", help="check the hash chain (of every file given)")
    _dbs_flag(ver)
    pur = aud_sub.add_parser("purge", help="delete rows older than DAYS, keeping the chain verifiable")
    pur.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    _db_flag(pur)
    tra = aud_sub.add_parser("transcript", help="what a room's participants saw, in order")
    tra.add_argument("--room", required=True)
    tra.add_argument("--since", help="ISO date/time")
    tra.add_argument("--until", help="ISO date/time")
    tra.add_argument("--format", choices=["text", "jsonl"], default="text")
    _db_flag(tra)
    aud.set_defaults(func=cmd_audit)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ChatError as exc:
        print(f"chatserver: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
