"""Chaos on the network rather than on processes (tests/integration/chaos.py has the harness):

* (f) one node loses Redis but keeps PostgreSQL and its clients (a partition of that link);
* (g) Redis stays reachable but is slow and lossy for every node (hundreds of ms, stalls, resets);
* (h) one node loses PostgreSQL but keeps Redis and its clients.

For (f) and (h) a fourth node runs in a network namespace of its own (netfaults.py), reaching
PostgreSQL, Redis and its clients over three veth pairs, so one link can be set down while the
others work; some clients are moved onto it before the fault. Besides the run's usual
invariants, each reports when the node said it could not serve (readiness false) and when its
clients had moved to the other nodes (closed with 1012, reconnected through the balancer).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.bus.cluster import RedisServer
from tests.integration.chaos import Chaos, Member, OwnPostgres, node_ready, run_scenario
from tests.integration.netfaults import Faults, NetNamespace, TcpProxy, net_namespace

PORT = 8000  # the namespace has its own ports: nothing else listens there

# The apart node decides quickly (the defaults are 10 s and 1 s; the suite has no time for them).
APART_ENV = {
    "NODE_UNHEALTHY_CLOSE_S": "2",
    "HEALTH_PROBE_S": "0.5",
    "BUS_HEARTBEAT_S": "1",
    "DB_TCP_USER_TIMEOUT_S": "4",
    "DB_CONNECT_TIMEOUT_S": "2",
    "FORWARDED_TRUSTED_HOPS": "0",
    "LOG_LEVEL": "info",
}


@dataclass
class ApartNode:
    """A node in a namespace of its own; ``ns.down("redis" | "pg" | "clients")`` partitions it."""

    ns: NetNamespace
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    async def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            # Longer than readiness's own bounded database check: the answer is measured, not a timeout.
            async with httpx.AsyncClient(timeout=6) as client:
                return (await client.get(f"{self.url}/readyz")).status_code == 200
        return False


def _retarget(url: str, address: str) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit((parts.scheme, f"{user}@{address}" if user else address, parts.path, parts.query, ""))


@contextlib.asynccontextmanager
async def apart_node(chaos: Chaos, pg: OwnPostgres, redis: RedisServer) -> AsyncIterator[ApartNode]:
    """A fourth node of the chaos cluster (same database, bus and secrets) in its own namespace."""
    assert chaos.redis_link is not None
    async with net_namespace("pg", "redis", "clients") as ns:
        pg_link = TcpProxy(ns.links["pg"].host_ip, ("127.0.0.1", pg.port))
        redis_link = TcpProxy(ns.links["redis"].host_ip, ("127.0.0.1", chaos.redis_link.port))
        await pg_link.start()
        await redis_link.start()
        env = {
            **chaos.cluster.env,
            **APART_ENV,
            "HOST": "0.0.0.0",
            "PORT": str(PORT),
            "DATABASE_URL": _retarget(chaos.cluster.database_url, pg_link.address),
            "REDIS_URL": f"redis://{redis_link.address}",
        }
        with tempfile.NamedTemporaryFile(prefix="tlchaos-apart-", suffix=".log", delete=False) as f:
            log = Path(f.name)
        with log.open("wb") as out:
            process = subprocess.Popen(
                ns.command([sys.executable, "-m", "tipline.cli", "serve"]), env=env, stdout=out, stderr=out
            )
        node = ApartNode(ns, process, f"http://{ns.links['clients'].ns_ip}:{PORT}", log)
        try:
            await node_ready(node.url)
            yield node
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.to_thread(process.wait), 30)
                except TimeoutError:
                    process.kill()
                    process.wait()
            await pg_link.close()
            await redis_link.close()
            if os.environ.get("TIPLINE_KEEP_CHAOS_LOGS") is None:
                log.unlink(missing_ok=True)


async def _move_onto(chaos: Chaos, node: ApartNode, count: int) -> list[Member]:
    """``count`` clients, each from another conversation where possible, reconnected to ``node``."""
    chosen: list[Member] = []
    by_conversation: dict[int, list[Member]] = {}
    for m in chaos.members:
        by_conversation.setdefault(m.conversations[0], []).append(m)
    while len(chosen) < count:
        for members in by_conversation.values():
            if members and len(chosen) < count:
                chosen.append(members.pop())
    await asyncio.gather(*(m.reconnect_to(node.ws_url) for m in chosen))
    return chosen


async def _watch_ready(node: ApartNode, since: float, out: dict[str, float | None]) -> None:
    """When readiness first turned false after ``since``."""
    while True:
        if not await node.ready():
            out["readiness_false_after_s"] = round(time.monotonic() - since, 3)
            return
        await asyncio.sleep(0.1)


async def _watch_moved(moved: list[Member], since: float, out: dict[str, float | None]) -> None:
    """When every moved client had been closed with 1012 and was connected again (elsewhere)."""
    while not all(m.closes.get(1012) and m._connected.is_set() for m in moved):
        await asyncio.sleep(0.05)
    out["clients_moved_after_s"] = round(time.monotonic() - since, 3)


def _closed_with(members: list[Member], code: int) -> int:
    return sum(1 for m in members if m.closes.get(code))


async def _cut_scenario(chaos: Chaos, node: ApartNode, path: str, name: str, hold: float) -> dict[str, Any]:
    moved = await _move_onto(chaos, node, max(2, len(chaos.members) // 10))
    before = {id(m): dict(m.closes) for m in moved}
    for m in moved:
        m.closes.clear()
    ready_out: dict[str, float | None] = {"readiness_false_after_s": None, "clients_moved_after_s": None}
    watcher: list[asyncio.Task[None]] = []
    t_fault = 0.0

    async def fault() -> None:
        nonlocal t_fault
        t_fault = time.monotonic()
        await asyncio.to_thread(node.ns.down, path)
        watcher.append(asyncio.create_task(_watch_ready(node, t_fault, ready_out)))
        watcher.append(asyncio.create_task(_watch_moved(moved, t_fault, ready_out)))

    async def recover() -> None:
        for task in watcher:
            task.cancel()
        await asyncio.to_thread(node.ns.up, path)
        await node_ready(node.url)

    try:
        result = await run_scenario(chaos, name, fault, recover, hold=hold)
    finally:
        for task in watcher:
            task.cancel()
        for m in moved:
            for code, n in before[id(m)].items():
                m.closes[code] = m.closes.get(code, 0) + n
    return result | {
        "apart_node_clients": len(moved),
        "apart_node_clients_closed_1012": _closed_with(moved, 1012),
        "readiness_false_after_s": ready_out.get("readiness_false_after_s"),
        "clients_moved_by_s": ready_out.get("clients_moved_after_s"),
        "apart_node_unhealthy_close_s": float(APART_ENV["NODE_UNHEALTHY_CLOSE_S"]),
    }


async def lose_redis_scenario(chaos: Chaos, node: ApartNode, hold: float = 8.0) -> dict[str, Any]:
    """(f) The apart node's link to Redis goes down; PostgreSQL and its clients stay reachable."""
    return await _cut_scenario(chaos, node, "redis", "f_node_loses_redis", hold)


async def lose_postgres_scenario(chaos: Chaos, node: ApartNode, hold: float = 8.0) -> dict[str, Any]:
    """(h) The apart node's link to PostgreSQL goes down; Redis and its clients stay reachable."""
    return await _cut_scenario(chaos, node, "pg", "h_node_loses_postgres", hold)


SLOW_LOSSY = Faults(delay_s=0.15, jitter_s=0.15, stall_p=0.03, stall_s=0.6, reset_p=0.002)


async def slow_redis_scenario(chaos: Chaos, hold: float = 8.0, faults: Faults = SLOW_LOSSY) -> dict[str, Any]:
    """(g) Every node's link to Redis turns slow and lossy (delay, jitter, stalls as lost segments
    would cause, the odd reset), then heals."""
    link = chaos.redis_link
    assert link is not None
    resets, stalls = link.resets, link.stalls

    async def fault() -> None:
        link.faults = faults

    async def recover() -> None:
        link.faults = Faults()

    result = await run_scenario(chaos, "g_slow_lossy_redis", fault, recover, hold=hold)
    return result | {
        "redis_delay_ms": round(faults.delay_s * 1000),
        "redis_jitter_ms": round(faults.jitter_s * 1000),
        "redis_stalls": link.stalls - stalls,
        "redis_resets": link.resets - resets,
    }
