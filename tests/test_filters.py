"""The filter chain and the built-in filters: pure, no server."""

from __future__ import annotations

import importlib.metadata
import logging
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.filters import (
    BUILTINS,
    ENTRY_POINT_GROUP,
    BlocklistFilter,
    CrisisFilter,
    Filter,
    FilterChain,
    FilterConfigError,
    LinksFilter,
    MaxLengthFilter,
    MessageContext,
    PiiFilter,
    PremoderateFilter,
    RateLimitFilter,
    RepeatFilter,
    Verdict,
    build_chain,
    build_filter,
    parse_spec,
)
from chatserver.rooms import load_rooms

CRISIS_TEXT = "I can't go on, I want to kill myself tonight"
SHIPPED_ROOMS = Path(__file__).resolve().parent.parent / "rooms.yaml"


def ctx(
    text: str, *, session: str = "s1", role: str = "participant", now: float = 0.0, sent: int = 10
) -> MessageContext:
    return MessageContext(
        room="room", session=session, name="ann", role=role, text=text, now=now, sent_in_room=sent
    )


def verdict_of(f: Filter, text: str, **kw) -> Verdict | None:
    return f.check(ctx(text, **kw))


class Recorder(Filter):
    """Remembers the texts it saw; answers with a fixed verdict."""

    name = "recorder"

    def __init__(self, *, answer: Verdict | None = None, **common) -> None:
        super().__init__(**common)
        self.answer = answer
        self.seen: list[str] = []

    def check(self, ctx: MessageContext) -> Verdict | None:
        self.seen.append(ctx.text)
        return self.answer


class Boom(Filter):
    name = "boom"

    def check(self, ctx: MessageContext) -> Verdict | None:
        raise KeyError(ctx.text)


class Upper(Filter):
    name = "upper"

    def check(self, ctx: MessageContext) -> Verdict | None:
        return self.redact(ctx.text.upper(), "shouting is fun")


# -- max_length -----------------------------------------------------------------


def test_max_length_rejects_only_beyond_the_limit():
    """max_length allows exactly `chars` characters and rejects one more."""
    f = MaxLengthFilter(chars=5)
    assert verdict_of(f, "12345") is None
    v = verdict_of(f, "123456")
    assert v is not None and v.action == "reject" and v.filter == "max_length"


def test_max_length_refuses_a_non_number():
    """A bad `chars` option is a FilterConfigError naming the option."""
    with pytest.raises(FilterConfigError, match="chars"):
        MaxLengthFilter(chars="long")


# -- rate_limit -----------------------------------------------------------------


def test_rate_limit_rejects_the_sixth_message_with_retry_after():
    """5 per 10 s: the sixth at once is rejected, with the wait for one token (2 s)."""
    f = RateLimitFilter(messages=5, per_seconds=10)
    assert all(verdict_of(f, "hi", now=0.0) is None for _ in range(5))
    v = verdict_of(f, "hi", now=0.0)
    assert v is not None and v.action == "reject" and v.filter == "rate_limit"
    assert v.retry_after == pytest.approx(2.0)


def test_rate_limit_refills_over_time():
    """After the bucket empties, waiting retry_after lets one more message through."""
    f = RateLimitFilter(messages=2, per_seconds=10)
    assert verdict_of(f, "a", now=0) is None and verdict_of(f, "b", now=0) is None
    assert verdict_of(f, "c", now=1.0) is not None
    assert verdict_of(f, "d", now=5.01) is None
    assert verdict_of(f, "e", now=5.02) is not None


def test_rate_limit_is_per_session():
    """One session's flood does not limit another."""
    f = RateLimitFilter(messages=1, per_seconds=60)
    assert verdict_of(f, "a", session="x") is None
    assert verdict_of(f, "a", session="x") is not None
    assert verdict_of(f, "a", session="y") is None


def test_rate_limit_table_stays_bounded():
    """Idle buckets are forgotten and the table never grows far past max_sessions."""
    f = RateLimitFilter(messages=5, per_seconds=1, max_sessions=100)
    for i in range(5000):
        f.check(ctx("hi", session=f"s{i}", now=i * 0.001))
    assert len(f._buckets) <= 200


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"messages": "lots", "per_seconds": 10}, ("messages", "lots")),
        ({"messages": 0, "per_seconds": 10}, ("messages",)),
        ({"messages": True, "per_seconds": 10}, ("messages",)),
        ({"messages": 5, "per_seconds": 0}, ("per_seconds",)),
        ({"messages": 5, "per_seconds": 10, "burst": 3}, ("burst", "messages", "per_seconds")),
    ],
)
def test_rate_limit_options_are_validated(options, words):
    """Bad rate_limit options name the option, what was expected and what arrived."""
    with pytest.raises(FilterConfigError) as err:
        build_filter("rate_limit", options)
    message = str(err.value)
    assert "rate_limit" in message
    assert all(w in message for w in words), message


# -- blocklist ------------------------------------------------------------------


def test_blocklist_matches_whole_words_only():
    """A blocked 'kill' does not match 'skilled' or 'killed'."""
    f = BlocklistFilter(words=["kill"])
    assert verdict_of(f, "She is very skilled") is None
    assert verdict_of(f, "it was killed off") is None
    v = verdict_of(f, "I will kill it")
    assert v is not None and v.action == "hold" and v.filter == "blocklist"


@pytest.mark.parametrize("text", ["K1LL", "kill", "KiLL!", "ki11", "k.i.l.l", "kiiiilll", "k|ll", "(kill)"])
def test_blocklist_sees_through_case_leetspeak_and_separators(text):
    """Case, leetspeak, stretched letters and dotted spellings are still the word."""
    assert verdict_of(BlocklistFilter(words=["kill"]), text) is not None


def test_blocklist_keeps_double_letters_meaningful():
    """A blocked 'ass' holds 'a$$' but not 'as', 'class' or 'assess'."""
    f = BlocklistFilter(words=["ass"])
    assert verdict_of(f, "a$$") is not None
    assert verdict_of(f, "as if, in class, we assess") is None


def test_blocklist_phrases_tolerate_apostrophes_and_spacing():
    """'you're pathetic' also matches 'youre  pathetic' and a curly apostrophe."""
    f = BlocklistFilter(words=["you're pathetic"])
    for text in ("you're pathetic", "YOURE  PATHETIC", "you\u2019re pathetic!"):
        assert verdict_of(f, text) is not None, text
    assert verdict_of(f, "you're not pathetic") is None


def test_blocklist_allow_list_wins_over_patterns():
    """A pattern match whose whole word is on the allow list is ignored."""
    f = BlocklistFilter(patterns=[r"\bass\w*"], allow=["assess", "assistance"])
    assert verdict_of(f, "we assess the assistance") is None
    assert verdict_of(f, "what an asshat") is not None


def test_blocklist_reject_action_and_patterns_with_groups():
    """action: reject rejects; patterns with their own groups still work side by side."""
    f = BlocklistFilter(patterns=[r"(ab)\1", r"x(y)z"], action="reject")
    assert verdict_of(f, "ababa").action == "reject"
    assert verdict_of(f, "xyz").action == "reject"
    assert verdict_of(f, "abxz") is None


def test_blocklist_invalid_regex_is_a_config_error():
    """A broken regex is reported with the pattern and the regex error."""
    with pytest.raises(FilterConfigError, match=r"patterns.*\(unclosed"):
        BlocklistFilter(patterns=["(unclosed"])


@pytest.mark.parametrize("text", ["1" * 2000, "|" * 2000, "!" * 2000, "k!" * 1000, "i1" * 1000, "$s" * 1000])
def test_word_matching_stays_fast_on_hostile_input(text):
    """Runs of look-alike characters cannot make the matcher backtrack for long."""
    chain = build_chain([{"blocklist": {"words": ["ill", "kill", "lil", "sis"]}}, "crisis"])
    start = time.perf_counter()
    chain.run(ctx(text))
    assert time.perf_counter() - start < 0.5


def _phrase_regex_as_first_written(phrases):
    """The matcher's regex as first written: it consumes the character before the phrase (the text
    comes with a space in front), then every branch starts with its own first letter's class."""
    import re

    from chatserver.filters import words

    trie: dict = {}
    for phrase in phrases:
        tokens = words._tokens(phrase)
        for form in (tokens, *words._spelt_out(tokens)):
            node = trie
            for token in form:
                node = node.setdefault(token, {})
            node[None] = True
    branches = [
        words._cls(letter) + words._run(letter, count, first_consumed=True) + words._render(child, True)
        for (_, letter, count), child in trie.items()
    ]
    first = "[" + re.escape("".join(sorted({c for _, letter, _ in trie for c in words._chars(letter)}))) + "]"
    return re.compile(r"[\W_](?=" + first + ")(" + "|".join(branches) + ")")


_PHRASES = st.lists(
    st.text(alphabet="ikls1 y'", min_size=1, max_size=6).filter(str.strip), min_size=1, max_size=4
)


@settings(max_examples=1500, deadline=None)
@given(_PHRASES, st.text(alphabet="iklsy1|!$5 .-_'éx", max_size=30))
def test_word_matcher_finds_what_the_matcher_as_first_written_finds(phrases, text):
    """Starting the regex at the phrase's first letter (skipped to quickly) instead of the character
    before it finds a phrase exactly where the first version did, for any phrases and text."""
    from chatserver.filters.words import phrase_problem, phrase_regex

    phrases = [p for p in phrases if phrase_problem(p) is None]
    if not phrases:
        return
    fast, first = phrase_regex(phrases), _phrase_regex_as_first_written(phrases)
    assert (fast.search(" " + text) is None) == (first.search(" " + text) is None)
    assert fast.search(" " + text) is None or fast.search(" " + text).span(1) == first.search(
        " " + text
    ).span(1)


def test_word_matcher_finds_the_shipped_blocklist_as_first_written_on_the_corpus():
    """The shipped blocklist over every line of the crisis corpus and the bench's chat: the same first
    match, or none, as the first version of the regex."""
    import json

    import yaml

    from chatserver.filters.words import phrase_regex

    defaults = yaml.safe_load((Path(__file__).resolve().parent.parent / "rooms.yaml").read_text())["defaults"]
    phrases = next(
        f["blocklist"]["words"] for f in defaults["filters"] if isinstance(f, dict) and "blocklist" in f
    )
    fast, first = phrase_regex(phrases), _phrase_regex_as_first_written(phrases)
    texts = [
        json.loads(row)["text"]
        for path in sorted((Path(__file__).resolve().parent / "data").rglob("*.jsonl"))
        for row in path.read_text(encoding="utf-8").splitlines()
        if row.strip()
    ]
    texts += [t.upper() for t in texts] + [t.replace(" ", "  ") for t in texts]
    found = 0
    for text in texts:
        a, b = fast.search(" " + text), first.search(" " + text)
        assert (a and a.span(1)) == (b and b.span(1)), text
        found += a is not None
    assert len(texts) > 10_000 and found > 0


# -- links ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["see https://evil.test/x", "go to www.something.net", "example.com/x", "try bit.ly", "HTTP://A.B.COM"],
)
def test_links_holds_urls_and_bare_domains(text):
    """URLs with a scheme, www. addresses and bare domains are held."""
    v = verdict_of(LinksFilter(), text)
    assert v is not None and v.action == "hold" and v.filter == "links"


@pytest.mark.parametrize(
    "text", ["node.js and e.g. this", "ok.so I was tired", "mail me at a@b.com", "3.5 hours", "the end."]
)
def test_links_ignores_things_that_only_look_like_domains(text):
    """Everyday dots (node.js, e.g., ok.so, decimals, e-mail) are not links."""
    assert verdict_of(LinksFilter(), text) is None


def test_links_allow_list_covers_subdomains():
    """An allowed domain and its subdomains pass; a look-alike domain does not."""
    f = LinksFilter(allow=["example.org"])
    assert verdict_of(f, "https://example.org/help") is None
    assert verdict_of(f, "see www.example.org and help.example.org/x") is None
    assert verdict_of(f, "https://badexample.org/") is not None
    assert verdict_of(f, "https://example.org.evil.test/") is not None


def test_links_redact_keeps_sentence_punctuation():
    """action: redact swaps the link for a marker and keeps the full stop."""
    v = verdict_of(LinksFilter(action="redact", allow=["ok.org"]), "Look: https://x.test/a. Or ok.org/b.")
    assert v is not None and v.action == "redact"
    assert v.text == "Look: [link removed]. Or ok.org/b."


def test_links_refuses_a_bad_allowed_domain():
    """An allow entry that is not a domain is a config error naming it."""
    with pytest.raises(FilterConfigError, match="not a domain"):
        LinksFilter(allow=["not a domain"])


# -- pii ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me: jo.doe+x@mail.example.com!", "mail me: [email removed]!"),
        ("call +44 20 7946 0958 tonight", "call [phone removed] tonight"),
        ("(555) 123-4567", "[phone removed]"),
        ("my number is 07700900123.", "my number is [phone removed]."),
        ("ring 555.123.4567 or 0800 1111", "ring [phone removed] or [phone removed]"),
    ],
)
def test_pii_redacts_emails_and_phone_numbers(text, expected):
    """E-mail addresses and 7+ digit phone numbers are replaced by markers."""
    v = verdict_of(PiiFilter(), text)
    assert v is not None and v.action == "redact" and v.filter == "pii"
    assert v.text == expected


@pytest.mark.parametrize(
    "text", ["I'm 25", "at 10:30 or 11:45", "on 2024-01-15", "12.03.2024", "pi is 3.14159265", "116 123"]
)
def test_pii_leaves_ordinary_numbers_alone(text):
    """Ages, times, dates, decimals and short numbers are not phone numbers."""
    assert verdict_of(PiiFilter(), text) is None


def test_pii_hold_mode_and_switches():
    """action: hold holds instead of redacting; emails: false leaves e-mail addresses."""
    v = verdict_of(PiiFilter(action="hold"), "a@b.org")
    assert v is not None and v.action == "hold"
    assert verdict_of(PiiFilter(emails=False), "a@b.org") is None
    assert verdict_of(PiiFilter(phones=False), "07700 900123") is None


# -- crisis ---------------------------------------------------------------------


def test_crisis_holds_the_conformance_text_urgently_with_resources():
    """The suite's crisis text is held, urgent, naming the resources list."""
    v = verdict_of(CrisisFilter(), CRISIS_TEXT)
    assert v == Verdict(
        "hold",
        "crisis",
        "may be about suicide or self-harm",
        urgent=True,
        resources="crisis",
        level="imminent",
    )


@pytest.mark.parametrize(
    "text",
    [
        "i cant go on",
        "I can\u2019t go on",
        "thinking about suicide",
        "feeling SUICIDAL",
        "I self-harm sometimes",
        "selfharm",
        "I want to k1ll mys3lf",
        "there's no reason to live",
        "I took an overdose",
        "I don't want to be here anymore",
    ],
)
def test_crisis_recognises_phrases_in_many_spellings(text):
    """Apostrophes, case, hyphens and leetspeak do not hide a crisis phrase."""
    assert verdict_of(CrisisFilter(), text) is not None


@pytest.mark.parametrize("text", ["I want to diet", "that film killed me, haha", "I can go on"])
def test_crisis_ignores_near_misses(text):
    """Ordinary sentences near the phrases are not flagged."""
    assert verdict_of(CrisisFilter(), text) is None


def test_crisis_pass_allows_but_alerts():
    """action: pass answers allow, still urgent and with resources."""
    v = verdict_of(CrisisFilter(action="pass", resources="help"), CRISIS_TEXT)
    assert v is not None and v.action == "allow" and v.urgent and v.resources == "help"


def test_crisis_extra_phrases():
    """phrases: adds to the built-in list."""
    f = CrisisFilter(phrases=["walk into the sea"])
    assert verdict_of(f, "I want to walk into the sea") is not None


# -- repeat ---------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aB .,!\t\n\u00a0\u2003\u3000\x1f\x85\u200bß-*"), max_size=20)
    | st.text()
)
def test_repeat_normalises_as_splitting_on_whitespace_would(text):
    """The shortcut for text with single spaces only gives what splitting and joining gives."""
    from chatserver.filters.limits import _EDGE_PUNCTUATION, normalised

    assert normalised(text) == " ".join(text.casefold().split()).strip(_EDGE_PUNCTUATION)


def test_repeat_rejects_the_same_text_within_the_window():
    """The same text again within the window is rejected, ignoring case and spacing."""
    f = RepeatFilter(window_seconds=30)
    assert verdict_of(f, "Hello everyone, how are you?", now=0) is None
    v = verdict_of(f, "hello   everyone, how are you", now=10)
    assert v is not None and v.action == "reject" and v.filter == "repeat"
    assert v.retry_after == pytest.approx(20)
    assert verdict_of(f, "hello everyone, how are you", now=31) is None


def test_repeat_is_per_session_and_spares_short_texts_and_hosts():
    """Other sessions, short replies like 'thanks' and hosts are never repeats."""
    f = RepeatFilter()
    assert verdict_of(f, "a longer message here", session="a") is None
    assert verdict_of(f, "a longer message here", session="b") is None
    assert verdict_of(f, "thanks") is None and verdict_of(f, "thanks") is None
    for _ in range(2):
        assert verdict_of(f, "welcome, please read the guidelines", role="host") is None


def test_repeat_hold_action():
    """action: hold holds the repeat instead."""
    f = RepeatFilter(action="hold")
    f.check(ctx("a longer message here"))
    assert verdict_of(f, "a longer message here").action == "hold"


# -- premoderate ----------------------------------------------------------------


def test_premoderate_new_members_holds_the_first_messages():
    """new_members holds while sent_in_room < count, then lets messages through."""
    f = PremoderateFilter(mode="new_members", count=2)
    assert verdict_of(f, "hi", sent=0).action == "hold"
    assert verdict_of(f, "hi", sent=1).action == "hold"
    assert verdict_of(f, "hi", sent=2) is None


def test_premoderate_all_holds_participants_only():
    """mode all holds every participant message but never a host's."""
    f = PremoderateFilter(mode="all")
    assert verdict_of(f, "hi", sent=100).action == "hold"
    assert verdict_of(f, "hi", role="host") is None


# -- the chain ------------------------------------------------------------------


def test_chain_strictest_verdict_wins_and_redactions_apply():
    """redact + hold is held, with the redacted text and both filters named in order."""
    chain = FilterChain([PiiFilter(), BlocklistFilter(words=["grapefruit"])])
    result = chain.run(ctx("grapefruit at a@b.org"))
    assert result.status == "held"
    assert result.text == "grapefruit at [email removed]"
    assert result.reasons == ["pii", "blocklist"]
    assert len(result.explanations) == 2 and result.redacted


def test_chain_redactions_are_seen_by_later_filters_in_order():
    """Each filter sees the text as redacted by the filters before it; the caller's ctx is untouched."""
    spy = Recorder()
    chain = FilterChain([PiiFilter(), Upper(), spy])
    message = ctx("mail a@b.org")
    result = chain.run(message)
    assert spy.seen == ["MAIL [EMAIL REMOVED]"]
    assert result.text == "MAIL [EMAIL REMOVED]" and result.status == "published"
    assert result.reasons == ["pii", "upper"]
    assert message.text == "mail a@b.org"


def test_chain_reject_stops_but_hold_does_not():
    """After a hold the chain goes on; after a reject later filters do not run."""
    after_hold, after_reject = Recorder(), Recorder()
    held = FilterChain([BlocklistFilter(words=["kill"]), after_hold]).run(ctx("kill"))
    assert held.status == "held" and after_hold.seen == ["kill"]
    rejected = FilterChain([MaxLengthFilter(chars=2), after_reject]).run(ctx("kill"))
    assert rejected.status == "rejected" and rejected.reasons == ["max_length"]
    assert after_reject.seen == []


def test_crisis_fires_after_a_blocklist_hold():
    """A blocklist hold does not hide a crisis: urgent, resources, both reasons."""
    chain = build_chain([{"blocklist": {"words": ["kill"]}}, {"crisis": {"resources": "crisis"}}])
    result = chain.run(ctx(CRISIS_TEXT))
    assert result.status == "held"
    assert result.reasons == ["blocklist", "crisis"]
    assert result.urgent and result.resources == "crisis"


def test_crisis_still_sends_resources_after_a_reject():
    """A rate-limited person in crisis is still rejected, but gets resources and alerts hosts."""
    chain = build_chain([{"rate_limit": {"messages": 1, "per_seconds": 60}}, "crisis"])
    chain.run(ctx("hello"))
    result = chain.run(ctx(CRISIS_TEXT))
    assert result.status == "rejected" and result.retry_after is not None
    assert result.reasons == ["rate_limit", "crisis"]
    assert result.urgent and result.resources == "crisis"


def test_after_a_reject_crisis_reads_only_the_start_of_a_huge_text():
    """A 60 000-character message rejected as too long is still scanned for crisis, but only its start."""

    class LateRecorder(Recorder):
        runs_after_reject = True

    spy = LateRecorder()
    chain = FilterChain([MaxLengthFilter(chars=2000), CrisisFilter(), spy])
    result = chain.run(ctx(CRISIS_TEXT + " x" * 30000))
    assert result.status == "rejected" and result.resources == "crisis"
    assert len(spy.seen[0]) == 4000


def test_crisis_pass_publishes_with_alert():
    """crisis action pass: published, but urgent with resources and named in reasons."""
    result = build_chain([{"crisis": {"action": "pass"}}]).run(ctx(CRISIS_TEXT))
    assert result.status == "published"
    assert result.urgent and result.resources == "crisis" and result.reasons == ["crisis"]


def test_hosts_are_not_held_and_get_no_resources():
    """A host's message that would be held is published; rejects still apply to hosts."""
    chain = build_chain(["premoderate", {"blocklist": {"words": ["kill"]}}, "crisis"])
    result = chain.run(ctx(CRISIS_TEXT, role="host", sent=0))
    assert result.status == "published" and result.reasons == []
    assert result.resources is None and not result.urgent
    limited = FilterChain([MaxLengthFilter(chars=3)]).run(ctx("four", role="admin"))
    assert limited.status == "rejected"


@pytest.mark.parametrize(
    ("on_error", "status"), [("hold", "held"), ("reject", "rejected"), ("allow", "published")]
)
def test_a_failing_filter_applies_its_on_error(on_error, status, caplog):
    """A filter that raises is logged without the text, recorded, and its on_error decides."""
    caplog.set_level(logging.ERROR, logger="chatserver.filters.chain")
    result = FilterChain([Boom(on_error=on_error)]).run(ctx("secret words"))
    assert result.status == status
    assert result.errors == ["boom: KeyError"]
    assert caplog.records and "boom" in caplog.text and "KeyError" in caplog.text
    assert "secret words" not in caplog.text


def test_default_on_error_is_hold():
    """Without on_error, a failing filter holds the message."""
    assert Boom().on_error == "hold"
    assert FilterChain([Boom()]).run(ctx("x")).status == "held"


def test_a_filter_returning_garbage_counts_as_an_error():
    """A verdict with an unknown action is treated like an exception."""
    bad = Recorder(answer=Verdict("block", "recorder"))
    result = FilterChain([bad]).run(ctx("x"))
    assert result.status == "held" and result.errors == ["recorder: ValueError"]


def test_on_error_is_validated():
    """on_error must be hold, reject or allow."""
    with pytest.raises(FilterConfigError, match="on_error"):
        build_filter("pii", {"on_error": "ignore"})


def test_chain_takes_only_filters():
    """FilterChain refuses things that are not Filter instances."""
    with pytest.raises(TypeError):
        FilterChain([object()])  # type: ignore[list-item]


# -- registry -------------------------------------------------------------------


def test_parse_spec_shapes():
    """A name, `name: {options}`, `name:` and `{filter: NAME, ...options}` are all chain items."""
    assert parse_spec("pii") == ("pii", {})
    assert parse_spec({"pii": {"action": "hold"}}) == ("pii", {"action": "hold"})
    assert parse_spec({"pii": None}) == ("pii", {})
    assert parse_spec({"filter": "m:C", "on_error": "reject", "level": 2}) == (
        "m:C",
        {"on_error": "reject", "level": 2},
    )
    with pytest.raises(FilterConfigError):
        parse_spec({"pii": {}, "links": {}})


def test_unknown_filter_lists_what_exists():
    """An unknown name is an error listing the built-ins and the other ways to name a filter."""
    with pytest.raises(FilterConfigError) as err:
        build_filter("nosuchfilter", {})
    message = str(err.value)
    assert "nosuchfilter" in message and "blocklist" in message and ENTRY_POINT_GROUP in message


def test_unknown_option_lists_the_expected_ones():
    """An unknown option names itself and the options the filter takes."""
    with pytest.raises(FilterConfigError) as err:
        build_filter("links", {"colour": "red"})
    assert "'colour'" in str(err.value) and "allow" in str(err.value) and "on_error" in str(err.value)


def test_every_builtin_builds_with_defaults():
    """Each built-in has sensible defaults and the name it is registered under."""
    for name in BUILTINS:
        assert build_filter(name, None).name == name


SHOUT_MODULE = """
from chatserver.filters import Filter, Verdict, option_int

class Shout(Filter):
    name = "shout"

    def __init__(self, *, level=1, **common):
        super().__init__(**common)
        self.level = option_int("level", level, minimum=1)

    def check(self, ctx):
        if sum(c.isupper() for c in ctx.text) > self.level:
            return self.hold("too much shouting")
        return None

class NotAFilter:
    pass
"""


@pytest.fixture
def shout_module(tmp_path, monkeypatch):
    (tmp_path / "myfilters_shout.py").write_text(textwrap.dedent(SHOUT_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "myfilters_shout"


def test_custom_filter_from_an_import_path(shout_module):
    """`filter: module:Class` with options builds the plugin, which then runs in a chain."""
    chain = build_chain([{"filter": f"{shout_module}:Shout", "level": 2, "on_error": "reject"}])
    (shout,) = chain.filters
    assert shout.name == "shout" and shout.level == 2 and shout.on_error == "reject"
    result = chain.run(ctx("HEY YOU"))
    assert result.status == "held" and result.reasons == ["shout"]
    assert chain.run(ctx("Hey you")).status == "published"


def test_custom_filter_load_errors_are_plain(shout_module):
    """A missing module, a missing class, a non-Filter class and a bad option each explain themselves."""
    with pytest.raises(FilterConfigError, match="cannot import 'no_such_module_x'"):
        build_filter("no_such_module_x:Thing", {})
    with pytest.raises(FilterConfigError, match="has no 'Nope'"):
        build_filter(f"{shout_module}:Nope", {})
    with pytest.raises(FilterConfigError, match="not a subclass"):
        build_filter(f"{shout_module}:NotAFilter", {})
    with pytest.raises(FilterConfigError, match="level"):
        build_filter(f"{shout_module}:Shout", {"level": "loud"})


def test_custom_filter_from_an_entry_point(shout_module, monkeypatch):
    """A name registered under the chatserver.filters entry-point group is found."""
    point = importlib.metadata.EntryPoint(
        name="shout", value=f"{shout_module}:Shout", group=ENTRY_POINT_GROUP
    )

    def entry_points(**params):
        assert params == {"group": ENTRY_POINT_GROUP}
        return importlib.metadata.EntryPoints([point])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    f = build_filter("shout", {"level": 1})
    assert type(f).__name__ == "Shout" and f.check(ctx("AB")).action == "hold"


# -- the shipped default chain ---------------------------------------------------


@pytest.fixture(scope="module")
def default_chain() -> FilterChain:
    return load_rooms(SHIPPED_ROOMS).rooms["anxiety"].chain


def test_default_chain_publishes_an_ordinary_message(default_chain):
    """An everyday message passes the shipped chain unchanged."""
    result = default_chain.run(ctx("Thank you all, breathing slowly really helped me at 10:30 today."))
    assert (result.status, result.reasons, result.errors) == ("published", [], [])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400), role=st.sampled_from(["participant", "host", "admin"]))
def test_fuzz_default_chain_never_raises(default_chain, text, role):
    """For any text, the shipped chain answers with a valid status and no filter errors."""
    result = default_chain.run(ctx(text, role=role, session=str(len(text))))
    assert result.status in ("published", "held", "rejected")
    assert result.errors == []
    assert isinstance(result.text, str)
