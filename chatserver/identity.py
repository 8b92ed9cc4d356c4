"""Names people may not take: a participant must not pass for a host.

Pure. A name is compared by its letters and digits only, case-folded, after
mapping look-alike characters, so "Alice (host)", "ALICE" and "A1ice" all
collide with the host alice; generic staff titles are reserved too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

STAFF_WORDS = frozenset(
    {
        "host",
        "admin",
        "administrator",
        "moderator",
        "mod",
        "staff",
        "system",
        "official",
        "chatserver",
        "support team",
        "team",
    }
)
# Letters from other scripts that look like Latin ones in common fonts (a small, hand-picked set of
# the usual suspects; enough to stop "аlice" with a Cyrillic а from passing for alice).
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "ı": "i",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
        "ℓ": "l",
    }
)
_LOOKALIKES = str.maketrans(
    {
        "0": "o",
        "1": "l",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "|": "l",
        "!": "i",
        "i": "l",
    }
)
_TITLES = ("host", "admin", "moderator", "mod", "staff", "team", "official")


def skeleton(name: str) -> str:
    """The name reduced to what a reader compares: folded letters and digits, look-alikes merged."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    mapped = plain.translate(_CONFUSABLES).translate(_LOOKALIKES)
    return "".join(ch for ch in mapped if ch.isalnum())


def imitates_staff(name: str, host_names: Iterable[str]) -> bool:
    """True when a participant's `name` could be read as a host's or as a staff title."""
    key = skeleton(name)
    if not key:
        return False
    if name.casefold().strip() in STAFF_WORDS or key in {skeleton(w) for w in STAFF_WORDS}:
        return True
    stripped = key
    for title in _TITLES:
        stripped = stripped.replace(skeleton(title), "")
    for host in host_names:
        host_key = skeleton(host)
        if host_key and (key == host_key or (stripped == host_key and stripped != key)):
            return True
    return False
