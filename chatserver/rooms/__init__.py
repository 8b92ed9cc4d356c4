"""rooms.yaml: parse, validate with file and line, and build frozen Room objects (pure).

- `model`: Room, RoomsConfig, the keys and built-in defaults;
- `reader`: YAML nodes to checked values, problems as PATH:LINE;
- `resources`, `filters`, `hosted`: one section of the file each;
- `parser`: the whole file, defaults and rooms (`load_rooms`, `parse_rooms`).
"""

from chatserver.rooms.model import (
    BUILTIN_DEFAULTS,
    PREMODERATE,
    WHEN_UNHOSTED,
    ResourceItem,
    Room,
    RoomsConfig,
)
from chatserver.rooms.parser import load_rooms, parse_rooms

__all__ = [
    "BUILTIN_DEFAULTS",
    "PREMODERATE",
    "WHEN_UNHOSTED",
    "ResourceItem",
    "Room",
    "RoomsConfig",
    "load_rooms",
    "parse_rooms",
]
