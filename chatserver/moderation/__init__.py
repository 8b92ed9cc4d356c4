"""Hosts' powers and the held queue: who may do what, and what every worker then does.

A host action is checked (is this person a host of this room?), written to the
shared store and the audit log, then announced to every worker as an event;
each worker applies the event to its own connections. Refusals are audited too.

- rules.py: the sender rule and what a sanction means (pure);
- actions.py: the eleven host actions;
- events.py: what an event does to this worker's connections;
- service.py: `Moderation`, the service a hub owns (held queue, reports, crisis alerts, escalation).
"""

from __future__ import annotations

from chatserver.moderation.rules import MAX_MUTE_MINUTES, MAX_SLOWMODE_S, NOTE_MAX, sender_refusal
from chatserver.moderation.service import Moderation

__all__ = ["MAX_MUTE_MINUTES", "MAX_SLOWMODE_S", "NOTE_MAX", "Moderation", "sender_refusal"]
