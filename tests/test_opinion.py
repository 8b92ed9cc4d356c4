"""The crisis second opinion: a small word model asked where the phrase packs find nothing."""

from __future__ import annotations

import json
from pathlib import Path

from chatserver.crisis import opinion
from chatserver.crisis.opinion import TRAINING_DIRS, Opinion, corpus_digest, features
from chatserver.filters import CrisisFilter, MessageContext

ROOT = Path(__file__).resolve().parent.parent


def ctx(text: str, *, session: str = "s1", now: float = 1000.0) -> MessageContext:
    return MessageContext("room", session, "sam", "participant", text, now)


def tiny(**weights: float) -> Opinion:
    """A model that knows only `weights`: a risk weight per feature, imminent when 'bridge' is said."""
    return Opinion(
        {
            "threshold": 0.9,
            "gate": [f for f, w in weights.items() if w > 0],
            "risk": {"bias": -4.0, "weights": weights},
            "imminent": {"bias": -4.0, "weights": {"bridge": 8.0}},
            "active": {"bias": -4.0, "weights": {"tonight": 8.0}},
        }
    )


def test_the_shipped_model_was_trained_on_the_training_files_as_they_are():
    """Change a training file and this fails until `python -m chatserver.crisis.opinion` is run again."""
    shipped = json.loads(opinion.MODEL_PATH.read_text())
    assert shipped["corpus"] == corpus_digest(ROOT / d for d in TRAINING_DIRS)
    assert opinion.shipped() is not None


def test_features_are_words_pairs_and_stems():
    assert features("so tired of everything") >= {"so", "tired", "so tired", "tired of", "p:every"}


def test_the_opinion_reads_a_level_only_past_its_threshold_and_its_gate():
    model = tiny(zzquux=9.0, faintly=2.0)
    assert model.level("zzquux") == "passive"
    assert model.level("zzquux at the bridge") == "imminent"
    assert model.level("zzquux tonight") == "active"
    assert model.level("faintly") is None  # in the gate, but not sure enough
    assert model.level("hello everyone") is None  # no gate word: not even weighed


def test_the_second_opinion_speaks_only_where_the_packs_found_nothing():
    crisis = CrisisFilter()
    crisis.opinion = tiny(zzquux=9.0, friend=9.0, suicide=9.0)
    found = crisis.check(ctx("zzquux, honestly"))
    assert found is not None and found.level == "passive" and found.urgent
    # The packs read this one as someone else's loss: concern, whatever the model would say.
    grief = crisis.check(ctx("my friend died by suicide last year", session="s2"))
    assert grief is not None and grief.level == "concern"


def test_a_second_opinion_finding_counts_with_the_next_message():
    """Thoughts of dying the model noticed, then a means: imminent, as with the packs' own findings."""
    crisis = CrisisFilter()
    crisis.opinion = tiny(zzquux=9.0)
    assert crisis.check(ctx("zzquux", now=1000.0)).level == "passive"
    later = crisis.check(ctx("i have the pills here", now=1010.0))
    assert later is not None and later.level == "imminent"


def test_rooms_can_turn_the_second_opinion_off_and_rooms_of_chosen_languages_do_without():
    """It reads every language at once: a room that chose its packs asks it only when it says so."""
    assert CrisisFilter().opinion is not None
    assert CrisisFilter(second_opinion=False).opinion is None
    assert CrisisFilter(languages=["en"]).opinion is None
    assert CrisisFilter(languages=["en"], second_opinion=True).opinion is not None
