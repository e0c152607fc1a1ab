"""The status page's checks: nodes, PostgreSQL, Redis, the chain watcher and queue depths.

The transport hands in what only the answering node knows (``NodeFacts``: its sockets, the live
nodes it sees in Redis, its chain watcher); everything else is read here. Each check is bounded
by a timeout, so a dead dependency shows as unreachable instead of hanging the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tipline.domain.admin import repository as repo
from tipline.domain.admin.schemas import CheckOut, MailOutboxOut, NodeOut, QueueOut, WatcherOut
from tipline.runtime import Runtime

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class WatcherFacts:
    active: bool
    head: int | None
    scanned: int | None
    last_pass_at: datetime | None
    chain_head: Callable[[], Awaitable[int]] | None = None  # the chain's head now (one RPC call)


@dataclass(frozen=True)
class NodeFacts:
    node_id: str
    live_nodes: tuple[str, ...]  # every live node the cluster registry lists (Redis); empty without it
    connections: int
    users: int
    bus_healthy: bool
    watcher: WatcherFacts | None = None


@dataclass(frozen=True)
class Queue:
    """A background queue shown on the status page: a table and a query returning ``pending``,
    ``oldest_pending_s`` and optionally ``failed`` and ``done_last_hour``. A queue whose table
    does not exist (its migration not applied) is left out."""

    name: str
    table: str
    sql: str


# Other areas add their outboxes and job tables here (docs/subsystems/admin.md).
QUEUES: list[Queue] = [
    Queue(
        name="mail_outbox",
        table="mail_outbox",
        sql="SELECT count(*) FILTER (WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL) AS pending, "
        "EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL)) "
        "AS oldest_pending_s, count(*) FILTER (WHERE sent_at IS NULL AND next_attempt_at IS NULL) AS failed, "
        "count(*) FILTER (WHERE sent_at > now() - interval '1 hour') AS done_last_hour FROM mail_outbox",
    ),
    Queue(
        name="tips_pending",
        table="tip_intents",
        sql="SELECT count(*) FILTER (WHERE state = 'pending') AS pending, "
        "EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state = 'pending')) AS oldest_pending_s, "
        "count(*) FILTER (WHERE state = 'failed' AND updated_at > now() - interval '1 hour') AS failed, "
        "count(*) FILTER (WHERE confirmed_at > now() - interval '1 hour') AS done_last_hour FROM tip_intents",
    ),
    Queue(
        name="push_outbox",
        table="push_outbox",
        sql="SELECT count(*) FILTER (WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL) AS pending, "
        "EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL)) "
        "AS oldest_pending_s, count(*) FILTER (WHERE sent_at IS NULL AND next_attempt_at IS NULL) AS failed, "
        "count(*) FILTER (WHERE sent_at > now() - interval '1 hour') AS done_last_hour FROM push_outbox",
    ),
    Queue(
        name="email_digests_due",
        table="notify_email_pending",
        sql="SELECT count(*) AS pending, EXTRACT(EPOCH FROM now() - min(due_at)) AS oldest_pending_s "
        "FROM notify_email_pending WHERE due_at <= now()",
    ),
    Queue(
        name="webhook_deliveries",
        table="webhook_deliveries",
        sql="SELECT count(*) FILTER (WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL) AS pending, "
        "EXTRACT(EPOCH FROM now() - min(created_at) "
        "FILTER (WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL)) "
        "AS oldest_pending_s, count(*) FILTER (WHERE delivered_at IS NULL AND next_attempt_at IS NULL) AS failed, "
        "count(*) FILTER (WHERE delivered_at > now() - interval '1 hour') AS done_last_hour FROM webhook_deliveries",
    ),
    Queue(
        name="data_exports",
        table="data_exports",
        sql="SELECT count(*) FILTER (WHERE state IN ('queued', 'running')) AS pending, "
        "EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state IN ('queued', 'running'))) "
        "AS oldest_pending_s, count(*) FILTER (WHERE state = 'failed') AS failed, "
        "count(*) FILTER (WHERE finished_at > now() - interval '1 hour') AS done_last_hour FROM data_exports",
    ),
]


@dataclass
class Timed:
    ok: bool = False
    latency_ms: float | None = None
    error: str | None = field(default=None)


async def _timed(probe: Callable[[], Awaitable[object]]) -> Timed:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe()
    except TimeoutError:
        return Timed(error=f"no answer within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # any failure is the answer: unreachable, and why
        return Timed(error=type(exc).__name__)
    return Timed(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def check_database(rt: Runtime) -> CheckOut:
    async def probe() -> None:
        async with rt.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    t = await _timed(probe)
    return CheckOut(configured=True, reachable=t.ok, latency_ms=t.latency_ms, error=t.error)


async def check_redis(rt: Runtime) -> CheckOut:
    """A PING on a connection of its own (REDIS_URL), so the answer is Redis's, not a pool's."""
    url = rt.settings.redis_url
    if url is None:
        return CheckOut(configured=False, reachable=False, latency_ms=None)
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    client = (RedisCluster if rt.settings.redis_cluster else Redis).from_url(
        url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
    )
    try:
        t = await _timed(client.ping)
    finally:
        await client.aclose()
    return CheckOut(configured=True, reachable=t.ok, latency_ms=t.latency_ms, error=t.error)


def nodes_out(facts: NodeFacts) -> list[NodeOut]:
    ids = sorted(set(facts.live_nodes) | {facts.node_id})
    return [
        NodeOut(
            id=n,
            this_node=n == facts.node_id,
            connections=facts.connections if n == facts.node_id else None,
            users=facts.users if n == facts.node_id else None,
        )
        for n in ids
    ]


async def watcher_out(rt: Runtime, conn: AsyncConnection, facts: WatcherFacts | None) -> WatcherOut:
    tips = await repo.pending_tips(conn)
    oldest = None if tips["oldest_pending_s"] is None else float(tips["oldest_pending_s"])
    out = WatcherOut(
        configured=facts is not None, active_here=False, pending_tips=tips["pending"], oldest_pending_s=oldest
    )
    if facts is None or not facts.active:
        return out
    head = facts.head
    if facts.chain_head is not None:
        with contextlib.suppress(Exception):  # unanswered: the last pass's head stands
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                head = await facts.chain_head()
    lag = None if head is None or facts.scanned is None else max(0, head - facts.scanned)
    return out.model_copy(
        update={
            "active_here": True,
            "head": head,
            "scanned": facts.scanned,
            "lag_blocks": lag,
            "last_pass_at": facts.last_pass_at,
        }
    )


async def mail_out(rt: Runtime, conn: AsyncConnection) -> MailOutboxOut:
    c = await repo.mail_counts(conn)
    oldest = None if c["oldest_pending_s"] is None else float(c["oldest_pending_s"])
    return MailOutboxOut(
        pending=c["pending"],
        retrying=c["retrying"],
        failed=c["failed"],
        sent_last_hour=c["sent_last_hour"],
        sent_last_day=c["sent_last_day"],
        oldest_pending_s=oldest,
        worker_enabled=rt.settings.mail_worker,
    )


async def queues_out(conn: AsyncConnection) -> list[QueueOut]:
    out = []
    for q in QUEUES:
        if not await repo.table_exists(conn, name=q.table):
            continue
        row = await repo.queue_counts(conn, sql=q.sql)
        oldest = row.get("oldest_pending_s")
        out.append(
            QueueOut(
                name=q.name,
                pending=int(row["pending"]),
                oldest_pending_s=None if oldest is None else float(oldest),
                failed=row.get("failed"),
                done_last_hour=row.get("done_last_hour"),
            )
        )
    return out


def now() -> datetime:
    return datetime.now(UTC)
