"""The node: one process's moving parts above the domain, built in one go from a Runtime.

It owns the hub (this node's sockets), the send pipeline (batcher and router) and every
background worker: the socket guard, the health probe, the chain watcher, the media cleaner,
the idle sweeper, the presence refresher, the bus probe, the mail worker, the address worker, the
export worker and the link preview worker. ``start`` starts them in order (the guard listens
before the bus starts, the pipeline before traffic) and ``stop`` stops them in reverse.
Transports get what they need from it (the gateway the hub and the router, the HTTP API the
router); the domain never sees it. See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from tipline.backends.nodes import Nodes
from tipline.bus.base import Handler, topic_node
from tipline.domain.accounts.worker import AddressWorker
from tipline.domain.integrations.worker import OutgoingWebhookWorker
from tipline.domain.mail.worker import MailWorker
from tipline.domain.media.actions import clean_forever
from tipline.domain.messages.batcher import SendBatcher
from tipline.domain.messages.routing import SendRouter
from tipline.domain.notifications.worker import NotifyWorker
from tipline.domain.previews.worker import LinkPreviewWorker
from tipline.domain.privacy.worker import ExportWorker
from tipline.domain.serversettings.actions import RetentionWorker
from tipline.gateway.guard import SocketGuard
from tipline.gateway.health import NodeHealth
from tipline.gateway.hub import Hub
from tipline.metrics import BUS_ROUNDTRIP, COLLECTOR, NodeStats
from tipline.runtime import Runtime
from tipline.watcher import ChainWatcher

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 10.0
PROBE_KIND = b"P"


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


@dataclass
class Node:
    rt: Runtime
    hub: Hub
    batcher: SendBatcher
    router: SendRouter  # sends go through it: it picks the committing node
    guard: SocketGuard
    health: NodeHealth
    probe: BusProbe
    mailer: MailWorker
    addresses: AddressWorker
    exporter: ExportWorker
    retention: RetentionWorker
    chain_watcher: ChainWatcher | None = None  # when tipping is configured
    webhooks: OutgoingWebhookWorker | None = None  # with INTEGRATIONS_WORKER
    notifier: NotifyWorker | None = None  # with NOTIFY_WORKER
    previews: LinkPreviewWorker | None = None  # with LINK_PREVIEWS
    _loops: list[asyncio.Task[None]] = field(default_factory=list)
    stopped: bool = False  # every step of ``stop`` has run

    @classmethod
    def build(cls, rt: Runtime, nodes: Nodes | None) -> Node:
        hub = Hub(rt.bus)
        batcher = SendBatcher(rt)
        settings = rt.settings
        watcher = None
        if settings.chain_rpc_url and settings.tip_contract_address:
            watcher = ChainWatcher(rt, rpc_url=settings.chain_rpc_url, contract=settings.tip_contract_address)
        router = SendRouter(rt, batcher, nodes)
        return cls(
            rt=rt,
            hub=hub,
            batcher=batcher,
            router=router,
            guard=SocketGuard(rt, hub),
            health=NodeHealth(rt, hub),
            probe=BusProbe(rt),
            mailer=MailWorker(settings, rt.engine),
            addresses=AddressWorker(rt),
            exporter=ExportWorker(rt),
            retention=RetentionWorker(rt),
            chain_watcher=watcher,
            webhooks=OutgoingWebhookWorker(rt, router) if settings.integrations_worker else None,
            notifier=NotifyWorker(rt) if settings.notify_worker else None,
            previews=LinkPreviewWorker(rt) if settings.link_previews else None,
        )

    def bus_handler(self) -> Handler:
        """This node's topic goes to the send router; every other topic to the hub's sockets."""
        node_topic = topic_node(self.rt.node_id)
        route = self.router.handle
        deliver = self.hub.handle

        def handle(topic: str, payload: bytes) -> None:
            if topic == node_topic:
                route(payload)
            else:
                deliver(topic, payload)

        return self.probe.wrap(handle)

    def stats(self) -> NodeStats:
        hub, bus = self.hub, self.rt.bus
        return NodeStats(
            connections=sum(len(c) for c in hub.users.values()),
            users=len(hub.users),
            delivered=hub.delivered,
            publish_errors=getattr(bus, "publish_errors", 0),
            bus_healthy=bus.healthy(),
            batches=self.batcher.batches,
            committed=self.batcher.committed,
        )

    async def start(self) -> None:
        rt = self.rt
        # Before the bus starts: deliveries are held from any connection loss on.
        self.guard.watch()
        await rt.bus.start(self.bus_handler())
        self.guard.start()
        self.health.start()
        self.batcher.start()
        await self.router.start()
        if self.chain_watcher is not None:
            self.chain_watcher.start()
        self._loop(self._sweep(), "idle-sweeper")
        self._loop(self._refresh_presence(), "presence-refresh")
        self._loop(self.probe.run(), "bus-probe")
        self._loop(clean_forever(rt), "media-cleaner")
        self.retention.start()
        if rt.settings.mail_worker:
            self.mailer.start()
            self.addresses.start()
        if self.webhooks is not None:
            self.webhooks.start()
        if self.notifier is not None:
            self.notifier.start()
        if self.previews is not None:
            self.previews.start()
        self.exporter.start()
        # Counted from start-up to shutdown: a node that never served is not in /metrics.
        COLLECTOR.track(self)
        if rt.settings.gc_freeze:
            # Start-up leaves a large heap (modules, SQLAlchemy, pydantic) that lives as long as
            # the process; full collections walking it took 100+ ms pauses in the history benchmark.
            gc.collect()
            gc.freeze()

    async def stop(self) -> None:
        """Stop everything ``start`` started, in reverse. A step that fails is logged and the
        rest still run: a worker left running would go on writing after the node is gone."""
        rt = self.rt
        COLLECTOR.untrack(self)
        rt.shutting_down = True
        for task in reversed(self._loops):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []

        def stop_of(worker: Any) -> list[Callable[[], Awaitable[None]]]:
            return [] if worker is None else [worker.stop]

        steps: list[Callable[[], Awaitable[None]]] = [
            self.exporter.stop,
            *stop_of(self.previews),
            *stop_of(self.notifier),
            *stop_of(self.webhooks),
            self.addresses.stop,
            self.mailer.stop,
            self.retention.stop,
            *stop_of(self.chain_watcher),
            self.health.stop,
            self.guard.stop,
            # Forwards still unanswered are committed here, so before the batcher stops.
            self.router.stop,
            self.batcher.stop,
            rt.bus.close,
            rt.limits.limiter.close,
            rt.presence.close,
            rt.oidc.close,
            *([] if rt.cache is None else [rt.cache.close]),
            rt.engine.dispose,
        ]
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("stopping the node: %s failed", getattr(step, "__qualname__", step))
        self.stopped = True

    def _loop(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._loops.append(asyncio.get_running_loop().create_task(coro, name=name))

    async def _refresh_presence(self) -> None:
        """Keep this node's presence entries alive while its users stay connected."""
        rt, hub = self.rt, self.hub
        while True:
            await asyncio.sleep(max(1.0, rt.settings.presence_ttl_s / 3))
            statuses = {uid: s for uid in list(hub.users) if (s := hub.local_status(uid)) is not None}
            await rt.presence.refresh(rt.node_id, statuses)

    async def _sweep(self) -> None:
        """Close sockets that sent nothing (not even a ping) within the idle timeout."""
        settings = self.rt.settings
        while True:
            # Read each turn so an operator (or a test) can change the timeout at run time.
            await asyncio.sleep(max(0.2, min(1.0, settings.ws_idle_timeout_s / 4)))
            self.hub.sweep_idle(settings.ws_idle_timeout_s)
