"""Ban evasion, noticed not guessed (issue 16).

A person banned from a room who comes back under a new name from the same network or the same
browser is pre-moderated there and shown to hosts as "may be someone banned earlier". Nobody is
banned automatically: a shared network (a library, a household, a mobile carrier) is common.

What is kept, never an address in clear (docs/security.md):
- per session, for `SEEN_TTL_S`: two keyed hashes, of the network prefix (IPv4 /24, IPv6 /48) and of
  a random id the browser keeps; the key rotates every `PERIOD_S` and exists only in the workers'
  memory (derived from `--evasion-secret`), so a copy of Redis or the database cannot be tested
  against guessed addresses;
- nothing about the network when addresses are a proxy's (`--max-connections-per-ip 0`, as
  behind the documented nginx): then only the browser id is compared;
- per room, for `MARK_TTL_S` after a ban: the banned session's two hashes;
- per flagged session, for `MARK_TTL_S`: the flag hosts see (which signal matched, when).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.store import answers

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.moderation.service import Moderation
    from chatserver.rooms_state import RoomState

log = logging.getLogger(__name__)

PERIOD_S = 7 * 24 * 3600
MARK_TTL_S = 7 * 24 * 3600
SEEN_TTL_S = 24 * 3600
MARKS_KEEP = 500
BROWSER_MAX = 64


def network_prefix(address: str) -> str | None:
    """The network an address belongs to (IPv4 /24, IPv6 /48), or None when it is not an IP address."""
    try:  # an IPv4 address, as the kernel writes it: read in C (ipaddress took 8 us of every join)
        packed = socket.inet_pton(socket.AF_INET, address)
    except OSError:
        pass
    else:
        return f"{packed[0]}.{packed[1]}.{packed[2]}.0/24"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network((ip, bits), strict=False))


@functools.lru_cache(maxsize=8)
def _period_key(secret: bytes, period: int) -> bytes:
    # (one key a week per worker secret: every join asks for this week's and last week's)
    return hmac.new(secret, b"evasion-period:%d" % period, hashlib.sha256).digest()


def hashes(secret: bytes, address: str, browser: str | None, period: int) -> dict[str, str]:
    """The keyed hashes of a connection's network prefix and browser id under one period's key."""
    key = _period_key(secret, period)
    out: dict[str, str] = {}
    prefix = network_prefix(address) if address else None
    if prefix:
        out["net"] = hmac.new(key, b"net:" + prefix.encode(), hashlib.sha256).hexdigest()[:32]
    if browser:
        out["browser"] = hmac.new(
            key, b"browser:" + browser[:BROWSER_MAX].encode(), hashlib.sha256
        ).hexdigest()[:32]
    return out


def match(
    marks: list[dict[str, Any]], mine: list[dict[str, str]], session: str, now: float
) -> dict[str, Any] | None:
    """The first live ban mark sharing a signal with `mine` (hashes under this period's key and the
    last one's), and which signal; None when nothing matches or the mark is this very session."""
    for mark in reversed(marks):
        if mark.get("session") == session or now - float(mark.get("at", 0)) >= MARK_TTL_S:
            continue
        for signal in ("browser", "net"):
            value = mark.get("hashes", {}).get(signal)
            if value and any(h.get(signal) == value for h in mine):
                return {"banned_session": mark["session"], "signal": signal}
    return None


def seen_key(session: str) -> str:
    return f"evasion:seen:{session}"


def marks_key(room: str) -> str:
    return f"evasion:marks:{room}"


def flag_key(room: str, session: str) -> str:
    return f"evasion:flag:{room}:{session}"


async def on_join(mod: Moderation, conn: Connection, room: RoomState, browser: str | None) -> None:
    """Remember this session's signals (hashed) and flag it when they match someone banned here."""
    now = mod.clock()
    period = int(now // PERIOD_S)
    # Behind a proxy every address is the proxy's: then only the browser id says anything.
    address = conn.peer if mod.evasion_network else ""
    current = hashes(mod.evasion_secret, address, browser, period)
    if not current:
        return
    # Asked together (one round trip; the room's marks even when a flag makes them moot), so a
    # reconnect storm's joins do not wait for three in a row.
    _, known, marked = await answers(
        mod.store.put_value(seen_key(conn.session), current, ttl=SEEN_TTL_S),
        mod.store.get_value(flag_key(room.id, conn.session)),
        mod.store.entries(marks_key(room.id)),
    )
    if known is not None:
        room.flagged[conn.session] = known
        return
    if room.is_banned(conn.session):
        return
    mine = [current, hashes(mod.evasion_secret, address, browser, period - 1)]
    hit = match(marked, mine, conn.session, now)
    if hit is None:
        return
    flag = {**hit, "name": conn.name, "ts": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    await mod.store.put_value(flag_key(room.id, conn.session), flag, ttl=MARK_TTL_S)
    room.flagged[conn.session] = flag  # here at once: their first message must already wait
    mod.audit.append("flagged", room=room.id, subject=conn.session, actor_name=conn.name, detail=hit)
    mod.broker.publish_event({"kind": "flagged", "room": room.id, "session": conn.session, "flag": flag})


async def mark_banned(mod: Moderation, room: RoomState, session: str) -> None:
    """A ban in `room`: keep the banned session's hashed signals there for MARK_TTL_S."""
    try:
        seen = await mod.store.get_value(seen_key(session))
        if seen:
            mark = {"session": session, "hashes": seen, "at": mod.clock()}
            await mod.store.add_entry(marks_key(room.id), mark, keep=MARKS_KEEP, ttl=MARK_TTL_S)
    except Exception:
        log.warning("room %s: ban mark not kept (store unreachable)", room.id)


async def flag_of(mod: Moderation, room: RoomState, session: str) -> dict[str, Any] | None:
    flag: dict[str, Any] | None = await mod.store.get_value(flag_key(room.id, session))
    return flag or room.flagged.get(session)


def apply(delivery: Delivery, room: RoomState, ev: dict[str, Any]) -> None:
    """Every worker holds the flagged person's messages; the room's hosts hear of it, once."""
    flag = ev["flag"]
    room.flagged[ev["session"]] = flag
    what = "browser" if flag["signal"] == "browser" else "network"
    text = (
        f"{flag.get('name', 'Someone')} may be someone banned earlier (same {what}). Their messages wait "
        "for a host. Nothing else has happened to them: please look before acting, it may be someone else."
    )
    notice = frames.notice(
        "maybe_returning",
        text,
        level="warning",
        room=room.id,
        session=ev["session"],
        signal=flag["signal"],
        name=flag.get("name", "Someone"),
    )
    delivery.to_hosts(room, frames.wire(notice))
