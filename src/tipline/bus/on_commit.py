"""Publish after commit: events an action produces wait here until its transaction commits.

Actions never call ``Bus.publish`` inside a transaction. They add events to the
:class:`Outbox` of a :func:`unit_of_work`, which publishes them once it has committed, so a
rolled-back transaction never reaches a socket and a socket never sees an event before the
data behind it can be read. (docs/subsystems/messages.md, "publish after commit")
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tipline.bus.base import Bus

log = logging.getLogger(__name__)


@dataclass
class Outbox:
    items: list[tuple[str, bytes]] = field(default_factory=list)

    def add(self, topic: str, payload: bytes) -> None:
        self.items.append((topic, payload))

    def extend(self, items: list[tuple[str, bytes]]) -> None:
        self.items.extend(items)


@dataclass
class UnitOfWork:
    conn: AsyncConnection
    outbox: Outbox
    # Run at once on commit, before publishing: the group commit answers its senders here, so
    # an ack never waits for the bus. They must not raise.
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    # Run after commit, after publishing (cache write-through); they must not raise.
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine, bus: Bus) -> AsyncIterator[UnitOfWork]:
    """A transaction whose outbox is published only once it has committed."""
    outbox = Outbox()
    async with engine.begin() as conn:
        uow = UnitOfWork(conn=conn, outbox=outbox)
        yield uow
    # Reached only when the block above committed (an exception skips this line).
    for answer in uow.on_commit:
        answer()
    if outbox.items:
        try:
            await bus.publish_many(outbox.items)
        except Exception:
            # Committed is committed: the caller must not see a failure. The bus is the fast
            # path; clients repair the gap from PostgreSQL (resume, sync).
            log.exception("publish failed after commit")
    for step in uow.after_commit:
        await step()
