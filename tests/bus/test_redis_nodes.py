"""Two real Tipline app nodes sharing one database and one Redis: users on different nodes chat."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from tests.bus.redis_helpers import REDIS_URL, kill_clients, numsub, unique_prefix
from tests.conftest import free_port, make_settings
from tests.helpers import Ws, create_conversation, is_event, signup
from tipline.app import build_runtime, create_app
from tipline.backends.presence import PresenceStore
from tipline.bus.redis import RedisBus
from tipline.gateway.wire import ws_protocol
from tipline.node import Node
from tipline.runtime import Runtime


@dataclass
class AppNode:
    rt: Runtime
    node: Node
    bus: RedisBus
    base_url: str
    ws_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]


async def start_node(
    database_url: str, jwt_key: bytes, bus: RedisBus, presence: PresenceStore | None = None, **settings_: object
) -> AppNode:
    """A Tipline node served by uvicorn in this process, as tests/conftest.py does."""
    port = free_port()
    settings = make_settings(port=port, public_url=f"http://127.0.0.1:{port}", **settings_)
    rt = build_runtime(settings, database_url=database_url, jwt_key=jwt_key, bus=bus, presence=presence)
    app = create_app(rt)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws=ws_protocol("websockets-sansio"),
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return AppNode(rt, app.state.node, bus, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", server, task)


async def stop_node(node: AppNode) -> None:
    node.server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(node.task, 10)


@pytest.fixture
async def nodes(database_url: str) -> AsyncIterator[tuple[AppNode, AppNode]]:
    prefix = unique_prefix()
    jwt_key = secrets.token_bytes(64)  # the same key on both: a token from one is valid on the other
    a = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix))
    b = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix))
    try:
        yield a, b
    finally:
        await stop_node(b)
        await stop_node(a)


def send_frame(cid: int, body: str) -> dict[str, object]:
    return {"type": "send", "conversation_id": cid, "client_msg_id": uuid.uuid4().hex, "body": body}


async def until_subscribed(channel: str, count: int) -> None:
    """Until ``count`` nodes are subscribed to ``channel`` on the server."""
    async with asyncio.timeout(5):
        while await numsub(REDIS_URL, channel) < count:
            await asyncio.sleep(0.01)


async def test_users_on_two_nodes_exchange_messages_through_redis(nodes: tuple[AppNode, AppNode]) -> None:
    a, b = nodes
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as api_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as api_b,
    ):
        for api in (api_a, api_b):
            ready = await api.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["bus"] is True
        alice = await signup(api_b)
        bob = await signup(api_a)
        cid = (await create_conversation(api_a, alice, "group", [bob]))["id"]

        ws_bob = await Ws.open(a.ws_url, bob)  # bob's socket is on node A
        ws_alice = await Ws.open(b.ws_url, alice)  # alice's is on node B
        try:
            await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 2)
            await ws_alice.send(send_frame(cid, "hello from node B"))
            ack = await ws_alice.expect("ack")
            assert ack["conversation_id"] == cid and ack["seq"] > 0
            event = await ws_bob.expect(is_event("message.created"))
            assert event["seq"] == ack["seq"] and event["data"]["body"] == "hello from node B"
            assert event["data"]["sender_id"] == alice.id

            await ws_bob.send(send_frame(cid, "hello from node A"))
            reply_ack = await ws_bob.expect("ack")
            reply = await ws_alice.expect(is_event("message.created", body="hello from node A"))
            assert reply["seq"] == reply_ack["seq"] == ack["seq"] + 1
            # The sender's own node delivers to the sender's socket through Redis too, once.
            own = [f for f in await ws_alice.collect(0.2) if f.get("event") == "message.created"]
            assert [f["seq"] for f in own] == [ack["seq"]]
        finally:
            await ws_bob.close()
            await ws_alice.close()


async def test_a_membership_made_on_one_node_subscribes_sockets_on_the_other(
    nodes: tuple[AppNode, AppNode],
) -> None:
    a, b = nodes
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as api_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as api_b,
    ):
        alice, carol = await signup(api_b), await signup(api_a)
        ws_carol = await Ws.open(a.ws_url, carol)
        ws_alice = await Ws.open(b.ws_url, alice)
        try:
            # Created through node B: the control message reaches carol's node A over Redis.
            cid = (await create_conversation(api_b, alice, "group", [carol]))["id"]
            joined = await ws_carol.expect(is_event("conversation.joined"))
            assert joined["conversation_id"] == cid
            await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 2)
            await ws_alice.send(send_frame(cid, "welcome, carol"))
            ack = await ws_alice.expect("ack")
            event = await ws_carol.expect(is_event("message.created", body="welcome, carol"))
            assert event["seq"] == ack["seq"]
        finally:
            await ws_carol.close()
            await ws_alice.close()


async def test_after_a_bus_outage_sockets_are_told_to_resync(nodes: tuple[AppNode, AppNode]) -> None:
    a, b = nodes
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as api_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as api_b,
    ):
        alice, bob = await signup(api_b), await signup(api_a)
        cid = (await create_conversation(api_b, alice, "group", [bob]))["id"]
        ws_bob = await Ws.open(a.ws_url, bob)
        ws_alice = await Ws.open(b.ws_url, alice)
        try:
            await until_subscribed(a.bus.channel_prefix + f"c:{cid}", 2)
            # Node A loses its Redis connections; what it misses meanwhile is lost to its bus.
            assert await kill_clients(REDIS_URL, a.bus.client_name) >= 1
            async with asyncio.timeout(5):
                while a.bus.reconnects == 0:
                    await asyncio.sleep(0.01)
            # Once back, node A tells its sockets where each conversation stands.
            sync = await ws_bob.expect("sync")
            assert cid in {c["id"] for c in sync["conversations"]}
            assert (await api_a.get("/readyz")).json()["checks"]["bus"] is True
            # And live delivery from node B goes on.
            await ws_alice.send(send_frame(cid, "after the outage"))
            ack = await ws_alice.expect("ack")
            event = await ws_bob.expect(is_event("message.created", body="after the outage"))
            assert event["seq"] == ack["seq"]
        finally:
            await ws_bob.close()
            await ws_alice.close()
