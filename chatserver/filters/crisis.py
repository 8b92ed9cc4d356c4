"""The crisis filter: recognise suicide and self-harm risk, by level, and do what the room says for each.

The recognising is done by `chatserver.crisis` (phrase packs per language, see docs/filters.md);
this filter adds the room's choices and a short memory of each person's last messages, so that
"I can't do this anymore" followed by "I have the pills here" reads as the emergency it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from chatserver.crisis import (
    ANY_LANGUAGE,
    EXTENSION_KEYS,
    Assessment,
    Extension,
    ExtensionError,
    PackError,
    combine,
    recogniser_for,
    shipped_languages,
)
from chatserver.crisis.opinion import Opinion
from chatserver.crisis.opinion import shipped as shipped_opinion
from chatserver.crisis.packs import LANGUAGE
from chatserver.crisis.text import plain
from chatserver.filters.base import (
    RISK_LEVELS,
    Filter,
    FilterConfigError,
    MessageContext,
    Verdict,
    option_bool,
    option_choice,
    option_int,
    option_number,
    option_str,
)

#: What each level does unless rooms.yaml says otherwise. `concern` (about someone else, the past,
#: a question) is noted but neither held nor urgent: holding "my friend died by suicide" would
#: silence grief. The others are held and urgent, with the resources sent privately.
LEVEL_KEYS = ("action", "resources", "urgent")
NO_RESOURCES = ("none", "off")
#: A person's previous message is read together with this one when it came this recently and one of
#: the two is short: thoughts get split over messages ("i just want to" / "disappear").
JOIN_SECONDS = 60.0
SHORT_WORDS = 6
REMEMBERED_CHARS = 300
#: A risk level's number in an Assessment (1 concern .. 4 imminent).
LEVEL_NUMBER = {name: number for number, name in enumerate(RISK_LEVELS, 1)}
#: The kinds a second-opinion finding counts as: thoughts of dying, for combining with later messages.
OPINION_KINDS = frozenset({"ideation"})
_REASONS = {
    "concern": "mentions suicide or self-harm",
    "passive": "may be about suicide or self-harm",
    "active": "may be about suicide or self-harm",
    "imminent": "may be about suicide or self-harm",
}


class LevelRule(NamedTuple):
    """What one risk level does: hold or pass, which resources list (or None), urgent or not."""

    action: str
    resources: str | None
    urgent: bool


@dataclass(slots=True)
class _Seen:
    """A remembered message of a session (mutable: the next plain message takes a plain one's place)."""

    at: float
    assessment: Assessment
    text: str


def _problem(path: tuple[str | int, ...], message: str) -> tuple[tuple[str | int, ...], str]:
    return path, message


def level_problems(levels: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with a `levels:` option, each with its path in the options (for a line number)."""
    if levels is None:
        return []
    if not isinstance(levels, Mapping):
        return [
            _problem(("levels",), f"option 'levels' must map levels ({', '.join(RISK_LEVELS)}) to settings")
        ]
    problems = []
    for level, rule in levels.items():
        if level not in RISK_LEVELS:
            problems.append(
                _problem(
                    ("levels", level),
                    f"unknown level {level!r} in 'levels' (expected: {', '.join(RISK_LEVELS)})",
                )
            )
            continue
        if not isinstance(rule, Mapping):
            problems.append(
                _problem(
                    ("levels", level),
                    f"'levels.{level}' must be a mapping like {{action: hold, resources: crisis}}",
                )
            )
            continue
        for key, value in rule.items():
            where = ("levels", level, key)
            if key not in LEVEL_KEYS:
                problems.append(
                    _problem(
                        where, f"unknown key {key!r} in 'levels.{level}' (expected: {', '.join(LEVEL_KEYS)})"
                    )
                )
            elif key == "action" and value not in ("hold", "pass"):
                problems.append(
                    _problem(where, f"'levels.{level}.action' must be hold or pass, got {value!r}")
                )
            elif key == "urgent" and not isinstance(value, bool):
                problems.append(
                    _problem(where, f"'levels.{level}.urgent' must be true or false, got {value!r}")
                )
            elif key == "resources" and not (
                value is None or value is False or (isinstance(value, str) and value.strip())
            ):
                problems.append(
                    _problem(
                        where,
                        f"'levels.{level}.resources' must name a resources list (or none), got {value!r}",
                    )
                )
    return problems


def phrase_extension(phrases: Any) -> tuple[Extension, list[tuple[tuple[str | int, ...], str]]]:
    """The `phrases:` option as a recogniser extension, and its shape problems (with paths).

    Two forms: the old list of extra phrases (active, any language), or
    `{language: {level or quiet: [pattern, ...]}}` in the phrase-pack pattern language.
    """
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if phrases is None or phrases == [] or phrases == ():
        return (), problems
    if isinstance(phrases, list | tuple):
        texts = []
        for number, phrase in enumerate(phrases, 1):
            if not isinstance(phrase, str) or not any(ch.isalnum() for ch in phrase):
                problems.append(_problem(("phrases", number), f"{phrase!r} has no letter or digit to match"))
            else:
                # The old list was plain words: anything that means something in a pattern goes.
                texts.append(" ".join(phrase.translate(str.maketrans("(){}|?*", "       ")).split()))
        return ((ANY_LANGUAGE, (("active", tuple(texts)),)),), problems
    if not isinstance(phrases, Mapping):
        return (), [
            _problem(("phrases",), "option 'phrases' must be a list of phrases or {language: {level: [...]}}")
        ]
    out = []
    for language, entries in phrases.items():
        if not isinstance(language, str) or not LANGUAGE.fullmatch(language):
            problems.append(
                _problem(("phrases", str(language)), f"{language!r} is not a language code like en or pt")
            )
            continue
        if not isinstance(entries, Mapping):
            problems.append(
                _problem(
                    ("phrases", language),
                    f"'phrases.{language}' must map levels to lists, like {{imminent: [...]}}",
                )
            )
            continue
        items = []
        for key, sources in entries.items():
            where = ("phrases", language, key)
            if key not in EXTENSION_KEYS:
                problems.append(
                    _problem(
                        where,
                        f"unknown key {key!r} in 'phrases.{language}' "
                        f"(expected: {', '.join(EXTENSION_KEYS)})",
                    )
                )
            elif not isinstance(sources, list | tuple) or not all(
                isinstance(s, str) and s.strip() for s in sources
            ):
                problems.append(_problem(where, f"'phrases.{language}.{key}' must be a list of phrases"))
            else:
                items.append((key, tuple(sources)))
        out.append((language, tuple(items)))
    return tuple(out), problems


def option_problems(options: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems of the crisis filter's `levels` and `phrases` options, each with its path (rooms.py
    turns the path into the line of the offending entry)."""
    problems = level_problems(options.get("levels"))
    extension, shape = phrase_extension(options.get("phrases"))
    problems += shape
    # Each language's phrases on their own, so every broken one is reported, not just the first.
    for language, entries in extension:
        for key, sources in entries:
            for number in range(len(sources)):
                one = ((language, ((key, (sources[number],)),)),)
                try:
                    recogniser_for((), one)
                except ExtensionError as exc:
                    path = exc.path[:-1] + (number + 1,)
                    problems.append(_problem(path, f"option 'phrases': {exc}"))
                except (KeyError, PackError):
                    pass  # reported by check-rooms (a broken shipped pack)
    return problems


class CrisisFilter(Filter):
    """Recognise suicide and self-harm risk and answer by level (see docs/filters.md, "Crisis").

    Levels, lowest first: `concern`, `passive`, `active`, `imminent`. Each does what `levels`
    says (default: `concern` passes quietly; the others are held, urgent, with `resources` sent
    privately); `action` and `resources` set all three at once. The verdict carries the level.
    It runs even after a reject, so someone who is also rate limited still gets help. A short
    memory per session (`context_messages` within `context_seconds`, at most `max_sessions`
    sessions) lets messages count together.
    """

    name = "crisis"
    runs_after_reject: ClassVar[bool] = True
    # A content-warning label is read like text; it also joins the person's memory, which is right:
    # the label and the message it covers are said together.
    checks_labels: ClassVar[bool] = True

    def __init__(
        self,
        *,
        action: str = "hold",
        resources: str = "crisis",
        levels: Mapping[str, Any] | None = None,
        languages: Sequence[str] | None = None,
        phrases: Any = (),
        context_messages: int = 4,
        context_seconds: float = 300,
        max_sessions: int = 10_000,
        second_opinion: bool | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        #: The word model asked about messages the packs find nothing in (chatserver/crisis/opinion.py).
        #: It reads every language at once, so by default only rooms that read every pack ask it.
        if second_opinion is None:
            second_opinion = languages is None
        self.opinion = shipped_opinion() if option_bool("second_opinion", second_opinion) else None
        self.action = option_choice("action", action, ("hold", "pass"))
        self.resources = option_str("resources", resources)
        self.context_messages = option_int("context_messages", context_messages, minimum=0)
        self.context_seconds = option_number("context_seconds", context_seconds)
        self.max_sessions = option_int("max_sessions", max_sessions, minimum=1)
        problems = level_problems(levels)
        extension, shape = phrase_extension(phrases)
        if problems or shape:
            raise FilterConfigError((problems or shape)[0][1])
        if languages is not None:
            if not isinstance(languages, list | tuple) or not all(isinstance(x, str) for x in languages):
                raise FilterConfigError(
                    f"option 'languages' must be a list of language codes, got {languages!r}"
                )
            languages = tuple(dict.fromkeys(languages))
        try:
            self.recogniser = recogniser_for(languages, extension)
        except ExtensionError as exc:
            raise FilterConfigError(f"option 'phrases': {exc}") from None
        except KeyError as exc:
            raise FilterConfigError(
                f"no phrase pack for language {exc.args[0]!r} (shipped: {', '.join(shipped_languages())}; "
                f"or add phrases for it under 'phrases: {{{exc.args[0]}: {{...}}}}')"
            ) from None
        except PackError as exc:
            raise FilterConfigError(f"a shipped phrase pack is broken: {exc.problems[0]}") from None
        self.rules = self._rules(levels or {})
        #: Every resources list a level may name, for rooms.yaml to check.
        self.resource_lists = tuple(dict.fromkeys(r.resources for r in self.rules.values() if r.resources))
        # Frozen verdicts, one per level (index 1..4), so check() allocates nothing.
        self._verdicts = self._level_verdicts()
        self._memory: dict[str, deque[_Seen]] = {}
        self._sweep_at = self.max_sessions

    @property
    def opinion(self) -> Opinion | None:
        """The word model asked where the packs found nothing (None: not asked)."""
        return self._opinion

    @opinion.setter
    def opinion(self, model: Opinion | None) -> None:
        self._opinion = model
        self._opinion_level = model.reader() if model is not None else None

    def _level_verdicts(self) -> list[Verdict | None]:
        verdicts: list[Verdict | None] = [None]
        for level in RISK_LEVELS:
            rule = self.rules[level]
            verdicts.append(
                Verdict(
                    "hold" if rule.action == "hold" else "allow",
                    self.name,
                    _REASONS[level],
                    urgent=rule.urgent,
                    resources=rule.resources,
                    level=level,
                )
            )
        return verdicts

    def _rules(self, levels: Mapping[str, Any]) -> dict[str, LevelRule]:
        rules = {}
        for level in RISK_LEVELS:
            concern = level == "concern"
            given = levels.get(level) or {}
            resources = given.get("resources", None if concern else self.resources)
            if resources is False or (
                isinstance(resources, str) and resources.strip().lower() in NO_RESOURCES
            ):
                resources = None
            rules[level] = LevelRule(
                action=given.get("action", "pass" if concern else self.action),
                resources=resources,
                urgent=option_bool("urgent", given.get("urgent", not concern)),
            )
        return rules

    def check(self, ctx: MessageContext) -> Verdict | None:
        if ctx.role != "participant":
            return None  # hosts and admins are never held or alerted for; nothing to remember either
        now = ctx.now
        text = ctx.text
        seen = self._memory.get(ctx.session)
        recent: list[Assessment] = []
        before = ""
        if seen:
            last = seen[-1]
            if len(seen) > 1 or last.assessment.kinds:  # a plain entry is only ever last, and says nothing
                cutoff = now - self.context_seconds
                recent = [s.assessment for s in seen if s.assessment.kinds and s.at >= cutoff]
            # A thought split over messages leaves the first unfinished: it is short, with no full
            # stop, and was sent a moment ago.
            if last.text and now - last.at <= JOIN_SECONDS:
                before = last.text
        low = plain(text)
        assessment = self.recogniser.assess(text, before=before, context=bool(recent), plain_text=low)
        if assessment.kinds:
            # A message that brings nothing cannot raise what was said before (every rule of
            # combine() needs the new message to bring a part), and one without kinds is level 0.
            level = combine(assessment, recent)
        elif self._opinion_level is not None and (guess := self._opinion_level(low)) is not None:
            assessment = self._second_opinion(guess)
            level = combine(assessment, recent)
        else:
            level = 0
        if self.context_messages:
            unfinished = _unfinished(text)
            if assessment.kinds or seen or unfinished:
                self._remember(ctx.session, now, assessment, text if unfinished else "", seen)
        return self._verdicts[level]

    @staticmethod
    def _second_opinion(guess: str) -> Assessment:
        """What the word model read (in `plain()` text where the packs found nothing), as thoughts of
        dying at its level (so a later message with a means or a time still combines with it)."""
        level = LEVEL_NUMBER[guess]
        return Assessment(level=level, kinds=OPINION_KINDS, ideation=level)

    def _remember(
        self, session: str, now: float, assessment: Assessment, unfinished: str, seen: deque[_Seen] | None
    ) -> None:
        # Only what can count later is kept: messages that said something, and the text of the
        # last one (`unfinished`, or "") when a thought may continue in the next.
        if seen is None:
            if len(self._memory) >= self._sweep_at:
                self._sweep(now)
            seen = self._memory[session] = deque(maxlen=self.context_messages)
        if not assessment.kinds and seen and not (last := seen[-1]).assessment.kinds:
            last.at, last.assessment, last.text = now, assessment, unfinished[:REMEMBERED_CHARS]
            return  # an earlier plain message only mattered as the "last" one: this one takes its place
        seen.append(_Seen(now, assessment, unfinished[:REMEMBERED_CHARS]))

    def _sweep(self, now: float) -> None:
        # Sessions quiet for longer than the window have nothing left worth remembering.
        cutoff = now - max(self.context_seconds, JOIN_SECONDS)
        live = {s: d for s, d in self._memory.items() if d and d[-1].at >= cutoff}
        if len(live) >= self.max_sessions:
            live = dict(list(live.items())[len(live) - self.max_sessions // 2 :])
        self._memory = live
        self._sweep_at = max(self.max_sessions, 2 * len(live))


def _unfinished(text: str) -> bool:
    # "i just want to" (short, no full stop) may go on in the next message.
    return text.count(" ") < SHORT_WORDS and not text.rstrip().endswith((".", "!", "?", "\u2026"))
