"""Whether this node can do its job, and what it does when it cannot.

A node needs PostgreSQL (every send commits there, every socket is checked against it) and the
bus (every other node's events reach its sockets through it). Either can be cut from one node
alone: a network partition, a broken link, a pool that no longer gets connections. The node
checks PostgreSQL every ``HEALTH_PROBE_S`` and watches the bus, and:

* at the first failed check it is **degraded**: readiness answers 503 (the load balancer sends
  new clients elsewhere), and it leaves send routing (no node forwards sends to an owner that
  cannot commit them; forwards that still arrive are answered "not the owner");
* once degraded for ``NODE_UNHEALTHY_CLOSE_S`` it is **unhealthy**: it closes its sockets with
  1012 (clients reconnect through the load balancer to a node that can serve them, and resume)
  and refuses new ones, instead of keeping clients on a node that can neither store their
  sends nor show them the others';
* when both answer again it serves as before (the bus's own recovery re-checks and re-syncs the
  sockets: :mod:`tipline.gateway.guard`).

See docs/operations.md, "When a node loses PostgreSQL or Redis".
"""

from __future__ import annotations

import asyncio
import logging
import time

from tipline.gateway.hub import Hub
from tipline.protocol import Close
from tipline.runtime import Runtime
from tipline.storage.db import database_answers
from tipline.workers import LoopWorker

log = logging.getLogger(__name__)


class NodeHealth(LoopWorker):
    name = "node-health"

    def __init__(self, rt: Runtime, hub: Hub) -> None:
        super().__init__()
        self._rt = rt
        self._hub = hub
        self._since: float | None = None  # degraded since (monotonic)
        self.moved = 0  # sockets closed so their clients reconnect elsewhere

    async def _run(self) -> None:
        while True:
            every = self._rt.settings.health_probe_s
            started = time.monotonic()
            # A probe that takes two periods counts as failed: the pool, or the link, is stuck.
            ok = await database_answers(self._rt.engine, timeout_s=max(1.0, 2 * every))
            self._rt.database_ok = ok
            self.observe(database_ok=ok, bus_ok=self._rt.bus.healthy(), now=started)
            await asyncio.sleep(every)

    def observe(self, *, database_ok: bool, bus_ok: bool, now: float) -> None:
        """One check's outcome: degrade, close the sockets, or serve again."""
        rt = self._rt
        if database_ok and bus_ok:
            if self._since is not None:
                log.info("node serving again: database and bus reachable")
            self._since = None
            rt.degraded = rt.unhealthy = False
            return
        lost = ", ".join(name for name, ok in (("database", database_ok), ("bus", bus_ok)) if not ok)
        if self._since is None:
            self._since = now
            rt.degraded = True
            log.warning("node degraded: %s unreachable; readiness false, out of send routing", lost)
        if not rt.unhealthy and now - self._since >= rt.settings.node_unhealthy_close_s:
            rt.unhealthy = True
            conns = [c for c in self._hub.all_connections() if c.close_code is None]
            log.warning("node unhealthy: %s unreachable; closing %d socket(s) so clients move", lost, len(conns))
            for conn in conns:
                conn.close(Close.RESTART, f"node cannot reach its {lost}; reconnect")
            self.moved += len(conns)
