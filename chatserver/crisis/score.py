"""`chatserver crisis-score`: how well the recogniser reads a labelled corpus.

The corpus is JSON lines, one file per language (`en.jsonl`, `es.jsonl`, ...):

    {"text": "...", "category": "indirect", "level": "passive", "context": ["earlier", "messages"]}

Categories: explicit, indirect, plan, selfharm, slang, context (risk, written as people write);
concern (about someone else, the past, a question); everyday and figurative (no risk). Levels:
none, concern, passive, active, imminent. Each line is read by a fresh crisis filter with the
shipped defaults, after its `context` (the same person's earlier messages, 20 seconds apart), so
the memory and the room's level rules are exercised as in a room.

Figures:
- recall per category and per language: a risk line (passive or more) counts as recognised when the
  filter would alert or hold it; a concern line when it is given any level;
- false alarms: everyday and figurative lines the filter would alert or hold (a `concern` that
  only passes quietly is no alarm; it is counted apart as "noted");
- level accuracy: lines of the risk categories and concern given exactly their level.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatserver.filters.base import RISK_LEVELS, MessageContext

LEVEL_NAMES = ("none", *RISK_LEVELS)
RISK_CATEGORIES = ("explicit", "indirect", "plan", "selfharm", "slang", "context")
NEGATIVE_CATEGORIES = ("everyday", "figurative")
CATEGORIES = (*RISK_CATEGORIES, "concern", *NEGATIVE_CATEGORIES)
#: Done when (issue 13): recall per category, per non-English language, false alarms, level accuracy.
TARGETS: dict[str, float] = {
    "explicit": 0.95,
    "indirect": 0.90,
    "plan": 0.90,
    "selfharm": 0.90,
    "slang": 0.90,
    "context": 0.90,
    "language": 0.85,
    "false_alarms": 0.03,
    "level_accuracy": 0.85,
}
CONTEXT_GAP_S = 20.0


class CorpusError(ValueError):
    """A corpus file or line cannot be read; the message says which."""


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled message."""

    language: str
    text: str
    category: str
    level: str
    context: tuple[str, ...] = ()
    where: str = ""


@dataclass(slots=True)
class Outcome:
    """An item and what the filter made of it."""

    item: Item
    level: str  # "none" when nothing was found
    alarm: bool  # would alert hosts or hold the message


@dataclass(slots=True)
class Report:
    """The figures of one scoring run."""

    outcomes: list[Outcome] = field(default_factory=list)

    def _rate(self, outcomes: Iterable[Outcome], hit: Any) -> tuple[float, int]:
        chosen = list(outcomes)
        return (sum(1 for o in chosen if hit(o)) / len(chosen) if chosen else 1.0), len(chosen)

    @staticmethod
    def recognised(o: Outcome) -> bool:
        """A risk line is recognised when it would alert or hold; a concern line when it has any level;
        a line whose context makes it no risk at all (a `context` line labelled none) when it is quiet."""
        if o.item.level == "none":
            return not o.alarm
        return o.alarm if o.item.level != "concern" else o.level != "none"

    def recall(self, category: str) -> tuple[float, int]:
        return self._rate((o for o in self.outcomes if o.item.category == category), self.recognised)

    def language_recall(self, language: str) -> tuple[float, int]:
        return self._rate(
            (o for o in self.outcomes if o.item.language == language and o.item.category in RISK_CATEGORIES),
            self.recognised,
        )

    def false_alarms(self, language: str | None = None) -> tuple[float, int]:
        return self._rate(
            (
                o
                for o in self.outcomes
                if o.item.category in NEGATIVE_CATEGORIES and language in (None, o.item.language)
            ),
            lambda o: o.alarm,
        )

    def noted(self) -> tuple[float, int]:
        """Everyday and figurative lines given `concern`: no alarm, but worth watching."""
        return self._rate(
            (o for o in self.outcomes if o.item.category in NEGATIVE_CATEGORIES), lambda o: o.level != "none"
        )

    def level_accuracy(self) -> tuple[float, int]:
        return self._rate(
            (o for o in self.outcomes if o.item.category in (*RISK_CATEGORIES, "concern")),
            lambda o: o.level == o.item.level,
        )

    @property
    def languages(self) -> list[str]:
        return sorted({o.item.language for o in self.outcomes})

    def failures(self) -> list[str]:
        """Each target missed, in words."""
        out = []
        for category in RISK_CATEGORIES:
            rate, n = self.recall(category)
            if n and rate < TARGETS[category]:
                out.append(f"recall {category} {rate:.1%} < {TARGETS[category]:.0%}")
        for language in self.languages:
            rate, n = self.language_recall(language)
            if language != "en" and n and rate < TARGETS["language"]:
                out.append(f"recall {language} {rate:.1%} < {TARGETS['language']:.0%}")
        rate, n = self.false_alarms()
        if n and rate > TARGETS["false_alarms"]:
            out.append(f"false alarms {rate:.1%} > {TARGETS['false_alarms']:.0%}")
        rate, n = self.level_accuracy()
        if n and rate < TARGETS["level_accuracy"]:
            out.append(f"level accuracy {rate:.1%} < {TARGETS['level_accuracy']:.0%}")
        return out

    def table(self) -> str:
        """The figures as a Markdown table (docs/filters.md carries one)."""
        rows = ["| measure | n | result | target |", "|---|---:|---:|---:|"]
        for category in (*RISK_CATEGORIES, "concern"):
            rate, n = self.recall(category)
            if n:
                target = f"≥ {TARGETS[category]:.0%}" if category in TARGETS else ""
                rows.append(f"| recall: {category} | {n} | {rate:.1%} | {target} |")
        for language in self.languages:
            rate, n = self.language_recall(language)
            target = "" if language == "en" else f"≥ {TARGETS['language']:.0%}"
            rows.append(f"| recall: {language} (all risk lines) | {n} | {rate:.1%} | {target} |")
        rate, n = self.false_alarms()
        rows.append(
            f"| false alarms: everyday + figurative | {n} | {rate:.1%} | ≤ {TARGETS['false_alarms']:.0%} |"
        )
        rate, n = self.noted()
        rows.append(f"| everyday + figurative noted as concern (no alarm) | {n} | {rate:.1%} | |")
        rate, n = self.level_accuracy()
        rows.append(
            f"| level right (risk lines and concern) | {n} | {rate:.1%} | ≥ {TARGETS['level_accuracy']:.0%} |"
        )
        return "\n".join(rows)

    def misses(self) -> list[str]:
        """Lines read wrongly, for whoever improves the packs (look for families, not sentences)."""
        out = []
        for o in self.outcomes:
            item = o.item
            wrong = (
                (item.category in NEGATIVE_CATEGORIES and o.alarm)
                or (item.category not in NEGATIVE_CATEGORIES and not self.recognised(o))
                or (item.category not in NEGATIVE_CATEGORIES and o.level != item.level)
            )
            if wrong:
                out.append(f"{item.where}: [{item.category}] want {item.level}, got {o.level}: {item.text}")
        return out


def read_corpus(directory: Path, languages: Sequence[str] | None = None) -> list[Item]:
    """Every line of `directory/*.jsonl` (only `languages`' files when given); CorpusError if broken."""
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise CorpusError(f"{directory}: no *.jsonl corpus files there")
    items = []
    for path in files:
        language = path.stem
        if languages is not None and language not in languages:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise CorpusError(f"{where}: expected an object with a 'text'")
            category, level = row.get("category"), row.get("level")
            if category not in CATEGORIES:
                raise CorpusError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
            if level not in LEVEL_NAMES:
                raise CorpusError(f"{where}: level {level!r} is not one of {', '.join(LEVEL_NAMES)}")
            context = row.get("context") or []
            if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
                raise CorpusError(f"{where}: 'context' must be a list of texts")
            items.append(Item(language, row["text"], category, level, tuple(context), where))
    return items


def score(
    items: Iterable[Item], *, languages: Sequence[str] | None = None, options: dict[str, Any] | None = None
) -> Report:
    """Read every item with a fresh crisis filter (default options, or `options`), after its context."""
    from chatserver.filters.crisis import CrisisFilter

    opts = dict(options or {})
    if languages is not None:
        opts.setdefault("languages", list(languages))
    crisis = CrisisFilter(**opts)
    report = Report()
    for number, item in enumerate(items):
        session = f"score-{number}"
        now = 1000.0 + number * 1000.0
        for i, earlier in enumerate(item.context):
            crisis.check(MessageContext("score", session, "someone", "participant", earlier, now, i))
            now += CONTEXT_GAP_S
        verdict = crisis.check(MessageContext("score", session, "someone", "participant", item.text, now))
        level = verdict.level if verdict is not None and verdict.level else "none"
        alarm = verdict is not None and (verdict.action == "hold" or verdict.urgent)
        report.outcomes.append(Outcome(item, level, alarm))
    return report


def main(corpus: Path, languages: Sequence[str] | None, *, check: bool, misses: bool) -> int:
    """The command: print the table (and the misses); with `check`, exit 1 below a target."""
    try:
        items = read_corpus(corpus, languages)
    except (CorpusError, OSError) as exc:
        print(f"chatserver crisis-score: {exc}")
        return 2
    report = score(items, languages=languages)
    counts = Counter(item.language for item in items)
    print(f"corpus {corpus}: {len(items)} lines ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    print(report.table())
    if misses:
        by_file: dict[str, list[str]] = defaultdict(list)
        for line in report.misses():
            by_file[line.split(":", 1)[0]].append(line)
        print("\nmisses:")
        for lines in by_file.values():
            print("\n".join(lines))
    failures = report.failures()
    if failures:
        print("\nbelow target: " + "; ".join(failures))
    return 1 if check and failures else 0
