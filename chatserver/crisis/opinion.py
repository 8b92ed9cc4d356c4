"""A second opinion: a small word model, for crisis messages the phrase packs do not recognise.

The packs read what people say in the families of phrasing someone wrote down; people also say it
in ways nobody wrote down. This model learnt from the labelled corpus and the extra training lines
(`tests/data/crisis`, `tests/data/crisis_train`, every language) to tell risk (passive, active,
imminent) from everything else by the words and word pairs a message uses, so a new phrasing that
shares their vocabulary ("been giving my stuff away to people who'll use it") is still noticed.
It is only asked when the packs found nothing, and only about messages with a word it has learnt
to weigh (its `gate`), so most ordinary chat costs one pass over its words.

It is deliberately plain: logistic regression over sparse features (words, word pairs, five-letter
stems), weights in `opinion.json`, trained by `python -m chatserver.crisis.opinion` (in about two
seconds; retrain whenever the training files change: a test compares their digest).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import sys
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

try:
    from chatserver.crisis import _scan
except ImportError:  # built without a C compiler: the same answers, from the Python below
    _scan = None  # type: ignore[assignment]

MODEL_PATH = Path(__file__).resolve().parent / "opinion.json"
_WORD = re.compile(r"[a-z0-9]+")
RISK = frozenset({"passive", "active", "imminent"})
STEM = 5
#: A negative line weighs this much more than a positive one in training: a false alarm in a room
#: costs trust (and hosts' attention), so the model must be surer than the corpus balance implies.
NEGATIVE_WEIGHT = 4.0
#: Risk above this probability counts; chosen on held-back folds of the corpus, not the held-out set.
THRESHOLD = 0.9
#: Weights smaller than this are dropped from the file: they never change a decision.
KEEP_ABOVE = 0.02
#: A word whose weight towards risk is at least this opens the gate (below it a word alone never
#: decides; ordinary chat rarely holds one, so it mostly costs one pass over its words).
GATE_WEIGHT = 0.5


def features(text: str, stop: frozenset[str] = frozenset()) -> set[str]:
    """Words, word pairs and the stems of long words of `plain()` text, leaving out the `stop` words
    and pairs of them (so the model learns from what a message is about, not how it is put)."""
    words = _WORD.findall(text)
    out = {word for word in words if word not in stop}
    for i, word in enumerate(words):
        if len(word) > STEM and word not in stop:
            out.add("p:" + word[:STEM])
        if i and not (word in stop and words[i - 1] in stop):
            out.add(words[i - 1] + " " + word)
    return out


def stop_words() -> frozenset[str]:
    """Every shipped pack's `common` words: too frequent to tell risk by, in any language."""
    from chatserver.crisis import shipped_packs
    from chatserver.crisis.text import plain

    return frozenset(
        w for pack in shipped_packs().values() for c in pack.common for w in _WORD.findall(plain(c))
    )


@dataclass(frozen=True, slots=True)
class _Weights:
    bias: float
    weights: dict[str, float]

    def probability(self, found: set[str]) -> float:
        weights = self.weights
        z = self.bias + sum(weights.get(f, 0.0) for f in found)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class _Scorer:
    """`_Weights` split by feature shape, so a message is weighed without building feature strings:
    the same sum as `_Weights.probability(features(text))`, with the per-word work in C."""

    __slots__ = ("bias", "words", "stems", "pairs")

    def __init__(self, weights: _Weights) -> None:
        self.bias = weights.bias
        self.words: dict[str, float] = {}
        self.stems: dict[str, float] = {}
        self.pairs: dict[tuple[str, str], float] = {}
        for feature, weight in weights.weights.items():
            if feature.startswith("p:"):
                self.stems[feature[2:]] = weight
            elif " " in feature:
                first, second = feature.split(" ", 1)
                self.pairs[(first, second)] = weight
            else:
                self.words[feature] = weight

    def probability(self, words: list[str], unique: dict[str, None], stems: dict[str, None]) -> float:
        # Each sum in first-appearance order (dicts, not sets): the same float every run, and the
        # same as the C weigher's (chatserver/crisis/_scan_opinion.c).
        z = self.bias + sum(map(self.words.get, unique, _ZEROS))
        if stems:
            z += sum(map(self.stems.get, stems, _ZEROS))
        if len(words) > 1:
            z += sum(map(self.pairs.get, dict.fromkeys(zip(words, words[1:], strict=False)), _ZEROS))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


_ZEROS = repeat(0.0)


class Opinion:
    """The trained model: `level(plain_text)` is "passive", "active", "imminent" or None."""

    def __init__(self, data: dict[str, Any], *, native: bool = True) -> None:
        self.threshold = float(data["threshold"])
        self.risk = _Weights(data["risk"]["bias"], data["risk"]["weights"])
        self.imminent = _Weights(data["imminent"]["bias"], data["imminent"]["weights"])
        self.active = _Weights(data["active"]["bias"], data["active"]["weights"])
        self._scorers = tuple(_Scorer(w) for w in (self.risk, self.imminent, self.active))
        gate = data["gate"]
        self._gate_words = frozenset(w for w in gate if not w.startswith("p:"))
        self._gate_stems = frozenset(w[2:] for w in gate if w.startswith("p:"))
        # What a word as typed (split on spaces: its words never span one) brings: whether it opens
        # the gate, its words and the stems of its long words; remembered, bounded: chat repeats its
        # words, so the gate costs a lookup per word and the scoring no regex.
        self._typed: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]] = {}
        self._weigher: Any = self._native_weigher() if native and _scan is not None else None

    def _native_weigher(self) -> Any:
        """The same model in C: words, stems and pairs numbered, three weights (risk, imminent,
        active) per number."""
        scorers = self._scorers
        vocabulary = dict.fromkeys(
            w for s in scorers for w in chain(s.words, (w for pair in s.pairs for w in pair))
        )
        self._word_ids = {word: i for i, word in enumerate(vocabulary)}
        self._stem_ids = {
            stem: i for i, stem in enumerate(dict.fromkeys(s for sc in scorers for s in sc.stems))
        }
        pairs = list(dict.fromkeys(pair for s in scorers for pair in s.pairs))
        word_ids = self._word_ids
        return _scan.Weigher(
            {},
            self._packed,
            _OPENS_CACHE,
            len(self._word_ids),
            len(self._stem_ids),
            array("d", (s.words.get(w, 0.0) for w in self._word_ids for s in scorers)).tobytes(),
            array("d", (s.stems.get(t, 0.0) for t in self._stem_ids for s in scorers)).tobytes(),
            array("I", (word_ids[w] for pair in pairs for w in pair)).tobytes(),
            array("d", (s.pairs.get(pair, 0.0) for pair in pairs for s in scorers)).tobytes(),
            (scorers[0].bias, scorers[1].bias, scorers[2].bias),
            self.threshold,
            _LEVEL_NAMES,
        )

    def reader(self) -> Callable[[str], str | None]:
        """`level`, as the C weigher's own method when there is one (a call less per message)."""
        return self._weigher.level if self._weigher is not None else self.level

    def _packed(self, typed: str) -> bytes:
        """`_read` for the C weigher: gate, counts, word numbers (UNKNOWN when unweighed), stem numbers."""
        opens, words, stems = self._read(typed)
        word_ids = [self._word_ids.get(w, _scan.UNKNOWN) for w in words]
        stem_ids = [self._stem_ids[s] for s in stems if s in self._stem_ids]
        return array("I", [int(opens), len(word_ids), len(stem_ids), *word_ids, *stem_ids]).tobytes()

    def level(self, text: str) -> str | None:
        """The risk level the model reads in `plain()` text, or None."""
        if self._weigher is not None:
            level: str | None = self._weigher.level(text)
            return level
        typed = text.split()
        cache = self._typed
        try:
            entries = list(map(cache.__getitem__, typed))
        except KeyError:
            if len(cache) >= _OPENS_CACHE:
                cache.clear()
            for word in typed:
                if word not in cache:
                    cache[word] = self._read(word)
            entries = list(map(cache.__getitem__, typed))
        if not any(map(_OPENS, entries)):
            return None
        words = list(chain.from_iterable(map(_WORDS, entries)))
        stems = dict.fromkeys(chain.from_iterable(map(_STEMS, entries)))
        risk, imminent, active = self._scorers
        unique = dict.fromkeys(words)
        if risk.probability(words, unique, stems) <= self.threshold:
            return None
        if imminent.probability(words, unique, stems) > 0.5:
            return "imminent"
        return "active" if active.probability(words, unique, stems) > 0.5 else "passive"

    def _read(self, typed: str) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
        words = tuple(_WORD.findall(typed))
        stems = tuple(w[:STEM] for w in words if len(w) > STEM)
        return self._opens_gate(typed), words, stems

    def _opens_gate(self, typed: str) -> bool:
        words = _WORD.findall(typed)
        return not self._gate_words.isdisjoint(words) or any(
            len(w) > STEM and w[:STEM] in self._gate_stems for w in words
        )


_OPENS, _WORDS, _STEMS = (itemgetter(i) for i in range(3))
#: The C weigher's answers, by its number for them.
_LEVEL_NAMES = (None, "passive", "active", "imminent")
_OPENS_CACHE = 50_000


@cache
def shipped() -> Opinion | None:
    """The model shipped with the package (None when the file is missing: the packs alone decide)."""
    try:
        return Opinion(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


# ---- training (offline) -------------------------------------------------------------------------


def _fit(rows: Sequence[tuple[set[str], bool]], *, negative_weight: float, epochs: int = 12) -> _Weights:
    """Logistic regression by AdaGrad, in a fixed order: the same corpus gives the same weights."""
    weights: dict[str, float] = defaultdict(float)
    squares: dict[str, float] = defaultdict(lambda: 1e-8)
    bias, bias_square, rate, l2 = 0.0, 1e-8, 0.3, 1e-4
    order = list(rows)
    shuffle = random.Random(1)
    for _ in range(epochs):
        shuffle.shuffle(order)
        for found, positive in order:
            z = bias + sum(weights[f] for f in found)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            g = (p - positive) * (1.0 if positive else negative_weight)
            for f in found:
                step = g + l2 * weights[f]
                squares[f] += step * step
                weights[f] -= rate * step / math.sqrt(squares[f])
            bias_square += g * g
            bias -= rate * g / math.sqrt(bias_square)
    kept = {f: round(w, 4) for f, w in sorted(weights.items()) if abs(w) >= KEEP_ABOVE}
    return _Weights(round(bias, 4), kept)


def train(items: Iterable[Any]) -> dict[str, Any]:
    """The model file's content from corpus items (`text`, `level`, `category`, `context`)."""
    from chatserver.crisis.text import plain

    stop = stop_words()
    lines = [(features(plain(item.text), stop), item.level) for item in items]
    risk = _fit([(f, level in RISK) for f, level in lines], negative_weight=NEGATIVE_WEIGHT)
    risky = [(f, level) for f, level in lines if level in RISK]
    imminent = _fit([(f, level == "imminent") for f, level in risky], negative_weight=1.0)
    active = _fit([(f, level == "active") for f, level in risky if level != "imminent"], negative_weight=1.0)
    gate = sorted(f for f, w in risk.weights.items() if w >= GATE_WEIGHT and " " not in f)
    return {
        "about": "chatserver crisis second opinion; trained by `python -m chatserver.crisis.opinion`",
        "threshold": THRESHOLD,
        "stop": sorted(stop),  # left out of training: the weights have none of them
        "gate": gate,
        "risk": {"bias": risk.bias, "weights": risk.weights},
        "imminent": {"bias": imminent.bias, "weights": imminent.weights},
        "active": {"bias": active.bias, "weights": active.weights},
    }


#: What the shipped model is trained on: the labelled corpus and the extra training lines.
TRAINING_DIRS = ("tests/data/crisis", "tests/data/crisis_train")


def corpus_digest(directories: Iterable[Path]) -> str:
    """A digest of the training files, kept in the model file to tell when it needs retraining."""
    digest = hashlib.sha256()
    for directory in directories:
        for path in sorted(directory.glob("*.jsonl")):
            digest.update(directory.name.encode() + b"/" + path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def main(argv: Sequence[str]) -> int:
    from chatserver.crisis.score import read_corpus

    directories = [Path(d) for d in (argv or TRAINING_DIRS)]
    model = train([item for d in directories for item in read_corpus(d)])
    model["corpus"] = corpus_digest(directories)
    MODEL_PATH.write_text(
        json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    weights, gate = len(model["risk"]["weights"]), len(model["gate"])
    print(f"wrote {MODEL_PATH} ({weights} risk weights, gate of {gate} words)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
