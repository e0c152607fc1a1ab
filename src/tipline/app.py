"""create_app(): wiring only. Routers, the WebSocket route, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from tipline.api import (
    auth,
    conversations,
    health,
    media,
    messages,
    moderation,
    openapi,
    search,
    tips,
    twofactor,
    users,
    wallets,
)
from tipline.api import bots as bots_api
from tipline.api import metrics as metrics_api
from tipline.api import oidc as oidc_api
from tipline.api import tokens as tokens_api
from tipline.api.apidocs import mount_api_docs
from tipline.api.middleware import BodyLimit, RequestContext, SecurityHeaders
from tipline.bus.base import Bus, Handler, topic_node
from tipline.bus.memory import MemoryBus
from tipline.chain.watcher import ChainWatcher
from tipline.config import Settings
from tipline.domain.accounts.oidc import OidcClient
from tipline.domain.mail.worker import MailWorker
from tipline.domain.media.actions import clean_forever
from tipline.domain.messages.batcher import SendBatcher
from tipline.domain.messages.cache import MessageCache, RedisMessageCache
from tipline.domain.messages.routing import Nodes, SendRouter
from tipline.errors import DomainError, RateLimited
from tipline.gateway.endpoint import websocket_endpoint
from tipline.gateway.guard import SocketGuard
from tipline.gateway.health import NodeHealth
from tipline.gateway.hub import Hub
from tipline.gateway.presence import MemoryPresence, PresenceStore, RedisPresence
from tipline.metrics import COLLECTOR, BusProbe
from tipline.ratelimit import Limiter, Limits, MemoryLimiter, RedisLimiter, parse_rule
from tipline.runtime import Runtime
from tipline.storage.db import create_engine
from tipline.storage.objects import build_object_store, derive_key, media_origins
from tipline.tracing import setup_tracing
from tipline.web import mount_web

log = logging.getLogger(__name__)


RATE_RULES = (
    "signup_per_ip",
    "signin_per_ip",
    "signin_per_email",
    "reset_per_ip",
    "reset_per_email",
    "twofactor_per_user",
    "twofactor_per_ip",
    "send_per_user",
    "send_per_ip",
    "connect_per_user",
    "connect_per_ip",
    "tip_per_user",
    "api_per_token",
)


def build_limits(settings: Settings, limiter: Limiter | None = None) -> Limits:
    """Limits shared through Redis when REDIS_URL is set (every node counts together), else per process."""
    rules = {name: parse_rule(name, getattr(settings, f"rate_{name}")) for name in RATE_RULES}
    if limiter is None:
        if settings.redis_url is None:
            limiter = MemoryLimiter()
        else:
            limiter = RedisLimiter(redis_client(settings), prefix=f"{settings.bus_channel_prefix}rl:")
    return Limits(limiter, enabled=settings.rate_limits, rules=rules)


def build_bus(settings: Settings) -> Bus:
    """The one place the bus is chosen: Redis when REDIS_URL is set, else in-process."""
    if settings.redis_url is None:
        return MemoryBus()
    from tipline.bus.redis import RedisBus

    return RedisBus(
        settings.redis_url,
        sharded=settings.redis_cluster,
        channel_prefix=settings.bus_channel_prefix,
        ping_interval_s=settings.bus_heartbeat_s,
    )


REDIS_POOL_MAX = 64


def redis_client(settings: Settings, *, socket_timeout: float = 2.0) -> Any:
    """A client for REDIS_URL: a Cluster client with REDIS_CLUSTER, else a plain one.

    The plain client's pool is bounded and blocking: a burst of concurrent calls (a rate-limit
    check per sign-in, say) waits for one of ``REDIS_POOL_MAX`` connections instead of opening
    hundreds at once, which on a busy machine time out together and read as Redis being down.
    Every call is bounded by ``socket_timeout`` (a cut link to Redis fails, it does not hang).
    """
    assert settings.redis_url is not None
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.cluster import RedisCluster

    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, socket_timeout=socket_timeout)
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_POOL_MAX,
        timeout=socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
    )
    return Redis.from_pool(pool)


def build_presence(settings: Settings) -> PresenceStore:
    """Presence shared through Redis when REDIS_URL is set, else kept in this process."""
    if settings.redis_url is None:
        return MemoryPresence()
    return RedisPresence(redis_client(settings), prefix=settings.bus_channel_prefix, ttl_s=settings.presence_ttl_s)


def build_cache(settings: Settings) -> MessageCache | None:
    """The recent-message cache: only with Redis (the embedded default reads PostgreSQL)."""
    if settings.redis_url is None or not settings.message_cache:
        return None
    return RedisMessageCache(
        redis_client(settings),
        prefix=settings.bus_channel_prefix,
        keep=settings.message_cache_size,
        max_age_s=settings.message_cache_max_age_s,
    )


def build_nodes(settings: Settings) -> Nodes | None:
    """The node registry for send routing: only with Redis, and unless SEND_ROUTING is off."""
    if settings.redis_url is None or not settings.send_routing:
        return None
    return Nodes(
        redis_client(settings),
        prefix=settings.bus_channel_prefix,
        ttl_s=settings.node_ttl_s,
        sharded=settings.redis_cluster,
    )


def bus_handler(rt: Runtime) -> Handler:
    """This node's topic goes to the send router; every other topic to the hub's sockets."""
    node_topic = topic_node(rt.node_id)
    route = rt.router.handle
    deliver = rt.hub.handle

    def handle(topic: str, payload: bytes) -> None:
        if topic == node_topic:
            route(payload)
        else:
            deliver(topic, payload)

    return handle


def build_runtime(
    settings: Settings,
    *,
    database_url: str,
    jwt_key: bytes,
    bus: Bus | None = None,
    presence: PresenceStore | None = None,
) -> Runtime:
    engine = create_engine(
        database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        connect_timeout_s=settings.db_connect_timeout_s,
        tcp_user_timeout_s=settings.db_tcp_user_timeout_s,
    )
    rt = Runtime(
        settings=settings,
        engine=engine,
        bus=bus or build_bus(settings),
        jwt_key=jwt_key,
        limits=build_limits(settings),
        presence=presence or build_presence(settings),
    )
    rt.cache = build_cache(settings)
    rt.hub = Hub(rt.bus)
    rt.batcher = SendBatcher(rt)
    rt.router = SendRouter(rt, build_nodes(settings))
    rt.oidc = OidcClient.from_settings(settings)
    rt.objects = build_object_store(settings, signing_key=derive_key(jwt_key, "media-urls"))
    return rt


async def _refresh_presence(rt: Runtime) -> None:
    """Keep this node's presence entries alive while its users stay connected."""
    while True:
        await asyncio.sleep(max(1.0, rt.settings.presence_ttl_s / 3))
        statuses = {uid: s for uid in list(rt.hub.users) if (s := rt.hub.local_status(uid)) is not None}
        await rt.presence.refresh(rt.node_id, statuses)


async def _sweep(rt: Runtime) -> None:
    """Close sockets that sent nothing (not even a ping) within the idle timeout."""
    while True:
        # Read each turn so an operator (or a test) can change the timeout at run time.
        await asyncio.sleep(max(0.2, min(1.0, rt.settings.ws_idle_timeout_s / 4)))
        rt.hub.sweep_idle(rt.settings.ws_idle_timeout_s)


class TiplineApp(FastAPI):
    """FastAPI for HTTP; the WebSocket at /ws is dispatched here, before the framework's layers.

    Every delivered event goes through the socket's ``send``; taking the server's callables
    directly keeps the per-delivery cost and the per-connection memory down.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await websocket_endpoint(self.state.rt, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(rt: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        probe = BusProbe(rt)
        # Before the bus starts: deliveries are held from any connection loss on.
        guard = SocketGuard(rt)
        guard.watch()
        await rt.bus.start(probe.wrap(bus_handler(rt)))
        guard.start()
        health = NodeHealth(rt)
        health.start()
        rt.batcher.start()
        await rt.router.start()
        if rt.settings.chain_rpc_url and rt.settings.tip_contract_address:
            rt.chain_watcher = ChainWatcher(
                rt, rpc_url=rt.settings.chain_rpc_url, contract=rt.settings.tip_contract_address
            )
            rt.chain_watcher.start()
        sweeper = asyncio.create_task(_sweep(rt), name="idle-sweeper")
        refresher = asyncio.create_task(_refresh_presence(rt), name="presence-refresh")
        prober = asyncio.create_task(probe.run(), name="bus-probe")
        cleaner = asyncio.create_task(clean_forever(rt), name="media-cleaner")
        mailer = MailWorker(rt.settings, rt.engine)
        if rt.settings.mail_worker:
            mailer.start()
        # Counted from start-up to shutdown: a runtime that never served is not in /metrics.
        COLLECTOR.track(rt)
        if rt.settings.gc_freeze:
            # Start-up leaves a large heap (modules, SQLAlchemy, pydantic) that lives as long as
            # the process; full collections walking it took 100+ ms pauses in the history benchmark.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            COLLECTOR.untrack(rt)
            rt.shutting_down = True
            for task in (sweeper, refresher, prober, cleaner):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await mailer.stop()
            await health.stop()
            await guard.stop()
            if rt.chain_watcher is not None:
                await rt.chain_watcher.stop()
            # Forwards still unanswered are committed here, so before the batcher stops.
            await rt.router.stop()
            await rt.batcher.stop()
            await rt.bus.close()
            await rt.limits.limiter.close()
            await rt.presence.close()
            await rt.oidc.close()
            if rt.cache is not None:
                await rt.cache.close()
            await rt.engine.dispose()

    app = TiplineApp(
        title="Tipline",
        version="0.1.0",
        summary="Real-time chat with non-custodial crypto tipping.",
        description="HTTP API of Tipline. The WebSocket protocol at `/ws` is described in docs/protocol.md.",
        lifespan=lifespan,
        # The interactive docs pages load their scripts from a CDN, which the API's strict
        # Content-Security-Policy (and offline installs) refuse; /openapi.json stays.
        docs_url=None,
        redoc_url=None,
    )
    app.state.rt = rt

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: it may be a password.
        detail: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    # Routes are tried in order and every try costs: the busiest (history, send) come first.
    # No path of a later router matches a route of an earlier one (tests/api/test_routes.py).
    for router in (
        messages.router,
        health.router,
        auth.router,
        auth.sessions_router,
        twofactor.auth_router,
        twofactor.me_router,
        oidc_api.router,
        metrics_api.router,
        users.router,
        conversations.router,
        wallets.router,
        tips.router,
        media.router,
        search.router,
        moderation.router,
        tokens_api.router,
        bots_api.router,
    ):
        app.include_router(router)
    openapi.install(app)
    mount_api_docs(app)
    mount_web(app, rt.settings.web_dist, media=media_origins(rt.settings))
    app.add_middleware(BodyLimit, max_bytes=rt.settings.http_max_body_bytes, path_limits=media.body_limits(rt.settings))
    app.add_middleware(SecurityHeaders, hsts=rt.settings.public_url.startswith("https://"))
    # Outermost: the request id and the latency cover everything inside, 413s included.
    app.add_middleware(RequestContext)
    setup_tracing(app, rt.settings)
    return app
