"""One message on its way out: its seq, its audit row (written once, with the seq), then the publish,
then the sender's ack (or why not).

Once its row is committed, a message may be shown at once to the members on this worker, while the
broker publishes it for everyone else (`Publication.show_here`): that saves the members here a round
trip to Redis and back without changing anyone's order. If the broker then refuses it, it is taken
back from them like a host's deletion. docs/architecture.md ("Shown here once committed") says why
the order stays everyone's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.brokers.base import with_seq
from chatserver.errors import Unavailable
from chatserver.protocol import dumps, ws_text_frame

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.rooms_state import RoomState
    from chatserver.sending import SendPipeline

log = logging.getLogger(__name__)

NOT_DELIVERED = "The message could not be delivered right now; nothing was published. Please try again."
TAKEN_BACK = "The message could not be delivered right now, so it was taken back. Please try again."
NOT_RECORDED = "The message could not be recorded, so it was not published. Please try again in a moment."


class Publication:
    """One message from its reservation to its sender's answer."""

    __slots__ = (
        "pipeline",
        "kind",
        "seq",
        "room",
        "body",
        "sender",
        "client_id",
        "detail",
        "actor_session",
        "actor_name",
        "message_id",
        "encoded",
        "started",
        "shown_here",
        "on_published",
        "on_failed",
    )

    def __init__(
        self,
        pipeline: SendPipeline,
        room: RoomState,
        body: dict[str, Any],
        sender: Connection | None,
        client_id: Any,
        detail: dict[str, Any],
        actor_session: str,
        actor_name: str,
    ) -> None:
        self.pipeline = pipeline
        self.kind = "published"
        self.seq = 0
        self.room = room
        self.body = body
        self.sender = sender
        self.client_id = client_id
        self.detail = detail
        self.actor_session = actor_session
        self.actor_name = actor_name
        self.message_id: str = body["id"]
        self.encoded = dumps(body)  # as it is now: callers may go on using their dict
        self.started = time.perf_counter()
        #: Shown to this worker's members before the broker published it (taken back if it refuses).
        self.shown_here = False
        self.on_published: Callable[[int], None] | None = None
        self.on_failed: Callable[[BaseException], None] | None = None

    def reserved(self, seq: int | None, error: BaseException | None) -> None:
        """The message has its seq (or could not get one: then nothing is written or shown)."""
        pipeline = self.pipeline
        if seq is None:
            self.failed_attempt(error)
            return
        self.seq = seq
        try:
            pipeline.audit.append(
                self.kind,
                room=self.room.id,
                actor_session=self.actor_session,
                actor_name=self.actor_name,
                message_id=self.message_id,
                text=self.body["text"],
                detail=self.detail,
                seq=seq,
                on_commit=self.committed,
            )
        except Unavailable as exc:
            pipeline.broker.cancel(self.room.id, seq, self.message_id)
            self.fail(exc, exc.message)

    def committed(self, error: BaseException | None) -> None:
        """The audit row is on disk (or not): only now may anyone be shown the message."""
        pipeline = self.pipeline
        if error is not None:
            log.error("audit commit failed (%s): message not published", error.__class__.__name__)
            pipeline.broker.cancel(self.room.id, self.seq, self.message_id)
            self.fail(error, NOT_RECORDED)
            return
        pipeline.publish_started[self.message_id] = self.started
        self.show_here()
        pipeline.broker.release(self.room.id, self.seq, self.message_id, self.encoded, self.published)

    def show_here(self) -> None:
        """Show the committed message to this worker's members now, when that keeps everyone's order.

        That is when this worker has been handed every seq before it (so every earlier message is out,
        everywhere, and the broker holds back every later one until this one is out), and its hold is
        young enough that the broker will not refuse it for lateness. The broker's own copy reaches
        this worker too, and the room's log drops it as already here.
        """
        room = self.room
        within = self.pipeline.broker.show_here_s
        if room.last_seq != self.seq - 1 or time.perf_counter() - self.started > within:
            return
        frame = with_seq(self.encoded, self.seq)
        if room.remember(self.seq, self.message_id, frame):
            self.shown_here = True
            self.pipeline.delivery.to_room(room, ws_text_frame(frame))

    def published(self, seq: int | None, error: BaseException | None) -> None:
        pipeline = self.pipeline
        if error is not None or seq is None:
            pipeline.publish_started.pop(self.message_id, None)
            self.failed_attempt(error)
            return
        pipeline.in_flight -= 1
        pipeline.metrics.count_message("published", self.detail.get("reasons", ()))
        if self.sender is not None:
            self.sender.answer(frames.ack(self.client_id, self.message_id, "published"))
        if self.on_published is not None:
            self.on_published(seq)

    def failed_attempt(self, error: BaseException | None) -> None:
        """Not published: the audit log says so (a row of its own; the message's row, if any, stays
        as written, and history leaves the message out). Members here who were shown it are told it is
        gone, as after a host's deletion."""
        detail: dict[str, Any] = {"error": error.__class__.__name__ if error else "unknown"}
        if self.shown_here and self.room.forget(self.message_id):
            self.pipeline.delivery.to_room(
                self.room, frames.wire(frames.deleted(self.room.id, self.message_id, "not_delivered"))
            )
            detail["taken_back"] = True
        try:
            self.pipeline.audit.append(
                "publish_failed",
                room=self.room.id,
                message_id=self.message_id,
                actor_session=self.actor_session,
                actor_name=self.actor_name,
                detail=detail,
            )
        except Unavailable:
            log.warning("could not record that message %s was not published", self.message_id)
        taken_back = bool(detail.get("taken_back"))
        self.fail(
            error or Unavailable("not published"), TAKEN_BACK if taken_back else NOT_DELIVERED, taken_back
        )

    def fail(self, error: BaseException, text: str, taken_back: bool = False) -> None:
        self.pipeline.in_flight -= 1
        self.pipeline.metrics.count_message("unavailable", ())
        if self.on_failed is not None:
            self.on_failed(error)
        if self.sender is not None:
            extra = {"taken_back": True} if taken_back else {}
            self.sender.answer(frames.unavailable(text, self.client_id, **extra))
