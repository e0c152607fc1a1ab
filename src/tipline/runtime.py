"""The process-wide services an action needs, built once by create_app() and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from tipline.bus.base import Bus
from tipline.config import Settings
from tipline.ratelimit import Limits

if TYPE_CHECKING:
    from tipline.domain.messages.batcher import SendBatcher
    from tipline.gateway.hub import Hub


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    bus: Bus
    jwt_key: bytes
    limits: Limits
    hub: Hub = field(init=False)
    batcher: SendBatcher = field(init=False)
    shutting_down: bool = False  # readiness is false
    accepting_sends: bool = True  # false in the last step of a graceful shutdown
