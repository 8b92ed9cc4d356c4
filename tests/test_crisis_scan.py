"""The crisis recogniser's word passes in C (chatserver/crisis/_scan.c) answer exactly as the Python
they stand in for: which patterns a message may match, and the second opinion's level, on every line
of the corpus, the held-out and the training sets, and on generated text."""

from __future__ import annotations

import json
import random
import re
from array import array
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chatserver.crisis import index as index_module
from chatserver.crisis import opinion as opinion_module
from chatserver.crisis import reading as reading_module
from chatserver.crisis import recogniser_for
from chatserver.crisis import text as text_module
from chatserver.crisis.index import LEET, Index
from chatserver.crisis.opinion import Opinion
from chatserver.crisis.text import (
    ALL_HINTS,
    INNER_HINT,
    LEET_HINT,
    SINGLE_HINT,
    SPACED_HINT,
    deobfuscate,
    plain,
    spelling_hints,
)
from tests.test_crisis_speed import LINES

_scan = index_module._scan
T = TypeVar("T")


def test_the_c_word_passes_are_built_and_used() -> None:
    """`make test` installs the package, which compiles them: without them the chain is twice as slow."""
    assert _scan is not None, "chatserver/crisis/_scan.c was not compiled (is a C compiler installed?)"
    assert recogniser_for(None)._families._scanner is not None
    model = opinion_module.shipped()
    assert model is not None and model._weigher is not None


def _pair(monkeypatch: pytest.MonkeyPatch, cache: int = 50_000) -> tuple[Index, Index]:
    """The shipped families' index in C and in Python, with word caches of `cache` entries."""
    monkeypatch.setattr(Index, "CACHE", cache)
    recogniser = recogniser_for(None)
    groups = [(family, pack) for pack in recogniser.packs for family in pack.families]
    native, python = Index(groups), Index(groups, native=False)
    assert native._scanner is not None and python._scanner is None
    return native, python


def _opinions() -> tuple[Opinion, Opinion]:
    data = json.loads(opinion_module.MODEL_PATH.read_text(encoding="utf-8"))
    native, python = Opinion(data), Opinion(data, native=False)
    assert native._weigher is not None and python._weigher is None
    return native, python


def _readings(text: str) -> set[str]:
    low = plain(text)
    return {low, deobfuscate(low), text, text.upper(), low + " " + low}


def test_the_index_in_c_finds_the_patterns_python_finds_on_every_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found patterns and the obfuscation flag, each line as typed, plain, deobfuscated, shouted and
    doubled; a word cache of 300 entries, so it is cleared many times on the way."""
    native, python = _pair(monkeypatch, cache=300)
    found_any = 0
    for text in LINES:
        for reading in _readings(text):
            answer = native.triggered(reading)
            assert answer == python.triggered(reading), reading
            found_any += bool(answer[0])
    assert found_any > 10_000  # the comparison covered many matches, not just empty answers
    assert len(native._scanner_cache) <= 300


def test_the_second_opinion_in_c_gives_every_line_the_level_python_gives() -> None:
    """Each line plain, doubled and with its words shuffled (pairs change, words repeat)."""
    native, python = _opinions()
    shuffle = random.Random(13)
    levels: dict[str | None, int] = {}
    for text in LINES:
        low = plain(text)
        words = low.split()
        shuffle.shuffle(words)
        for reading in (low, low + " " + low, " ".join(words)):
            level = native.level(reading)
            assert level == python.level(reading), reading
            levels[level] = levels.get(level, 0) + 1
    assert set(levels) == {None, "passive", "active", "imminent"}
    assert min(levels.values()) > 500


_WORDS = st.sampled_from(
    "i want to die kill myself kms k1ll mys3lf s u i c i d e tonight pills bridge not never "
    "my friend said burden everyone better off without me cut again ya no puedo más quiero "
    "desaparecer je n'en peux plus ich will nicht mehr leben self-harm 💛 ... a b c".split()
)


@given(st.lists(_WORDS, max_size=90), st.sampled_from([" ", "  ", "\n", " \t"]))
@settings(max_examples=400, deadline=None)
def test_generated_messages_read_the_same_in_c_and_python(words: list[str], space: str) -> None:
    """Crisis words, leetspeak, spelt-out letters and other languages in any order and number
    (past 64 words the C side takes its long-message path)."""
    text = space.join(words)
    index = recogniser_for(None)._families
    python_index = _PYTHON_INDEX.get("index")
    if python_index is None:
        groups = [(f, p) for p in recogniser_for(None).packs for f in p.families]
        python_index = _PYTHON_INDEX["index"] = Index(groups, native=False)
    assert index.triggered(text) == python_index.triggered(text)
    native, python = _PYTHON_OPINIONS.get("pair") or _PYTHON_OPINIONS.setdefault("pair", _opinions())
    assert native.level(text) == python.level(text)


_PYTHON_INDEX: dict[str, Index] = {}
_PYTHON_OPINIONS: dict[str, tuple[Opinion, Opinion]] = {}


def test_stamps_that_wrap_around_forget_nothing_and_invent_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """After 2**32 messages the per-message stamps start again: answers stay the same across it."""
    native, python = _pair(monkeypatch)
    weigher_native, weigher_python = _opinions()
    native._scanner.stamp = 2**32 - 3
    weigher_native._weigher.stamp = 2**32 - 3
    risky = [t for t in LINES[:400] if python.triggered(plain(t))[0]]
    for text in risky[:40]:
        low = plain(text)
        assert native.triggered(low) == python.triggered(low), text
        assert weigher_native.level(low) == weigher_python.level(low), text
    assert 0 < native._scanner.stamp < 100 and 0 < weigher_native._weigher.stamp < 100


def test_a_broken_word_entry_is_a_clear_error_not_a_crash() -> None:
    """Entries come from Python; one that does not fit its counts or names an unknown pattern raises
    (or is skipped), and the scanner goes on working."""
    single, leet = 1 | SINGLE_HINT, 3 | LEET_HINT
    entries = {
        "short": b"\x00",
        "counts": array("I", [0, 5, 0, 1]).tobytes(),
        "unknown": array("I", [0, 1, 1, 99, 7]).tobytes(),
        "fine": array("I", [single, 1, 0, 0]).tobytes(),
        "l33t": array("I", [leet, 0, 0]).tobytes(),
    }
    no_needs = array("I", [0, 0, 0]).tobytes()
    scanner = _scan.Scanner({}, entries.__getitem__, 10, 2, 1, no_needs, b"", LEET)
    with pytest.raises(TypeError):
        scanner.triggered("short")
    with pytest.raises(ValueError):
        scanner.triggered("fine counts")
    assert scanner.triggered("unknown fine") == ({0}, 0)
    with pytest.raises(KeyError):
        scanner.triggered("missing")
    assert scanner.triggered("fine fine") == ({0}, 0)  # counts 2: not obfuscated
    assert scanner.triggered("fine fine fine") == ({0}, SPACED_HINT)  # letters alone, in a row
    assert scanner.triggered("fine unknown fine fine") == ({0}, SPACED_HINT)
    assert scanner.triggered("fine unknown fine unknown fine") == ({0}, 0)  # never two in a row
    assert scanner.triggered("l33t") == (set(), LEET_HINT)
    with pytest.raises(ValueError):
        _scan.Scanner({}, entries.__getitem__, 10, 2, 1, array("I", [0, 1]).tobytes(), b"", LEET)
    with pytest.raises(ValueError):  # a need naming a group that does not exist
        _scan.Scanner({}, str, 10, 1, 1, array("I", [0, 1]).tobytes(), array("I", [5]).tobytes(), LEET)


def _counted_obfuscated(index: Index, low: str) -> bool:
    # "Perhaps obfuscated" as first written: leetspeak counts 3, a word of one letter 1; 3 in all.
    return sum(index._word(w)[1] & 0xFFFF for w in low.split()) >= LEET


def _check_hints(index: Index, low: str) -> bool:
    """Deobfuscating what the hints name gives what deobfuscating everything gives; True when the
    hints left something out."""
    _, obfuscation = index.triggered(low)
    if not _counted_obfuscated(index, low):
        assert obfuscation == 0, low
        return False
    assert deobfuscate(low, obfuscation) == deobfuscate(low), low
    return obfuscation != ALL_HINTS


def test_deobfuscating_what_the_word_hints_name_is_deobfuscating_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every corpus line that counts as perhaps obfuscated reads the same deobfuscated either way, in
    C and in Python; for most of them the hints leave a step out (the point of them)."""
    native, python = _pair(monkeypatch)
    skipped = checked = 0
    for text in LINES:
        for low in _readings(text):
            assert native.triggered(low)[1] == python.triggered(low)[1], low
            if _counted_obfuscated(python, low):
                checked += 1
                skipped += _check_hints(python, low)
    assert checked > 1000 and skipped > checked // 4
    spelt = (
        "a xx b xx c xx s .u .i .c .i .d .e",  # spacers before the letters: the words are ".u", ".i"
        "a b c k. i. l. l",
        "so i said a thing, a k.i.l.l m.y.s.e.l.f",
        "x a y b z c d-i-e",
        "a xx b xx c xx s _u_ i_ c",
        "a 1 b $ c i 4m d0n3",
    )
    for low in spelt:
        assert _counted_obfuscated(python, low) and deobfuscate(low) != low, low
        _check_hints(python, low)
        _check_hints(native, low)
    walk = plain("I went for a short walk and it helped a little.")  # "i", "a", "a": three letters alone
    assert _counted_obfuscated(python, walk) and native.triggered(walk)[1] == 0


_SPELLING = st.text(alphabet="ab1$@!5 .*_-\té", max_size=24)


@given(_SPELLING)
@example("a_1_1_1")  # leetspeak undone makes letters spelt out: once missed
@example("s.u.1.c.1.d.3")
@settings(max_examples=3000, deadline=None)
def test_spelt_out_letters_and_leetspeak_are_never_hidden_by_the_hints(text: str) -> None:
    """Letters, leetspeak characters, spacers and spaces in any order: the hints never skip a step
    that would have changed the text."""
    index = recogniser_for(None)._families
    _check_hints(index, text)
    _check_hints(index, plain(text))


_WORDY = st.text(alphabet="ab_1 '’.,-é\u0301\u00a0\u4e00\U0001d41a", max_size=30)


@given(_WORDY)
@settings(max_examples=3000, deadline=None)
def test_words_and_where_they_stand_are_what_the_word_pattern_finds(text: str) -> None:
    """C's `word_spans` and the Python fallback give `_WORDS.finditer`'s words and spans: apostrophes
    that join words or not, underscores, digits, accents, marks, other scripts, edges."""
    expected = [(m.group(), m.start(), m.end()) for m in reading_module._WORDS.finditer(text)]
    words, starts, ends = _scan.word_spans(text)
    assert list(zip(words, starts, ends, strict=True)) == expected
    fallback = _python_words(text)
    assert list(zip(fallback.words, fallback.starts, fallback.ends, strict=True)) == expected


def _in_python(make: Callable[[str], T], text: str) -> T:
    """`make(text)` built with reading.py's Python fallback instead of the C passes."""
    saved = reading_module._scan
    reading_module._scan = None  # type: ignore[assignment]
    try:
        return make(text)
    finally:
        reading_module._scan = saved


def _python_words(text: str) -> reading_module.Words:
    return _in_python(reading_module.Words, text)


def _keys_before(text: str, at: int, count: int, stop: re.Pattern[str]) -> list[str]:
    # The reading as first written: the window before a match, read afresh for each match.
    head = text[max(0, at - 12 * count) : at]
    last_end = stop.match(head)
    return reading_module.word_keys(
        reading_module._WORDS.findall(head, last_end.end() if last_end else 0)[-count:]
    )


def _negated_afresh(text: str, hit: reading_module.Hit, join: int = 0) -> bool:
    negators = hit.pack.negators
    if not negators:
        return False
    start = join if hit.start >= join else 0
    words = _keys_before(
        text[start:], hit.start - start, reading_module.NEGATION_WORDS, reading_module._LAST_SOFT_END
    )
    words += reading_module.word_keys(reading_module._WORDS.findall(text, hit.start, hit.end))
    return not negators.isdisjoint(words)


def _someone_else_afresh(text: str, hit: reading_module.Hit) -> bool:
    pack = hit.pack
    if not pack.other_words:
        return False
    inside = reading_module.word_keys(reading_module._WORDS.findall(text, hit.start, hit.end))
    if not pack.self_words.isdisjoint(inside):
        return False
    before = _keys_before(text, hit.start, reading_module.SUBJECT_WORDS, reading_module._LAST_CLAUSE_END)
    for word in reversed(before):
        if word in pack.self_words:
            return False
        if word in pack.other_words:
            return True
    return False


def test_reading_around_every_match_with_the_words_found_once_is_reading_it_afresh() -> None:
    """Negation and someone else's words, for every match of every pattern on every corpus line (and the
    line joined after a previous one, so the negation window starts at the join), read from `Words`
    (C and Python) exactly as reading the text afresh around each match (as first written) does."""
    recogniser = recogniser_for(None)
    families = recogniser._families
    compared = 0
    for text in LINES:
        low = plain(text)
        for joined, offset in ((low, 0), ("i can't say it. " + low, 16)):
            found, _ = families.triggered(joined)
            hits = recogniser._hits(joined, found, families, 0)
            if not hits:
                continue
            for words in (reading_module.Words(joined), _python_words(joined)):
                for hit in hits:
                    assert reading_module.negated(words, hit, offset) == _negated_afresh(
                        joined, hit, offset
                    ), (
                        joined,
                        hit.start,
                    )
                    assert reading_module.someone_else(words, hit) == _someone_else_afresh(joined, hit), (
                        joined
                    )
                    assert words.inside(hit.start + 1, hit.end - 1) == reading_module._WORDS.findall(
                        joined, hit.start + 1, hit.end - 1
                    )
                    compared += 1
            for read in (reading_module.reader(joined), _python_reader(joined)):
                for hit in hits:
                    expected = (reading_module.NEGATED if _negated_afresh(joined, hit, offset) else 0) | (
                        reading_module.SOMEONE_ELSE if _someone_else_afresh(joined, hit) else 0
                    )
                    assert read(hit, offset) == expected, (joined, hit.start, hit.end)
    assert compared > 10_000


def _python_reader(text: str) -> Callable[[reading_module.Hit, int], int]:
    return _in_python(reading_module.reader, text)


def test_reading_in_c_counts_the_same_words_as_the_python_reading() -> None:
    """The C reading's window sizes are reading.py's, and it refuses what it cannot read."""
    assert (_scan.NEGATED, _scan.SOMEONE_ELSE) == (reading_module.NEGATED, reading_module.SOMEONE_ELSE)
    assert (_scan.NEGATION_WORDS, _scan.SUBJECT_WORDS) == (
        reading_module.NEGATION_WORDS,
        reading_module.SUBJECT_WORDS,
    )
    empty = frozenset()
    with pytest.raises(ValueError):
        _scan.read_around("short", 2, 40, 0, empty, empty, empty)
    with pytest.raises(TypeError):
        _scan.read_around("text", 0, 1, 0, ["not"], empty, empty)
    # A join before the text's start reads from the start (as a regex's pos would), never before it.
    negators = frozenset({"not"})
    assert _scan.read_around("not sad", 4, 7, -50, negators, empty, empty) == _scan.NEGATED
    assert _scan.read_around("sad", 0, 3, -50, negators, empty, empty) == 0


# Texts for reading: several words a window, every stop, and words longer than the C key buffer.
_READABLE = st.text(alphabet="aaab_1   '’.,;!\n-é\u0301\u4e00", max_size=150) | st.builds(
    lambda word, rest: word * 3 + " " + rest, st.text(alphabet="ab'", min_size=30, max_size=40), _WORDY
)


@given(_READABLE, st.data())
@settings(max_examples=2000, deadline=None)
def test_reading_around_any_span_of_any_text_is_reading_it_afresh(text: str, data: st.DataObject) -> None:
    """On generated text (apostrophes, accents, stretched letters, long words, stops), for any span and
    join, the C reading answers as the text read afresh does, with small word lists of its own words."""
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    join = data.draw(st.integers(0, len(text)))
    keys = reading_module.word_keys(reading_module._WORDS.findall(text))
    pick = st.frozensets(st.sampled_from(keys), max_size=4) if keys else st.just(frozenset())
    pack = _WordLists(data.draw(pick), data.draw(pick), data.draw(pick))
    hit = reading_module.Hit(2, "ideation", start, end, pack, False)  # type: ignore[arg-type]
    expected = (reading_module.NEGATED if _negated_afresh(text, hit, join) else 0) | (
        reading_module.SOMEONE_ELSE if _someone_else_afresh(text, hit) else 0
    )
    assert reading_module.reader(text)(hit, join) == expected
    assert _python_reader(text)(hit, join) == expected


class _WordLists:
    """The three word lists of a pack that reading looks at."""

    def __init__(self, negators: frozenset[str], self_words: frozenset[str], other_words: frozenset[str]):
        self.negators, self.self_words, self.other_words = negators, self_words, other_words


def test_an_index_and_a_model_nobody_holds_any_more_are_freed() -> None:
    """The C passes hold their cache and a bound method of their owner (a cycle): the collector frees
    them, so a reload or `check-rooms` that builds new ones does not keep the old ones forever."""
    import gc
    import weakref

    groups = [(f, p) for p in recogniser_for(("en",)).packs for f in p.families]
    index = Index(groups)
    model = _opinions()[0]
    assert index._scanner is not None and model._weigher is not None
    gone = [weakref.ref(index), weakref.ref(model)]
    index.find("i want to die")
    model.level("i want to die")
    del index, model
    gc.collect()
    assert [ref() for ref in gone] == [None, None]


def test_words_skipped_for_how_they_begin_are_read_as_if_looked_up() -> None:
    """`Index._heads` lets a new word that begins like no anchor and no need skip its lookups: every
    word of the corpus, leetspeak and digits included, is read exactly as without the shortcut."""
    recogniser = recogniser_for(None)
    for index in (recogniser._families, recogniser._frames):
        assert index._heads, "every stem and need start has two letters or more: the shortcut is on"
        unguarded = Index.__new__(Index)
        unguarded.__dict__.update(index.__dict__)
        unguarded._heads = None
        words = {w for line in LINES for w in line.split()}
        # "1etter", "1ust": their "l" reading begins like an anchor where their "i" reading does not.
        words |= set("k1ll su1c1d3 1ife wzqpzw zz x 5elf-h4rm j'ai ov3rd0se 12345 1ust 1unes 1etter".split())
        skipped = 0
        for word in sorted(words):
            for typed in (word, word.lower(), plain(word)):
                assert index._packed(typed) == unguarded._packed(typed), typed
                assert index._word(typed) == unguarded._word(typed), typed
                key = index_module.pat.collapse(typed.strip(index_module._EDGES))
                skipped += len(key) >= 2 and key[:2] not in index._heads
        assert skipped > 0  # the shortcut was taken, so the comparison says something


@given(st.text(alphabet="ab1@$.*_-é' Z", max_size=9))
@example("a")
@example("k.i")
@example("-a-")
@example("a-")
@example("*")
@example("é")
def test_spelling_hints_answer_as_both_patterns_would(typed: str) -> None:
    """`spelling_hints` skips its patterns for a word with no spacer: the answer is theirs all the same."""
    assert spelling_hints(typed) == _hints_by_the_patterns(typed)


def test_spelling_hints_of_the_corpus_words_are_the_patterns_own() -> None:
    for typed in {w for line in LINES for w in line.split()}:
        assert spelling_hints(typed) == _hints_by_the_patterns(typed), typed


def _hints_by_the_patterns(typed: str) -> int:
    """What `spelling_hints` answers with both of its patterns run, no shortcut."""
    inner = INNER_HINT if text_module._INNER_SPELT.search(typed) is not None else 0
    return inner | (SINGLE_HINT if text_module._SPELT_SINGLE.fullmatch(typed) is not None else 0)
