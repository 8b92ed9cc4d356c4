"""The WebSocket frames of PROTOCOL.md §4: parsing, validation and encoding.

Pure: nothing here does I/O. The hub hands us raw text and gets back a typed
`dict` it can trust, or a `BadRequest` whose message says what was expected
and what arrived.
"""

from __future__ import annotations

import struct
import unicodedata
from typing import Any

import orjson

from chatserver.errors import BadRequest

MAX_FRAME_BYTES = 64 * 1024
NAME_MAX = 32
HELLO_TIMEOUT_S = 10.0

# Close codes (RFC 6455 §7.4.1 and the IANA registry).
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # slow reader, hello timeout, banned, flooding
CLOSE_TOO_BIG = 1009
CLOSE_RESTART = 1012  # server shutting down: come back soon

ERROR_CODES = frozenset(
    {
        "bad_request",
        "unknown_room",
        "not_joined",
        "guidelines_required",
        "name_taken",
        "forbidden",
        "rate_limited",
        "muted",
        "banned",
        "locked",
        "too_long",
        "unavailable",
        "warned",  # issue 16: a host's warning waits to be acknowledged
    }
)

# Required fields and their types, per client frame type. `None` means any JSON value.
_STR = str
_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "hello": {"name": _STR},
    "join": {"room": _STR},
    "leave": {"room": _STR},
    "send": {"room": _STR, "text": _STR, "client_id": (str, int)},
    "typing": {"room": _STR},
    "report": {"room": _STR, "message_id": _STR},
    "release": {"room": _STR, "message_id": _STR},
    "reject": {"room": _STR, "message_id": _STR},
    "delete": {"room": _STR, "message_id": _STR},
    "mute": {"room": _STR, "session": _STR, "minutes": (int, float)},
    "unmute": {"room": _STR, "session": _STR},
    "kick": {"room": _STR, "session": _STR},
    "ban": {"room": _STR, "session": _STR},
    "unban": {"room": _STR, "session": _STR},
    "slowmode": {"room": _STR, "seconds": (int, float)},
    "lock": {"room": _STR, "locked": bool},
    "note": {"room": _STR, "session": _STR, "text": _STR},
    "duty": {"on": bool},
    "greet": {"room": _STR, "session": _STR, "text": _STR},
    "push_card": {"room": _STR, "card": _STR},
    # Proportionate moderation (issue 16)
    "warn": {"room": _STR, "session": _STR},
    "acknowledge": {"room": _STR},
    "reject_all": {"room": _STR, "session": _STR},
    "delete_last": {"room": _STR, "session": _STR, "count": int},
    "person": {"room": _STR, "session": _STR},
    "shield": {"room": _STR, "on": bool},
    "lang": {"lang": _STR},  # issue 19: read the rooms' own words in another language from now on
    "ping": {},
}
_OPTIONAL: dict[str, dict[str, type | tuple[type, ...]]] = {
    "hello": {"token": _STR, "resume": _STR, "lang": _STR},
    "join": {"accept_guidelines": bool, "since": (str, int), "browser": _STR},
    "send": {"cw": _STR},
    "report": {"reason": _STR},
    "release": {"note": _STR},
    "reject": {"note": _STR, "reason": int},
    "warn": {"rule": int, "text": _STR},
    "reject_all": {"note": _STR, "reason": int},
    "kick": {"reason": _STR},
    "ban": {"reason": _STR},
}
CLIENT_TYPES = frozenset(_FIELDS)
HOST_ACTIONS = frozenset(
    {
        "release",
        "reject",
        "delete",
        "mute",
        "unmute",
        "kick",
        "ban",
        "unban",
        "slowmode",
        "lock",
        "note",
        "greet",
        "push_card",
        "warn",
        "reject_all",
        "delete_last",
        "person",
        "shield",
    }
)

_TYPE_NAMES = {str: "a string", int: "a number", float: "a number", bool: "true or false"}


def _type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in expected))
    return _TYPE_NAMES[expected]


def _matches(value: Any, expected: type | tuple[type, ...]) -> bool:
    # bool is an int in Python; a JSON `true` is never a valid number here.
    if (
        isinstance(value, bool)
        and expected is not bool
        and not (isinstance(expected, tuple) and bool in expected)
    ):
        return False
    return isinstance(value, expected)


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    """Decode one client frame and check its fields; raise BadRequest if it is not usable."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Expected a JSON object, got text that is not JSON") from None
    if not isinstance(frame, dict):
        raise BadRequest(f"Expected a JSON object, got a JSON {type(frame).__name__}")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise BadRequest('Expected a "type" field naming the frame, e.g. {"type": "ping"}')
    fields = _FIELDS.get(kind)
    if fields is None:
        # Host actions are not listed one by one: the message stays short however many there are.
        known = ", ".join(sorted(CLIENT_TYPES - HOST_ACTIONS))
        raise BadRequest(
            f"Unknown frame type {repr(kind[:40])[:60]}; expected one of: {known}, or a host action"
        )
    for key, expected in fields.items():
        if key not in frame:
            raise BadRequest(f'"{kind}" needs a "{key}" field ({_type_name(expected)})')
        if not _matches(frame[key], expected):
            raise BadRequest(f'"{kind}": "{key}" must be {_type_name(expected)}')
    for key, expected in _OPTIONAL.get(kind, {}).items():
        value = frame.get(key)
        if value is not None and not _matches(value, expected):
            raise BadRequest(f'"{kind}": "{key}" must be {_type_name(expected)}')
    return frame


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")


def clean_name(raw: str) -> str:
    """A display name: trimmed, 1–32 printable characters, no control, invisible or bidi tricks."""
    plain = raw.isascii()  # most names: already NFC, and printable unless a control character is in
    name = (raw if plain else unicodedata.normalize("NFC", raw)).strip()
    if not name:
        raise BadRequest("A name is needed: 1 to 32 characters")
    if len(name) > NAME_MAX:
        raise BadRequest(f"A name can be at most {NAME_MAX} characters; this one has {len(name)}")
    if plain and name.isprintable():
        return name
    for ch in name:
        if ch in _BIDI_CONTROLS or ch in _INVISIBLE:
            raise BadRequest("A name cannot contain invisible or text-direction characters")
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise BadRequest("A name can only contain printable characters")
    return name


def dumps(obj: Any) -> bytes:
    """JSON bytes for one server frame."""
    return orjson.dumps(obj)


def error_frame(code: str, message: str, ref: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return frame


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2) around `payload`.

    Server-to-client frames are never masked, so one room event is the same
    bytes for every recipient: the hub builds it once and writes it to each
    socket.
    """
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload
