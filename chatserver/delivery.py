"""Who gets a frame: this worker's connections, by room, by role and by session.

The one object the hub and moderation both write through, from below: it knows
the local connections and what each person is in each room, nothing about
messages, filters or storage. A dead socket never stops the rest (RawSocket
writes never raise).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.rooms_state import RoomState

#: Leaves a room on behalf of a connection (presence, audit, name release): the hub's.
Leave = Callable[["Connection", str, str], Coroutine[Any, Any, None]]


class Delivery:
    """This worker's connections and the ways a frame reaches them."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.by_session: dict[str, set[Connection]] = {}
        #: Set by the hub: take a connection out of a room (kick, ban, room closed).
        self.leave: Leave | None = None

    # ---- who is who -------------------------------------------------------------
    def signed_in(self, conn: Connection) -> None:
        self.by_session.setdefault(conn.session, set()).add(conn)

    def gone(self, conn: Connection) -> None:
        self.connections.discard(conn)
        peers = self.by_session.get(conn.session)
        if peers is not None:
            peers.discard(conn)
            if not peers:
                del self.by_session[conn.session]

    @staticmethod
    def role_in(conn: Connection, room: RoomState) -> str:
        """What a connection is in this room: a host's powers and badge belong to the rooms they host."""
        if conn.role == "admin":
            return "admin"
        if conn.role == "host" and conn.host_name in room.config.hosts:
            return "host"
        return "participant"

    def is_host_of(self, conn: Connection, room: RoomState) -> bool:
        return self.role_in(conn, room) != "participant"

    # ---- writing ----------------------------------------------------------------
    @staticmethod
    def to_room(room: RoomState, wire: bytes, *, skip_session: str | None = None) -> None:
        """Write one ready frame to every local member (after the presence waiting for them)."""
        for member in room.audience():
            if member.session != skip_session:
                member.send_frame(wire)

    def to_hosts(self, room: RoomState, wire: bytes) -> None:
        """The room's hosts (and admins) who are in the room."""
        for member in room.staff:
            if self.is_host_of(member, room):
                member.send_frame(wire)

    def to_session(self, session: str, wire: bytes) -> None:
        """Every connection of one person (they may have several tabs)."""
        for conn in self.by_session.get(session, ()):
            conn.send_frame(wire)

    def helpers(self, room: RoomState) -> list[Connection]:
        """Everyone who can help in `room` now: its hosts and backup hosts (in the room or not) and
        every admin on this worker."""
        names = set(room.config.hosts) | set(room.config.backup_hosts)
        return [
            c for c in self.connections if c.role == "admin" or (c.role == "host" and c.host_name in names)
        ]

    def to_helpers(self, room: RoomState, wire: bytes) -> None:
        for conn in self.helpers(room):
            conn.send_frame(wire)

    @staticmethod
    def to_all(connections: Iterable[Connection], wire: bytes) -> None:
        for conn in connections:
            if conn.session:
                conn.send_frame(wire)
