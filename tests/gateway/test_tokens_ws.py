"""Personal access tokens and bots over the WebSocket: the same protocol, acks and resume, limited
by the token's scopes, ended at once by revocation or expiry (docs/subsystems/integrations.md)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.api.test_tokens import admin, as_token, make_token
from tests.conftest import Server, start_server
from tests.helpers import Ws, create_conversation, is_event, send_http, signup


async def closed_with(ws: Ws) -> int | None:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.conn.recv(), 5)
    return ws.conn.close_code


def send_frame(cid: int, body: str, ref: str | None = None) -> dict[str, object]:
    cmid = uuid.uuid4().hex
    return {"type": "send", "conversation_id": cid, "client_msg_id": cmid, "body": body, "ref": ref or cmid}


@pytest.mark.parametrize("auth", ["subprotocol", "frame"])
async def test_a_token_sends_gets_acks_and_resumes(api: httpx.AsyncClient, server: Server, auth: str) -> None:
    alice, bob = await signup(api), await signup(api)
    conv = await create_conversation(api, alice, members=[bob])
    cid = conv["id"]
    token = as_token(alice, (await make_token(api, alice, ["messages:read", "messages:write"]))["token"])

    ws = await Ws.open(server.ws_url, token, auth=auth)
    frame = send_frame(cid, "from a script")
    await ws.send(frame)
    ack = await ws.expect("ack")
    assert ack["client_msg_id"] == frame["client_msg_id"] and ack["duplicate"] is False
    # A retry with the same client_msg_id returns the same ack.
    await ws.send(frame)
    again = await ws.expect("ack")
    assert again["message_id"] == ack["message_id"] and again["duplicate"] is True
    await ws.close()

    # Missed while away: resume replays exactly those.
    for n in range(3):
        assert (await send_http(api, bob, cid, f"missed {n}")).status_code == 201
    ws = await Ws.open(server.ws_url, token, auth=auth)
    await ws.send({"type": "resume", "since": {str(cid): ack["seq"]}, "ref": "r"})
    resumed = await ws.expect("resumed")
    replayed = [f for f in ws.buffer if f.get("type") == "event" and f["event"] == "message.created"]
    assert [f["data"]["body"] for f in replayed] == ["missed 0", "missed 1", "missed 2"]
    assert resumed["last_seq"] == ack["seq"] + 3
    await ws.close()


async def test_scopes_limit_the_socket(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice))["id"]

    # No messages:read: the socket is not opened (it would receive every event).
    writer = as_token(alice, (await make_token(api, alice, ["messages:write"]))["token"])
    ws = await Ws.open(server.ws_url, writer, wait_ready=False)
    err = await ws.expect("error")
    assert err["code"] == "insufficient_scope"
    assert await closed_with(ws) == 4001

    # messages:read without messages:write: it receives, but a send is refused and nothing is stored.
    reader = as_token(alice, (await make_token(api, alice, ["messages:read"]))["token"])
    ws = await Ws.open(server.ws_url, reader)
    frame = send_frame(cid, "not allowed")
    await ws.send(frame)
    err = await ws.expect("error")
    assert err["code"] == "insufficient_scope" and err["client_msg_id"] == frame["client_msg_id"]
    await ws.send({"type": "typing", "conversation_id": cid})
    assert (await ws.expect("error"))["code"] == "insufficient_scope"
    assert (await send_http(api, alice, cid, "from the person")).status_code == 201
    assert (await ws.expect(is_event("message.created")))["data"]["body"] == "from the person"
    history = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()
    assert [m["body"] for m in history["messages"]] == ["from the person"]
    await ws.close()


async def test_revoking_a_token_closes_its_sockets_at_once(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    created = await make_token(api, alice)
    token = as_token(alice, created["token"])
    person = await Ws.open(server.ws_url, alice)
    ws = await Ws.open(server.ws_url, token)
    assert (await api.delete(f"/me/tokens/{created['id']}", headers=alice.headers)).status_code == 204
    assert await closed_with(ws) == 4001
    # The person's own session is untouched.
    await person.send({"type": "ping", "ref": "p"})
    assert (await person.expect("pong"))["ref"] == "p"
    await person.close()
    # And the token cannot open a new one.
    again = await Ws.open(server.ws_url, token, wait_ready=False)
    assert (await again.expect("error"))["code"] == "session_revoked"
    assert await closed_with(again) == 4001


@pytest.fixture
async def quick_server(database_url: str) -> AsyncIterator[Server]:
    """A server that re-checks its sockets' sessions every 0.2 s (expiry is found by the re-check)."""
    async with start_server(database_url, socket_recheck_s=0.2) as srv:
        yield srv


async def test_an_expired_token_loses_its_socket(quick_server: Server) -> None:
    async with httpx.AsyncClient(base_url=quick_server.base_url, timeout=30) as api:
        alice = await signup(api)
        created = await make_token(api, alice)
        ws = await Ws.open(quick_server.ws_url, as_token(alice, created["token"]))
        db = await asyncpg.connect(quick_server.database_url)
        try:
            await db.execute("UPDATE sessions SET expires_at = now() WHERE id = $1", uuid.UUID(created["id"]))
        finally:
            await db.close()
        assert await closed_with(ws) == 4001
        again = await Ws.open(quick_server.ws_url, as_token(alice, created["token"]), wait_ready=False)
        assert (await again.expect("error"))["code"] == "session_expired"
        assert await closed_with(again) == 4001


async def test_a_tokens_socket_closes_when_the_token_expires(api: httpx.AsyncClient, server: Server) -> None:
    """At the expiry itself, well before the node's periodic re-check (SOCKET_RECHECK_S, 30 s)."""
    alice = await signup(api)
    created = await make_token(api, alice)
    db = await asyncpg.connect(server.database_url)
    try:
        await db.execute(
            "UPDATE sessions SET expires_at = now() + interval '1.5 seconds' WHERE id = $1", uuid.UUID(created["id"])
        )
    finally:
        await db.close()
    ws = await Ws.open(server.ws_url, as_token(alice, created["token"]))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await closed_with(ws) == 4001
    assert loop.time() - started < 4


async def test_a_tip_thanks_bot_receives_its_conversations_events_and_answers(
    api: httpx.AsyncClient, server: Server
) -> None:
    """Event subscriptions: a bot's token socket receives the events of the conversations it is a
    member of, and no others, and answers through the same socket."""
    boss = await admin(api, server)
    alice = await signup(api)
    bot = (await api.post("/bots", headers=boss.headers, json={"handle": "thanksbot", "display_name": "Thanks"})).json()
    bot_id = bot["user"]["id"]
    token = await make_token(api, boss, ["messages:read", "messages:write"], path=f"/bots/{bot_id}/tokens")
    bot_user = as_token(boss, token["token"], user_id=bot_id)
    room = await create_conversation(api, alice, members=[bot_user], name="tips")
    elsewhere = await create_conversation(api, alice, name="no bots here")

    ws = await Ws.open(server.ws_url, bot_user)
    alice_ws = await Ws.open(server.ws_url, alice)
    assert (await send_http(api, alice, elsewhere["id"], "private")).status_code == 201
    sent = await send_http(api, alice, room["id"], "great work everyone")
    message_id = sent.json()["message_id"]
    created = await ws.expect(is_event("message.created"))
    assert created["conversation_id"] == room["id"] and created["data"]["body"] == "great work everyone"
    assert (await api.put(f"/messages/{message_id}/reactions/🎉", headers=alice.headers)).status_code in (200, 204)
    reaction = await ws.expect(is_event("reaction.added"))
    assert reaction["data"]["user_id"] == alice.id and reaction["data"]["emoji"] == "🎉"

    # The bot thanks the tipper in the conversation, over its socket.
    await ws.send(send_frame(room["id"], f"thanks @{alice.handle}!"))
    ack = await ws.expect("ack")
    thanks = await alice_ws.expect(is_event("message.created", sender_id=bot_id))
    assert thanks["seq"] == ack["seq"] and thanks["data"]["body"] == f"thanks @{alice.handle}!"
    # Nothing of the conversation it is not in reached it.
    assert not [f for f in await ws.collect(0.3) if f.get("conversation_id") == elsewhere["id"]]
    await ws.close()
    await alice_ws.close()


async def test_a_bot_cannot_sign_in_with_a_password(api: httpx.AsyncClient, server: Server) -> None:
    boss = await admin(api, server)
    await api.post("/bots", headers=boss.headers, json={"handle": "nopassbot", "display_name": "N"})
    for email in ("nopassbot", "nopassbot@example.com", "@nopassbot"):
        r = await api.post("/auth/signin", json={"email": email, "password": "a long enough passphrase 42"})
        assert r.status_code == 401, r.text
