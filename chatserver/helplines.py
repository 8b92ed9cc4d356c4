"""Checks for the helplines in rooms.yaml `resources` (pure): countries, phone and SMS numbers, links.

Each check returns None when the value is fine, else a plain sentence saying
what is wrong, for `chatserver check-rooms` to report at the value's line.
Phone numbers are checked with libphonenumber (the `phonenumbers` package):
full numbers must be valid in every country the item lists, and short numbers
(116 123, 988, 3114, 024...) must be known short numbers there. A few crisis
lines are newer than libphonenumber's short-number data; they are listed in
`EXTRA_SHORT_NUMBERS` so the shipped examples pass.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import phonenumbers
from phonenumbers import shortnumberinfo

#: ISO 3166-1 alpha-2: every officially assigned code, plus XK (Kosovo, user-assigned but in wide use).
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
    BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH
    ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT
    HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS
    LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
    NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG
    SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
    UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
    """.split()
)
#: Codes people often write that are not ISO 3166-1 alpha-2, with what they probably meant.
NOT_COUNTRIES = {
    "UK": "GB, the United Kingdom's code",
    "EU": "the member countries one by one, e.g. [DE, FR, IT]",
    "EL": "GR, Greece's code",
}
#: National crisis short numbers that libphonenumber's short-number data does not know yet.
EXTRA_SHORT_NUMBERS: dict[str, frozenset[str]] = {
    "NL": frozenset({"113"}),  # 113 Zelfmoordpreventie
    "BR": frozenset({"188"}),  # CVV, Centro de Valorização da Vida
    "IN": frozenset({"14416"}),  # Tele-MANAS
}
#: Several numbers in one `phone` field are separated by " / " ("0800 111 0 111 / 0800 111 0 222").
SEPARATOR = re.compile(r"\s*/\s*")
#: A trailing label after a number, like "112 (EU)", is for people, not for the check.
LABEL = re.compile(r"\s*\([^()]*[A-Za-z][^()]*\)\s*$")
DIALABLE = re.compile(r"\+?[\d\s().-]+")
SMS_KEYWORD = re.compile(r"[^\s].{0,29}")
PAIR_KEY = re.compile(r"[a-z0-9-]{1,40}")
CHECKED = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def check_country(code: str) -> str | None:
    """None for an ISO 3166-1 alpha-2 code (any case), else why not."""
    upper = code.strip().upper()
    if upper in COUNTRIES:
        return None
    hint = NOT_COUNTRIES.get(upper)
    if hint:
        return f"'{code}' is not an ISO 3166-1 alpha-2 country code (use {hint})"
    return f"'{code}' is not an ISO 3166-1 alpha-2 country code (two letters, e.g. GB, IE, US, DE)"


def phone_parts(text: str) -> list[str]:
    """The numbers of a `phone` field, labels removed: "112 (EU) / 911 (US)" -> ["112", "911"]."""
    return [LABEL.sub("", part) for part in SEPARATOR.split(text.strip()) if part.strip()]


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _works_in(number: str, country: str) -> bool:
    """A valid full number for the country, or a short number known there (emergency, 116 xxx...)."""
    try:
        parsed = phonenumbers.parse(number, country)
    except phonenumbers.NumberParseException:
        return False
    if number.startswith("+"):
        # Written internationally: callable from anywhere if it is a valid number at all.
        return phonenumbers.is_valid_number(parsed)
    if phonenumbers.is_valid_number_for_region(parsed, country):
        return True
    if shortnumberinfo.is_valid_short_number_for_region(parsed, country):
        return True
    return _digits(number) in EXTRA_SHORT_NUMBERS.get(country, ())


def _works_somewhere(number: str) -> bool:
    """For an item without countries: an international number, or a short number known somewhere."""
    if number.startswith("+"):
        return _works_in(number, "ZZ")
    digits = _digits(number)
    if any(digits in extra for extra in EXTRA_SHORT_NUMBERS.values()):
        return True
    return any(
        shortnumberinfo.is_valid_short_number_for_region(phonenumbers.parse(number, region), region)
        for region in shortnumberinfo.SUPPORTED_SHORT_REGIONS
    )


def check_number(number: str, countries: tuple[str, ...], what: str = "phone number") -> str | None:
    """None when `number` can be dialled in every one of `countries` (or, with none, somewhere)."""
    if not DIALABLE.fullmatch(number) or not 2 <= len(_digits(number)) <= 17:
        return f"'{number}' is not a {what} (expected digits, spaces and an optional leading +)"
    if not countries:
        if _works_somewhere(number):
            return None
        return (
            f"'{number}' is not a short number libphonenumber knows in any country; for an item "
            "without 'countries', write a full number in international form (+44 ...), "
            "or list the item's countries"
        )
    failed = [c for c in countries if not _works_in(number, c)]
    if not failed:
        return None
    return (
        f"'{number}' is not a valid {what} in {', '.join(failed)} according to libphonenumber "
        "(check the digits, or write it in international form, +CC ...)"
    )


def check_phone(text: str, countries: tuple[str, ...]) -> list[str]:
    """Every problem with a `phone` field, which may hold several numbers separated by ' / '."""
    parts = phone_parts(text)
    if not parts:
        return [f"'{text}' holds no phone number"]
    return [problem for part in parts if (problem := check_number(part, countries)) is not None]


def check_sms(text: str, countries: tuple[str, ...]) -> str | None:
    """One number to text: a mobile number or an SMS short code valid in the item's countries."""
    if SEPARATOR.search(text.strip()):
        return f"'sms' holds one number to text, got '{text}'"
    return check_number(text.strip(), countries, "number to text")


def check_sms_keyword(text: str) -> str | None:
    if not SMS_KEYWORD.fullmatch(text) or "\n" in text:
        return f"'{text}' is not a short word to text (one line, up to 30 characters, e.g. HOME)"
    return None


def check_url(text: str) -> str | None:
    """An https:// or http:// address with a host name."""
    try:
        parts = urlsplit(text.strip())
    except ValueError as exc:
        return f"'{text}' is not a web address ({exc})"
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname or " " in text.strip():
        return f"'{text}' is not a web address (expected https://host/..., e.g. https://www.samaritans.org)"
    return None


def check_checked(text: str) -> str | None:
    """`checked: 2026-12`: the month someone last confirmed the item's numbers and links."""
    if not CHECKED.fullmatch(text.strip()):
        return f"'checked' must be a year and month like 2026-12, got '{text}'"
    return None
