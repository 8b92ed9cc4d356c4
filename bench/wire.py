"""Pure wire formats for the load generator: WebSocket frames, Engine.IO/Socket.IO packets, the bench marker.

No I/O here. The load generator speaks WebSocket over a plain asyncio transport with this module so that
the client costs the same for every server: one frame parser, one JSON parser, one marker decoder.
"""

from __future__ import annotations

import base64
import os

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def handshake_request(host: str, port: int, path: str) -> tuple[bytes, str]:
    """Return the HTTP upgrade request and its Sec-WebSocket-Key.

    No Origin header (a non-browser client, accepted by PROTOCOL.md §4) and no permessage-deflate offer,
    so no server compresses and every server sends the same bytes.
    """
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    )
    return request.encode(), key


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """Encode one masked client→server frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    if n == 0:
        return header + mask
    # One big-int XOR is far cheaper in CPython than a per-byte loop.
    repeated = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return header + mask + masked


# The marker carries (publisher, sequence, send time in µs) inside the message text, packed into one number
# written with a consonant-only hex alphabet between "wz" and "zw". Consonants only, so the default filter
# chain treats it as prose: digits would look like a phone number to the pii filter, and letters that spell
# words could trip the blocklist (whose leetspeak folding maps digits to vowels). One number, so a receiver
# decodes it with two finds, one translate and one int(): the load generator must stay cheaper per delivery
# than the fastest server it measures.
_ALPHA = b"bcdfghjklmnpqrst"
TO_HEX = bytes.maketrans(_ALPHA, b"0123456789abcdef")
_TO_ALPHA = str.maketrans("0123456789abcdef", _ALPHA.decode())
PROSE = "a quiet note from the load generator, nothing to see here"
# The opening includes the end of the prose, so a random id elsewhere in a frame cannot look like a marker.
MARK_OPEN, MARK_CLOSE = b"see here wz", b"zw"
FIELD_BITS = 32
FIELD_MASK = (1 << FIELD_BITS) - 1


def pack_marker(pub: int, seq: int, ts_us: int) -> int:
    """Pack the three fields into the number that :func:`encode_marker` writes."""
    return (ts_us << (2 * FIELD_BITS)) | (pub << FIELD_BITS) | seq


def unpack_marker(value: int) -> tuple[int, int, int]:
    """Return ``(pub, seq, ts_us)`` from a packed marker."""
    return (value >> FIELD_BITS) & FIELD_MASK, value & FIELD_MASK, value >> (2 * FIELD_BITS)


def encode_marker(pub: int, seq: int, ts_us: int) -> str:
    """Return message text embedding publisher, sequence number and send time (µs since the epoch)."""
    return f"{PROSE} wz{f'{pack_marker(pub, seq, ts_us):x}'.translate(_TO_ALPHA)}zw"


def find_marker(data: bytes, start: int = 0, end: int | None = None) -> int | None:
    """Return the packed marker in ``data[start:end]`` (a frame, raw JSON or Socket.IO), or None."""
    end = len(data) if end is None else end
    i = data.find(MARK_OPEN, start, end)
    if i < 0:
        return None
    j = data.find(MARK_CLOSE, i + len(MARK_OPEN), end)
    if j < 0:
        return None
    return int(data[i + len(MARK_OPEN) : j].translate(TO_HEX), 16)


def decode_marker(text: str) -> tuple[int, int, int] | None:
    """Return ``(pub, seq, ts_us)`` from a text made by :func:`encode_marker`, or None."""
    value = find_marker(text.encode())
    return None if value is None else unpack_marker(value)


# Engine.IO v4 packet types (first character) and Socket.IO v5 packet types (second character for "4").
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE = "0", "1", "2", "3", "4"
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_CONNECT_ERROR = "0", "1", "2", "4"
SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"
