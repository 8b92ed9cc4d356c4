"""The crisis filter: notice suicide and self-harm phrases, alert hosts, offer help privately."""

from __future__ import annotations

from typing import Any, ClassVar

from chatserver.filters.base import (
    Filter,
    FilterConfigError,
    MessageContext,
    Verdict,
    option_choice,
    option_str,
    option_strings,
)
from chatserver.filters.words import WordMatcher, phrase_problem

# English phrases; leetspeak, apostrophes ("can't", "cant", "can’t"), spacing and
# hyphens ("self harm", "self-harm", "selfharm") are tolerated by WordMatcher.
# It errs towards noticing: a false alarm costs a host a glance, a miss costs more.
CRISIS_PHRASES: tuple[str, ...] = (
    "kill myself",
    "killing myself",
    "end my life",
    "ending my life",
    "end it all",
    "ending it all",
    "take my own life",
    "taking my own life",
    "take my life",
    "want to die",
    "wanna die",
    "want to be dead",
    "wish i was dead",
    "wish i were dead",
    "better off dead",
    "better off without me",
    "suicide",
    "suicides",
    "suicidal",
    "self harm",
    "self harming",
    "hurt myself",
    "hurting myself",
    "harm myself",
    "harming myself",
    "cut myself",
    "cutting myself",
    "hang myself",
    "overdose",
    "overdosed",
    "overdosing",
    "can't go on",
    "cannot go on",
    "no reason to live",
    "nothing to live for",
    "not worth living",
    "don't want to live",
    "do not want to live",
    "don't want to be alive",
    "don't want to be here anymore",
    "don't want to wake up",
    "unalive myself",
    "unaliving myself",
)


class CrisisFilter(Filter):
    """Notice suicide and self-harm phrases.

    Whether it holds (`action: hold`) or lets the message through (`action: pass`),
    the verdict is urgent, so hosts see it first, and names the `resources` list
    the hub sends the sender privately. It runs even after a reject, so someone
    who is also rate limited still gets help.
    """

    name = "crisis"
    runs_after_reject: ClassVar[bool] = True
    checks_labels: ClassVar[bool] = True

    def __init__(
        self,
        *,
        action: str = "hold",
        resources: str = "crisis",
        phrases: list[str] | tuple[str, ...] = (),
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.action = option_choice("action", action, ("hold", "pass"))
        self.resources = option_str("resources", resources)
        extra = option_strings("phrases", phrases)
        for phrase in extra:
            problem = phrase_problem(phrase)
            if problem:
                raise FilterConfigError(f"option 'phrases': {problem}")
        self.phrases = CRISIS_PHRASES + extra
        self._matcher = WordMatcher(self.phrases)
        self._verdict = Verdict(
            "hold" if self.action == "hold" else "allow",
            self.name,
            "may be about suicide or self-harm",
            urgent=True,
            resources=self.resources,
        )

    def check(self, ctx: MessageContext) -> Verdict | None:
        if self._matcher.search(ctx.text):
            return self._verdict  # frozen, so one instance serves every message
        return None
