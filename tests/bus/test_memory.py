"""The in-process bus: what a single node's send routing and hub rely on."""

from __future__ import annotations

from tipline.bus.memory import MemoryBus


async def test_publish_counted_delivers_in_order_and_counts_this_node() -> None:
    got: list[tuple[str, bytes]] = []
    bus = MemoryBus()
    await bus.start(lambda topic, payload: got.append((topic, payload)))
    bus.subscribe("n:me")
    assert await bus.publish_counted([("n:me", b"1"), ("n:other", b"2"), ("n:me", b"3")]) == [1, 0, 1]
    assert got == [("n:me", b"1"), ("n:me", b"3")]
