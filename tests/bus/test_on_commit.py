"""Publish after commit: a rolled-back transaction never reaches the bus."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tipline.bus.memory import MemoryBus
from tipline.bus.on_commit import unit_of_work
from tipline.runtime import Runtime


async def test_outbox_is_published_only_after_commit(rt: Runtime) -> None:
    bus = MemoryBus()
    seen: list[tuple[str, bytes]] = []
    await bus.start(lambda topic, payload: seen.append((topic, payload)))
    bus.subscribe("c:1")

    with pytest.raises(RuntimeError):
        async with unit_of_work(rt.engine, bus) as uow:
            await uow.conn.execute(text("SELECT 1"))
            uow.outbox.add("c:1", b"Erolled back")
            raise RuntimeError("abort")
    assert seen == []

    async with unit_of_work(rt.engine, bus) as uow:
        uow.outbox.add("c:1", b"Ecommitted")
        # Nothing leaves before the commit.
        assert seen == []
    assert seen == [("c:1", b"Ecommitted")]
