"""The fan-out's direct write path (gateway/wire.py) on a real uvicorn, and the ASGI path it
falls back to with another WebSocket implementation."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.conftest import free_port, make_settings, run_server
from tests.helpers import Ws, create_conversation, is_event, signup
from tipline.gateway.wire import Flag, Inbox, LeanServerProtocol


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


async def test_inbox_keeps_order_and_wakes_its_reader() -> None:
    inbox = Inbox()
    assert inbox.empty() and inbox.qsize() == 0
    waiter = inbox.wait()
    assert not waiter.done()
    inbox.put_nowait({"n": 1})
    inbox.put_nowait({"n": 2})
    assert waiter.done() and inbox.qsize() == 2
    assert [inbox.get_nowait(), inbox.get_nowait()] == [{"n": 1}, {"n": 2}]
    assert inbox.empty()
    with pytest.raises(asyncio.QueueEmpty):
        inbox.get_nowait()
    # A reader cancelled while waiting leaves the inbox usable.
    waiter = inbox.wait()
    waiter.cancel()
    later = inbox.wait()
    assert later is not waiter
    inbox.put_nowait("x")
    assert later.done() and inbox.get_nowait() == "x"


async def test_flag_behaves_as_an_event() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True]
    assert flag.is_set() and await flag.wait()
    flag.clear()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    flag.set()
    assert flag.is_set()


async def test_an_accepted_socket_keeps_no_handshake_state(database_url: str) -> None:
    port = free_port()
    settings = make_settings(port=port, public_url=f"http://127.0.0.1:{port}")
    async with run_server(settings, database_url) as srv, httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api:
        alice = await signup(api)
        ws = await Ws.open(srv.ws_url, alice)
        (conn,) = srv.node.hub.all_connections()
        assert conn.wire is not None
        protocol = conn.wire._protocol  # type: ignore[attr-defined]
        # The request and response of the handshake, the headers and the subprotocols (with
        # the token) are dropped once the socket is authenticated (bench/memory).
        assert protocol.request is None and protocol.response is None
        # websockets' parser still holds the request: its headers are emptied.
        request = protocol.conn.parser.gi_frame.f_locals["request"]
        assert not list(request.headers.raw_items())
        assert protocol.scope["headers"] == [] and protocol.scope["subprotocols"] == []
        assert isinstance(protocol.queue, Inbox) and isinstance(protocol.writable, Flag)
        assert isinstance(protocol.conn, LeanServerProtocol)
        assert protocol.__dict__ == {} and protocol.conn.__dict__ == {}
        await ws.send({"type": "ping", "ref": "p"})
        assert (await ws.expect("pong"))["ref"] == "p"
        await ws.close()
