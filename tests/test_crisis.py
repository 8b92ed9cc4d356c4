"""The crisis recogniser (issue 13): levels, negation and figurative speech, context, languages,
rooms.yaml extensions, check-rooms lines, the browser hints and the corpus score. Pure, no server."""

from __future__ import annotations

import re
import textwrap
import time
import unicodedata
from pathlib import Path

import pytest

from chatserver.crisis import client_hints, recogniser_for, shipped_languages
from chatserver.crisis.packs import PackError, read_pack
from chatserver.crisis.score import TARGETS, read_corpus, score
from chatserver.errors import ConfigError
from chatserver.filters import CrisisFilter, FilterConfigError, MessageContext, build_chain
from chatserver.rooms import parse_rooms

CORPUS = Path(__file__).resolve().parent / "data" / "crisis"


def ctx(text: str, *, session: str = "s1", now: float = 1000.0, role: str = "participant") -> MessageContext:
    return MessageContext("room", session, "sam", role, text, now)


def level(text: str, languages: tuple[str, ...] | None = ("en",)) -> str | None:
    return recogniser_for(languages).level(text)


# -- levels ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my friend died by suicide last year", "concern"),
        ("how do I support my sister, she's been self harming", "concern"),
        ("I wish I could just disappear forever", "passive"),
        ("everyone would be better off if I wasn't around", "passive"),
        ("I hope I don't wake up tomorrow", "passive"),
        ("I'm such a burden to my family", "passive"),
        ("I want to kill myself", "active"),
        ("I cut again last night", "active"),
        ("I've been thinking about suicide a lot", "active"),
        ("I've been saving up my pills", "imminent"),
        ("I'm on the bridge right now", "imminent"),
        ("I took the whole bottle an hour ago", "imminent"),
        ("I can't go on, I want to kill myself tonight", "imminent"),
    ],
)
def test_each_level_is_recognised(text, expected):
    """Someone else or the past is concern; a wish not to live passive; intent active; plans imminent."""
    assert level(text) == expected


@pytest.mark.parametrize(
    "text",
    ["kms", "sewerslide is all i think about", "k1ll mys3lf", "i want to k i l l myself", "su!c!dal af"],
)
def test_slang_and_obfuscation_are_read(text):
    """Slang, leetspeak, spaced-out letters and symbols inside words do not hide a crisis."""
    assert level(text) in ("active", "imminent")


@pytest.mark.parametrize(
    "text",
    [
        "this exam is killing me",
        "I'm dying to see that film",
        "I'd kill for a coffee",
        "I want to diet",
        "I cut my hair last night",
        "my phone died again",
        "i died laughing at that video",
        "this is goodbye for 2 weeks everyone, off on holiday",
        "that film killed me, haha",
        "I can go on",
    ],
)
def test_figurative_and_everyday_talk_is_quiet(text):
    """Idioms and ordinary talk that share the words raise nothing."""
    assert level(text) is None


@pytest.mark.parametrize(
    "text",
    ["I'm not suicidal, just tired", "I would never kill myself", 'he said "I want to die" as a joke'],
)
def test_negation_and_reported_speech_are_at_most_concern(text):
    """A negated or quoted phrase is concern at most, never an alarm."""
    assert level(text) in (None, "concern")


def test_hostile_input_cannot_make_the_recogniser_backtrack():
    """Long repetitive input is read in linear time (possessive, bounded patterns)."""
    recogniser = recogniser_for(None)
    for text in ("i " * 2000, "want to " * 500, "1" * 4000, "k.i.l.l " * 400, "kill " * 800):
        start = time.perf_counter()
        recogniser.assess(text)
        assert time.perf_counter() - start < 0.5, text[:20]


# -- the filter: verdicts, level rules, memory --------------------------------------------------------


def test_the_verdict_carries_the_level_and_the_chain_the_highest():
    """Verdict.level is the level; ChainResult.level the highest any filter saw."""
    verdict = CrisisFilter().check(ctx("I took the whole bottle an hour ago"))
    assert verdict is not None and verdict.level == "imminent" and verdict.action == "hold" and verdict.urgent
    result = build_chain(["crisis"]).run(ctx("I want to kill myself"))
    assert result.level == "active" and result.status == "held" and result.resources == "crisis"


def test_concern_is_not_held_or_urgent_by_default():
    """A concern message is published quietly (no hold, no alarm, no resources) but keeps its level."""
    result = build_chain(["crisis"]).run(ctx("my friend died by suicide last year"))
    assert result.status == "published" and not result.urgent and result.resources is None
    assert result.level == "concern"


def test_levels_configure_each_level_and_action_resources_are_shorthands():
    """`levels` sets action, resources and urgency per level; action/resources set passive and up."""
    f = CrisisFilter(
        action="pass",
        resources="help",
        levels={"concern": {"resources": "help"}, "imminent": {"action": "hold", "resources": "emergency"}},
    )
    assert f.rules["concern"].resources == "help" and f.rules["concern"].action == "pass"
    assert f.rules["passive"].action == "pass" and f.rules["passive"].resources == "help"
    assert f.rules["imminent"].action == "hold" and f.rules["imminent"].resources == "emergency"
    assert set(f.resource_lists) == {"help", "emergency"}
    passive = f.check(ctx("I wish I was dead"))
    assert passive is not None and passive.action == "allow" and passive.urgent
    none = CrisisFilter(levels={"passive": {"resources": "none", "urgent": False, "action": "pass"}})
    quiet = none.check(ctx("I wish I was dead"))
    assert quiet is not None and quiet.resources is None and not quiet.urgent and quiet.level == "passive"


@pytest.mark.parametrize(
    "levels",
    [
        {"severe": {}},
        {"active": {"action": "maybe"}},
        {"active": {"colour": "red"}},
        {"active": {"urgent": 1}},
    ],
)
def test_bad_levels_are_refused(levels):
    """Unknown levels, actions and keys are configuration errors."""
    with pytest.raises(FilterConfigError):
        CrisisFilter(levels=levels)


def test_messages_count_together():
    """'I can't do this anymore' then 'I have the pills here' is imminent though neither alone is."""
    f = CrisisFilter()
    first = f.check(ctx("I can't do this anymore", now=100.0))
    assert first is not None and first.level == "passive"
    second = f.check(ctx("I have the pills here", now=130.0))
    assert second is not None and second.level == "imminent"
    alone = CrisisFilter().check(ctx("I have the pills here"))
    assert alone is None or alone.level == "concern"


def test_a_thought_split_over_two_messages_is_read_whole():
    """'i just want to' / 'disappear forever' sent a moment apart is a wish to be dead."""
    f = CrisisFilter()
    assert f.check(ctx("i just want to", now=10.0)) is None
    verdict = f.check(ctx("disappear forever", now=20.0))
    assert verdict is not None and verdict.level == "passive"


def test_memory_is_per_session_forgets_old_messages_and_stays_bounded():
    """Another person, or a message older than the window, does not count; idle sessions are swept."""
    f = CrisisFilter(context_seconds=60, max_sessions=10)
    f.check(ctx("I can't do this anymore", session="a", now=0.0))
    other = f.check(ctx("I have the pills here", session="b", now=10.0))
    assert other is None or other.level == "concern"
    later = f.check(ctx("I have the pills here", session="a", now=500.0))
    assert later is None or later.level == "concern"
    for i in range(100):
        f.check(ctx("hello", session=f"x{i}", now=1000.0 + i * 100))
    assert len(f._memory) <= 20


def test_hosts_are_not_assessed():
    """A host writing about crisis is helping: no verdict, nothing remembered."""
    f = CrisisFilter()
    assert f.check(ctx("if you feel suicidal, call 988", role="host")) is None
    assert not f._memory


# -- languages ---------------------------------------------------------------------------------------


def test_the_seven_languages_ship():
    """English, Spanish, French, German, Portuguese, Italian and Dutch packs load."""
    assert {"en", "es", "fr", "de", "pt", "it", "nl"} <= set(shipped_languages())


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("es", "me quiero suicidar"),
        ("fr", "je vais me suicider ce soir"),
        ("de", "ich will mich umbringen"),
        ("pt", "eu quero me matar"),
        ("it", "voglio uccidermi"),
        ("nl", "ik wil zelfmoord plegen"),
    ],
)
def test_each_pack_recognises_its_language(language, text):
    """Every shipped pack knows the plain statement of intent in its language."""
    assert level(text, (language,)) in ("active", "imminent")


def test_accents_may_be_left_out():
    """Folded on both sides: with or without accents is the same word."""
    assert level("je veux mourir", ("fr",)) == level("jé véux mourîr", ("fr",)) == "passive"


ROOMS = """\
resources:
  crisis:
    - {name: "Emergency services", phone: "112 / 911 / 999"}
  emergency:
    - {name: "Emergency services", phone: "112 / 911 / 999"}
defaults:
  filters:
    - crisis: {resources: crisis}
rooms:
  - id: everyone
    title: Everyone
    topic: all languages
  - id: english
    title: English
    topic: English only
    languages: [en]
"""


def test_rooms_choose_their_languages():
    """`languages: [en]` reads English only; a room without it reads every shipped pack."""
    rooms = parse_rooms(ROOMS).rooms
    french = ctx("j'ai envie de mourir")
    assert rooms["everyone"].chain.run(french).level == "passive"
    assert rooms["english"].chain.run(french).level is None
    assert rooms["english"].languages == ("en",) and rooms["everyone"].languages is None


def test_rooms_yaml_extends_the_packs():
    """`phrases: {en: {imminent: [...], quiet: [...]}}` adds families and quiet frames; old lists work."""
    text = ROOMS.replace(
        "    - crisis: {resources: crisis}\n",
        textwrap.indent(
            textwrap.dedent(
                """\
                - crisis:
                    resources: crisis
                    levels: {imminent: {resources: emergency}}
                    phrases:
                      en:
                        imminent: ["(on|at) the (pier|jetty) ..2 {now}"]
                        quiet: ["want to die (laughing|of embarrassment)"]
                """
            ),
            "    ",
        ),
    )
    room = parse_rooms(text).rooms["everyone"]
    result = room.chain.run(ctx("I'm on the pier right now"))
    assert result.level == "imminent" and result.resources == "emergency"
    assert room.chain.run(ctx("omg I want to die of embarrassment")).level is None
    old = build_chain([{"crisis": {"phrases": ["walk into the sea"]}}])
    assert old.run(ctx("I want to walk into the sea")).level == "active"


def test_check_rooms_reports_a_broken_extension_at_its_line():
    """A broken phrase, level or language is reported as PATH:LINE at the entry itself."""
    text = ROOMS.replace(
        "    - crisis: {resources: crisis}\n",
        "    - crisis:\n"  # line 8
        "        levels:\n"
        "          severe: {action: hold}\n"  # line 10
        "        phrases:\n"
        "          en:\n"
        "            imminent:\n"
        "              - on the pier\n"
        "              - '{nosuch} bridge'\n",  # line 15
    )
    with pytest.raises(ConfigError) as caught:
        parse_rooms(text, "rooms.yaml")
    problems = caught.value.problems
    assert any(p.startswith("rooms.yaml:10: ") and "unknown level 'severe'" in p for p in problems)
    assert any(p.startswith("rooms.yaml:15: ") and "unknown piece {nosuch}" in p for p in problems)
    with pytest.raises(ConfigError) as caught:
        parse_rooms(ROOMS.replace("languages: [en]", "languages: [en, xx]"), "rooms.yaml")
    assert caught.value.problems[0].startswith("rooms.yaml:16: ")
    assert "no crisis phrase pack for language 'xx'" in caught.value.problems[0]


def test_a_broken_pack_file_is_reported_with_path_and_line(tmp_path):
    """A phrase pack with a bad entry fails with PACK:LINE: message, every problem listed."""
    pack = tmp_path / "xx.yaml"
    pack.write_text(
        "language: xx\n"
        "name: Test\n"
        "pieces:\n"
        "  me: [ich, mich]\n"
        "families:\n"
        "  - name: wish\n"
        "    level: passive\n"
        "    kind: ideation\n"
        "    patterns:\n"
        "      - '{me} (sterben'\n"  # line 10
        "      - '{you} sterben'\n"  # line 11
        "  - name: bad level\n"
        "    level: severe\n"  # line 13
        "    kind: ideation\n"
        "    patterns: [sterben]\n",
        encoding="utf-8",
    )
    with pytest.raises(PackError) as caught:
        read_pack(pack.read_text(encoding="utf-8"), str(pack), language="xx")
    problems = caught.value.problems
    assert problems[0].startswith(f"{pack}:10: ") and "not closed" in problems[0]
    assert problems[1].startswith(f"{pack}:11: ") and "unknown piece {you}" in problems[1]
    assert problems[2].startswith(f"{pack}:13: ") and "'level'" in problems[2]


# -- the browser's while-typing hints -----------------------------------------------------------------


def _typed(text: str) -> str:
    # What the page does before testing: accents stripped, lower-cased.
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()


def test_client_hints_are_small_javascript_compatible_and_catch_the_clear_cases():
    """No lookbehind, named groups or inline flags; a few KB; the clear cases match, idioms do not."""
    hints = client_hints()
    assert hints and len(set(hints)) == len(hints) and sum(map(len, hints)) < 8000
    for source in hints:
        assert "(?<" not in source and "(?P" not in source and not source.startswith("(?")
        re.compile(source, re.IGNORECASE)

    def hinted(text: str) -> bool:
        return any(re.search(h, _typed(text), re.IGNORECASE) for h in hints)

    for text in ("I want to kill myself", "i want to die", "Me quiero morir", "je veux me suicider"):
        assert hinted(text), text
    for text in ("this exam is killing me", "I'm dying to see that film", "good morning all"):
        assert not hinted(text), text
    assert client_hints(["en"]) != client_hints(["en", "fr"]) and client_hints(["zz"]) == []


# -- the score on the project's corpus ---------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_report():
    if not CORPUS.is_dir():
        pytest.skip("no corpus in tests/data/crisis")
    return score(read_corpus(CORPUS))


def test_the_corpus_score_meets_the_targets(corpus_report):
    """Recall per category and language, false alarms and level accuracy meet issue 13's targets on the
    project's corpus (which the packs were tuned on and the second opinion trained on: a regression
    check; docs/filters.md gives the held-out figures, far lower)."""
    assert corpus_report.failures() == [], "\n" + corpus_report.table()


# Today's figures, a little below: a change to the packs or the recogniser must not make them worse.
FLOORS = {"explicit": 0.88, "indirect": 0.73, "plan": 0.65, "selfharm": 0.86, "slang": 0.77, "context": 0.66}


def test_the_corpus_score_does_not_fall(corpus_report):
    """Recall, false alarms and level accuracy stay at least where they were when the packs shipped."""
    table = "\n" + corpus_report.table()
    for category, floor in FLOORS.items():
        assert corpus_report.recall(category)[0] >= floor, category + table
    for language in ("de", "fr", "it", "nl", "pt", "es"):
        assert corpus_report.language_recall(language)[0] >= 0.68, language + table
    assert corpus_report.false_alarms()[0] <= 0.04, table
    assert corpus_report.level_accuracy()[0] >= 0.74, table
    assert TARGETS["false_alarms"] == 0.03


def test_a_negator_in_the_previous_message_does_not_cancel_what_follows_the_join():
    """'i'm not okay' / 'tonight': the joined reading must not take 'not' as negating 'tonight'."""
    recogniser = recogniser_for(("en",))
    alone = recogniser.assess("tonight", context=True)
    joined = recogniser.assess("tonight", before="i'm not okay", context=True)
    assert "time" in alone.kinds
    assert joined.kinds == alone.kinds
    # A thought that runs across the join still reads its own negation: "i don't" / "want to die".
    assert recogniser.level("i don't want to die") in (None, "concern")


def test_a_hyphenated_word_is_looked_for_as_itself_not_as_every_word_it_starts():
    """'sh-ed' anchors on 'sh' alone or 'shed...', not on 'should', 'sharing', 'short' (speed only)."""
    from chatserver.crisis import anchors, patterns

    seq = patterns.parse("sh-ed again")
    found = anchors.anchors(seq[:1], {}, lambda key: 1)[1]
    assert found == {("sh", True), ("shed", False)}
    assert recogniser_for(("en",))._families.triggered("i should be sharing more")[0] == set()
