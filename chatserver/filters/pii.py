"""What counts as contact details, and the pii filter that removes them.

This module is the one definition of an e-mail address and a phone number: the
live `pii` filter redacts with it, and `audit export --redact` (and the redacted
transcript) masks with it, so an export never shows what the filter removed.

- An e-mail address: `local@domain.tld`, the local part letters, digits and
  `. + - % '`, the domain labels of letters, digits and `-` (a full-width `＠`
  or `．` counts too).
- A phone number: 7 to 15 digits (any script's digits, full-width included),
  an optional leading `+` or `(`, separated by spaces, dots, dashes or
  brackets: `+44 20 7946 0958`, `(555) 123-4567`, `07700 900123`. Not a date
  (`2024-01-15`, `12.03.2024`), a decimal (`3.14159265`), a year range
  (`1990-1995`) or a time range (`10.30-11.45`); ages, times and short numbers
  such as `116 123` have too few digits.

Characters that render as nothing (zero-width spaces, soft hyphens) do not
split either: they are part of the match and go with it.

libphonenumber (`phonenumbers`, used for rooms.yaml helplines) was weighed for
this and not used: without a country per message it only recognises numbers in
`+CC` form, with one it reads dates such as 2024-01-15 as numbers, and a call
costs tens of µs where the chain has a few per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chatserver.filters.base import Filter, MessageContext, Verdict, option_bool, option_choice

EMAIL_MARK = "[email removed]"
PHONE_MARK = "[phone removed]"

_INVISIBLE = "\u00ad\u200b-\u200f\u2060-\u2064\ufeff"
# The lookbehinds make each regex start only at the beginning of a run, so a long
# word without "@" costs one pass, not one pass per character.
_EMAIL = re.compile(
    rf"(?<![\w.%+'{_INVISIBLE}-])[\w.%+'{_INVISIBLE}-]+[@\uff20\ufe6b][\w{_INVISIBLE}-]+"
    rf"(?:[.\uff0e][\w{_INVISIBLE}-]+)+"
)
# A phone number candidate: optional +, digits with spaces, dots, dashes (any kind) or brackets
# between them. `is_phone_number` then wants 7 to 15 digits, so "I'm 25", "10:30" and "2 cats and 3
# dogs" never count.
_PHONE = re.compile(rf"(?<![\w+])\+?\(?\d[\d\s().\-\u2010-\u2015\u2212{_INVISIBLE}]{{4,24}}\d(?!\w)")
_NOT_PHONE = re.compile(
    r"\d{1,4}([./-])\d{1,2}\1\d{1,4}"  # a date: 2024-01-15, 12.03.2024, 1/2/2024
    r"|\d+\.\d+"  # a decimal
    r"|(?:1[89]|20)\d\d\s*[-\u2013]\s*(?:(?:1[89]|20)\d\d|\d\d)"  # years: 1990-1995, 2019 - 21
    r"|\d{1,2}[.:]\d\d\s*[-\u2013]\s*\d{1,2}[.:]\d\d"  # hours: 10.30-11.45
)
_ANY_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Contact:
    """One e-mail address or phone number found in a text: `kind` is "email" or "phone"."""

    kind: str
    start: int
    end: int


def _has_digit(text: str) -> bool:
    # Ten substring checks run in C and beat one regex scan on chat-sized text; digits of other
    # scripts (full-width ０-９, Arabic-Indic...) only need looking for in text that is not ASCII.
    return (
        "0" in text or "1" in text or "2" in text or "3" in text or "4" in text
        or "5" in text or "6" in text or "7" in text or "8" in text or "9" in text
        or (not text.isascii() and _ANY_DIGIT.search(text) is not None)
    )  # fmt: skip


def _has_at(text: str) -> bool:
    return "@" in text or (not text.isascii() and ("\uff20" in text or "\ufe6b" in text))


def is_phone_number(candidate: str) -> bool:
    """True when `candidate` (a run of digits and separators) counts as a phone number."""
    digits = sum(c.isdigit() for c in candidate)
    if not 7 <= digits <= 15:
        return False
    return _NOT_PHONE.fullmatch(candidate.strip()) is None


def find_contacts(text: str, *, emails: bool = True, phones: bool = True) -> list[Contact]:
    """The e-mail addresses and phone numbers in `text`, in order, not overlapping."""
    found: list[Contact] = []
    if emails and _has_at(text):
        found.extend(Contact("email", *m.span()) for m in _EMAIL.finditer(text))
    if phones and _has_digit(text):
        taken = [(c.start, c.end) for c in found]
        for m in _PHONE.finditer(text):
            start, end = m.span()
            if is_phone_number(m.group()) and not any(s < end and start < e for s, e in taken):
                found.append(Contact("phone", start, end))
    found.sort(key=lambda c: c.start)
    return found


def redact_contacts(
    text: str,
    *,
    emails: bool = True,
    phones: bool = True,
    email_mark: str = EMAIL_MARK,
    phone_mark: str = PHONE_MARK,
) -> str:
    """`text` with each e-mail address and phone number replaced by a mark; the same text when none."""
    if not ((emails and _has_at(text)) or (phones and _has_digit(text))):
        return text
    new = text
    if emails and _has_at(new):
        new = _EMAIL.sub(email_mark, new)
    if phones and _has_digit(new):
        new = _PHONE.sub(lambda m: phone_mark if is_phone_number(m.group()) else m.group(), new)
    return new


class PiiFilter(Filter):
    """Redact (or hold) e-mail addresses and phone numbers, to protect the sender's privacy."""

    name = "pii"
    checks_labels = True

    def __init__(
        self, *, action: str = "redact", emails: bool = True, phones: bool = True, **common: Any
    ) -> None:
        super().__init__(**common)
        self.action = option_choice("action", action, ("redact", "hold"))
        self.emails = option_bool("emails", emails)
        self.phones = option_bool("phones", phones)

    def check(self, ctx: MessageContext) -> Verdict | None:
        text = ctx.text
        new = redact_contacts(text, emails=self.emails, phones=self.phones)
        if new is text or new == text:
            return None
        if self.action == "hold":
            return Verdict("hold", self.name, "contains an e-mail address or phone number")
        return Verdict("redact", self.name, "contact details were removed to protect your privacy", text=new)
