"""The admin status page on a cluster: with REDIS_URL it pings Redis and lists every live node
from the cluster's registry, whichever node answers."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from tests.bus.redis_helpers import REDIS_URL, unique_prefix
from tests.bus.test_redis_nodes import start_node, stop_node
from tests.helpers import signup
from tipline.bus.redis import RedisBus
from tipline.domain.moderation.actions import do_grant_admin


async def test_status_lists_every_live_node_and_pings_redis(database_url: str) -> None:
    prefix = unique_prefix()
    jwt_key = secrets.token_bytes(64)
    settings = {"redis_url": REDIS_URL, "bus_channel_prefix": prefix}
    a = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix), **settings)
    b = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix), **settings)
    try:
        async with httpx.AsyncClient(base_url=b.base_url, timeout=30) as api:
            root = await signup(api)
            await do_grant_admin(a.rt, login=root.handle)
            async with asyncio.timeout(10):
                while True:
                    s = (await api.get("/admin/status", headers=root.headers)).json()
                    if len(s["nodes"]) == 2:
                        break
                    await asyncio.sleep(0.1)
            assert {n["id"]: n["this_node"] for n in s["nodes"]} == {a.rt.node_id: False, b.rt.node_id: True}
            assert s["node_id"] == b.rt.node_id
            assert s["redis"]["configured"] is True and s["redis"]["reachable"] is True
            assert s["redis"]["latency_ms"] >= 0
    finally:
        await stop_node(b)
        await stop_node(a)
