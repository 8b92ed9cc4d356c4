"""Contact details (issue 12, point 6): one definition for the live pii filter and for
`audit export --redact`, and redaction of every field that keeps typed text."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from chatserver.audit import AuditLog, export, redact_text, transcript
from chatserver.filters import MessageContext, PiiFilter
from chatserver.filters.pii import Contact, find_contacts, redact_contacts

# Numbers and addresses written so that one of the two old definitions missed them.
DISGUISED = [
    "ring me on 0770   0900123",  # three spaces: the export's old pattern allowed two
    "call-07700900123",  # a dash before it: the export's old pattern would not start there
    "０７７００ ９００１２３",  # full-width digits: the filter's old digit check was ASCII only
    "07700\u200b900123",  # a zero-width space inside
    "07700\u2013900123",  # an en dash
    "+44\u00a020\u00a07946\u00a00958",  # no-break spaces
    "jo\u200b.doe@example.com",  # a zero-width space in the address
    "jo.doe＠example.com",  # a full-width @
]


def pii(text: str) -> str:
    verdict = PiiFilter().check(MessageContext("r", "s", "ann", "participant", text, 0.0))
    return text if verdict is None else verdict.text or ""


def long_digit_runs(text: str) -> list[str]:
    return [run for run in re.findall(r"[\d\s\u200b\u2013\-]+", text) if sum(c.isdigit() for c in run) >= 7]


@pytest.mark.parametrize("text", DISGUISED)
def test_the_live_filter_removes_disguised_contact_details(text):
    """Spacing, dashes, full-width digits and invisible characters do not hide a number or address."""
    redacted = pii(text)
    assert "removed]" in redacted and not long_digit_runs(redacted) and "example" not in redacted


@pytest.mark.parametrize("text", DISGUISED)
async def test_export_masks_what_the_live_filter_removed(text, tmp_path: Path):
    """The original of a redacted message, as the hub stores it, is masked by `audit export --redact`."""
    db = tmp_path / "chat.db"
    async with await AuditLog.open(db) as audit:
        audit.append(
            "published",
            room="a",
            actor_name="ann",
            message_id="m1",
            text=pii(text),
            detail={"role": "participant", "action": "redacted", "reasons": ["pii"], "original": text},
        )
        await audit.flush()
    out = io.StringIO()
    export(db, out, redact=True)
    original = json.loads(out.getvalue())["detail"]["original"]
    assert ("[phone]" in original or "[email]" in original) and not long_digit_runs(original), original
    assert "example" not in original


@pytest.mark.parametrize(
    "text",
    ["I'm 25", "on 2024-01-15", "12.03.2024", "pi is 3.14159265", "116 123", "10:30", "from 1990-1995"],
)
def test_filter_and_export_leave_ordinary_numbers_alike(text):
    """Ages, dates, decimals, times, year ranges and short numbers stay, in the filter and the export."""
    assert pii(text) == text
    assert redact_text(text) == text


def test_time_ranges_are_not_phone_numbers():
    """A time range written with dots (10.30-11.45) is not a phone number."""
    assert find_contacts("meet 10.30-11.45 or 14.00 - 15.30?") == []


def test_find_contacts_gives_kinds_and_spans():
    """find_contacts names each e-mail address and phone number with where it is."""
    text = "mail a.b@example.org or call (555) 123-4567"
    assert find_contacts(text) == [Contact("email", 5, 20), Contact("phone", 29, 43)]
    assert redact_contacts(text, email_mark="E", phone_mark="P") == "mail E or call P"
    assert find_contacts(text, emails=False) == [Contact("phone", 29, 43)]


async def test_export_masks_every_field_that_keeps_typed_text(tmp_path: Path):
    """Text, name, content warning, notes, report reasons, host notes and explanations are all masked."""
    db = tmp_path / "chat.db"
    phone, mail = "07700 900123", "jo@example.org"
    async with await AuditLog.open(db) as audit:
        audit.append(
            "held",
            room="a",
            actor_name=f"ann {mail}",
            message_id="m1",
            text=f"call {phone}",
            detail={"cw": f"ring {phone}", "original": f"mail {mail}", "explanations": [f"x {phone}"]},
        )
        audit.append("released", room="a", message_id="m1", text=f"call {phone}", detail={"note": mail})
        audit.append("report", room="a", message_id="m1", detail={"reason": f"spam from {phone}"})
        audit.append("note", room="a", subject="s1", text=f"said {mail}", detail={"by": {"name": "bob"}})
        audit.append("kicked", room="a", subject="s1", detail={"reason": f"posted {phone}"})
        await audit.flush()
    out = io.StringIO()
    export(db, out, redact=True)
    dump = out.getvalue()
    assert "900123" not in dump and "example.org" not in dump
    assert dump.count("[phone]") == 6 and dump.count("[email]") == 4


async def test_redacted_transcript_masks_the_content_warning(tmp_path: Path):
    """The transcript with redact masks contact details in the text, the name and the content warning."""
    db = tmp_path / "chat.db"
    async with await AuditLog.open(db) as audit:
        audit.append(
            "published",
            room="a",
            actor_session="s1",
            actor_name="ann 07700 900123",
            message_id="m1",
            text="hi jo@example.org",
            detail={"role": "participant", "cw": "call 07700 900123"},
            seq=1,
        )
        await audit.flush()
    (message,) = transcript(db, "a", redact=True)
    assert message["text"] == "hi [email]"
    assert message["cw"] == "call [phone]"
    assert message["from"]["name"] == "ann [phone]"
    (plain,) = transcript(db, "a")
    assert plain["cw"] == "call 07700 900123"
