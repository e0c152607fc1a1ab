"""Presence across nodes: online once however many sockets and nodes, offline only when the
last socket goes (or its node stops refreshing); typing throttled across nodes."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from redis.asyncio import Redis

from tests.bus.redis_helpers import REDIS_URL, unique_prefix
from tests.bus.test_redis_nodes import start_node, stop_node
from tests.helpers import Ws, create_conversation, signup
from tipline.backends.presence import MemoryPresence, PresenceStore, RedisPresence
from tipline.bus.redis import RedisBus


def redis_presence(prefix: str, ttl_s: float = 60.0) -> RedisPresence:
    return RedisPresence(Redis.from_url(REDIS_URL), prefix=prefix, ttl_s=ttl_s)


@pytest.fixture(params=["memory", "redis"])
async def store_pair(request: pytest.FixtureRequest) -> tuple[PresenceStore, PresenceStore]:
    if request.param == "memory":
        shared = MemoryPresence()
        return shared, shared  # one process: both "nodes" share the store
    prefix = unique_prefix()
    return redis_presence(prefix), redis_presence(prefix)


async def test_online_once_offline_when_the_last_node_goes(store_pair: tuple[PresenceStore, PresenceStore]) -> None:
    a, b = store_pair
    assert await a.set(7, "node-a", "online") == ("offline", "online")
    assert await b.set(7, "node-b", "away") == ("online", "online")
    assert await a.set(7, "node-a", None) == ("online", "away")
    assert (await b.get_many([7, 8])) == {7: "away", 8: "offline"}
    assert await b.set(7, "node-b", None) == ("away", "offline")
    assert (await a.get_many([7])) == {7: "offline"}


async def test_a_node_that_stops_refreshing_stops_counting() -> None:
    prefix = unique_prefix()
    crashed, alive = redis_presence(prefix, ttl_s=0.3), redis_presence(prefix, ttl_s=0.3)
    await crashed.set(9, "crashed", "online")
    await alive.set(10, "alive", "online")
    await asyncio.sleep(0.2)
    await alive.refresh("alive", {10: "online"})
    await asyncio.sleep(0.2)
    assert await alive.get_many([9, 10]) == {9: "offline", 10: "online"}


async def test_typing_throttle_is_shared(store_pair: tuple[PresenceStore, PresenceStore]) -> None:
    a, b = store_pair
    assert await a.typing_allowed(1, 5, 60)
    assert not await b.typing_allowed(1, 5, 60)  # the other node sees the same throttle
    assert await b.typing_allowed(1, 6, 60) and await b.typing_allowed(2, 5, 60)


async def test_presence_across_two_app_nodes(database_url: str) -> None:
    prefix = unique_prefix()
    key = secrets.token_bytes(64)
    node_a = await start_node(database_url, key, RedisBus(REDIS_URL, channel_prefix=prefix), redis_presence(prefix))
    node_b = await start_node(database_url, key, RedisBus(REDIS_URL, channel_prefix=prefix), redis_presence(prefix))
    try:
        async with httpx.AsyncClient(base_url=node_a.base_url, timeout=10) as api:
            alice, bob = await signup(api), await signup(api)
            await create_conversation(api, alice, "group", [bob])

            def of_alice(frame: dict[str, object]) -> bool:
                return frame.get("type") == "presence" and frame.get("user_id") == alice.id

            watcher = await Ws.open(node_a.ws_url, bob)
            on_a = await Ws.open(node_a.ws_url, alice)
            assert (await watcher.expect(of_alice))["status"] == "online"
            on_b = await Ws.open(node_b.ws_url, alice)  # a second node: still online once
            assert not [f for f in await watcher.collect(0.4) if of_alice(f)]
            await on_a.close()
            assert not [f for f in await watcher.collect(0.4) if of_alice(f)]  # still on node B
            r = await api.get("/presence", params={"ids": str(alice.id)}, headers=bob.headers)
            assert r.json() == {str(alice.id): "online"}
            await on_b.close()
            assert (await watcher.expect(of_alice))["status"] == "offline"
            await watcher.close()
    finally:
        await stop_node(node_b)
        await stop_node(node_a)
