"""Moderation across two app nodes sharing one database and one Redis: a deactivation made on
one node closes the user's sockets on both, and a block made on one node hides the blocked
sender's words from the blocker's sockets on the other."""

from __future__ import annotations

import asyncio

import httpx

from tests.bus.test_redis_nodes import AppNode, nodes, send_frame, until_subscribed
from tests.helpers import Ws, create_conversation, is_event, signup
from tipline.domain.moderation.actions import do_grant_admin

__all__ = ["nodes"]  # the two-node fixture


async def test_deactivation_closes_the_users_sockets_on_every_node(nodes: tuple[AppNode, AppNode]) -> None:
    a, b = nodes
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as api_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as api_b,
    ):
        root, bob = await signup(api_a), await signup(api_b)
        await do_grant_admin(a.rt, login=root.handle)
        on_a = await Ws.open(a.ws_url, bob)
        on_b = await Ws.open(b.ws_url, bob)
        await until_subscribed(a.bus.channel_prefix + f"u:{bob.id}", 2)
        r = await api_a.post(f"/admin/users/{bob.id}/deactivate", headers=root.headers)
        assert r.status_code == 200 and r.json()["sessions_revoked"] == 1
        for ws in (on_a, on_b):
            await asyncio.wait_for(ws.conn.wait_closed(), 5)
            assert ws.conn.close_code == 4001 and ws.conn.close_reason == "account deactivated"
        # And neither node lets the token back in.
        for api in (api_a, api_b):
            assert (await api.get("/me", headers=bob.headers)).status_code == 401
        again = await Ws.open(b.ws_url, bob, wait_ready=False)
        await asyncio.wait_for(again.conn.wait_closed(), 5)
        assert again.conn.close_code == 4001


async def test_a_block_made_on_one_node_hides_live_messages_on_the_other(nodes: tuple[AppNode, AppNode]) -> None:
    a, b = nodes
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as api_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as api_b,
    ):
        alice, bob = await signup(api_a), await signup(api_b)
        cid = (await create_conversation(api_a, alice, "group", [bob]))["id"]
        ws_alice = await Ws.open(b.ws_url, alice)  # alice reads on node B
        ws_bob = await Ws.open(a.ws_url, bob)  # bob writes on node A
        try:
            await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 2)
            assert (await api_a.put(f"/me/blocks/{bob.id}", headers=alice.headers)).status_code == 200
            await asyncio.sleep(0.1)  # the control travels through Redis to node B
            await ws_bob.send(send_frame(cid, "words alice will not see"))
            await ws_bob.expect("ack")
            event = await ws_alice.expect(is_event("message.created", sender_id=bob.id))
            assert event["data"]["body"] == "" and event["data"]["hidden"] is True
            own = await ws_bob.expect(is_event("message.created", sender_id=bob.id))
            assert own["data"]["body"] == "words alice will not see"
        finally:
            await ws_alice.close()
            await ws_bob.close()
