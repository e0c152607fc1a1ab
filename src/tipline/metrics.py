"""Prometheus metrics for /metrics (docs/operations.md lists each one).

Hot paths pay nothing per event where they can: connection counts, deliveries and bus publish
errors are read from the hub and the bus when Prometheus scrapes (a collector), not counted
again as they happen. Other subsystems import the counters they feed from here
(``CACHE_HITS``/``CACHE_MISSES`` for the recent-message cache, ``CHAIN_HEAD`` for the watcher).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from tipline.bus.base import Handler
    from tipline.runtime import Runtime

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

PROBE_INTERVAL_S = 10.0
PROBE_KIND = b"P"


class RuntimeCollector(Collector):
    """Reads the live state of every runtime in this process at scrape time."""

    def __init__(self) -> None:
        self._runtimes: list[weakref.ref[Runtime]] = []

    def track(self, rt: Runtime) -> None:
        self.untrack(rt)
        self._runtimes.append(weakref.ref(rt))

    def untrack(self, rt: Runtime) -> None:
        self._runtimes = [r for r in self._runtimes if r() is not None and r() is not rt]

    def collect(self) -> Iterator[Metric]:
        live = [rt for r in self._runtimes if (rt := r()) is not None]
        connections = GaugeMetricFamily("tipline_ws_connections", "Open WebSocket connections on this node.")
        users = GaugeMetricFamily("tipline_ws_users", "Users with at least one WebSocket on this node.")
        deliveries = CounterMetricFamily("tipline_deliveries", "Events written to sockets' queues on this node.")
        errors = CounterMetricFamily("tipline_bus_publish_errors", "Bus messages that could not be published.")
        healthy = GaugeMetricFamily("tipline_bus_healthy", "1 while the bus is connected, else 0.")
        batches = CounterMetricFamily(
            "tipline_send_batches", "Group commits of sends on this node (sends committed / batches = group size)."
        )
        committed = CounterMetricFamily("tipline_sends_committed", "Sends committed by this node's batcher.")
        connections.add_metric([], sum(sum(len(c) for c in rt.hub.users.values()) for rt in live))
        users.add_metric([], sum(len(rt.hub.users) for rt in live))
        deliveries.add_metric([], sum(rt.hub.delivered for rt in live))
        errors.add_metric([], sum(getattr(rt.bus, "publish_errors", 0) for rt in live))
        healthy.add_metric([], min((1 if rt.bus.healthy() else 0 for rt in live), default=1))
        batches.add_metric([], sum(rt.batcher.batches for rt in live))
        committed.add_metric([], sum(rt.batcher.committed for rt in live))
        yield from (connections, users, deliveries, errors, healthy, batches, committed)


COLLECTOR = RuntimeCollector()
REGISTRY.register(COLLECTOR)


class BusProbe:
    """Measures the bus's round trip: this node publishes a timestamp to its own topic and times it back.

    Wraps the hub's bus handler so probe messages never reach the hub.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.topic = f"probe:{rt.node_id}"

    def wrap(self, handler: Handler) -> Handler:
        topic = self.topic

        def handle(t: str, payload: bytes) -> None:
            if t == topic and payload[:1] == PROBE_KIND:
                with contextlib.suppress(ValueError):
                    BUS_ROUNDTRIP.observe(max(0.0, time.time() - float(payload[1:])))
                return
            handler(t, payload)

        return handle

    async def run(self) -> None:
        self.rt.bus.subscribe(self.topic)
        while True:
            with contextlib.suppress(Exception):  # an outage shows in tipline_bus_publish_errors
                await self.rt.bus.publish(self.topic, PROBE_KIND + repr(time.time()).encode())
            await asyncio.sleep(PROBE_INTERVAL_S)
