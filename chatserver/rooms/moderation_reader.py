"""Reading the proportionate-moderation keys of rooms.yaml (issue 16), each problem at its line.

rules: ["Be kind.", "No advice about medication doses."]
ladder: [warn, warn, mute 10m, mute 24h, ban]
strike_expiry: 86400          # seconds a warning or mute counts as a strike
reasons: ["This wasn't shared, so everyone can feel safe here."]
shield: {slowmode: 30, premoderate: new_members, hold_links: true}
join_burst: {joins: 10, per_seconds: 60, action: alert}   # or `off`
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from chatserver.rooms.moderation import (
    BURST_ACTIONS,
    MAX_MUTE_MINUTES,
    MODERATION_KEYS,
    REASON_MAX,
    RULE_MAX,
    JoinBurst,
    RoomModeration,
    Shield,
    Step,
)
from chatserver.rooms.reader import Fields, Reader
from chatserver.yamlnodes import show

_MUTE = re.compile(r"mute\s+(\d+(?:\.\d+)?)\s*(m|min|h|d)?", re.IGNORECASE)
_UNIT_MINUTES = {None: 1.0, "m": 1.0, "min": 1.0, "h": 60.0, "d": 1440.0}


class ModerationReader(Reader):
    """The issue-16 keys of defaults and rooms."""

    def moderation_settings(self, fields: Fields, where: str) -> dict[str, Any]:
        """The keys present in `fields`, read; a bad one is reported and left out."""
        out: dict[str, Any] = {}
        for key in MODERATION_KEYS:
            if key in fields:
                value = getattr(self, f"_read_{key}")(fields[key][1], f"'{key}' in {where}")
                if value is not None:
                    out[key] = value
        return out

    def room_moderation(self, fields: Fields, where: str, defaults: Mapping[str, Any]) -> RoomModeration:
        """The room's own keys over the defaults' over the built-in values."""
        chosen = {**defaults, **self.moderation_settings(fields, where)}
        if chosen.get("join_burst") is False:
            chosen["join_burst"] = None
        return RoomModeration(**chosen)

    def _texts(self, node: yaml.Node, what: str, limit: int, example: str) -> tuple[str, ...] | None:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(node, f"{what} must be a list of short texts, like [{example}], got {show(node)}")
            return None
        texts = []
        for item in node.value:
            text = self.text(item, f"each of {what}", required=True)
            if text is None:
                continue
            if len(text.strip()) > limit:
                self.problem(item, f"each of {what} can be at most {limit} characters")
                continue
            texts.append(text.strip())
        return tuple(texts) if len(texts) == len(node.value) else None

    def _read_rules(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        return self._texts(node, what, RULE_MAX, '"Be kind."')

    def _read_reasons(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        return self._texts(node, what, REASON_MAX, '"This wasn\'t shared, so everyone can feel safe."')

    def _read_strike_expiry(self, node: yaml.Node, what: str) -> float | None:
        return self.number(node, what)

    def _read_ladder(self, node: yaml.Node, what: str) -> tuple[Step, ...] | None:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(node, f"{what} must be a list of steps like [warn, mute 10m, ban], got {show(node)}")
            return None
        steps = []
        for item in node.value:
            step = self._step(item, what)
            if step is not None:
                steps.append(step)
        return tuple(steps) if len(steps) == len(node.value) else None

    def _step(self, node: yaml.Node, what: str) -> Step | None:
        raw = node.value if isinstance(node, yaml.ScalarNode) else None
        text = raw.strip().lower() if isinstance(raw, str) else ""
        if text in ("warn", "kick", "ban"):
            return Step(text)
        match = _MUTE.fullmatch(text)
        if match:
            minutes = float(match.group(1)) * _UNIT_MINUTES[match.group(2) and match.group(2).lower()]
            if 0 < minutes <= MAX_MUTE_MINUTES:
                return Step("mute", minutes)
            self.problem(node, f"{what}: a mute lasts from 1 minute to {MAX_MUTE_MINUTES // 1440} days")
            return None
        self.problem(
            node,
            f"{what}: {show(node)} is not a step (expected warn, kick, ban, or mute with a time like 10m)",
        )
        return None

    def _read_shield(self, node: yaml.Node, what: str) -> Shield | None:
        fields = self.mapping(node, what, ("slowmode", "premoderate", "premoderate_count", "hold_links"))
        if fields is None:
            return None
        before = len(self.problems)
        values: dict[str, Any] = {}
        if "slowmode" in fields:
            values["slowmode"] = self.seconds(fields["slowmode"][1], f"{what}: 'slowmode'")
        if "premoderate" in fields:
            values["premoderate"] = self.premoderate(fields["premoderate"][1], f"{what}: 'premoderate'")
        if "premoderate_count" in fields:
            node_count = fields["premoderate_count"][1]
            values["premoderate_count"] = self.integer(node_count, f"{what}: 'premoderate_count'", 1)
        if "hold_links" in fields:
            flag = self.value(fields["hold_links"][1])
            if not isinstance(flag, bool):
                self.problem(fields["hold_links"][1], f"{what}: 'hold_links' must be true or false")
            values["hold_links"] = flag
        return None if len(self.problems) > before else Shield(**values)

    def _read_join_burst(self, node: yaml.Node, what: str) -> JoinBurst | bool | None:
        if isinstance(node, yaml.ScalarNode) and self.value(node) is False:
            return False  # `join_burst: off`
        fields = self.mapping(node, what, ("joins", "per_seconds", "action"))
        if fields is None:
            return None
        before = len(self.problems)
        values: dict[str, Any] = {}
        if "joins" in fields:
            values["joins"] = self.integer(fields["joins"][1], f"{what}: 'joins'", 2)
        if "per_seconds" in fields:
            values["per_seconds"] = self.number(fields["per_seconds"][1], f"{what}: 'per_seconds'")
        if "action" in fields:
            action_node = fields["action"][1]
            action = self.value(action_node)
            if action not in BURST_ACTIONS:
                choices = ", ".join(BURST_ACTIONS)
                self.problem(
                    action_node, f"{what}: 'action' must be one of {choices}, got {show(action_node)}"
                )
            values["action"] = action
        return None if len(self.problems) > before else JoinBurst(**values)
