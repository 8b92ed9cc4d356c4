"""Shield mode and join bursts (issue 16): one action for a raid, and the exact room back after it.

Shield mode applies the room's rooms.yaml `shield:` preset (slow mode, premoderation of newcomers or
everyone, links held) and remembers the settings it changed; switching it off restores exactly
those. A burst of joins (`join_burst:`) alerts the hosts and offers it, or turns it on by itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.errors import BadRequest, Unavailable
from chatserver.filters import LinksFilter

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.filters.base import MessageContext
    from chatserver.filters.chain import ChainResult
    from chatserver.moderation.service import Moderation
    from chatserver.rooms_state import RoomState

ON_TEXT = (
    "The hosts have turned on extra care in this room for a while: messages may wait for a host "
    "before everyone sees them, and there may be a short pause between messages. You are welcome here."
)
OFF_TEXT = "Extra care is off: the room is back to its usual settings."
#: What a sender whose message shield mode held reads.
SHIELD_HELD = "the room is taking extra care for a while, so a host reads some messages first"
RETURNING_HELD = "a host reads messages here first for now"


#: How long one read of shield mode serves the joins of a room (no longer than resync.RESYNC_S).
SHIELD_REREAD_S = 5.0


def _key(room: str) -> str:
    return f"shield:{room}"


async def shield_action(mod: Moderation, conn: Connection, room: RoomState, frame: dict[str, Any]) -> None:
    """The host action: `on` true applies the preset, false restores what was there before."""
    await set_shield(mod, room, bool(frame["on"]), by=conn.host_name or conn.name, actor_session=conn.session)
    conn.send(
        frames.done(
            room.id,
            "shield",
            "Done: shield mode is " + ("on." if frame["on"] else "off."),
            on=bool(frame["on"]),
        )
    )


async def set_shield(
    mod: Moderation, room: RoomState, on: bool, *, by: str, actor_session: str | None
) -> None:
    """Switch shield mode; BadRequest when it is already so. Audited, and applied on every worker."""
    try:
        if on:
            preset = dataclasses.asdict(room.config.moderation.shield)
            saved = {
                "previous": {"slowmode": room.slowmode},
                "preset": preset,
                "by": by,
                "since": time.time(),
            }
            if not await mod.store.put_value(_key(room.id), saved, only_new=True):
                raise BadRequest("Shield mode is already on in this room")
            slowmode = float(preset["slowmode"]) or room.slowmode
            await mod.store.set_flag(room.id, "shield", saved)
        else:
            saved = await mod.store.take_value(_key(room.id))
            if saved is None:
                raise BadRequest("Shield mode is not on in this room")
            slowmode = float(saved["previous"]["slowmode"])
            await mod.store.set_flag(room.id, "shield", None)
        await mod.store.set_flag(room.id, "slowmode", slowmode)
    except BadRequest:
        raise
    except Exception:
        raise Unavailable("Could not switch shield mode; try again") from None
    detail = {"on": on, "by": by, "preset": saved["preset"], "previous": saved["previous"]}
    await mod.audit.append_and_wait(
        "shield", room=room.id, detail=detail, actor_session=actor_session, actor_name=by
    )
    if slowmode != room.slowmode or not on:
        mod.broker.publish_event({"kind": "flag", "room": room.id, "flag": "slowmode", "value": slowmode})
    mod.broker.publish_event({"kind": "shield", "room": room.id, "on": on, "shield": saved if on else None})


async def load(mod: Moderation, room: RoomState) -> None:
    """Read whether shield mode is on (a worker that started after it was switched on), at most once
    every SHIELD_REREAD_S per room: in between, events keep it current, and the resync loop
    (chatserver/resync.py) applies a switch whose event was lost within its RESYNC_S. A reconnect
    storm brings a hundred people into a room in a second; one read serves them all, those who join
    while it is out included (a restarted worker's first joins into a room came all at once)."""
    now = mod.clock()
    if now - room.shield_read_at < SHIELD_REREAD_S:
        return
    reading = room.shield_reading
    if reading is None:
        reading = room.shield_reading = asyncio.ensure_future(_read(mod, room, now))
        reading.add_done_callback(_heard)
    await asyncio.shield(reading)


async def _read(mod: Moderation, room: RoomState, now: float) -> None:
    try:
        room.shield = (await mod.store.flags(room.id)).get("shield") or None
        room.shield_read_at = now
    finally:
        room.shield_reading = None


def _heard(reading: asyncio.Future[None]) -> None:
    """Mark a failed read's error as retrieved even when every join waiting for it went away (each join
    that stayed hears the error itself)."""
    if not reading.cancelled():
        reading.exception()


def holds(room: RoomState, ctx: MessageContext) -> list[tuple[str, str]]:
    """Why shield mode or a ban-evasion flag holds a participant's message: (reason, explanation)s."""
    if ctx.role != "participant":
        return []
    out = []
    if ctx.session in room.flagged:
        out.append(("returning", RETURNING_HELD))
    shield = room.shield
    if shield:
        preset = shield["preset"]
        mode, count = preset.get("premoderate", "off"), int(preset.get("premoderate_count", 3))
        if mode == "all" or (mode == "new_members" and ctx.sent_in_room < count):
            out.append(("shield", SHIELD_HELD))
        elif preset.get("hold_links") and _links(room).check(ctx) is not None:
            out.append(("shield", SHIELD_HELD))
    return out


def _links(room: RoomState) -> LinksFilter:
    """A hold-links filter with the room's own allowed domains (those stay welcome)."""
    return _hold_links(next((f.allow for f in room.config.chain if isinstance(f, LinksFilter)), ()))


@functools.lru_cache(maxsize=64)
def _hold_links(allow: tuple[str, ...]) -> LinksFilter:
    # Built once per allow list, not for every message while shield mode is on.
    return LinksFilter(action="hold", allow=list(allow))


def screen(room: RoomState, ctx: MessageContext, result: ChainResult) -> None:
    """Hold a message the chain would publish when shield mode or a flag says a host reads it first."""
    if result.status != "published":
        return
    found = holds(room, ctx)
    if found:
        result.status = "held"
        for reason, explanation in found[:1]:
            result.reasons.append(reason)
            result.explanations.append(explanation)


async def count_join(mod: Moderation, room: RoomState) -> None:
    """Count a newcomer across workers; the first worker to see a burst alerts (or shields) once."""
    burst = room.config.moderation.join_burst
    if burst is None:
        return
    now = mod.clock()
    key = f"joins:{room.id}"
    joins = await mod.store.add_entry(key, now, keep=burst.joins, ttl=burst.per_seconds)
    recent = [t for t in joins if now - float(t) < burst.per_seconds]
    if len(recent) < burst.joins or now < room.burst_told_until:
        return
    # Told once per burst across workers; every later join of the burst (a raid, a reconnect storm of
    # newcomers) knows it here without asking Redis again.
    first = await mod.store.put_value(f"burst:{room.id}", now, ttl=burst.per_seconds, only_new=True)
    room.burst_told_until = now + burst.per_seconds
    if not first:
        return  # already told for this burst
    shielded = False
    if burst.action == "shield" and room.shield is None:
        try:
            await set_shield(mod, room, True, by="join burst", actor_session=None)
            shielded = True
        except BadRequest:
            pass
    detail = {"joins": len(recent), "per_seconds": burst.per_seconds, "action": burst.action}
    mod.audit.append("join_burst", room=room.id, detail=detail)
    event = {"kind": "join_burst", "room": room.id, "joins": len(recent), "per_seconds": burst.per_seconds}
    mod.broker.publish_event({**event, "shielded": shielded})


def apply(delivery: Delivery, room: RoomState, ev: dict[str, Any]) -> None:
    """A shield switch (everyone hears it calmly) or a join burst (the hosts are alerted)."""
    if ev["kind"] == "shield":
        room.shield = ev["shield"]
        on = bool(ev["on"])
        delivery.to_room(
            room, frames.wire(frames.notice("shield", ON_TEXT if on else OFF_TEXT, room=room.id, on=on))
        )
        return
    if ev.get("shielded"):
        then = "Shield mode is now on, as this room's settings say; switch it off when things are calm."
    else:
        then = "If this is a raid, shield mode slows the room and holds newcomers' messages for you."
    text = f"{ev['joins']} people joined in the last {ev['per_seconds']:g} seconds. {then}"
    notice = frames.notice(
        "join_burst",
        text,
        level="warning",
        room=room.id,
        joins=ev["joins"],
        per_seconds=ev["per_seconds"],
        offer_shield=not ev.get("shielded"),
    )
    delivery.to_hosts(room, frames.wire(notice))
