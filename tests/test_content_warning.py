"""The content-warning label (issue 12, point 5): it passes the room's content filters like the text,
or the send is refused; a crisis label alerts like crisis text. Pure chain tests, then a real server."""

from __future__ import annotations

import pytest

from chatserver.filters import (
    CrisisFilter,
    Filter,
    FilterChain,
    MessageContext,
    Verdict,
    build_chain,
)
from chatserver.filters.chain import LABEL_REFUSED

SAFE = [
    {"blocklist": {"words": ["kill", "grapefruit"], "action": "hold"}},
    {"links": {"action": "hold", "allow": ["example.org"]}},
    {"pii": {"action": "redact"}},
    {"crisis": {"action": "hold", "resources": "crisis"}},
    {"rate_limit": {"messages": 1, "per_seconds": 60}},
    {"repeat": {"min_length": 1}},
    {"premoderate": {"mode": "all"}},
]


def label(text: str, role: str = "participant") -> MessageContext:
    return MessageContext("safe", "s1", "sam", role, text, 0.0)


@pytest.mark.parametrize(
    "cw, reason",
    [
        ("grapefruit", "blocklist"),
        ("grаpefruit", "blocklist"),  # Cyrillic а
        ("see bit.ly/x", "links"),
        ("call 07700 900123", "pii"),
        ("mail sam@example.com", "pii"),
    ],
)
def test_a_label_with_blocked_words_links_or_contact_details_is_refused(cw, reason):
    """The label is refused, naming the filter, when blocklist, links or pii would act on it."""
    result = build_chain(SAFE).check_label(label(cw))
    assert result.status == "rejected" and result.reasons == [reason]


def test_check_label_leaves_the_counters_alone():
    """Checking labels runs no rate limit, repeat or premoderation: a label is not a message."""
    chain = build_chain(SAFE)
    for _ in range(5):
        assert chain.check_label(label("family conflict")).status == "published"
    assert chain.run(label("a first message")).reasons == ["premoderate"]  # the rate limit still has room


def test_a_crisis_label_is_no_refusal_but_alerts_and_holds_the_message():
    """'suicidal thoughts' as a label is allowed; the message is urgent, held, with resources."""
    chain = build_chain(SAFE[:4])
    checked = chain.check_label(label("suicidal thoughts"))
    assert checked.status == "held" and checked.urgent and checked.resources == "crisis"
    result = chain.run(label("I had a rough night"), label=checked)
    assert result.status == "held" and result.urgent and result.resources == "crisis"
    assert result.reasons == ["crisis"]


def test_a_hosts_label_is_not_held_and_raises_no_alert():
    """Hosts are never held and their crisis words are help, in labels as in text."""
    chain = build_chain(SAFE[:4])
    checked = chain.check_label(label("suicide", role="host"))
    assert checked.status == "published" and not checked.urgent and checked.resources is None
    assert chain.check_label(label("grapefruit", role="host")).status == "published"
    assert chain.check_label(label("call 07700 900123", role="host")).status == "rejected"


class Broken(Filter):
    name = "broken"
    checks_labels = True

    def check(self, ctx: MessageContext) -> Verdict | None:
        raise RuntimeError("boom")


def test_a_filter_that_fails_on_a_label_refuses_it():
    """A failing content filter never lets a label through unchecked (unless its on_error is allow)."""
    assert FilterChain([Broken()]).check_label(label("anything")).status == "rejected"
    assert FilterChain([Broken(on_error="allow")]).check_label(label("anything")).status == "published"


def test_the_builtin_content_filters_check_labels():
    """blocklist, links, pii and crisis look at labels; the counting filters do not."""
    chain = build_chain(SAFE)
    assert [f.name for f in chain if f.checks_labels] == ["blocklist", "links", "pii", "crisis"]
    assert CrisisFilter.checks_labels


# ---------------------------------------------------------------- through a real server


@pytest.mark.parametrize(
    "cw", ["grapefruit", "gr\u0430pefruit", "see https://shady.example.net/x", "ring 07700 900123"]
)
async def test_a_send_whose_label_fails_the_filters_is_refused(server, clients, cw):
    """The send is refused with bad_request and the plain explanation; nobody sees anything."""
    sam = await clients.user(server, "sam", ("safe",))
    kim = await clients.user(server, "kim", ("safe",))
    alice = await clients.host(server, "alice", ("safe",))
    answer = await sam.post("safe", "I had a rough night", cw=cw)
    assert answer["type"] == "error" and answer["code"] == "bad_request"
    assert answer["message"] == LABEL_REFUSED
    await kim.expect_none("message", within=0.3)
    await alice.expect_none("held", within=0.1)
    ok = await sam.post("safe", "I had a rough night", cw="family conflict")
    assert ok["status"] == "published"
    message = await kim.expect("message", id=ok["id"])
    assert message["cw"] == "family conflict"


async def test_a_crisis_label_sends_help_and_holds_the_message_for_the_hosts(server, clients):
    """A label such as 'I want to kill myself' is crisis text: resources to the sender, urgent hold."""
    sam = await clients.user(server, "sam", ("safe",))
    kim = await clients.user(server, "kim", ("safe",))
    alice = await clients.host(server, "alice", ("safe",))
    await sam.send(type="send", room="safe", text="bad night", client_id="c1", cw="I want to end my life")
    await sam.expect("resources", timeout=2)
    ack = await sam.expect("ack", client_id="c1")
    assert ack["status"] == "held"
    held = await alice.expect("held", id=ack["id"])
    assert held["urgent"] is True and "crisis" in held["reasons"]
    await kim.expect_none("message", within=0.3, id=ack["id"])
