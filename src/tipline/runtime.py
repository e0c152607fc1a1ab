"""The process-wide services an action needs, built once by create_app() and passed explicitly."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from tipline.bus.base import Bus
from tipline.config import Settings
from tipline.gateway.presence import PresenceStore
from tipline.ratelimit import Limits
from tipline.storage.objects import ObjectStore

if TYPE_CHECKING:
    from tipline.chain.watcher import ChainWatcher
    from tipline.domain.accounts.oidc import OidcClient
    from tipline.domain.messages.batcher import SendBatcher
    from tipline.domain.messages.cache import MessageCache
    from tipline.domain.messages.routing import SendRouter
    from tipline.gateway.hub import Hub


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    bus: Bus
    jwt_key: bytes
    limits: Limits
    presence: PresenceStore
    hub: Hub = field(init=False)
    batcher: SendBatcher = field(init=False)
    router: SendRouter = field(init=False)  # sends go through it: it picks the committing node
    oidc: OidcClient = field(init=False)
    objects: ObjectStore = field(init=False)
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    presence_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    shutting_down: bool = False  # readiness is false
    chain_watcher: ChainWatcher | None = None  # set when tipping is configured
    accepting_sends: bool = True  # false in the last step of a graceful shutdown
    # gateway/health.py: PostgreSQL or the bus unreachable now (readiness false, out of send
    # routing), and for NODE_UNHEALTHY_CLOSE_S (sockets closed and refused).
    degraded: bool = False
    unhealthy: bool = False
    cache: MessageCache | None = None  # the recent-message cache (Redis only)
