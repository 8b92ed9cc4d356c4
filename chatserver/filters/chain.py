"""FilterChain: run a room's filters in order and combine their verdicts."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from chatserver.filters.base import ACTIONS, RISK_LEVELS, Filter, MessageContext, Verdict

logger = logging.getLogger(__name__)

_STATUS = {"allow": "published", "redact": "published", "hold": "held", "reject": "rejected"}
_RANK = {"allow": 0, "redact": 1, "hold": 2, "reject": 3}
# After a reject only `runs_after_reject` filters (crisis) look, at this much of the text: enough
# for anyone's words, while a 64 KiB frame of junk rejected by max_length costs no more than a
# normal message.
AFTER_REJECT_CHARS = 4000
#: What someone whose content-warning label a content filter objected to is told (a `bad_request`).
LABEL_REFUSED = (
    "The content warning can't contain links, contact details or words the room holds back; "
    "please shorten it to a plain label such as 'self-harm'"
)
_ERROR_REASON = {
    "hold": "could not be checked automatically, so a host will look at it",
    "reject": "could not be checked automatically",
}


@dataclass(slots=True)
class ChainResult:
    """What the chain decided about one message.

    `reasons` holds the exact names of the filters that held, rejected, redacted
    or flagged the message (clients match on them); `explanations` the matching
    plain-words reasons. `resources` names the resources list to send the sender
    privately; `errors` lists "filtername: ExceptionType" for filters that raised.
    """

    status: str
    text: str
    reasons: list[str] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    retry_after: float | None = None
    urgent: bool = False
    resources: str | None = None
    errors: list[str] = field(default_factory=list)
    redacted: bool = False
    #: The highest risk level a filter saw (RISK_LEVELS), or None.
    level: str | None = None


def _risk(level: str | None) -> int:
    return RISK_LEVELS.index(level) + 1 if level in RISK_LEVELS else 0


class FilterChain:
    """A room's filters, in order.

    The outcome is the strictest verdict (reject > hold > redact > allow).
    Redactions apply in order and later filters see the redacted text. A reject
    stops the chain, except for filters with `runs_after_reject` (crisis), which
    still run so the sender gets resources and hosts an alert. A hold does not
    stop it. Hosts and admins are never held (they moderate the room), and
    their messages are neither urgent nor answered with crisis resources (a
    host who writes about crisis is usually helping); rejects and redactions
    still apply to them. A filter that raises is logged (name and exception
    type only, never the text), recorded in `errors`, and answered with its
    `on_error`.
    """

    __slots__ = ("filters",)

    def __init__(self, filters: Sequence[Filter] = ()) -> None:
        for f in filters:
            if not isinstance(f, Filter):
                raise TypeError(f"FilterChain takes Filter instances, got {type(f).__name__}")
        self.filters: tuple[Filter, ...] = tuple(filters)

    def __iter__(self) -> Iterator[Filter]:
        return iter(self.filters)

    def __len__(self) -> int:
        return len(self.filters)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.filters]

    def __repr__(self) -> str:
        return f"FilterChain({self.names!r})"

    def run(
        self, ctx: MessageContext, *, refused: bool = False, label: ChainResult | None = None
    ) -> ChainResult:
        """Run every filter on `ctx` and combine the answers.

        `ctx` itself is left untouched: a redaction makes a copy for the filters after it.
        `refused`: the message is already refused (the sender is muted, the room locked...);
        only the filters that run after a reject (crisis) look at it, so help still goes out.
        `label`: what `check_label` said about the message's content warning, when it was not
        refused; its alerts (crisis) count as the message's own, and its holds hold the message.
        """
        # Long on purpose: the hot path of every message, one loop kept inline (a call per filter
        # per message costs more than the lines it would save).
        result = ChainResult("rejected" if refused else "published", ctx.text)
        privileged = ctx.role != "participant"
        rank = 3 if refused else 0
        for f in self.filters:
            if rank == 3:
                if not f.runs_after_reject:
                    continue
                if len(ctx.text) > AFTER_REJECT_CHARS:
                    ctx = MessageContext(
                        ctx.room,
                        ctx.session,
                        ctx.name,
                        ctx.role,
                        ctx.text[:AFTER_REJECT_CHARS],
                        ctx.now,
                        ctx.sent_in_room,
                    )
            try:
                verdict = f.check(ctx)
                if verdict is None:
                    continue
                _check_verdict(verdict)
            except Exception as exc:  # a broken filter must never let a message through unchecked
                verdict = _on_error(f, exc, ctx, result)
                if verdict is None:
                    continue
            action = verdict.action
            name = verdict.filter or f.name
            if not privileged:  # hosts who write about crisis are usually helping someone
                if verdict.urgent:
                    result.urgent = True
                if verdict.resources and result.resources is None:
                    result.resources = verdict.resources
                if verdict.level and _risk(verdict.level) > _risk(result.level):
                    result.level = verdict.level
            if rank == 3:
                # Past a reject only the alert matters; the outcome is settled.
                if (verdict.urgent or verdict.resources) and not privileged:
                    result.reasons.append(name)
                    result.explanations.append(verdict.reason)
                continue
            if action == "hold" and privileged:
                continue
            if action == "redact":
                result.text = verdict.text  # type: ignore[assignment]
                result.redacted = True
                ctx = MessageContext(
                    ctx.room, ctx.session, ctx.name, ctx.role, result.text, ctx.now, ctx.sent_in_room
                )
            elif action == "allow" and (privileged or not (verdict.urgent or verdict.resources)):
                continue
            result.reasons.append(name)
            result.explanations.append(verdict.reason)
            new_rank = _RANK[action]
            if new_rank > rank:
                rank = new_rank
            if action == "reject":
                result.retry_after = verdict.retry_after
        if label is not None:
            rank = _merge_label(result, label, rank)
        result.status = _STATUS[ACTIONS[rank]]
        return result

    def check_label(self, ctx: MessageContext) -> ChainResult:
        """Check a message's content-warning label, `ctx.text`, with the filters that judge text alone.

        The label is shown to everyone before the message, so it passes what the text passes; but it
        is not a message, so only filters with `checks_labels` look (blocklist, links, pii, crisis),
        and counters (rate_limit, repeat, premoderate) are left alone. The label is refused (status
        "rejected"; the caller answers `LABEL_REFUSED` as a `bad_request`) when one of them would
        redact, hold or reject it, or raises (unless its `on_error` is allow): a label is a few plain
        words, nothing to send a host. An alert is no refusal: "self-harm" is what labels are for. A
        filter's urgent or resources verdict (crisis) is kept in the result, its hold as status
        "held", for `run(ctx, label=...)` to carry to the message. As in `run`, hosts and admins are
        never held and raise no alert.
        """
        result = ChainResult("published", ctx.text)
        privileged = ctx.role != "participant"
        for f in self.filters:
            if not f.checks_labels:
                continue
            try:
                verdict = f.check(ctx)
                if verdict is None:
                    continue
                if not isinstance(verdict, Verdict) or verdict.action not in _RANK:
                    raise TypeError("check() must return a Verdict or None")
            except Exception as exc:  # never let a label through unchecked
                kind = type(exc).__name__
                logger.error("filter %r raised %s on a label in room %r", f.name, kind, ctx.room)
                result.errors.append(f"{f.name}: {kind}")
                if f.on_error == "allow":
                    continue
                verdict = Verdict("reject", f.name, _ERROR_REASON["reject"])
            name = verdict.filter or f.name
            if verdict.urgent or verdict.resources:
                if privileged:
                    continue
                result.urgent = result.urgent or verdict.urgent
                result.resources = result.resources or verdict.resources
                if verdict.level and _risk(verdict.level) > _risk(result.level):
                    result.level = verdict.level
                if verdict.action == "hold" and result.status == "published":
                    result.status = "held"
            elif verdict.action == "allow" or (verdict.action == "hold" and privileged):
                continue
            else:
                result.status = "rejected"
            result.reasons.append(name)
            result.explanations.append(verdict.reason)
        return result


def _merge_label(result: ChainResult, label: ChainResult, rank: int) -> int:
    # The label's alerts are the message's; a label that holds holds the message.
    result.urgent = result.urgent or label.urgent
    if result.resources is None:
        result.resources = label.resources
    if label.level and _risk(label.level) > _risk(result.level):
        result.level = label.level
    for name, why in zip(label.reasons, label.explanations, strict=True):
        if name not in result.reasons:
            result.reasons.append(name)
            result.explanations.append(why)
    if label.status == "held" and rank < _RANK["hold"]:
        return _RANK["hold"]
    return rank


def _check_verdict(verdict: object) -> None:
    """Raise when a filter answered something that is not a usable Verdict."""
    if not isinstance(verdict, Verdict):
        raise TypeError("check() must return a Verdict or None")
    action = verdict.action
    if action not in _RANK or (action == "redact" and not isinstance(verdict.text, str)):
        raise ValueError(f"bad verdict action {action!r}")


def _on_error(f: Filter, exc: Exception, ctx: MessageContext, result: ChainResult) -> Verdict | None:
    """What a filter that raised stands for: its `on_error` (logged, and noted for the audit row)."""
    name = f.name
    kind = type(exc).__name__
    logger.error("filter %r raised %s in room %r; applying on_error=%s", name, kind, ctx.room, f.on_error)
    result.errors.append(f"{name}: {kind}")
    if f.on_error == "allow":
        return None
    return Verdict(f.on_error, name, _ERROR_REASON[f.on_error])
