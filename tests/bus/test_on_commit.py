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


async def test_on_commit_steps_run_before_the_publish_and_a_failed_publish_does_not_fail_the_caller(
    rt: Runtime,
) -> None:
    """The group commit answers its senders in ``on_commit``: an ack never waits for the bus, and
    a bus that fails after the commit loses events, not the committed work."""
    order: list[str] = []

    class FailingBus(MemoryBus):
        async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
            order.append("publish")
            raise ConnectionError("bus down")

    async def after() -> None:
        order.append("after_commit")

    async with unit_of_work(rt.engine, FailingBus()) as uow:
        uow.outbox.add("c:1", b"Eevent")
        uow.on_commit.append(lambda: order.append("on_commit"))
        uow.after_commit.append(after)
    assert order == ["on_commit", "publish", "after_commit"]
