"""The moderation service a hub owns: the held queue, reports, crisis alerts and escalation.

It works through what it is handed (audit log, broker, shared store, delivery,
a room lookup, the hub's publish) and never imports the hub. Host actions live
in actions.py, the sender rule and sanction meanings in rules.py (pure), and
what events do to this worker's connections in events.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from chatserver import frames
from chatserver.errors import ChatError, Forbidden, Unavailable
from chatserver.moderation import actions, evasion, events, proportionate, rules, shield, warnings
from chatserver.readers import Readers

if TYPE_CHECKING:
    from chatserver.audit import AuditLog
    from chatserver.brokers.base import Broker
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.filters.base import MessageContext
    from chatserver.filters.chain import ChainResult
    from chatserver.rooms_state import RoomState
    from chatserver.store import Store

log = logging.getLogger(__name__)

ESCALATION_CHECK_S = 1.0

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class Publish(Protocol):
    """The hub's publish: commit to the audit log, then publish; callbacks when out or failed."""

    def __call__(
        self,
        room: RoomState,
        body: dict[str, Any],
        detail: dict[str, Any],
        sender: Connection | None,
        client_id: Any,
        *,
        kind: str = ...,
        actor: tuple[str, str] | None = ...,
        on_published: Callable[[int], None] | None = ...,
        on_failed: Callable[[BaseException], None] | None = ...,
    ) -> None: ...


class Moderation:
    """Hosts' powers and the held queue, for one worker."""

    def __init__(
        self,
        *,
        audit: AuditLog,
        broker: Broker,
        store: Store,
        delivery: Delivery,
        room: Callable[[str], RoomState],
        publish: Publish,
        spawn: Spawn,
        readers: Readers | None = None,
    ) -> None:
        self.audit = audit
        #: The language each connection reads: resources and cards are sent in it (issue 19).
        self.readers = readers or Readers()
        self.broker = broker
        self.store = store
        self.delivery = delivery
        #: The room named in a frame, or ChatError unknown_room.
        self.room = room
        self.publish = publish
        self.spawn = spawn
        #: Items this worker held: id -> (room, held_at epoch, escalated yet).
        self.held_local: dict[str, tuple[str, float, bool]] = {}
        #: Epoch seconds for strikes, bursts and marks (tests move it on).
        self.clock: Callable[[], float] = time.time
        #: Keys the ban-evasion hashes (evasion.py); the app sets the deployment's `--evasion-secret`.
        self.evasion_secret = secrets.token_bytes(32)
        #: Whether a connection's address is the person's (False behind a proxy: see evasion.py).
        self.evasion_network = True
        self.actions = {**actions.ACTIONS, **proportionate.ACTIONS}

    # ---- events from any worker -----------------------------------------------------
    def on_event(self, room: RoomState | None, ev: dict[str, Any]) -> None:
        if room is not None:
            events.apply(self.delivery, self.readers, self.spawn, self.held_local, room, ev)

    # ---- the crisis path ------------------------------------------------------------
    def send_resources(self, conn: Connection, room: RoomState, list_name: str) -> None:
        """Help, privately, at once (before anything is committed)."""
        served = room.config.served(self.readers.of(conn))
        items = served.lists.get(list_name) or served.resources
        conn.send(frames.resources(room.id, list(items), served.lang))

    def alert_crisis(
        self, conn: Connection, room: RoomState, message_id: str | None, level: str | None
    ) -> None:
        """A crisis the hosts must hear of now: a message let through or refused, or an imminent one held.

        `imminent` reaches the room's hosts, backup hosts and every admin at once, with no
        countdown. The alert is kept in the shared store too, so a worker that missed the event
        shows it anyway.
        """
        alert = {
            "kind": "crisis_alert",
            "room": room.id,
            "id": secrets.token_hex(8),
            "session": conn.session,
            "name": conn.name,
            "message_id": message_id,
            "level": level,
        }
        self.broker.publish_event(alert)
        self.spawn(self._keep_alert(room.id, alert))

    async def _keep_alert(self, room_id: str, alert: dict[str, Any]) -> None:
        try:
            await self.store.add_alert(room_id, alert)
        except Exception:
            log.warning("room %s: crisis alert not kept in the shared store", room_id)

    # ---- holding --------------------------------------------------------------------
    def hold(
        self,
        conn: Connection,
        room: RoomState,
        body: dict[str, Any],
        result: ChainResult,
        client_id: Any,
        *,
        original: str,
        hosted: bool = True,
    ) -> None:
        """Record a held message, queue it for the hosts, and tell the sender it waits for a host
        (and, when no host is on duty, that it may be a while, and where help is now)."""
        item = {
            **body,
            "type": "held",
            "reasons": result.reasons,
            "explanations": result.explanations,
            "urgent": result.urgent,
            "held_at": time.time(),
        }
        if result.level:
            item["risk"] = result.level
        if result.level == "imminent":  # no waiting for escalate_after: everyone who can help, now
            self.alert_crisis(conn, room, body["id"], result.level)

        def committed(error: BaseException | None) -> None:
            if error is not None:
                conn.answer(
                    frames.unavailable(
                        "The message could not be recorded; nothing was sent. Please try again.", client_id
                    )
                )
                return
            self.spawn(self._queue(conn, room, item, client_id, hosted))

        detail: dict[str, Any] = {
            "role": body["from"]["role"],
            "reasons": result.reasons,
            "explanations": result.explanations,
            "urgent": result.urgent,
        }
        if body.get("cw"):
            detail["cw"] = body["cw"]
        if result.redacted:
            detail["original"] = original
        try:
            self.audit.append(
                "held",
                room=room.id,
                actor_session=conn.session,
                actor_name=conn.name,
                message_id=body["id"],
                text=body["text"],
                detail=detail,
                on_commit=committed,
            )
        except Unavailable as exc:
            conn.answer(frames.unavailable(exc.message, client_id))

    async def _queue(
        self, conn: Connection, room: RoomState, item: dict[str, Any], client_id: Any, hosted: bool
    ) -> None:
        try:
            await self.store.put_held(room.id, item)
        except Exception:
            log.warning("room %s: held item %s not queued (store unreachable)", room.id, item["id"])
            conn.answer(
                frames.unavailable("The message could not be queued for a host; please try again.", client_id)
            )
            return
        self.held_local[item["id"]] = (room.id, item["held_at"], False)
        reason = item["reasons"][0] if item["reasons"] else "held"
        conn.answer(
            frames.ack(
                client_id,
                item["id"],
                "held",
                reason=reason,
                message=_waiting(hosted),
                code="waiting_for_host" if hosted else "waiting_no_host",
                hosted=hosted,
            )
        )
        await self.announce_held(room, item)

    async def announce_held(self, room: RoomState, item: dict[str, Any]) -> None:
        """Tell every worker's hosts of a held item, with the person's care notes."""
        notes = await self.notes(room.id, item["from"]["session"])
        self.broker.publish_event({"kind": "held", "room": room.id, "item": item, "notes": notes})

    async def held_for(self, room: RoomState) -> list[dict[str, Any]]:
        """The current queue for a host joining `room`, urgent first, then oldest first."""
        try:
            items = await self.store.list_held(room.id)
        except Exception:
            return []
        out = [frames.held(item, await self.notes(room.id, item["from"]["session"])) for item in items]
        out.sort(key=lambda f: (not f.get("urgent"), f.get("ts", "")))
        return out

    async def notes(self, room_id: str, session: str) -> list[dict[str, Any]]:
        try:
            return await self.store.notes(room_id, session)
        except Exception:
            return []

    # ---- reports and host actions -------------------------------------------------------
    async def report(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = self.room(frame["room"])
        if room.id not in conn.rooms:
            raise ChatError(f"Join {room.id!r} first", code="not_joined")
        reason = rules.reason_text(frame.get("reason"))
        message_id = frame["message_id"]
        author = _author_of(room, message_id)
        self.audit.append(
            "report",
            room=room.id,
            actor_session=conn.session,
            actor_name=conn.name,
            message_id=message_id,
            subject=author.get("session") if author else None,
            detail={"reason": reason},
        )
        event: dict[str, Any] = {
            "kind": "report",
            "room": room.id,
            "message_id": message_id,
            "reason": reason,
            "by": {"name": conn.name, "session": conn.session},
        }
        if author:
            event["from"] = author
            event["notes"] = await self.notes(room.id, author["session"])
        self.broker.publish_event(event)
        conn.send(frames.notice("report_sent", "Thank you. The room's hosts have your report.", room=room.id))

    async def host_action(self, conn: Connection, frame: dict[str, Any]) -> None:
        """A host power: checked per room (refusals audited), then done by actions.py."""
        action = frame["type"]
        room = self.room(frame["room"])
        if not self.delivery.is_host_of(conn, room):
            self.audit.append(
                "refused",
                room=room.id,
                actor_session=conn.session,
                actor_name=conn.name,
                subject=frame.get("session"),
                message_id=frame.get("message_id"),
                detail={"action": action, "role": conn.role},
            )
            raise Forbidden(f"Only the hosts of {room.id!r} can {action}")
        await self.actions[action](self, conn, room, frame)

    # ---- proportionate moderation (issue 16) ------------------------------------------------
    async def on_join(
        self, conn: Connection, room: RoomState, frame: dict[str, Any], *, hosts_here: bool, rejoin: bool
    ) -> dict[str, Any]:
        """Fields the `joined` frame adds (rules, a waiting warning, a host's ladder)."""
        return await proportionate.on_join(self, conn, room, frame, hosts_here=hosts_here, rejoin=rejoin)

    async def acknowledge(self, conn: Connection, frame: dict[str, Any]) -> None:
        """A warned person has read their warning."""
        await warnings.acknowledge(self, conn, frame)

    def screen(self, room: RoomState, ctx: MessageContext, result: ChainResult) -> None:
        """Hold what shield mode or a ban-evasion flag says a host reads first."""
        shield.screen(room, ctx, result)

    async def on_banned(self, room: RoomState, session: str) -> None:
        await evasion.mark_banned(self, room, session)

    # ---- escalation ---------------------------------------------------------------------
    async def escalation_loop(self, rooms: dict[str, RoomState]) -> None:
        """Tell hosts, backup hosts and admins when an item held here waits too long."""
        while True:
            await asyncio.sleep(ESCALATION_CHECK_S)
            try:
                self._escalate_due(rooms, time.time())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("escalation check failed")

    def _escalate_due(self, rooms: dict[str, RoomState], now: float) -> None:
        for message_id, (room_id, held_at, sent) in list(self.held_local.items()):
            room = rooms.get(room_id)
            if room is None or sent:
                continue
            waited = now - held_at
            if waited >= room.config.escalate_after:
                self.held_local[message_id] = (room_id, held_at, True)
                self.audit.append(
                    "escalated", room=room_id, message_id=message_id, detail={"waited_s": round(waited, 1)}
                )
                self.broker.publish_event(
                    {"kind": "escalated", "room": room_id, "id": message_id, "waited_s": round(waited, 1)}
                )


def _waiting(hosted: bool) -> str:
    """What a person whose message is held reads: honest about whether anyone is here to read it."""
    if hosted:
        return "Your message is waiting for a host to look at it."
    return (
        "Your message is waiting for a host. No host is here right now, so it may be a while before "
        "anyone reads it. If you need to talk to someone now, 'Get help now' lists people you can reach "
        "at any hour."
    )


def _author_of(room: RoomState, message_id: str) -> dict[str, Any] | None:
    for _, mid, frame in reversed(room.log):
        if mid == message_id:
            message = orjson.loads(frame)
            return {**message.get("from", {}), "text": message.get("text", "")}
    return None
