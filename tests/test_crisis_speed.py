"""The crisis filter's shortcuts (issue 13's speed goal) never hide a finding: each one answers as
the slow way it stands for, on every line of the corpus, the held-out and the training sets."""

from __future__ import annotations

import json
import re
from functools import reduce
from operator import itemgetter, or_
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.crisis import opinion as opinion_module
from chatserver.crisis import recogniser_for
from chatserver.crisis import text as text_module
from chatserver.crisis.context import Assessment, combine
from chatserver.crisis.opinion import STEM, Opinion
from chatserver.crisis.patterns import WORD_START
from chatserver.crisis.text import deobfuscate, plain

DATA = Path(__file__).resolve().parent / "data"
EVERYDAY = (
    "ok",
    "same here",
    "Hi everyone, first time here. Feeling a bit nervous tonight but glad this room exists.",
    "I cut my hair last night and I'm dying to show you all",
    "k1ll mys3lf",
    "s u i c i d e",
    "self-harm... it's been 2 years",
)


def _lines(*folders: str, risk_only: bool = False) -> list[str]:
    texts = list(EVERYDAY)
    for folder in folders:
        for path in sorted((DATA / folder).glob("*.jsonl")):
            for row in path.read_text(encoding="utf-8").splitlines():
                if row.strip():
                    item = json.loads(row)
                    if risk_only and item.get("level") in (None, "none"):
                        continue
                    texts.append(item["text"])
                    texts.extend(item.get("context") or ())
    return texts


LINES = _lines("crisis", "crisis_holdout", "crisis_train")


def _gate_by_sets(model: Opinion, low: str) -> bool:
    # The gate as first written: the message's words and stems against the gate's.
    words = opinion_module._WORD.findall(low)
    stems = {w[:STEM] for w in words if len(w) > STEM}
    return not (model._gate_words.isdisjoint(words) and model._gate_stems.isdisjoint(stems))


def test_the_second_opinion_gate_remembered_per_word_opens_exactly_when_the_set_gate_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-word gate cache opens for exactly the lines the words-and-stems sets open for."""
    model = opinion_module.shipped()
    assert model is not None
    monkeypatch.setattr(opinion_module, "_OPENS_CACHE", 500)  # clearing on the way must not matter
    # The Python reading (the C weigher keeps its own cache; tests/test_crisis_scan.py holds it to this).
    fresh = Opinion(json.loads(opinion_module.MODEL_PATH.read_text(encoding="utf-8")), native=False)
    for text in LINES:
        low = plain(text)
        fresh.level(low)
        typed = low.split()
        opened = any(fresh._typed[w][0] if w in fresh._typed else fresh._opens_gate(w) for w in typed)
        assert opened == _gate_by_sets(fresh, low), text


def _level_by_features(model: Opinion, low: str) -> str | None:
    # The model as trained: the feature strings of the whole text, summed by `_Weights`.
    if not _gate_by_sets(model, low):
        return None
    found = opinion_module.features(low)
    if model.risk.probability(found) <= model.threshold:
        return None
    if model.imminent.probability(found) > 0.5:
        return "imminent"
    return "active" if model.active.probability(found) > 0.5 else "passive"


def test_the_second_opinion_read_word_by_word_answers_as_the_model_as_trained() -> None:
    """Words and stems remembered per typed word give every line the level the features give."""
    model = opinion_module.shipped()
    assert model is not None
    levels = set()
    for text in LINES:
        low = plain(text)
        level = model.level(low)
        assert level == _level_by_features(model, low), text
        levels.add(level)
    assert levels == {None, "passive", "active", "imminent"}  # every answer was compared


def test_the_needs_of_a_pattern_never_hide_a_match() -> None:
    """A pattern its anchor brought but its other words ruled out does not match the line (all packs,
    each risk line of the corpus as written and deobfuscated: patterns compile slowly)."""
    index = recogniser_for(None)._families
    for text in _lines("crisis", risk_only=True):
        for low in {plain(text), deobfuscate(plain(text))}:
            found, _ = index.triggered(low)
            entries = [index._word(w) for w in low.split()]
            anchored: set[int] = set().union(*map(itemgetter(0), entries))
            have = reduce(or_, map(itemgetter(2), entries), 0)
            assert found == {n for n in anchored if index.needs.get(n, 0) & ~have == 0}, text
            for number in anchored - found:
                assert not index.groups[number].spans(low), (text, number)


def test_anchors_ranked_by_everyday_chat_find_what_the_packs_own_ranking_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anchoring each pattern on its word least seen in everyday chat reads every line of the corpus,
    the held-out and the training sets exactly as anchoring on the pack's own cheapest word did."""
    from chatserver.crisis import index as index_module
    from chatserver.crisis.recogniser import Recogniser

    ranked = recogniser_for(None)
    with monkeypatch.context() as patch:
        patch.setattr(index_module, "_rarest", lambda anchors: anchors[0])
        by_pack = Recogniser(ranked.packs)
    assert ranked._families.exact != by_pack._families.exact  # the rankings do differ
    for text in LINES:
        assert ranked.assess(text) == by_pack.assess(text), text


# Characters whose folding depends on their neighbours, or nearly does: look-alikes (Cyrillic м, о;
# Greek ο), other scripts, accents precomposed and combining, zero-width, full-width and compatibility
# forms, ligatures, Hangul jamo that compose, case pairs that change length, emoji the packs name.
TRICKY = (
    "aAeEzZ 19.,'\"-!?"
    "\u0436\u043c\u043e\u03bb\u03bf\u00e9\u00c9\u00f1\u00fc\u00df\u00f8\u0301\u0308\u200b\u200d"
    "\uff4d\ufb01\U0001f602\U0001f49b\U0001f52a\u2026\u2019\u201c\u01f0\u0130\u0131\u1100\u1161"
    "\u00b2\u00b5\u2126\u00a0\u01c5\ufb00\u2177\u338f\ufe0f"
)


@given(st.text(alphabet=TRICKY, max_size=12))
@settings(max_examples=3000, deadline=None)
def test_plain_by_its_character_table_is_plain_the_whole_way(text: str) -> None:
    """The table that folds accented letters and emoji one by one gives what the whole folding gives."""
    assert plain(text) == text_module._plain(text)


def test_plain_by_its_character_table_reads_every_line_as_the_whole_way_does() -> None:
    for text in LINES:
        assert plain(text) == text_module._plain(text), text


def test_a_pattern_found_from_word_starts_matches_where_its_word_start_check_would() -> None:
    """`spans` (the regex without its leading word-start check, the check made on each match) gives
    the matches the pattern led by the check gives, on every line and every pattern its words bring."""
    index = recogniser_for(None)._families
    led: dict[int, re.Pattern[str]] = {}
    compared = 0
    for text in LINES:
        for low in {plain(text), deobfuscate(plain(text))}:
            found, _ = index.triggered(low)
            for number in found:
                group = index.groups[number]
                if number not in led:
                    led[number] = re.compile(WORD_START + group.source)
                assert group.spans(low) == [m.span() for m in led[number].finditer(low)], (text, number)
                compared += 1
    assert compared > 10_000


def _combine_as_first_written(current, recent) -> int:
    """`combine` as first written (a closure per call, generators): the reference for the fast one."""
    from chatserver.crisis.context import ACTIVE, IMMINENT, NONE, PASSIVE, PREPARATION, SIGNALS

    at_hand, plan_with = frozenset({"means", "place"}), frozenset({"time", "means", "place"})
    if not current.kinds and not recent:
        return NONE
    level = current.level
    now = current.kinds
    before: frozenset[str] = frozenset().union(*(a.kinds for a in recent))
    kinds = now | before
    ideation_before = max((a.ideation for a in recent), default=NONE)
    ideation = max(ideation_before, current.ideation)
    harm = max(current.selfharm, max((a.selfharm for a in recent), default=NONE))

    def brings(*parts):
        sets = [frozenset({p}) if isinstance(p, str) else p for p in parts]
        return all(kinds & s for s in sets) and any(now & s for s in sets)

    if ideation >= PASSIVE and kinds & PREPARATION and (now & PREPARATION or current.ideation >= PASSIVE):
        return IMMINENT
    if ideation >= ACTIVE and "time" in kinds and ("time" in now or current.ideation >= ACTIVE):
        return IMMINENT
    if harm >= ACTIVE and kinds & at_hand and (now & at_hand or current.selfharm >= ACTIVE):
        return IMMINENT
    if brings("attempt", "effects") or (
        brings("attempt", "recent") and (ideation >= ACTIVE or kinds & PREPARATION - {"farewell"})
    ):
        return IMMINENT
    if brings("plan", plan_with):
        return IMMINENT
    if len(kinds & PREPARATION) >= 2 and now & PREPARATION:
        return IMMINENT
    if "vague" in now:
        if "time" in kinds and kinds & plan_with - {"time"}:
            return IMMINENT
        if ideation >= PASSIVE:
            level = max(level, ACTIVE)
    if now and now <= SIGNALS:
        harm_before = max((a.selfharm for a in recent), default=NONE)
        level = max(level, ideation_before if ideation_before >= PASSIVE else NONE, harm_before)
    return level


_KINDS = ("ideation", "attempt", "selfharm", "topic", "means", "plan", "place", "farewell", "time")
_KINDS += ("recent", "vague", "effects")
_ASSESSMENTS = st.builds(
    Assessment,
    st.integers(0, 4),
    st.frozensets(st.sampled_from(_KINDS), max_size=4),
    st.integers(0, 4),
    st.integers(0, 4),
)


@settings(max_examples=3000, deadline=None)
@given(_ASSESSMENTS, st.lists(_ASSESSMENTS, max_size=4))
def test_combine_answers_as_first_written_for_any_message_and_window(current, recent) -> None:
    assert combine(current, recent) == _combine_as_first_written(current, recent)
