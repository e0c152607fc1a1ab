"""create_app(): wiring only. Routers, the WebSocket route, middleware and the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from tipline.api import admin as admin_api
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
from tipline.api import imports as imports_api
from tipline.api import integrations as integrations_api
from tipline.api import metrics as metrics_api
from tipline.api import notifications as notifications_api
from tipline.api import oidc as oidc_api
from tipline.api import previews as previews_api
from tipline.api import privacy as privacy_api
from tipline.api import serversettings as serversettings_api
from tipline.api import threads as threads_api
from tipline.api import timeline as timeline_api
from tipline.api import tokens as tokens_api
from tipline.api.apidocs import mount_api_docs
from tipline.api.middleware import BodyLimit, RequestContext, SecurityHeaders
from tipline.backends.cache import MessageCache, RedisMessageCache
from tipline.backends.nodes import Nodes
from tipline.backends.oidc import OidcClient
from tipline.backends.presence import MemoryPresence, PresenceStore, RedisPresence
from tipline.bus.base import Bus
from tipline.bus.memory import MemoryBus
from tipline.config import Settings
from tipline.errors import DomainError, RateLimited
from tipline.gateway.endpoint import websocket_endpoint
from tipline.node import Node
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
    "incoming_webhook",
    "slash_command_per_user",
)


def build_limits(settings: Settings, limiter: Limiter | None = None) -> Limits:
    """Limits shared through Redis when REDIS_URL is set (every node counts together), else per process."""
    rules = {name: parse_rule(name, getattr(settings, f"rate_{name}")) for name in RATE_RULES}
    if limiter is None:
        if settings.redis_url is None:
            limiter = MemoryLimiter()
        else:
            limiter = RedisLimiter(
                redis_client(settings, socket_timeout=_busy_timeout(settings)),
                prefix=f"{settings.bus_channel_prefix}rl:",
            )
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


def redis_client(settings: Settings, *, socket_timeout: float | None = 2.0) -> Any:
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


def _busy_timeout(settings: Settings) -> float | None:
    """The bound on each call of a client that takes many concurrent calls (rate limits, presence).

    None on a Redis Cluster: redis-py's cluster client, given a socket timeout, fails some of a
    burst of concurrent calls with an AttributeError (a connection's writer gone mid-send) rather
    than a Redis error (tests/integration/test_cluster.py::test_send_rate_limit_holds_across_nodes).
    """
    return None if settings.redis_cluster else 2.0


def build_presence(settings: Settings) -> PresenceStore:
    """Presence shared through Redis when REDIS_URL is set, else kept in this process."""
    if settings.redis_url is None:
        return MemoryPresence()
    return RedisPresence(
        redis_client(settings, socket_timeout=_busy_timeout(settings)),
        prefix=settings.bus_channel_prefix,
        ttl_s=settings.presence_ttl_s,
    )


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
    )


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
    return Runtime(
        settings=settings,
        engine=engine,
        bus=bus or build_bus(settings),
        jwt_key=jwt_key,
        limits=build_limits(settings),
        presence=presence or build_presence(settings),
        oidc=OidcClient.from_settings(settings),
        objects=build_object_store(settings, signing_key=derive_key(jwt_key, "media-urls")),
        cache=build_cache(settings),
    )


class TiplineApp(FastAPI):
    """FastAPI for HTTP; the WebSocket at /ws is dispatched here, before the framework's layers.

    Every delivered event goes through the socket's ``send``; taking the server's callables
    directly keeps the per-delivery cost and the per-connection memory down.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            node: Node = self.state.node
            await websocket_endpoint(node.rt, node.hub, node.router, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
    """Both transports' error shape over HTTP: ``{"detail": reason, "code": machine code}``."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=exc.status, headers=headers)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Never echo the input back: it may be a password.
    detail: list[dict[str, Any]] = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


# Routes are tried in order and every try costs: the busiest (history, send) come first.
# No path of a later router matches a route of an earlier one (tests/api/test_routes.py).
ROUTERS = (
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
    privacy_api.router,
    bots_api.router,
    integrations_api.router,
    imports_api.router,
    serversettings_api.router,
    admin_api.router,
    notifications_api.router,
    threads_api.router,
    timeline_api.router,
    previews_api.router,
)


def create_app(rt: Runtime) -> FastAPI:
    node = Node.build(rt, build_nodes(rt.settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            # A start that fails halfway is stopped too: what it started must not run on.
            await node.start()
            yield
        finally:
            await node.stop()

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
    app.state.node = node
    app.state.sends = node.router
    app.add_exception_handler(DomainError, domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]

    for router in ROUTERS:
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
