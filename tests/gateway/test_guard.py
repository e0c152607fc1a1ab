"""Revocations and removals hold whatever the bus does (the fault-guarantees contract).

A bus that loses messages is the in-process bus with an outage switch: while it is down every
publish is lost (at most once, as Redis pub/sub does), its health says so, and its connection
callbacks run as the Redis bus runs them. The server, PostgreSQL and the sockets are real.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import Server, start_server
from tests.helpers import Ws, create_conversation, is_event, send_http, signup
from tipline.bus.memory import MemoryBus


class OutageBus(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self._lost: list[Callable[[], None]] = []
        self._back: list[Callable[[], None]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        if not self.down:
            await super().publish(topic, payload)

    def on_lost(self, callback: Callable[[], None]) -> None:
        self._lost.append(callback)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._back.append(callback)

    def healthy(self) -> bool:
        return not self.down and super().healthy()

    def go_down(self) -> None:
        self.down = True
        for callback in self._lost:
            callback()

    def come_back(self) -> None:
        self.down = False
        for callback in self._back:
            callback()


@pytest.fixture
async def outage(database_url: str) -> AsyncIterator[tuple[Server, OutageBus, httpx.AsyncClient]]:
    bus = OutageBus()
    # The backstop is off (an hour): only the outage paths may close or unsubscribe.
    async with (
        start_server(database_url, bus=bus, socket_recheck_s=3600.0, socket_recheck_outage_s=0.5) as srv,
        httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
    ):
        yield srv, bus, api


def send_frame(cid: int, body: str) -> dict[str, object]:
    return {"type": "send", "conversation_id": cid, "client_msg_id": uuid.uuid4().hex, "body": body}


async def closed_with(ws: Ws, within: float) -> int | None:
    try:
        async with asyncio.timeout(within):
            while True:
                await ws.conn.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else 1006
    except TimeoutError:
        return None


async def test_a_send_on_a_session_revoked_while_the_bus_lost_the_news_is_refused_at_commit(
    outage: tuple[Server, OutageBus, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure 1 of the fault-guarantees issue: the sign-out answered 204, the socket never heard,
    and its next send was accepted and stored. The socket guard is kept from acting here, so
    only the commit's own session check stands between the revoked socket and the database."""
    srv, _bus, api = outage
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    ws = await Ws.open(srv.ws_url, alice)
    monkeypatch.setattr(srv.node.hub, "_control", lambda topic, payload: None)  # every control lost
    assert (await api.post("/auth/signout", headers=alice.headers)).status_code == 204
    frame = send_frame(cid, "after sign-out")
    await ws.send(frame)
    error = await ws.expect("error")
    assert error["code"] == "session_revoked" and error["client_msg_id"] == frame["client_msg_id"]
    assert await closed_with(ws, 5) == 4001
    page = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()
    assert page["messages"] == []


async def test_a_deactivated_account_cannot_send_even_if_its_sockets_never_heard(
    outage: tuple[Server, OutageBus, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, _bus, api = outage
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    ws = await Ws.open(srv.ws_url, alice)
    monkeypatch.setattr(srv.node.hub, "_control", lambda topic, payload: None)
    async with srv.rt.engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": alice.id})
    await ws.send(send_frame(cid, "deactivated"))
    assert (await ws.expect("error"))["code"] == "account_inactive"
    assert await closed_with(ws, 5) == 4001


async def test_a_sign_out_during_a_bus_outage_closes_the_sockets_within_two_seconds(
    outage: tuple[Server, OutageBus, httpx.AsyncClient],
) -> None:
    srv, bus, api = outage
    alice = await signup(api)
    other_tab = await signup(api)  # another person's socket stays open
    ws, ws_other = await Ws.open(srv.ws_url, alice), await Ws.open(srv.ws_url, other_tab)
    bus.go_down()
    assert (await api.post("/auth/signout", headers=alice.headers)).status_code == 204
    assert await closed_with(ws, 2.0) == 4001
    assert await closed_with(ws_other, 0.5) is None
    bus.come_back()
    await ws_other.close()


async def test_a_member_removed_during_a_bus_outage_gets_nothing_more_live_or_by_resume(
    outage: tuple[Server, OutageBus, httpx.AsyncClient],
) -> None:
    """Failure 2: the removal's control was lost with the bus, and the removed member kept
    receiving the group's live events after the bus came back."""
    srv, bus, api = outage
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    ws_bob, ws_carol = await Ws.open(srv.ws_url, bob), await Ws.open(srv.ws_url, carol)
    bus.go_down()
    assert (await api.delete(f"/conversations/{cid}/members/{bob.id}", headers=alice.headers)).status_code == 204
    # Within a second (the outage re-check runs every 0.5 s here) bob's socket lets go of it.
    async with asyncio.timeout(2):
        while cid in next(iter(srv.node.hub.connections_of(bob.id))).conversations:
            await asyncio.sleep(0.05)
    bus.come_back()
    await ws_carol.expect("sync")
    for i in range(3):
        await send_http(api, alice, cid, f"after removal {i}")
    await ws_carol.expect(is_event("message.created"))
    frames = await ws_bob.collect(1.0)
    assert not [f for f in frames if f.get("conversation_id") == cid and f.get("type") in ("event", "sync")], frames
    await ws_bob.send({"type": "resume", "since": {str(cid): 0}, "ref": "r"})
    error = await ws_bob.expect("error")
    assert error["code"] == "not_found" and error["conversation_id"] == cid
    history = await api.get(f"/conversations/{cid}/messages", headers=bob.headers)
    assert history.status_code == 404
    await ws_bob.close()
    await ws_carol.close()


async def test_after_the_bus_returns_sockets_are_rechecked_before_anything_is_delivered(
    outage: tuple[Server, OutageBus, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No polling here (the outage re-check is slowed to a minute): the removal is found by the
    re-check the bus's return starts, and what arrives before it ends is held, not delivered."""
    srv, bus, api = outage
    monkeypatch.setattr(srv.rt.settings, "socket_recheck_outage_s", 60.0)
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    ws_bob, ws_carol = await Ws.open(srv.ws_url, bob), await Ws.open(srv.ws_url, carol)
    await asyncio.sleep(0.2)  # the guard is now waiting with the bus down timeout in force
    bus.go_down()
    assert (await api.delete(f"/conversations/{cid}/members/{bob.id}", headers=alice.headers)).status_code == 204
    assert cid in next(iter(srv.node.hub.connections_of(bob.id))).conversations  # nobody told this node
    bus.come_back()
    # Published at once, before the re-check can have finished: held, then delivered to carol only.
    await send_http(api, alice, cid, "right after the bus came back")
    assert (await ws_carol.expect(is_event("message.created")))["data"]["body"] == "right after the bus came back"
    frames = await ws_bob.collect(1.0)
    assert not [f for f in frames if f.get("conversation_id") == cid and f.get("type") == "event"], frames
    await ws_bob.close()
    await ws_carol.close()


async def test_events_committed_on_a_node_cut_from_the_bus_reach_the_other_nodes_sockets_when_it_returns(
    database_url: str,
) -> None:
    """One node alone loses Redis (the others keep it): a message committed there meanwhile was
    published to no one. When its bus returns it asks the others to re-check and re-sync, so a
    socket on another node learns of it by a ``sync`` frame, without any later message."""
    from tests.bus.redis_helpers import REDIS_URL, unique_prefix
    from tests.bus.test_redis_nodes import start_node, stop_node
    from tests.integration.netfaults import TcpProxy
    from tipline.bus.redis import RedisBus

    host, _, port = REDIS_URL.removeprefix("redis://").partition("/")[0].rpartition(":")
    link = TcpProxy("127.0.0.1", (host, int(port)))
    await link.start()
    prefix, jwt_key = unique_prefix(), uuid.uuid4().bytes * 2
    cut = await start_node(
        database_url, jwt_key, RedisBus(f"redis://{link.address}", channel_prefix=prefix, ping_interval_s=0.2)
    )
    other = await start_node(database_url, jwt_key, RedisBus(REDIS_URL, channel_prefix=prefix))
    try:
        async with httpx.AsyncClient(base_url=cut.base_url, timeout=30) as api:
            alice, bob = await signup(api), await signup(api)
            cid = (await create_conversation(api, alice, "group", [bob]))["id"]
            ws_bob = await Ws.open(other.ws_url, bob)
            link.block()
            async with asyncio.timeout(10):
                while cut.bus.healthy():
                    await asyncio.sleep(0.05)
            sent = await send_http(api, alice, cid, "while this node was cut off")
            assert sent.status_code == 201, sent.text
            seq = sent.json()["seq"]
            assert not [f for f in await ws_bob.collect(0.5) if f.get("conversation_id") == cid]
            link.unblock()
            sync = await ws_bob.expect("sync", timeout=15)
            assert {"id": cid, "last_seq": seq} in [
                {"id": c["id"], "last_seq": c["last_seq"]} for c in sync["conversations"]
            ], sync
            await ws_bob.close()
    finally:
        await stop_node(cut)
        await stop_node(other)
        await link.close()


async def test_the_other_nodes_requests_of_one_outage_get_one_round_of_sync(
    outage: tuple[Server, OutageBus, httpx.AsyncClient],
) -> None:
    """After a Redis outage every node asks every other to re-sync; a node answers the requests
    that arrive together with one ``sync`` per socket, and one that arrived before its own
    recovery round with that round."""
    srv, bus, api = outage
    alice = await signup(api)
    await create_conversation(api, alice, "group")
    ws = await Ws.open(srv.ws_url, alice)
    guard = srv.node.guard
    before = guard.resyncs
    for n in range(3):
        guard.request(f"node-{n}")
        await asyncio.sleep(0.05)
    await ws.expect("sync", timeout=5)
    assert not [f for f in await ws.collect(1.0) if f.get("type") == "sync"]
    assert guard.resyncs == before + 1

    bus.go_down()
    guard.request("node-x")  # its own recovery round, below, starts after this arrived
    bus.come_back()
    await ws.expect("sync", timeout=5)
    assert not [f for f in await ws.collect(1.0) if f.get("type") == "sync"]
    assert guard.resyncs == before + 2
    await ws.close()
