"""How the recogniser reads a message: one lower-case, accent-free form, seen through obfuscation.

Patterns and messages go through the same `plain()` so that "Suicídio", "suicidio" and "SUICIDIO"
are one word. The common case, a short ASCII message, costs one `str.lower()`; everything else
(look-alike folding, accents, leetspeak, spaced-out letters) is paid only by the messages that need it.
"""

from __future__ import annotations

import re
import unicodedata

from chatserver.textfold import by_pieces, fold

# Leetspeak inside a word ("k1ll", "mys3lf", "$uicide", "su!c!dal"). "1" is read as i: "k1ll" is the
# common spelling. A word that starts with digits ("3am", "10mg", "2nd") is left alone.
LEET_LETTERS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
#: `str.translate` table undoing leetspeak (index.py reads words with it too).
DELEET = str.maketrans(LEET_LETTERS)
#: The characters that may stand for letters in leetspeak.
LEETISH = frozenset(LEET_LETTERS)
_LEET_WORD = re.compile(
    r"(?<![\w@$!])(?:[a-z][\w@$!]*[013457@$!][a-z][\w@$!]*|[a-z][\w@$]*[013457@$][\w@$]*|[@$][a-z][\w@$!]*)"
)
_HAS_LEET = re.compile(r"[013457@$]|[a-z]![a-z]")
# Letters spelled out one by one: "s u i c i d e", "k.i.l.l m.y.s.e.l.f", "d-i-e", and "k.m.s".
_SPACED = re.compile(
    r"(?<![^\W_])(?:(?:[^\W\d_][ .*_\-]{1,2}){3,}[^\W\d_]|[^\W\d_][.\-][^\W\d_][.\-][^\W\d_]\.?)(?![^\W_])"
)
_SPACER = re.compile(r"[ .*_\-]")
# A few emoji people use for self-harm and suicide, read as words the packs can name (emojiknife...).
EMOJI = {
    "\U0001f52a": "emojiknife",  # kitchen knife
    "\U0001fa78": "emojiblood",  # drop of blood
    "\U0001f48a": "emojipill",  # pill
    "\U0001faa2": "emojirope",  # knot
    "\U0001f52b": "emojigun",  # pistol
    "\u26b0": "emojicoffin",  # coffin
    "\U0001fa79": "emojiplaster",  # adhesive bandage
    "\U0001f309": "emojibridge",  # bridge at night
    "\U0001faa6": "emojicoffin",  # headstone
    "\u2620": "emojicoffin",  # skull and crossbones
    # and the ones that say "joking": a packs' figurative frames name them
    "\U0001f602": "emojilaugh",  # face with tears of joy
    "\U0001f923": "emojilaugh",  # rolling on the floor laughing
    "\U0001f480": "emojiskull",  # skull: laughing ("i'm dead") or death; the packs decide
    "\U0001f644": "emojieyeroll",  # face with rolling eyes
    "\U0001f643": "emojieyeroll",  # upside-down face
    "\U0001f634": "emojisleep",  # sleeping face
    "\u2b07": "emojidown",  # down arrow
}
_EMOJI = str.maketrans(
    {
        **{k: f" {v} " for k, v in EMOJI.items()},
        # Typographic quotes and apostrophes become ASCII ones: quoted speech is someone else's.
        **dict.fromkeys("\u201c\u201d\u201e\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2018\u2019\u201a\u00b4`", "'"),
    }
)


def plain(text: str) -> str:
    """`text` lower-cased, look-alikes folded, accents and zero-width characters removed.

    ASCII text only needs lowering. Anything else goes through `textfold.fold` (NFKC, casefold,
    zero-width removal, look-alikes to Latin) and then loses its accents: people often leave them
    out ("suicidio" for "suicídio"), so neither side keeps them. Like `fold`, it works within each
    space-separated piece, so each piece's answer is remembered (`textfold.by_pieces`); a piece whose
    other characters are all ones that fold the same wherever they stand (accented Latin letters,
    most emoji and punctuation) takes a table instead, with the same result (`_Plainer`).
    """
    if text.isascii():
        return text.lower()
    return _plain_by_pieces(text)


def _plain_piece(text: str) -> str:
    quick = text.translate(_PLAINER)
    if quick.isascii():
        return quick.lower()
    return _plain(text)


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", fold(text.translate(_EMOJI)))
    if folded.isascii():
        return folded
    # Combining accents go; so do emoji and other symbols, but as a space, so words stay apart.
    return "".join(ch if ch.isascii() else ("" if unicodedata.combining(ch) else " ") for ch in folded)


class _Plainer(dict[int, str]):
    """A `str.translate` table, filled as characters turn up: a non-ASCII character whose `plain()`
    is the same alone as between letters, spaces and digits maps to it (ASCII, so the text's case can
    still be lowered after); any other maps to itself, which sends its text the whole way.

    What a character folds to depends on its neighbours only for look-alikes (mapped inside mixed
    tokens only), combining marks, zero-width characters and NFKC compositions; trying it in a few
    surroundings finds those.
    """

    LIMIT = 20_000  # distinct characters remembered; a flood of rare ones only clears it

    def __missing__(self, code: int) -> str:
        char = chr(code)
        alone = _plain(char)
        simple = (
            unicodedata.category(char) in _CONTEXT_FREE
            and alone.isascii()
            and all(
                _plain(f"{before}{char}{after}") == f"{_plain(before)}{alone}{_plain(after)}"
                for before, after in _SURROUNDINGS
            )
        )
        if len(self) >= self.LIMIT:
            self.clear()
        self[code] = mapped = alone if simple else char
        return mapped


# Cased letters, digits, punctuation, symbols and spaces may be context free; marks, format
# characters (zero-width), and letters of scripts without case (Hangul jamo compose) never are.
_CONTEXT_FREE = frozenset(
    (
        "Lu",
        "Ll",
        "Lt",
        "Nd",
        "Nl",
        "No",
        "Pc",
        "Pd",
        "Ps",
        "Pe",
        "Pi",
        "Pf",
        "Po",
        "Sm",
        "Sc",
        "Sk",
        "So",
        "Zs",
    )
)
# Latin letters of both cases, a letter of another script (look-alikes are mapped only in tokens
# with a Latin letter or of look-alikes alone), a digit, spaces and punctuation on either side.
_SURROUNDINGS = (
    ("a", "b"),
    ("A", "B"),
    ("\u0436", "\u0436"),
    ("\u03bb", ""),
    (" ", " "),
    ("1", "2"),
    ("", ""),
    ("x ", "."),
    ("e", ""),
)
_PLAINER = _Plainer()
_plain_by_pieces = by_pieces(_plain_piece)


#: What `Index.triggered` tells `deobfuscate` it may change, read off each word as typed: leetspeak in
#: a word (LEET_HINT), letters spelt out inside a word ("k.i.l.l", INNER_HINT), a word of one letter
#: (SINGLE_HINT; two in a row, "s u i c", make SPACED_HINT). Whatever they leave out cannot be there.
LEET_HINT, INNER_HINT, SINGLE_HINT, SPACED_HINT = 1 << 16, 1 << 17, 1 << 18, 1 << 19
SPELT_HINTS = INNER_HINT | SPACED_HINT
ALL_HINTS = LEET_HINT | SPELT_HINTS
# A `_SPACED` run needs letters one to two spacers apart: inside a word with no space between, or
# words of one letter (and the spacers beside it) in a row. Leetspeak counts as letters: undone
# first, it can make them ("a_1_1_1" reads "a_i_i_i", then "aiii").
_LETTERISH = r"(?:[^\W\d_]|[" + re.escape("".join(LEET_LETTERS)) + "])"
_INNER_SPELT = re.compile(_LETTERISH + r"[.*_\-]{1,2}" + _LETTERISH)
_SPELT_SINGLE = re.compile(r"[.*_\-]{0,2}" + _LETTERISH + r"[.*_\-]{0,2}")


def spelling_hints(typed: str) -> int:
    """INNER_HINT and SINGLE_HINT for one word as typed (between whitespace)."""
    if "." not in typed and "-" not in typed and "_" not in typed and "*" not in typed:
        # No spacer (nearly every word): nothing is spelt out inside it, and it is a single letter
        # only on its own. Said without running both patterns along the whole word.
        return SINGLE_HINT if len(typed) == 1 and _SPELT_SINGLE.fullmatch(typed) is not None else 0
    hints = INNER_HINT if _INNER_SPELT.search(typed) is not None else 0
    return hints | SINGLE_HINT if _SPELT_SINGLE.fullmatch(typed) is not None else hints


def deobfuscate(text: str, hints: int = ALL_HINTS) -> str:
    """`plain` text with leetspeak undone inside words and spaced-out letters joined.

    "i want to k1ll mys3lf" -> "i want to kill myself"; "s u i c i d e" -> "suicide". Joined letters
    make one word ("k i l l m y s e l f" -> "killmyself"); the patterns accept words written together.
    `hints` (see LEET_HINT) skip the steps that cannot change `text`, with the same result.
    """
    if hints & LEET_HINT and _HAS_LEET.search(text) is not None:
        text = _LEET_WORD.sub(lambda m: m.group().translate(DELEET), text)
    if hints & SPELT_HINTS and _SPACED.search(text) is not None:
        text = _SPACED.sub(lambda m: _SPACER.sub("", m.group()), text)
    return text
