"""What one worker knows about one room right now: members, recent messages, switches.

Kept apart from rooms.py (the configuration, immutable) because this part
changes with every message and is rebuilt on nothing: a reload swaps the
`config` and keeps the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson

from chatserver.write_batch import RoomLater

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.rooms import Room

#: Messages kept per room for history and `since` replay (at least the room's `history`).
LOG_KEEP = 1000
#: Deleted ids remembered per room.
DELETED_KEEP = 1000


class RoomState:
    """Live state of one room on this worker."""

    __slots__ = (
        "config",
        "members",
        "staff",
        "later",
        "log",
        "index",
        "last_seq",
        "remote_counts",
        "remote_hosts",
        "bans",
        "mutes",
        "slowmode",
        "locked",
        "last_sent",
        "closed",
        "deleted",
        "version",
        "held_seen",
        "alerts_seen",
        "mode",
        "warned",
        "shield",
        "shield_read_at",
        "shield_reading",
        "burst_told_until",
        "flagged",
        "_advanced",
        "_names",
    )

    def __init__(self, config: Room) -> None:
        self.config = config
        # An insertion-ordered set of local connections: changed through add / discard / clear_members.
        self.members: dict[Connection, None] = {}
        #: The members who signed in as hosts or admins (on duty or not; a role never changes while
        #: connected): who is hosting is asked on every join and message, and a room of 200 is
        #: nearly all participants.
        self.staff: dict[Connection, None] = {}
        #: Presence waiting for the room's next tick (write_batch.LATER_S), written to members together.
        self.later = RoomLater(self.members)
        #: The members' names (casefolded) -> the sessions using each, with their connections here. A
        #: join asks whether its name is taken; a reconnect storm joins hundreds a second into big rooms.
        self._names: dict[str, dict[str, int]] = {}
        self.log: deque[tuple[int, str, bytes]] = deque(maxlen=max(LOG_KEEP, config.history))
        self.index: dict[str, int] = {}
        self.last_seq = 0
        # Members on other workers, by worker id: (count, last heard, monotonic).
        self.remote_counts: dict[str, tuple[int, float]] = {}
        # Hosts on duty in this room on other workers, by worker id: (host names, last heard).
        self.remote_hosts: dict[str, tuple[frozenset[str], float]] = {}
        self.bans: dict[str, float] = {}
        self.mutes: dict[str, float] = {}
        self.slowmode = 0.0
        self.locked = False
        self.last_sent: dict[str, float] = {}
        self.closed = False
        # Ids deleted lately, oldest first: a copy of a deleted message that arrives late (a gap
        # fill, a release that raced the delete) is never shown.
        self.deleted: dict[str, None] = {}
        # What this worker has applied of the shared state (chatserver/resync.py): the room's
        # version, the held items and crisis alerts its hosts have been shown.
        self.version = 0
        self.held_seen: set[str] = set()
        self.alerts_seen: dict[str, None] = {}
        #: open | premoderate | read_only | closed: whether a host is here, and what that means (hosting.py).
        self.mode = "open"
        #: Issue 16, kept fresh by events: warnings waiting for their acknowledgement (session -> the
        #: warning), the shield preset while shield mode is on, people who may be someone banned earlier.
        self.warned: dict[str, dict[str, Any]] = {}
        self.shield: dict[str, Any] | None = None
        #: When `shield` was last read from the store (moderation.shield.load), by the service's clock.
        self.shield_read_at = float("-inf")
        #: The read of `shield` under way: everyone joining meanwhile waits for it (one read, not one each).
        self.shield_reading: asyncio.Future[None] | None = None
        #: Until when (the service's clock) the join burst under way has been told, here or elsewhere.
        self.burst_told_until = float("-inf")
        self.flagged: dict[str, dict[str, Any]] = {}
        #: Set (and dropped) when `last_seq` moves on, while someone waits for it (`reached`).
        self._advanced: asyncio.Event | None = None

    @property
    def id(self) -> str:
        return self.config.id

    def member_count(self, now: float, stale_after: float) -> int:
        remote = sum(c for c, heard in self.remote_counts.values() if now - heard < stale_after)
        return len(self.members) + remote

    def add(self, conn: Connection) -> None:
        """`conn` is in the room now (its name and session are set: it said hello)."""
        self.members[conn] = None
        if conn.role != "participant":
            self.staff[conn] = None
        self.later.joined(conn)
        sessions = self._names.setdefault(conn.name.casefold(), {})
        sessions[conn.session] = sessions.get(conn.session, 0) + 1

    def audience(self) -> dict[Connection, None]:
        """The members, for a frame the whole room sees now: what waited for the tick goes first, so
        everyone sees the room's frames in the order they happened."""
        self.later.flush()
        return self.members

    def discard(self, conn: Connection) -> bool:
        """`conn` has left the room; True when it was its session's last connection here (the session's
        name may go), False also when it was not a member."""
        if conn not in self.members:
            return False
        del self.members[conn]
        self.staff.pop(conn, None)
        key = conn.name.casefold()
        sessions = self._names[key]
        left = sessions[conn.session] - 1
        if left:
            sessions[conn.session] = left
            return False
        del sessions[conn.session]
        if not sessions:
            del self._names[key]
        return True

    def clear_members(self) -> None:
        self.members.clear()
        self.staff.clear()
        self._names.clear()

    def name_used(self, name: str, by_other_than: str) -> bool:
        """Whether a member here whose session is not `by_other_than` goes by `name` (casefolded)."""
        sessions = self._names.get(name.casefold())
        return sessions is not None and (len(sessions) > 1 or by_other_than not in sessions)

    def remember(self, seq: int, message_id: str, frame: bytes) -> bool:
        """Keep a published message for history; False (and not kept) if it was deleted or is here
        already (then it must not be shown again either)."""
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None
        if message_id in self.deleted or message_id in self.index:
            self.last_seq = max(self.last_seq, seq)
            return False
        log = self.log
        if len(log) == log.maxlen:
            _, old_id, _ = log[0]
            self.index.pop(old_id, None)
        log.append((seq, message_id, frame))
        self.index[message_id] = seq
        self.last_seq = seq
        return True

    def seed(self, past: list[tuple[int, str, bytes]], upto: int) -> None:
        """Take a room's recent past (seq, id, frame; from the broker or the audit log) into its log, up to
        seq `upto`: what comes after reaches this worker live. Messages already delivered live (a worker
        hears its rooms before it has loaded them) stay, once each, in seq order."""
        fresh = [e for e in past if e[0] <= upto and e[1] not in self.index and e[1] not in self.deleted]
        if fresh:
            merged = sorted([*fresh, *self.log], key=_seq_of)
            self.log.clear()
            self.log.extend(merged)  # a bounded deque keeps the newest
            self.index.clear()
            self.index.update((message_id, seq) for seq, message_id, _ in self.log)
        self.last_seq = max(self.last_seq, upto, self.log[-1][0] if self.log else 0)

    async def reached(self, seq: int, timeout: float) -> bool:
        """Wait until this worker has been handed the room's messages up to `seq` (at most `timeout`
        seconds); True if it has. Someone who moves from a worker that is ahead asks for what they
        have seen there; answered before this worker has it, they would get it again live."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.last_seq < seq:
            if self._advanced is None:
                self._advanced = asyncio.Event()
            try:
                await asyncio.wait_for(self._advanced.wait(), deadline - loop.time())
            except TimeoutError:
                return False
        return True

    def forget(self, message_id: str) -> bool:
        """Drop a deleted message from history, now and if it turns up later; True if it was here."""
        self.deleted[message_id] = None
        if len(self.deleted) > DELETED_KEEP:
            del self.deleted[next(iter(self.deleted))]
        if self.index.pop(message_id, None) is None:
            return False
        kept = [entry for entry in self.log if entry[1] != message_id]
        self.log.clear()
        self.log.extend(kept)
        return True

    def drop_older_than(self, stamp: str) -> None:
        """Retention: forget messages whose `ts` (ISO, UTC) sorts before `stamp`."""
        kept = [entry for entry in self.log if _ts(entry[2]) >= stamp]
        for _, message_id, _ in list(self.log)[: len(self.log) - len(kept)]:
            self.index.pop(message_id, None)
        self.log.clear()
        self.log.extend(kept)

    def history(self, limit: int) -> list[bytes]:
        if limit <= 0:
            return []
        entries = list(self.log)[-limit:]
        return [frame for _, _, frame in entries]

    def after(self, seq: int) -> list[bytes] | None:
        """Frames published after `seq`, or None when the log no longer reaches back that far."""
        if not self.log:
            return [] if seq >= self.last_seq else None
        first = self.log[0][0]
        if seq + 1 < first:
            return None
        return [frame for s, _, frame in self.log if s > seq]

    def is_banned(self, session: str) -> bool:
        until = self.bans.get(session)
        return until is not None and (until == 0 or until > time.time())

    def muted_for(self, session: str) -> float:
        until = self.mutes.get(session)
        if until is None:
            return 0.0
        left = until - time.time()
        return left if left > 0 else 0.0

    def apply_sanctions(self, sanctions: dict[str, Any]) -> None:
        self.bans = dict(sanctions.get("ban", {}))
        self.mutes = dict(sanctions.get("mute", {}))


def _ts(frame: bytes) -> str:
    return str(orjson.loads(frame).get("ts", ""))


def _seq_of(entry: tuple[int, str, bytes]) -> int:
    return entry[0]
