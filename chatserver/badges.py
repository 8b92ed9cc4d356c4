"""Who someone is, shown honestly: a host's title and professional mark, and nobody else's imitation.

Pure. Admins give a host a title ("Registered counsellor") and, for licensed people, a
professional mark (`chatserver hosts add NAME --title ... --professional`); the server puts them
on that host's `from` and in presence, in the rooms they host. Participants are never asked who
they are, so they must not be able to look like a marked person either: a name, or the start of a
message, that reads like a title is refused. Text is compared after the look-alike folding of
`identity.skeleton` (textfold), so `C0unsellor`, `Ｔherapist` or a Cyrillic `е` change nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from chatserver.errors import BadRequest
from chatserver.identity import skeleton
from chatserver.textfold import skeleton as fold_skeleton

TITLE_MAX = 40

#: Words that say "a professional" on their own; long ones are matched inside a word too
#: ("SamTherapist"), short ones only as a whole word ("Dr Sam", not "Drew").
PROFESSIONAL_WORDS = (
    "counsellor",
    "counselor",
    "counselling",
    "counseling",
    "therapist",
    "psychotherapist",
    "psychologist",
    "psychiatrist",
    "clinician",
    "clinical",
    "professional",
    "licensed",
    "registered",
    "certified",
    "qualified",
    "doctor",
    "nurse",
    "dr",
    "md",
    "gp",
    "rn",
    "lcsw",
    "lpc",
    "phd",
    "psyd",
)
_LONG = tuple(skeleton(w) for w in PROFESSIONAL_WORDS if len(w) >= 7)
_SHORT = frozenset(skeleton(w) for w in PROFESSIONAL_WORDS if len(w) < 7)
_HONORIFICS = frozenset(skeleton(w) for w in ("dr", "doctor", "nurse"))
#: Marks that look like a "checked" badge next to a name.
BADGE_MARKS = frozenset("✓✔☑✅🩺⚕")
#: Words that may stand around a title in a fake label ("[Verified counsellor here]").
_FILLER = frozenset(skeleton(w) for w in ("a", "an", "the", "i", "im", "am", "here", "your", "verified"))
_LABEL_OPEN = "[(<{【「"
_LABEL_SEPARATORS = re.compile(r"[:|\]\)>}】」\n]| - | – | — ")
#: What separates the words of a name (each hello splits one).
_WORD_BREAKS = re.compile(r"[\s_.,;:/\\|()\[\]{}<>\-–—]+")
#: How far into a message a label can reach before it is just a sentence.
_LABEL_MAX = 48


IMITATION_REFUSED = (
    "Your message starts like a title badge. Titles are shown only beside the people the organisers "
    "have marked, so please start your message another way"
)


def check_title(title: str) -> str:
    """A title trimmed, or ValueError saying what is wrong: 1-40 printable characters."""
    trimmed = unicodedata.normalize("NFC", title).strip()
    if not 1 <= len(trimmed) <= TITLE_MAX:
        raise ValueError(f"a title has 1 to {TITLE_MAX} characters, got {len(trimmed)}: {title!r}")
    for char in trimmed:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise ValueError(
                f"title {title!r} contains an invisible or control character (U+{ord(char):04X})"
            )
    return trimmed


def badge(title: str | None, professional: bool) -> dict[str, Any]:
    """The fields a titled host adds to `from` (and to presence): `title`, and `professional: true`."""
    if not title:
        return {}
    return {"title": title, "professional": True} if professional else {"title": title}


def of(person: Any, role: str) -> dict[str, Any]:
    """The badge a connection shows in a room: its title where it hosts (or is an admin), else none."""
    return badge(person.title, person.professional) if role != "participant" else {}


def _words(text: str) -> list[str]:
    """The text's words, each folded to its skeleton (look-alikes merged, accents and signs gone)."""
    return [w for w in (skeleton(part) for part in _WORD_BREAKS.split(text)) if w]


def _claims(words: list[str], whole: str, titles: Iterable[str]) -> bool:
    if any(word in _SHORT for word in words) or any(long in whole for long in _LONG):
        return True
    return any(len(key) >= 4 and key in whole for key in (skeleton(t) for t in titles))


def imitates_badge(name: str, titles: Iterable[str] = ()) -> bool:
    """True when a display name reads like a title or a professional mark ("Sam, counsellor",
    "Dr Sam", "Sam ✓", or any host's title written into it)."""
    if any(ch in BADGE_MARKS for ch in fold_skeleton(name)):
        return True
    return _claims(_words(name), skeleton(name), titles)


def label_imitates_badge(text: str, titles: Iterable[str] = ()) -> bool:
    """True when a message starts with what looks like a badge: "[Registered counsellor] ...",
    "Therapist: ...", "✓ Professional - ...".

    Only a label at the very start counts, made of title words alone: "my counsellor said: ..."
    or "As a nurse I found ..." are sentences, and people may say such things.
    """
    label = _opening_label(text)
    return label is not None and _label_claims(*label, titles)


def _opening_label(text: str) -> tuple[list[str], bool] | None:
    """The words of a label that opens `text` and whether a badge mark stands before it; None when
    the text opens with no label (most messages: this is all they cost)."""
    head = text.lstrip()[: _LABEL_MAX + 1]
    marked = bool(head) and head[0] in BADGE_MARKS
    if head[:1] in _LABEL_OPEN:
        head = head[1:]
    end = _LABEL_SEPARATORS.search(head)
    if end is None and not marked:
        return None
    label = head[: end.start()] if end is not None else head
    if len(label) > _LABEL_MAX:
        return None
    words = [w for w in _words(label) if w not in _FILLER]
    return (words, marked) if words else None


def _label_claims(words: list[str], marked: bool, titles: Iterable[str]) -> bool:
    """Whether an opening label's words claim a title: an honorific before a name, a host's title,
    or professional words only."""
    if words[0] in _HONORIFICS and len(words) <= 3:
        return True  # "Dr Sam:", "Nurse Kim -": a title in front of a name
    titles = list(titles)
    title_keys = [k for k in (skeleton(t) for t in titles) if len(k) >= 4]
    whole = "".join(words)
    if whole in title_keys:
        return True
    title_words = {w for t in titles for w in _words(t)}
    known = all(w in _SHORT or w in title_words or any(long == w for long in _LONG) for w in words)
    return known and (marked or _claims(words, whole, titles))


def refusal(text: str, role: str, members: Iterable[Any]) -> BadRequest | None:
    """Why a participant's message may not go out as written: it opens like a badge (of a host in
    the room, or any professional's). The send pipeline treats it like a sanction's refusal, so
    the crisis filter still reads the message. The room's titles are gathered only for a message
    that opens with a label: this runs for every message."""
    if role != "participant":
        return None
    label = _opening_label(text)
    if label is not None and _label_claims(*label, titles_of(members)):
        return BadRequest(IMITATION_REFUSED)
    return None


def titles_of(people: Iterable[Any]) -> set[str]:
    """The titles carried by these connections (hosts in a room), for checking what others write."""
    return {p.title for p in people if getattr(p, "title", None)}
