"""The language each connection reads (issue 19): set by `hello` or a `lang` frame, read wherever a
frame carries a room's own words (title, topic, guidelines, resources, snippets).

Kept here, by connection, rather than on Connection itself (another part of the code): the hub
forgets a connection when it goes. None means the room's fallback language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from chatserver import frames
from chatserver.errors import BadRequest
from chatserver.rooms.languages import MAX_TAG, valid_tag

if TYPE_CHECKING:
    from chatserver.connection import Connection
    from chatserver.delivery import Delivery


def checked(tag: Any) -> str | None:
    """A client's `lang`: None when absent, the tag when valid, else BadRequest saying what is expected."""
    if tag is None:
        return None
    if not valid_tag(tag):
        raise BadRequest(
            f'"lang" must be a language tag like "es" or "pt-BR" (letters, digits and hyphens, '
            f"at most {MAX_TAG} characters)"
        )
    return str(tag)


class Readers:
    """What language each signed-in connection asked for."""

    def __init__(self) -> None:
        self._lang: dict[Connection, str] = {}

    def of(self, conn: Connection) -> str | None:
        return self._lang.get(conn)

    def set(self, conn: Connection, tag: str | None) -> None:
        if tag is None:
            self._lang.pop(conn, None)
        else:
            self._lang[conn] = tag

    def forget(self, conn: Connection) -> None:
        self._lang.pop(conn, None)

    def send_each(self, conns: Iterable[Connection], build: Callable[[str | None], dict[str, Any]]) -> None:
        """Send each connection the frame `build(its language)`, built and encoded once per language."""
        wires: dict[str | None, bytes] = {}
        for conn in conns:
            lang = self._lang.get(conn)
            if lang not in wires:
                wires[lang] = frames.wire(build(lang))
            conn.send_frame(wires[lang])

    def to_session(
        self, delivery: Delivery, session: str, build: Callable[[str | None], dict[str, Any]]
    ) -> None:
        """Every connection of one person (their tabs may read different languages)."""
        self.send_each(delivery.by_session.get(session, ()), build)
