"""Shared moderation state: held messages, bans, mutes, room switches, notes, identities.

Every worker of a deployment must agree on these, so with Redis they live in
Redis (chatserver/brokers/redis_store.py); the in-process store here is the
embedded default. Each worker also keeps a
local copy of what the per-message path reads (bans, mutes, room switches),
kept fresh by events, so checking a message never waits on a round trip.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

HELD_TTL_S = 7 * 24 * 3600
#: How long a crisis alert is kept for workers that missed it (they re-read every few seconds).
ALERT_TTL_S = 600
ALERTS_KEEP = 50
SESSION_TTL_S = 30 * 24 * 3600
#: Identities the in-process store keeps at most (each a few hundred bytes).
MEMORY_IDENTITIES = 200_000


async def answers(*reads: Awaitable[Any]) -> list[Any]:
    """Await reads asked together (`Store.get_value`...), every one of them even after one failed (none
    is left unawaited), then raise the first failure."""
    results: list[Any] = []
    failure: Exception | None = None
    for read in reads:
        try:
            results.append(await read)
        except Exception as exc:
            failure = failure or exc
            results.append(None)
    if failure is not None:
        raise failure
    return results


class Store:
    """Plugin base for shared state; every method is atomic on its own."""

    async def save_identity(self, token_hash: str, record: dict[str, Any]) -> None:
        """Remember a `resume_token` (by hash) → the identity it restores."""
        raise NotImplementedError

    async def load_identity(self, token_hash: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def claim_name(self, room: str, name: str, session: str, worker: str, alive: set[str]) -> bool:
        """Take `name` in `room` for `session`; True if free, ours already, or held by a dead worker."""
        raise NotImplementedError

    async def release_name(self, room: str, name: str, session: str) -> None:
        raise NotImplementedError

    async def put_held(self, room: str, item: dict[str, Any]) -> None:
        raise NotImplementedError

    async def take_held(self, room: str, message_id: str) -> dict[str, Any] | None:
        """Remove and return a held item; exactly one caller ever gets it."""
        raise NotImplementedError

    async def list_held(self, room: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def set_sanction(self, room: str, kind: str, session: str, until: float | None) -> None:
        """`kind` is "ban" or "mute"; `until` an epoch time, None for no end, 0 to lift it."""
        raise NotImplementedError

    async def sanctions(self, room: str) -> dict[str, dict[str, float]]:
        """{"ban": {session: until}, "mute": {...}} with expired entries left out (0 = no end)."""
        raise NotImplementedError

    async def set_flag(self, room: str, flag: str, value: Any) -> None:
        raise NotImplementedError

    def flags(self, room: str) -> Awaitable[dict[str, Any]]:
        """The room's flags (shield, slowmode...); asked for when called, like get_value."""
        raise NotImplementedError

    async def add_note(self, room: str, session: str, note: dict[str, Any]) -> None:
        raise NotImplementedError

    async def notes(self, room: str, session: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def purge_notes(self, stamp: str) -> None:
        """Retention: drop care notes whose `ts` (ISO, UTC) sorts before `stamp`."""
        raise NotImplementedError

    async def versions(self) -> dict[str, int]:
        """room -> a counter that every change of the room's shared state raises.

        One cheap read tells a worker which rooms changed while it may have missed
        their events (see chatserver/resync.py).
        """
        raise NotImplementedError

    async def recent_deletions(self, room: str, limit: int) -> list[str]:
        """The ids of the room's latest deleted messages, newest first."""
        raise NotImplementedError

    async def add_alert(self, room: str, alert: dict[str, Any]) -> None:
        """Keep a crisis alert (with its `id`) for a while, so a worker that missed it still shows it."""
        raise NotImplementedError

    async def alerts(self, room: str) -> list[dict[str, Any]]:
        """The room's crisis alerts of the last ALERT_TTL_S seconds, oldest first."""
        raise NotImplementedError

    # ---- small shared values (issue 16: warnings, strikes, shield, ban-evasion marks) ----------
    # put_value, get_value and entries are asked for when called, not when awaited: what a join asks
    # one after the other without awaiting in between shares one round trip (a reconnect storm's
    # thousands of joins each waited for four in a row).
    def put_value(
        self, key: str, value: Any, ttl: float | None = None, *, only_new: bool = False
    ) -> Awaitable[bool]:
        """Set `key` (expiring after `ttl` seconds); with `only_new`, only if unset. True if set."""
        raise NotImplementedError

    def get_value(self, key: str) -> Awaitable[Any]:
        """The value at `key`, or None (unset or expired)."""
        raise NotImplementedError

    async def take_value(self, key: str) -> Any:
        """Remove and return the value at `key`; exactly one caller ever gets it."""
        raise NotImplementedError

    async def add_entry(self, key: str, entry: Any, *, keep: int, ttl: float) -> list[Any]:
        """Append to the list at `key`, keeping its last `keep` entries; the list expires `ttl` seconds
        after its last change. Returns the list as it is then, oldest first (read in the same step:
        a counter needs no second round trip)."""
        raise NotImplementedError

    def entries(self, key: str) -> Awaitable[list[Any]]:
        """The list at `key`, oldest first ([] when unset or expired)."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


def live_sanctions(entries: dict[str, float], now: float) -> dict[str, float]:
    """The sanctions still in force at `now` (0 = no end)."""
    return {s: u for s, u in entries.items() if u == 0 or u > now}


class MemoryStore(Store):
    """One process: plain dictionaries."""

    def __init__(self) -> None:
        self._identities: dict[str, dict[str, Any]] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._held: dict[str, dict[str, dict[str, Any]]] = {}
        self._sanctions: dict[tuple[str, str], dict[str, float]] = {}
        self._flags: dict[str, dict[str, Any]] = {}
        self._notes: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: key -> (value, expires at epoch or None): put_value/add_entry.
        self._values: dict[str, tuple[Any, float | None]] = {}
        # One process: events are never lost, so nothing needs re-reading; versions stay empty.

    async def save_identity(self, token_hash: str, record: dict[str, Any]) -> None:
        identities = self._identities
        identities[token_hash] = record
        # Bounded like Redis's TTL: the oldest identities go first (dicts keep insertion order).
        now = time.time()
        while identities:
            oldest = next(iter(identities))
            if (
                len(identities) <= MEMORY_IDENTITIES
                and now - identities[oldest].get("created", now) < SESSION_TTL_S
            ):
                break
            del identities[oldest]

    async def load_identity(self, token_hash: str) -> dict[str, Any] | None:
        return self._identities.get(token_hash)

    async def claim_name(self, room: str, name: str, session: str, worker: str, alive: set[str]) -> bool:
        owner = self._names.setdefault((room, name), session)
        return owner == session

    async def release_name(self, room: str, name: str, session: str) -> None:
        if self._names.get((room, name)) == session:
            del self._names[(room, name)]

    async def put_held(self, room: str, item: dict[str, Any]) -> None:
        self._held.setdefault(room, {})[item["id"]] = item

    async def take_held(self, room: str, message_id: str) -> dict[str, Any] | None:
        return self._held.get(room, {}).pop(message_id, None)

    async def list_held(self, room: str) -> list[dict[str, Any]]:
        return list(self._held.get(room, {}).values())

    async def set_sanction(self, room: str, kind: str, session: str, until: float | None) -> None:
        entries = self._sanctions.setdefault((room, kind), {})
        if until is not None and until != 0 and until < time.time():
            entries.pop(session, None)
        elif until == 0:
            entries.pop(session, None)
        else:
            entries[session] = until or 0

    async def sanctions(self, room: str) -> dict[str, dict[str, float]]:
        now = time.time()
        return {kind: live_sanctions(self._sanctions.get((room, kind), {}), now) for kind in ("ban", "mute")}

    async def set_flag(self, room: str, flag: str, value: Any) -> None:
        self._flags.setdefault(room, {})[flag] = value

    async def flags(self, room: str) -> dict[str, Any]:
        return dict(self._flags.get(room, {}))

    async def add_note(self, room: str, session: str, note: dict[str, Any]) -> None:
        self._notes.setdefault((room, session), []).append(note)

    async def notes(self, room: str, session: str) -> list[dict[str, Any]]:
        return list(self._notes.get((room, session), []))

    async def purge_notes(self, stamp: str) -> None:
        for key, notes in list(self._notes.items()):
            kept = [n for n in notes if n.get("ts", "") >= stamp]
            if kept:
                self._notes[key] = kept
            else:
                del self._notes[key]

    async def versions(self) -> dict[str, int]:
        return {}

    async def recent_deletions(self, room: str, limit: int) -> list[str]:
        return []

    async def add_alert(self, room: str, alert: dict[str, Any]) -> None:
        pass

    async def alerts(self, room: str) -> list[dict[str, Any]]:
        return []

    def _live(self, key: str) -> Any:
        value, expires = self._values.get(key, (None, None))
        if expires is not None and expires <= time.time():
            self._values.pop(key, None)
            return None
        return value

    async def put_value(
        self, key: str, value: Any, ttl: float | None = None, *, only_new: bool = False
    ) -> bool:
        if only_new and self._live(key) is not None:
            return False
        self._values[key] = (value, time.time() + ttl if ttl else None)
        return True

    async def get_value(self, key: str) -> Any:
        return self._live(key)

    async def take_value(self, key: str) -> Any:
        value = self._live(key)
        self._values.pop(key, None)
        return value

    async def add_entry(self, key: str, entry: Any, *, keep: int, ttl: float) -> list[Any]:
        kept = list(self._live(key) or [])[-(keep - 1) :] if keep > 1 else []
        self._values[key] = ([*kept, entry], time.time() + ttl)
        return [*kept, entry]

    async def entries(self, key: str) -> list[Any]:
        return list(self._live(key) or [])
