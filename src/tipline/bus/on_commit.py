"""Publish after commit: events an action produces wait here until its transaction commits.

Actions never call ``Bus.publish`` inside a transaction. They add events to the
:class:`Outbox` of a :func:`unit_of_work`, which publishes them once it has committed, so a
rolled-back transaction never reaches a socket and a socket never sees an event before the
data behind it can be read. (docs/subsystems/messages.md, "publish after commit")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tipline.bus.base import Bus


@dataclass
class Outbox:
    items: list[tuple[str, bytes]] = field(default_factory=list)

    def add(self, topic: str, payload: bytes) -> None:
        self.items.append((topic, payload))


@dataclass
class UnitOfWork:
    conn: AsyncConnection
    outbox: Outbox
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
    if outbox.items:
        await bus.publish_many(outbox.items)
    for step in uow.after_commit:
        await step()
