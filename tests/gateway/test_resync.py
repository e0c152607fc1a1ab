"""A bus outage ends with every socket told each conversation's last seq, so it can resume."""

from __future__ import annotations

import httpx

from tests.conftest import Server
from tests.helpers import Ws, create_conversation, send_http, signup
from tipline.gateway.resync import resync_all


async def test_resync_tells_each_socket_its_conversations(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    shared = (await create_conversation(api, alice, "group", [bob]))["id"]
    alone = (await create_conversation(api, alice, "group"))["id"]
    wa, wb = await Ws.open(server.ws_url, alice), await Ws.open(server.ws_url, bob)
    # Messages the sockets never saw live (as if the bus had dropped them during an outage).
    server.rt.bus.unsubscribe(f"c:{shared}")
    ack = (await send_http(api, alice, shared, "sent during the outage")).json()
    server.rt.bus.subscribe(f"c:{shared}")
    assert await resync_all(server.rt, server.node.hub) == 2
    sync_a, sync_b = await wa.expect("sync"), await wb.expect("sync")
    assert {c["id"]: c["last_seq"] for c in sync_b["conversations"]} == {shared: ack["seq"]}
    assert {c["id"] for c in sync_a["conversations"]} == {shared, alone}
    # The client sees it is behind and resumes: the missed message arrives.
    await wb.send({"type": "resume", "since": {str(shared): ack["seq"] - 1}})
    got = await wb.expect(lambda f: f.get("event") == "message.created")
    assert got["data"]["body"] == "sent during the outage"
    await wa.close()
    await wb.close()
