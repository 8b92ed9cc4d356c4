"""The path of every `send`: room checks → filter chain → hold | seq → audit commit → publish → ack.

Nothing on that path awaits per message: audit and broker take callbacks and
keep order, so members see messages in one order and a sender's messages in
the order sent. A refused send still passes the crisis filter first. What happens to
an accepted message from its seq to its ack is publication.py's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chatserver import badges, frames
from chatserver.db import utc_now
from chatserver.errors import BadRequest, ChatError
from chatserver.filters.base import MessageContext
from chatserver.filters.chain import LABEL_REFUSED
from chatserver.moderation import sender_refusal
from chatserver.publication import Publication

if TYPE_CHECKING:
    from chatserver.audit import AuditLog
    from chatserver.brokers.base import Broker
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery
    from chatserver.filters.chain import ChainResult
    from chatserver.metrics import Metrics
    from chatserver.moderation import Moderation
    from chatserver.rooms_state import RoomState

CW_MAX = 64


class IdMaker:
    """Message ids: unique across the deployment and, per worker, sorting in creation order."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self._last_ms = 0
        self._counter = 0

    def next(self) -> str:
        ms = max(int(time.time() * 1000), self._last_ms)
        self._last_ms = ms
        self._counter += 1
        return f"m{ms:011x}{self._counter:08x}{self.tag}"


class SendPipeline:
    """Sends and publishes for one worker."""

    def __init__(
        self,
        *,
        room: Callable[[str], RoomState],
        rooms: dict[str, RoomState],
        broker: Broker,
        audit: AuditLog,
        metrics: Metrics,
        moderation: Moderation,
        delivery: Delivery,
        hosts_on_duty: Callable[[RoomState], frozenset[str]],
    ) -> None:
        self.room = room
        self.hosts_on_duty = hosts_on_duty
        self.rooms = rooms
        self.broker = broker
        self.audit = audit
        self.metrics = metrics
        self.moderation = moderation
        self.delivery = delivery
        self.ids = IdMaker()
        #: message id -> when its publication began, for the fan-out latency metric (`delivered`).
        self.publish_started: dict[str, float] = {}
        #: Messages accepted for publishing and not yet answered (for /metrics).
        self.in_flight = 0
        metrics.bind_publishing(lambda: float(self.in_flight))

    # ---- one send -----------------------------------------------------------------------
    def send(self, conn: Connection, frame: dict[str, Any]) -> None:
        """Handle one `send`; raises the ChatError its sender gets when it is refused outright."""
        room = self.room(frame["room"])
        client_id = frame["client_id"]
        text = frame["text"]
        if not text.strip():
            raise BadRequest("A message needs some text")
        role = self.delivery.role_in(conn, room)
        now = time.monotonic()
        ctx = MessageContext(room.id, conn.session, conn.name, role, text, now, conn.sent.get(room.id, 0))
        refusal = self._refusal(conn, room, role, now) or badges.refusal(text, role, room.staff)
        if refusal is not None:
            self.screen_refused(conn, room, ctx, refusal, client_id)
            raise refusal
        cw = frame.get("cw")
        cw = (cw.strip()[:CW_MAX] or None) if cw is not None else None
        label = self._label(conn, room, role, cw, now) if cw else None
        result = room.config.chain.run(ctx, label=label)
        if room.mode == "premoderate" and role == "participant" and result.status == "published":
            # No host is here: everything waits for one (the filters' own reasons stay).
            result.status = "held"
            result.reasons.append("premoderate")
            result.explanations.append("no host is here right now, so a host will read it first")
        self.moderation.screen(room, ctx, result)  # shield mode, ban evasion (issue 16)
        if result.resources:
            # Help first, whatever happens to the message: a person in crisis who is also
            # rate limited still gets the resources at once.
            self.moderation.send_resources(conn, room, result.resources)
        if result.status == "rejected":
            self._rejected(conn, room, ctx, result, client_id)
            return
        if result.errors:
            self.audit.append(
                "filter_error",
                room=room.id,
                actor_session=conn.session,
                actor_name=conn.name,
                detail={"errors": result.errors},
            )
        room.last_sent[conn.session] = now
        conn.sent[room.id] = conn.sent.get(room.id, 0) + 1
        message_id = self.ids.next()
        author = frames.sender(conn.name, conn.session, role, badges.of(conn, role))
        body = frames.message(room.id, message_id, author, result.text, utc_now(), cw)
        conn.accepted()
        if result.status == "held":
            self.metrics.count_message("held", result.reasons)
            hosted = bool(self.hosts_on_duty(room))
            self.moderation.hold(conn, room, body, result, client_id, original=text, hosted=hosted)
            return
        detail: dict[str, Any] = {"role": role}
        if cw:
            detail["cw"] = cw
        if result.redacted:
            detail.update(action="redacted", reasons=result.reasons, original=text)
        if result.urgent:
            detail["urgent"] = True
            self.moderation.alert_crisis(conn, room, message_id, result.level)
        self.publish(room, body, detail, conn, client_id)

    def _label(self, conn: Connection, room: RoomState, role: str, cw: str, now: float) -> ChainResult:
        """The content-warning label is shown to everyone too: it passes the content filters, or the
        send is refused."""
        label = room.config.chain.check_label(MessageContext(room.id, conn.session, conn.name, role, cw, now))
        if label.status == "rejected":
            raise BadRequest(LABEL_REFUSED)
        return label

    def _refusal(self, conn: Connection, room: RoomState, role: str, now: float) -> ChatError | None:
        """Why `conn` may not post to `room` right now, if it may not."""
        if room.id not in conn.rooms:
            return ChatError(f"Join {room.id!r} before sending to it", code="not_joined")
        return sender_refusal(room, conn.session, hosts_here=role != "participant", now=now)

    def _rejected(
        self, conn: Connection, room: RoomState, ctx: MessageContext, result: ChainResult, client_id: Any
    ) -> None:
        self.metrics.count_message("rejected", result.reasons)
        if result.urgent:
            self.moderation.alert_crisis(conn, room, None, result.level)
        self._audit_rejected(conn, room, ctx, result, client_id, by="filter")
        reason = result.reasons[0] if result.reasons else "rejected"
        # `code` names the words of `message` (the filters' English): rejected_<the first filter's reason>.
        extra: dict[str, Any] = {"reason": reason, "message": "; ".join(result.explanations)}
        extra["code"] = reason if reason == "rejected" else f"rejected_{reason}"
        if result.retry_after is not None:
            extra["retry_after"] = round(result.retry_after, 2)
        conn.send(frames.ack(client_id, None, "rejected", **extra))

    def screen_refused(
        self, conn: Connection, room: RoomState, ctx: MessageContext, refusal: ChatError, client_id: Any
    ) -> None:
        """A refused send still passes the crisis filter: no sanction may keep help from a person.

        The message stays refused; the person gets the room's resources privately, the
        hosts the urgent alert, and the audit log the row.
        """
        result = room.config.chain.run(ctx, refused=True)
        if not (result.urgent or result.resources):
            return
        if result.resources:
            self.moderation.send_resources(conn, room, result.resources)
        if result.urgent:
            self.moderation.alert_crisis(conn, room, None, result.level)
        self._audit_rejected(conn, room, ctx, result, client_id, by=refusal.code)

    def _audit_rejected(
        self,
        conn: Connection,
        room: RoomState,
        ctx: MessageContext,
        result: ChainResult,
        client_id: Any,
        *,
        by: str,
    ) -> None:
        """The row of a refused send: who refused it (`filter`, or the sanction's code) and why."""
        detail: dict[str, Any] = {
            "by": by,
            "reasons": result.reasons,
            "explanations": result.explanations,
            "client_id": str(client_id),
        }
        if result.urgent:
            detail["urgent"] = True
        self.audit.append(
            "rejected",
            room=room.id,
            actor_session=conn.session,
            actor_name=conn.name,
            text=ctx.text,
            detail=detail,
        )

    def screen_throttled(self, conn: Connection, frame: dict[str, Any]) -> None:
        """A send refused for flooding frames is still read by the crisis filter."""
        room = self.rooms.get(frame["room"]) if isinstance(frame.get("room"), str) else None
        text = frame.get("text")
        if room is None or room.closed or not isinstance(text, str) or not text.strip():
            return
        role = self.delivery.role_in(conn, room)
        ctx = MessageContext(room.id, conn.session, conn.name, role, text, time.monotonic())
        refusal = ChatError("Too many frames; slow down", code="rate_limited")
        self.screen_refused(conn, room, ctx, refusal, frame.get("client_id"))

    # ---- publishing -----------------------------------------------------------------------
    def publish(
        self,
        room: RoomState,
        body: dict[str, Any],
        detail: dict[str, Any],
        sender: Connection | None,
        client_id: Any,
        *,
        kind: str = "published",
        actor: tuple[str, str] | None = None,
        on_published: Callable[[int], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Take the message's seq, commit its audit row (once, with the seq), then publish it; ack the
        sender when it is out.

        Whatever fails (the seq, the audit commit, the publish), the sender hears `unavailable`
        and `on_failed` gets the error: nothing accepted is dropped without a word.
        """
        actor_session, actor_name = actor or (body["from"]["session"], body["from"]["name"])
        out = Publication(self, room, body, sender, client_id, detail, actor_session, actor_name)
        out.on_published, out.on_failed = on_published, on_failed
        out.kind = kind
        self.in_flight += 1
        self.broker.reserve(room.id, out.message_id, out.reserved)

    def delivered(self, message_id: str) -> None:
        """A message came back from the broker: how long its fan-out took, if it was sent here."""
        started = self.publish_started.pop(message_id, None)
        if started is not None:
            self.metrics.fanout_latency.observe(time.perf_counter() - started)
