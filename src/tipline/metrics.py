"""Prometheus metrics for /metrics (docs/operations.md lists each one).

Hot paths pay nothing per event where they can: connection counts, deliveries and bus publish
errors are read from the hub and the bus when Prometheus scrapes (a collector), not counted
again as they happen. Other subsystems import the counters they feed from here
(``CACHE_HITS``/``CACHE_MISSES`` for the recent-message cache, ``CHAIN_HEAD`` for the watcher).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MESSAGES_SENT = Counter("tipline_messages_sent", "Messages stored and acknowledged (retries of one send count once).")
SENDS_ROUTED = Counter(
    "tipline_sends_routed",
    "Sends this node forwarded to their conversation's owner, served for another node, or committed "
    "itself after a forward got no answer (fallback).",
    ["how"],
)
WS_CLOSES = Counter(
    "tipline_ws_closes",
    "WebSockets this node closed, by close code (4008: a client that stopped reading; 4001: its session "
    "ended; 1012: shutdown or the node cannot reach its database or bus).",
    ["code"],
)
CACHE_HITS = Counter("tipline_cache_hits", "Recent-message cache reads answered from the cache.")
CACHE_MISSES = Counter("tipline_cache_misses", "Recent-message cache reads that went to PostgreSQL.")
CHAIN_HEAD = Gauge("tipline_chain_head_block", "Latest block number the chain watcher has seen.")
HTTP_LATENCY = Histogram(
    "tipline_http_request_duration_seconds",
    "HTTP request latency by route template (not the raw path, so ids do not explode the series).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_REQUESTS = Counter(
    "tipline_http_requests", "HTTP requests by route template and status.", ["method", "route", "status"]
)
BUS_ROUNDTRIP = Histogram(
    "tipline_bus_roundtrip_seconds",
    "Bus lag: time from publishing a probe to receiving it back on this node (every 10 s).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)


@dataclass(frozen=True, slots=True)
class NodeStats:
    """What a node reports at scrape time (tipline.node.Node.stats)."""

    connections: int
    users: int
    delivered: int
    publish_errors: int
    bus_healthy: bool
    batches: int
    committed: int


class StatsSource(Protocol):
    def stats(self) -> NodeStats: ...


class NodeCollector(Collector):
    """Reads the live state of every node in this process at scrape time."""

    def __init__(self) -> None:
        self._nodes: list[weakref.ref[StatsSource]] = []

    def track(self, node: StatsSource) -> None:
        self.untrack(node)
        self._nodes.append(weakref.ref(node))

    def untrack(self, node: StatsSource) -> None:
        self._nodes = [r for r in self._nodes if r() is not None and r() is not node]

    def collect(self) -> Iterator[Metric]:
        live = [node.stats() for r in self._nodes if (node := r()) is not None]
        connections = GaugeMetricFamily("tipline_ws_connections", "Open WebSocket connections on this node.")
        users = GaugeMetricFamily("tipline_ws_users", "Users with at least one WebSocket on this node.")
        deliveries = CounterMetricFamily("tipline_deliveries", "Events written to sockets' queues on this node.")
        errors = CounterMetricFamily("tipline_bus_publish_errors", "Bus messages that could not be published.")
        healthy = GaugeMetricFamily("tipline_bus_healthy", "1 while the bus is connected, else 0.")
        batches = CounterMetricFamily(
            "tipline_send_batches", "Group commits of sends on this node (sends committed / batches = group size)."
        )
        committed = CounterMetricFamily("tipline_sends_committed", "Sends committed by this node's batcher.")
        connections.add_metric([], sum(s.connections for s in live))
        users.add_metric([], sum(s.users for s in live))
        deliveries.add_metric([], sum(s.delivered for s in live))
        errors.add_metric([], sum(s.publish_errors for s in live))
        healthy.add_metric([], min((1 if s.bus_healthy else 0 for s in live), default=1))
        batches.add_metric([], sum(s.batches for s in live))
        committed.add_metric([], sum(s.committed for s in live))
        yield from (connections, users, deliveries, errors, healthy, batches, committed)


COLLECTOR = NodeCollector()
REGISTRY.register(COLLECTOR)
