"""The fan-out's direct write path (gateway/wire.py) on a real uvicorn, and the ASGI path it
falls back to with another WebSocket implementation."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import free_port, make_settings, run_server
from tests.helpers import Ws, create_conversation, is_event, signup


@pytest.mark.parametrize("ws_impl", ["websockets-sansio", "wsproto"])
async def test_fan_out_arrives_whole_and_in_order_on_either_write_path(database_url: str, ws_impl: str) -> None:
    port = free_port()
    settings = make_settings(port=port, public_url=f"http://127.0.0.1:{port}", ws_impl=ws_impl)
    async with run_server(settings, database_url) as srv, httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api:
        alice, bob, carol = await signup(api), await signup(api), await signup(api)
        cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
        sockets = [await Ws.open(srv.ws_url, u) for u in (alice, bob, carol)]
        conns = srv.node.hub.all_connections()
        assert len(conns) == 3
        # Tipline's uvicorn protocol offers the direct writer; wsproto does not.
        assert all((c.wire is not None) == (ws_impl == "websockets-sansio") for c in conns)
        # Bodies of every frame-length class: a few bytes, over 125 (16-bit length) and
        # batches over 64 KiB (64-bit length) when the pipelined sends commit together.
        bodies = [f"{i} " + "x" * (3 if i % 3 == 0 else 3900) for i in range(40)]
        for body in bodies:
            await sockets[0].send(
                {"type": "send", "conversation_id": cid, "client_msg_id": uuid.uuid4().hex, "body": body}
            )
        for ws in sockets[1:]:
            got = [(await ws.expect(is_event("message.created"), timeout=15))["data"]["body"] for _ in bodies]
            assert got == bodies
        acks = [await sockets[0].expect("ack", timeout=15) for _ in bodies]
        assert [a["seq"] for a in acks] == sorted(a["seq"] for a in acks)
        # Replies after the fan-out still go through the same socket, in order.
        await sockets[1].send({"type": "ping", "ref": "after"})
        pong = await sockets[1].expect("pong")
        assert pong["ref"] == "after"
        for ws in sockets:
            await ws.close()
