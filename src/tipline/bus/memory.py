"""The in-process Bus: one node, no network. The embedded default and the unit-test twin."""

from __future__ import annotations

from collections.abc import Callable

from tipline.bus.base import Handler


class MemoryBus:
    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._topics: set[str] = set()

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def close(self) -> None:
        self._handler = None

    async def publish(self, topic: str, payload: bytes) -> None:
        # Delivered synchronously, in publish order: the same order every other node
        # would see for this publisher on a real broker.
        if self._handler is not None and topic in self._topics:
            self._handler(topic, payload)

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        for topic, payload in items:
            await self.publish(topic, payload)

    async def publish_counted(self, items: list[tuple[str, bytes]]) -> list[int]:
        counts = [int(self._handler is not None and topic in self._topics) for topic, _ in items]
        await self.publish_many(items)
        return counts

    def subscribe(self, topic: str) -> None:
        self._topics.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)

    async def settle(self) -> None:
        return None

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        # An in-process bus cannot lose its connection.
        return None

    def on_lost(self, callback: Callable[[], None]) -> None:
        return None

    def healthy(self) -> bool:
        return self._handler is not None
