"""Keeps this node's sockets true to PostgreSQL when the bus may have lost a change.

Revocations, removals and blocks reach a node's sockets as bus controls, and the bus is at most
once. So the node re-checks every open socket against PostgreSQL (its session is live, the
conversations it is subscribed to are its user's, the people it hides are the ones its user
blocked) and corrects what differs:

* when the bus loses its connection, deliveries are held from then on, and once it is back the
  sockets are re-checked **before** anything held or new is delivered; then each socket gets
  a ``sync`` frame (what it may have missed) and every other node is asked to re-check and
  re-sync too (this node's own controls, and the events it committed while cut off, never
  reached them: with the bus down for this node alone, nothing else would tell their sockets);
* every ``SOCKET_RECHECK_OUTAGE_S`` (1 s) while the bus is down, so a sign-out or a removal made
  meanwhile closes or unsubscribes sockets on every node that can reach PostgreSQL;
* every ``SOCKET_RECHECK_S`` (30 s) otherwise, as a backstop.

See docs/subsystems/messages.md, "Sockets re-checked".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from tipline.bus.base import TOPIC_ALL
from tipline.domain.conversations.actions import ask_nodes_to_recheck, read_socket_states
from tipline.gateway.hub import Hub
from tipline.gateway.resync import resync_all
from tipline.protocol import Close
from tipline.runtime import Runtime
from tipline.workers import LoopWorker

log = logging.getLogger(__name__)

# After a Redis outage every node asks every other to re-sync, at about the same moment: the
# requests that arrive within this window are answered by one round of ``sync`` frames.
RESYNC_COALESCE_S = 0.5


class SocketGuard(LoopWorker):
    name = "socket-guard"

    def __init__(self, rt: Runtime, hub: Hub) -> None:
        super().__init__()
        self._rt = rt
        self._hub = hub
        self._wake = asyncio.Event()
        self._after_outage = False
        self._retry = False
        self._resync = False  # another node came back from a bus outage
        self._requested_at: float | None = None  # when the oldest unanswered request arrived
        self._synced_at = float("-inf")  # when the last round of ``sync`` frames read PostgreSQL
        self.rechecks = 0
        self.resyncs = 0
        self.closed = 0
        self.unsubscribed = 0

    def watch(self) -> None:
        """Listen to the bus's connection (before it starts: a loss at any time is seen)."""
        hub, bus = self._hub, self._rt.bus
        hub.on_recheck = self.request
        bus.subscribe(TOPIC_ALL)
        bus.on_lost(self._lost)
        bus.on_reconnect(self._recovered)

    async def stop(self) -> None:
        await super().stop()
        self._hub.release()

    def request(self, node_id: str | None = None) -> None:
        """Re-check and re-sync soon: another node asked. It was cut off from the bus, so its
        controls and the events it committed meanwhile never reached this node's sockets."""
        if node_id == self._rt.node_id:
            return
        if self._requested_at is None:
            self._requested_at = time.monotonic()
            # Not at once: the other nodes' requests of the same outage join this one.
            asyncio.get_running_loop().call_later(RESYNC_COALESCE_S, self._wake.set)
        self._resync = True

    def _lost(self) -> None:
        self._hub.hold()
        self._wake.set()  # from now on, re-check at the outage pace

    def _recovered(self) -> None:
        self._after_outage = True
        self._wake.set()

    async def _run(self) -> None:
        settings = self._rt.settings
        while True:
            quick = self._retry or not self._rt.bus.healthy()
            timeout = settings.socket_recheck_outage_s if quick else settings.socket_recheck_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            after_outage = self._after_outage
            resync, self._resync = self._resync, False
            requested_at, self._requested_at = self._requested_at, None
            try:
                self._retry = await self.recheck()
            except Exception as exc:
                # PostgreSQL unreachable: keep holding what the bus delivers, and try again soon.
                log.warning("socket re-check failed: %r", exc)
                self._retry = True
                if resync:
                    self._resync = True
                    self._requested_at = min(filter(None, (requested_at, self._requested_at)), default=None)
                continue
            if after_outage:
                self._after_outage = False
                await self._after_bus_outage()
            elif resync and requested_at is not None and requested_at >= self._synced_at:
                # Each socket learns the conversations' last seqs and resumes what it lacks. A
                # request older than the last round was answered by it: that round read
                # PostgreSQL after the asking node had committed what it asks about.
                await self._resync_all()

    async def _resync_all(self) -> None:
        self._synced_at = time.monotonic()
        self.resyncs += 1
        await resync_all(self._rt, self._hub)

    async def _after_bus_outage(self) -> None:
        await self._resync_all()
        self._hub.release()
        # Controls this node published while cut off were lost to the others: they re-check too.
        await ask_nodes_to_recheck(self._rt)

    async def recheck(self) -> bool:
        """Correct every open socket from PostgreSQL; True if some must be checked again soon."""
        hub = self._hub
        conns = [c for c in hub.all_connections() if c.close_code is None]
        self.rechecks += 1
        if not conns:
            return False
        hub.touched = set()
        try:
            states = await read_socket_states(
                self._rt,
                user_ids=sorted({c.user_id for c in conns}),
                session_ids=sorted({c.session_id for c in conns}),
            )
            touched = hub.touched
        finally:
            hub.touched = None
        for conn in conns:
            if conn.close_code is not None:
                continue
            if conn.session_id not in states.live_sessions:
                # A revocation never comes undone, so this holds whatever arrived meanwhile.
                conn.close(Close.UNAUTHORIZED, "session ended")
                self.closed += 1
                continue
            if conn.user_id in touched:
                continue  # a control changed this user during the read: read again
            wanted = states.memberships.get(conn.user_id, set())
            for cid in conn.conversations - wanted:
                hub.remove_conversation(conn, cid)
                self.unsubscribed += 1
            for cid in wanted - conn.conversations:
                hub.add_conversation(conn, cid)
            conn.hidden = states.blocked.get(conn.user_id, frozenset())
        return bool(touched)
