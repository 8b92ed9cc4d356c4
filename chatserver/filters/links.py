"""The links filter: URLs and bare domains, with an allow-list of domains."""

from __future__ import annotations

import re
from typing import Any

from chatserver.filters.base import (
    Filter,
    FilterConfigError,
    MessageContext,
    Verdict,
    option_choice,
    option_strings,
)

# A bare "word.tld" counts as a link when it has a path ("example.com/x") or when
# its ending is a common web TLD. Endings that are also everyday words (.me, .so,
# .it, .is, .in, .to, .no, .us, .at, .be) are left out: "ok.so" is a missing
# space far more often than a link.
_COMMON_TLDS = frozenset(
    "com org net edu gov mil int info biz io co ai app dev xyz online site club shop store link live "
    "ly gg tv fm cc ws uk ie de fr nl es pt ru cn jp kr br au nz ca ch se dk fi pl cz eu za mx ar".split()
)
_LINK = re.compile(
    r"(?:https?|ftp)://(?:[^\s/@<>\"']+@)?(?P<host>[^\s/?#:<>\"']+)[^\s<>\"']*"
    r"|(?<![\w@./-])(?P<www>www\.[^\s/?#:<>\"']+)[^\s<>\"']*"
    r"|(?<![\w@./-])(?P<bare>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,24}))(?![\w@-])"
    r"(?P<path>(?::\d{1,5})?/[^\s<>\"']*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""
# Every link this filter knows has a dot followed by a letter, or a scheme: a cheap first look.
_DOT_LETTER = re.compile(r"\.[^\W\d_]")
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class LinksFilter(Filter):
    """Hold, reject or redact messages with links, except to `allow`ed domains and their subdomains."""

    name = "links"
    checks_labels = True

    def __init__(
        self, *, action: str = "hold", allow: list[str] | tuple[str, ...] = (), **common: Any
    ) -> None:
        super().__init__(**common)
        self.action = option_choice("action", action, ("hold", "reject", "redact"))
        allowed = []
        for domain in option_strings("allow", allow):
            domain = domain.strip().lower().rstrip(".")
            if "://" in domain:
                domain = domain.split("://", 1)[1]
            domain = domain.split("/", 1)[0]
            if not _DOMAIN.match(domain):
                raise FilterConfigError(f"option 'allow': {domain!r} is not a domain name like example.org")
            allowed.append(domain)
        self.allow = tuple(allowed)
        self._suffixes = tuple("." + d for d in allowed)
        self._verdict = Verdict(self.action, self.name, "contains a link")

    def check(self, ctx: MessageContext) -> Verdict | None:
        text = ctx.text
        if "." not in text or (_DOT_LETTER.search(text) is None and "://" not in text):
            return None
        if self.action == "redact":
            new = _LINK.sub(self._redact, text)
            if new != text:
                return Verdict("redact", self.name, "links were removed", text=new)
            return None
        for match in _LINK.finditer(text):
            if self._is_blocked_link(match):
                return self._verdict
        return None

    def _is_blocked_link(self, match: re.Match[str]) -> bool:
        host = match.group("host") or match.group("www")
        if host is None:
            if match.group("path") is None and match.group("tld").lower() not in _COMMON_TLDS:
                return False  # "node.js", "e.g", "file.txt": not a link
            host = match.group("bare")
        host = host.lower().rstrip(_TRAILING).rstrip(".")
        return not (host in self.allow or host.endswith(self._suffixes))

    def _redact(self, match: re.Match[str]) -> str:
        if not self._is_blocked_link(match):
            return match.group()
        link = match.group()
        kept = link.rstrip(_TRAILING)  # keep the sentence's own punctuation
        return "[link removed]" + link[len(kept) :]
