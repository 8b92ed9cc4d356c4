"""Look-alike letters, invisible characters and spaced-out words (issue 12, point 10): text folding
(pure), host-name imitation, and the blocklist and crisis matchers."""

from __future__ import annotations

import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.textfold import fold, skeleton, unaccent

# ---------------------------------------------------------------- chatserver.textfold


@pytest.mark.parametrize(
    "disguised",
    [
        "mоron",  # Cyrillic о
        "ｍｏｒｏｎ",  # full-width
        "mo\u200bron",  # zero-width space
        "mo\u00adron",  # soft hyphen
        "mo\u2060ron",  # word joiner
        "mo\U000e0020ron",  # tag space ("ASCII smuggling")
        "𝐦𝐨𝐫𝐨𝐧",  # mathematical bold
        "MОRОN",  # capitals, Cyrillic О
        "m̸o̸r̸o̸n̸",  # combining overlays
        "mо́ron",  # Cyrillic о with an accent
        "mоrоn\ufe0f",  # variation selector
    ],
)
def test_fold_sees_through_disguises(disguised):
    """Look-alikes, invisible characters, full-width and styled letters fold to plain Latin."""
    assert fold(disguised) == "moron"


def test_fold_maps_a_word_made_only_of_lookalikes():
    """A word spelt entirely in Cyrillic look-alikes folds to the Latin word it imitates."""
    assert fold("аѕѕ!") == "ass!"
    assert fold("сосk") == "cock"


@pytest.mark.parametrize(
    "text",
    [
        "Está bien, ÉLÈVE, garçon, não, coração",
        "Ich möchte nicht mehr, Übermorgen",
        "quiero morir, je veux mourir, já não aguento",
    ],
)
def test_fold_keeps_accented_latin_letters(text):
    """Accents survive folding, precomposed, so a Spanish/French/German/Portuguese phrase still matches."""
    folded = fold(text)
    assert folded == unicodedata.normalize("NFC", text).casefold()
    assert fold("e\u0301le\u0300ve") == fold("élève") == "élève"  # decomposed input folds alike


def test_fold_leaves_other_scripts_readable():
    """A Cyrillic or Greek word with letters that have no Latin look-alike is left as written."""
    assert fold("Привет, дела") == "привет, дела"
    assert fold("Καλημέρα") == "καλημέρα"
    assert fold("नमस्ते दोस्त") == "नमस्ते दोस्त"
    assert fold("今天很难，谢谢。") == "今天很难,谢谢。"  # NFKC folds the full-width comma


def test_fold_drops_hangul_fillers_and_joiners():
    """Characters that render as nothing are dropped."""
    assert fold("alice\u3164") == fold("alice\u115f\u1160") == fold("ali\u200dce\uffa0") == "alice"


def test_fold_ascii_is_lower_cased_only():
    """Plain ASCII is only lower-cased: leetspeak and punctuation are the matcher's concern."""
    assert fold("K1LL m0r0n, M O R O N!") == "k1ll m0r0n, m o r o n!"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_fold_is_idempotent(text):
    """Folding folded text changes nothing, so folding phrases and messages alike is consistent."""
    once = fold(text)
    assert fold(once) == once


# Characters whose folding may depend on their neighbours: look-alikes (Cyrillic, Greek, a capital
# sigma), marks, invisible and compatibility characters (a spacing acute becomes space + mark, a
# no-break and an ideographic space become spaces), full-width, ligatures, Hangul jamo, ß and İ.
_PIECE_TRICKY = (
    "aAzZ 19.,-!?\t\n\u00a0\u3000\u043c\u043e\u0455\u0430\u03bf\u03a3\u00e9\u00c9\u0301\u0338"
    "\u200b\u200d\u00ad\uff4d\ufb01\u00b4\u2026\u01f0\u0130\u1100\u1161\u3164\U0001d426\u00df"
)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=_PIECE_TRICKY, max_size=16))
def test_fold_piece_by_piece_is_fold_of_the_whole_text(text):
    """`fold` folds each space-separated piece on its own (and remembers it): the same as folding the
    whole text at once, whatever stands beside the spaces."""
    from chatserver.textfold import _fold

    assert fold(text) == (text.lower() if text.isascii() else _fold(text))


def test_fold_is_fast():
    """fold costs a few µs on a 100-character chat message, and almost nothing on plain ASCII."""
    samples = [
        "Sending hugs to everyone who is struggling today and I hope tomorrow is kinder to all of you!",
        "Sending hugs to everyone who is struggling today 💛 and I hope tomorrow is kinder to all of you",
        "Hola a todos, hoy fue un día difícil pero sigo aquí. Gracias por estar, me ayuda muchísimo.",
    ]
    for text in samples:
        fold(text)
        best = min(_time(fold, text) for _ in range(5))
        assert best < (2e-6 if text.isascii() else 25e-6), (text, best)


def _time(func, text, rounds=2000):
    start = time.perf_counter()
    for _ in range(rounds):
        func(text)
    return (time.perf_counter() - start) / rounds


def test_fold_stays_linear_on_hostile_input():
    """Long runs of look-alikes, marks or invisible characters fold in linear time."""
    for text in ("x" * 3000 + "о", "о" * 3000 + "x", "xо " * 1000, "a\u0301" * 1500, "\u200b" * 3000):
        assert _time(fold, text, rounds=20) < 0.01


def test_skeleton_merges_accents_and_lookalikes():
    """The name skeleton maps every look-alike and drops every accent."""
    assert skeleton("Ålice") == skeleton("аlice") == skeleton("ɑlice") == "alice"
    assert skeleton("alice\u3164") == "alice"


def test_unaccent_strips_accents():
    """unaccent lets a matcher treat "está" and "esta" alike when it wants to."""
    assert unaccent(fold("Está MÁS")) == "esta mas"


# ---------------------------------------------------------------- chatserver.identity


@pytest.mark.parametrize(
    "name, host",
    [
        ("alice\u3164", "alice"),  # Hangul filler: renders as nothing
        ("ali\u200bce", "alice"),  # zero-width space
        ("ɑlice", "alice"),  # Latin alpha
        ("caroӏ", "carol"),  # Cyrillic palochka
        ("ｃａｒｏｌ", "carol"),  # full-width
        ("ΑLICE", "alice"),  # Greek capital alpha
        ("bоb ⓗⓞⓢⓣ", "bob"),  # Cyrillic о, circled letters
    ],
)
def test_lookalike_names_cannot_pass_for_a_host(name, host):
    """Names built from look-alike or invisible characters collide with the host they imitate."""
    from chatserver.identity import imitates_staff

    assert imitates_staff(name, [host, "someone"])


@pytest.mark.parametrize("name", ["Алина", "Ελένη", "José", "Zoë", "Søren", "李雷"])
def test_names_in_other_scripts_are_still_welcome(name):
    """Ordinary names in other scripts or with accents do not collide with hosts alice and carol."""
    from chatserver.identity import imitates_staff

    assert not imitates_staff(name, ["alice", "carol"])


# ---------------------------------------------------------------- blocklist and crisis matching


@pytest.mark.parametrize(
    "text",
    [
        "you mоron",  # Cyrillic о
        "you ｍｏｒｏｎ",  # full-width
        "you mo\u200bron",  # zero-width space inside the word
        "you MОRОN!",  # capitals, Cyrillic О
        "you m o r o n",  # spelt out
        "you are a m o r o n",  # spelt out after a one-letter word
        "m - o - r - o - n",
        "ur a m0r0n",
        "you m̸o̸r̸o̸n̸",
    ],
)
def test_blocklist_sees_through_lookalikes_invisibles_and_spelling_out(text):
    """Look-alike letters, full-width, zero-width spaces and spaced-out letters are still the word."""
    from chatserver.filters import BlocklistFilter, MessageContext

    verdict = BlocklistFilter(words=["moron"]).check(
        MessageContext("r", "s", "ann", "participant", text, 0.0)
    )
    assert verdict is not None and verdict.filter == "blocklist"


@pytest.mark.parametrize(
    "text",
    [
        "I am a b c person",
        "Plan A or plan B, then C",
        "Moro and Ron went home",
        "m o r e tea please",
        "Спасибо, мы здесь",
        "mоre or less",  # a Cyrillic о in an innocent word stays innocent
    ],
)
def test_blocklist_spares_ordinary_text(text):
    """Single letters, other scripts and near misses are not taken for the word."""
    from chatserver.filters import BlocklistFilter, MessageContext

    assert (
        BlocklistFilter(words=["moron"]).check(MessageContext("r", "s", "a", "participant", text, 0.0))
        is None
    )


def test_blocklist_allow_list_applies_to_disguised_words():
    """An allowed word stays allowed when disguised; a blocked one is caught in the allow-list path too."""
    from chatserver.filters import BlocklistFilter, MessageContext

    f = BlocklistFilter(words=["ass"], allow=["assess"])

    def check(text: str):
        return f.check(MessageContext("r", "s", "a", "participant", text, 0.0))

    assert check("we аssess it") is None
    assert check("a s s e s s") is None
    assert check("you аѕѕ") is not None
    assert check("you a s s") is not None


def test_blocklist_patterns_also_see_the_folded_text():
    """A regex pattern matches a word written with look-alikes as well."""
    from chatserver.filters import BlocklistFilter, MessageContext

    f = BlocklistFilter(patterns=[r"\bidiots?\b"])
    assert f.check(MessageContext("r", "s", "a", "participant", "you ｉｄｉｏｔ", 0.0)) is not None


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill mysеlf",
        "thinking about ѕuicide",
        "s u i c i d e",
        "I want to k i l l myself",
        "sui\u200bcide",
    ],
)
def test_crisis_sees_through_lookalikes_and_spelling_out(text):
    """The crisis filter (a WordMatcher too) is not hidden by look-alikes, zero-width or spaced letters."""
    from chatserver.filters import CrisisFilter, MessageContext

    assert CrisisFilter().check(MessageContext("r", "s", "a", "participant", text, 0.0)) is not None


@pytest.mark.parametrize("text", ["x " * 1000, "a b " * 500 + "c", "о " * 1000, "1 | " * 500, "m o " * 500])
def test_spelt_out_matching_stays_fast_on_hostile_input(text):
    """Long runs of single letters cannot make the matchers backtrack."""
    from chatserver.filters import MessageContext, build_chain

    chain = build_chain([{"blocklist": {"words": ["ill", "kill", "moron"], "allow": ["mill"]}}, "crisis"])
    start = time.perf_counter()
    chain.run(MessageContext("r", "s", "a", "participant", text, 0.0))
    assert time.perf_counter() - start < 0.5
