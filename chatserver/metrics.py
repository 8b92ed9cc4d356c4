"""Prometheus metrics, one registry per app (no module-level singletons)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The series PROTOCOL.md §3 promises, plus a few that operators ask for."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "chatserver_connections",
            "Open WebSocket connections that said hello, by role",
            ["role"],
            registry=r,
        )
        self.messages = Counter(
            "chatserver_messages_total",
            "Messages by outcome and deciding filter",
            ["outcome", "filter"],
            registry=r,
        )
        self.fanout_latency = Histogram(
            "chatserver_fanout_latency_seconds",
            "From a message's audit append to its delivery to this worker's sockets",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.broker_reconnects = Counter(
            "chatserver_broker_reconnects_total", "Times the broker lost its connection", registry=r
        )
        self.broker_healthy = Gauge("chatserver_broker_up", "1 while the broker is connected", registry=r)
        self.broker_healthy.set(1)
        self.audit_queue = Gauge(
            "chatserver_audit_queue_depth", "Audit rows waiting to be committed", registry=r
        )
        self.audit_commit = Gauge(
            "chatserver_audit_last_commit_seconds", "Duration of the last audit group commit", registry=r
        )
        self.held_depth = Gauge(
            "chatserver_held_queue_depth",
            "Held messages waiting for a host, by room",
            ["room"],
            registry=r,
        )
        self.held_oldest = Gauge(
            "chatserver_held_oldest_seconds", "Age of the oldest held message, by room", ["room"], registry=r
        )
        self._refusals: Callable[[], dict[str, int]] = dict
        self.registry.register(_RefusalCollector(lambda: self._refusals()))
        for role in ("participant", "host", "admin"):
            self.connections.labels(role)
        self.messages.labels("published", "none")

    def count_message(self, outcome: str, reasons: Iterable[str]) -> None:
        reasons = list(reasons)
        if not reasons:
            self.messages.labels(outcome, "none").inc()
        for name in reasons:
            self.messages.labels(outcome, name).inc()

    def bind_audit(self, depth: Callable[[], float], commit: Callable[[], float]) -> None:
        self.audit_queue.set_function(depth)
        self.audit_commit.set_function(commit)

    def bind_refusals(self, counts: Callable[[], dict[str, int]]) -> None:
        """Expose the admission's refusal counts (kept where they happen, read at scrape time)."""
        self._refusals = counts

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RefusalCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(
            "chatserver_connections_refused",
            "WebSocket handshakes (and, for a shut-out address, any request) refused with 429, by reason",
            labels=["reason"],
        )
        for reason, count in self.counts().items():
            family.add_metric([reason], count)
        yield family
