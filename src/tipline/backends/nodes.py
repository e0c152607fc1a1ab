"""The registry of live nodes that send routing chooses owners from (Redis only: without Redis
there is one node and nothing to route). See docs/subsystems/messages.md, "Send routing"."""

from __future__ import annotations

import time
from typing import Any


class Nodes:
    """The live nodes: a Redis sorted set scored by each entry's expiry (send routing's registry;
    the sends themselves travel on the bus, to each node's own topic)."""

    def __init__(self, client: Any, *, prefix: str, ttl_s: float) -> None:
        self._client = client
        self.key = f"{prefix}nodes"
        self.ttl_s = ttl_s

    async def beat(self, node_id: str) -> list[str]:
        """Refresh this node's entry; returns the live nodes (this one included), sorted."""
        now = time.time()
        pipe = self._client.pipeline(transaction=False)
        pipe.zadd(self.key, {node_id: now + self.ttl_s})
        pipe.zremrangebyscore(self.key, "-inf", now)
        pipe.zrangebyscore(self.key, now, "+inf")
        *_, live = await pipe.execute()
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in live)

    async def leave(self, node_id: str) -> None:
        await self._client.zrem(self.key, node_id)

    async def close(self) -> None:
        await self._client.aclose()
