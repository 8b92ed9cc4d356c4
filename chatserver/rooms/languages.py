"""Room texts in several languages (issue 19): language codes, and picking a text for a reader.

Pure: no I/O. A room text is either a plain string (the fallback language) or a mapping
{language code: string}. `resolve` picks exact, then the base language (`pt-BR` -> `pt`), then the
fallback; `requested` reads `?lang=` or an `Accept-Language` header.
"""

from __future__ import annotations

from collections.abc import Mapping

#: A text as rooms.yaml gives it: one string (the fallback language) or one per language.
Text = str | Mapping[str, str]

#: The languages shipped with the server (crisis packs, web catalogs).
SHIPPED = ("en", "es", "fr", "de", "pt", "it", "nl")

#: ISO 639-1 two-letter codes accepted in rooms.yaml (the living ones).
ISO_639_1 = frozenset(
    """
    aa ab af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
    dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz
    ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li
    ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os
    pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te
    tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
    """.split()
)

#: At most this long: `pt-BR`, `zh-Hant-TW`; longer is not a language tag.
MAX_TAG = 35


def known(code: str) -> bool:
    """Whether `code` is a language code rooms.yaml may use as a key."""
    return code in ISO_639_1


def valid_tag(tag: object) -> bool:
    """Whether `tag` looks like a language tag a client may ask for (`es`, `pt-BR`)."""
    if not isinstance(tag, str) or not 2 <= len(tag) <= MAX_TAG:
        return False
    parts = tag.split("-")
    return all(part.isascii() and part.isalnum() and 1 <= len(part) <= 8 for part in parts) and (
        parts[0].isalpha()
    )


def candidates(tag: str | None, fallback: str) -> tuple[str, ...]:
    """The languages to try for `tag`, best first: exact, base language, fallback."""
    out: list[str] = []
    if tag:
        lowered = tag.strip().lower()
        out += [lowered, lowered.split("-")[0]]
    out.append(fallback)
    return tuple(dict.fromkeys(out))


def resolve(text: Text, tag: str | None, fallback: str) -> tuple[str, str]:
    """(the text, the language it is in) for a reader of `tag`."""
    if isinstance(text, str):
        return text, fallback
    for code in candidates(tag, fallback):
        if code in text:
            return text[code], code
    return next(iter(text.values()), ""), fallback


def requested(query: str | None, accept_language: str | None) -> str | None:
    """The language asked for: `?lang=` if valid, else the best `Accept-Language` entry."""
    if query and valid_tag(query):
        return query
    best: tuple[float, str] | None = None
    for item in (accept_language or "").split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if valid_tag(tag) and weight > 0 and (best is None or weight > best[0]):
            best = (weight, tag)
    return best[1] if best else None
