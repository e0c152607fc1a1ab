"""The uvicorn server with Tipline's graceful shutdown (docs/operations.md, "Stopping a node").

On SIGTERM or SIGINT: readiness turns false at once; after SHUTDOWN_GRACE_S (time for a
load balancer to notice) new sends are refused, sends already accepted are committed and
acknowledged (for at most SHUTDOWN_DRAIN_S), and only then does uvicorn close every socket with
1012 (service restart) so clients reconnect to another node and resume; it waits at most
SHUTDOWN_CLOSE_S for their answers. A stop therefore takes at most the sum of the three, plus
the lifespan's own stop (committing what is left, closing connections).
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from tipline.node import Node

log = logging.getLogger(__name__)


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        rt, router = self.node.rt, self.node.router
        rt.shutting_down = True
        # Other nodes stop forwarding sends here within a registry beat.
        await router.leave()
        log.info("shutting down: readiness is false; closing sockets in %.1f s", rt.settings.shutdown_grace_s)
        await asyncio.sleep(rt.settings.shutdown_grace_s)
        rt.accepting_sends = False
        try:
            await asyncio.wait_for(router.drain(), rt.settings.shutdown_drain_s)
        except TimeoutError:
            # The sockets close now; what is still committing commits before the process exits
            # (the lifespan stops the batcher last), and its clients resend with the same id.
            log.warning(
                "shutting down: sends still waiting after %.1f s; closing sockets", rt.settings.shutdown_drain_s
            )
        # Let the socket writers push the last acks before the close frames.
        for _ in range(10):
            await asyncio.sleep(0)
        await super().shutdown(sockets)
