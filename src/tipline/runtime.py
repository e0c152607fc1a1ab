"""The services every domain action needs, built in one go by ``build_runtime`` and passed
explicitly: settings, PostgreSQL, the bus, rate limits, presence, the recent-message cache, the
OpenID Connect client and object storage, plus this node's id and the flags its health and
shutdown set. Nothing here imports a domain, the gateway or the node (tipline.node owns the
moving parts above the domain: hub, send pipeline, background workers)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from tipline.backends.cache import MessageCache
from tipline.backends.oidc import OidcClient
from tipline.backends.presence import PresenceStore
from tipline.bus.base import Bus
from tipline.config import Settings
from tipline.ratelimit import Limits
from tipline.storage.objects import ObjectStore


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    bus: Bus
    jwt_key: bytes
    limits: Limits
    presence: PresenceStore
    oidc: OidcClient
    objects: ObjectStore
    cache: MessageCache | None = None  # the recent-message cache (Redis only)
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    presence_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    # conversation id -> (monotonic time read, member count), for the typing limit (do_typing).
    typing_sizes: dict[int, tuple[float, int]] = field(default_factory=dict)
    shutting_down: bool = False  # readiness is false
    accepting_sends: bool = True  # false in the last step of a graceful shutdown
    # gateway/health.py: PostgreSQL or the bus unreachable now (readiness false, out of send
    # routing), and for NODE_UNHEALTHY_CLOSE_S (sockets closed and refused).
    degraded: bool = False
    unhealthy: bool = False
    database_ok: bool = True  # the last probe's outcome (NodeHealth), read by /readyz
