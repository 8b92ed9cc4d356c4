"""Names people may not take: a participant must not pass for a host.

Pure. A name is compared by its letters and digits only, case-folded, after
dropping invisible characters and accents and mapping look-alike characters
(chatserver.textfold), so "Alice (host)", "ALICE", "A1ice", "ɑlice" (Latin
alpha) and "alice" + U+3164 (Hangul filler) all collide with the host alice;
generic staff titles are reserved too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from chatserver.textfold import skeleton as fold_skeleton

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


@functools.lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """The name reduced to what a reader compares: folded letters and digits, look-alikes merged.

    Cached: every hello compares the name with the staff words, the titles and every host's name,
    whose skeletons never change.

    `textfold.skeleton` drops invisible characters (Hangul fillers, zero-width spaces), applies
    NFKC, removes accents and maps letters of other scripts that look Latin (Unicode's confusables
    data); then digits and signs that pass for letters (A1ice, @lice) are merged here.
    """
    mapped = fold_skeleton(name).translate(_LOOKALIKES)
    return "".join(ch for ch in mapped if ch.isalnum())


def imitates_staff(name: str, host_names: Iterable[str]) -> bool:
    """True when a participant's `name` could be read as a host's or as a staff title."""
    key = skeleton(name)
    if not key:
        return False
    if name.casefold().strip() in STAFF_WORDS or key in _STAFF_KEYS:
        return True
    stripped = key
    for title_key in _TITLE_KEYS:
        stripped = stripped.replace(title_key, "")
    for host in host_names:
        host_key = skeleton(host)
        if host_key and (key == host_key or (stripped == host_key and stripped != key)):
            return True
    return False


#: The staff words and titles as `skeleton` reduces them, once (every hello compares a name with them).
_STAFF_KEYS = frozenset(skeleton(w) for w in STAFF_WORDS)
_TITLE_KEYS = tuple(skeleton(t) for t in _TITLES)
