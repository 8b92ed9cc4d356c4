"""Prometheus metrics, one registry per app (no module-level singletons).

With `--workers N` every scrape of the shared port reaches one worker at
random, so each worker's own numbers would make counters jump back and forth.
The supervisor therefore gives its workers a shared directory
(`PROMETHEUS_MULTIPROC_DIR`, prometheus-client's multiprocess mode): every
worker writes its values there and whichever worker is scraped answers for
all of them. Values that live elsewhere (the audit queue, refusal counts) are
copied in by `refresh()`, which each worker runs every few seconds and on
each scrape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from chatserver.admission import REFUSAL_REASONS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: The environment variable prometheus-client reads, at import, to write values to shared files.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


#: Every series' help text, as /metrics shows it.
_HELP = {
    "chatserver_connections": "Open WebSocket connections that said hello, by role",
    "chatserver_messages_total": "Messages by outcome and deciding filter",
    "chatserver_fanout_latency_seconds": (
        "From a message's audit append to its delivery to this worker's sockets"
    ),
    "chatserver_broker_reconnects_total": "Times the broker lost its connection",
    "chatserver_broker_up": "1 while the broker is connected (with several workers: all of them)",
    "chatserver_audit_queue_depth": "Audit rows waiting to be committed",
    "chatserver_publishes_in_flight": (
        "Messages accepted for publishing and not yet answered (waiting for their seq, their audit"
        " commit or their turn)"
    ),
    "chatserver_audit_last_commit_seconds": (
        "Duration of the last audit group commit (with several workers: the slowest)"
    ),
    "chatserver_held_queue_depth": "Held messages waiting for a host, by room",
    "chatserver_held_oldest_seconds": "Age of the oldest held message, by room",
    "chatserver_connections_refused_total": (
        "WebSocket handshakes (and, for a shut-out address, any request) refused with 429, by reason"
    ),
}

#: How workers' values of a gauge combine (prometheus-client's names); "live": only running workers count.
_Mode = Literal["livesum", "livemin", "livemax", "livemostrecent"]


def _gauge(registry: CollectorRegistry, name: str, mode: _Mode, *labels: str) -> Gauge:
    return Gauge(name, _HELP[name], labels, registry=registry, multiprocess_mode=mode)


def _counter(registry: CollectorRegistry, name: str, *labels: str) -> Counter:
    return Counter(name, _HELP[name], labels, registry=registry)


class Metrics:
    """The series PROTOCOL.md §3 promises, plus a few that operators ask for.

    Each gauge says how workers' values combine (`multiprocess_mode`); it only
    matters under the supervisor.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_ENV) or None
        r = self.registry
        self.connections = _gauge(r, "chatserver_connections", "livesum", "role")
        self.messages = _counter(r, "chatserver_messages_total", "outcome", "filter")
        self.fanout_latency = Histogram(
            "chatserver_fanout_latency_seconds",
            _HELP["chatserver_fanout_latency_seconds"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.broker_reconnects = _counter(r, "chatserver_broker_reconnects_total")
        self.broker_healthy = _gauge(r, "chatserver_broker_up", "livemin")
        self.broker_healthy.set(1)
        self.audit_queue = _gauge(r, "chatserver_audit_queue_depth", "livesum")
        self.audit_commit = _gauge(r, "chatserver_audit_last_commit_seconds", "livemax")
        self.publishing = _gauge(r, "chatserver_publishes_in_flight", "livesum")
        # Read from the shared store: the latest read is right.
        self.held_depth = _gauge(r, "chatserver_held_queue_depth", "livemostrecent", "room")
        self.held_oldest = _gauge(r, "chatserver_held_oldest_seconds", "livemostrecent", "room")
        self.refused = _counter(r, "chatserver_connections_refused_total", "reason")
        for role in ("participant", "host", "admin"):
            self.connections.labels(role)
        for reason in REFUSAL_REASONS:
            self.refused.labels(reason)
        self.messages.labels("published", "none")
        self._audit: tuple[Callable[[], float], Callable[[], float]] | None = None
        self._publishing: Callable[[], float] | None = None
        self._refusals: Callable[[], dict[str, int]] = dict
        self._refusals_seen: dict[str, int] = {}
        #: (outcome, reason) -> its labelled counter (count_message).
        self._messages: dict[tuple[str, str], Counter] = {}

    def count_message(self, outcome: str, reasons: Iterable[str]) -> None:
        """Once per message: the labelled counters are kept, as `labels()` costs 4x the increment."""
        counted = False
        for name in reasons:
            self._message_counter(outcome, name).inc()
            counted = True
        if not counted:
            self._message_counter(outcome, "none").inc()

    def _message_counter(self, outcome: str, reason: str) -> Counter:
        child = self._messages.get((outcome, reason))
        if child is None:
            child = self._messages[(outcome, reason)] = self.messages.labels(outcome, reason)
        return child

    def bind_audit(self, depth: Callable[[], float], commit: Callable[[], float]) -> None:
        self._audit = (depth, commit)

    def bind_publishing(self, in_flight: Callable[[], float]) -> None:
        self._publishing = in_flight

    def bind_refusals(self, counts: Callable[[], dict[str, int]]) -> None:
        """Expose the admission's refusal counts (kept where they happen, copied in by refresh())."""
        self._refusals = counts

    def refresh(self) -> None:
        """Copy in the values this worker keeps elsewhere."""
        if self._audit is not None:
            depth, commit = self._audit
            self.audit_queue.set(depth())
            self.audit_commit.set(commit())
        if self._publishing is not None:
            self.publishing.set(self._publishing())
        for reason, count in self._refusals().items():
            new = count - self._refusals_seen.get(reason, 0)
            if new > 0:
                self.refused.labels(reason).inc(new)
                self._refusals_seen[reason] = count

    def render(self) -> bytes:
        self.refresh()
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=self.multiprocess_dir)
        return generate_latest(combined)
