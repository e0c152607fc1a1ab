"""The client's WebSocket part (tipline_client.Realtime) against a real server: sends acked,
events in order, a reconnect in the middle resumed with no loss and no duplicates, the outbox
sending again after a dropped connection (same client ids, so nothing is stored twice), and a
revoked token closing the socket for good."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError
from tipline_client import ConnectionClosed, Event, Realtime, SyncRealtime, TiplineError, models, ws_url_for

from tests.client.helpers import make_token, scene
from tests.conftest import Server
from tests.helpers import send_http, signup
from tipline.domain.moderation.actions import do_grant_admin


def bodies(events: list[Event]) -> list[str]:
    return [e.data["body"] for e in events if e.name == "message.created"]


async def until(check: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_send_is_acked_and_events_arrive_in_order(api: httpx.AsyncClient, server: Server) -> None:
    s = await scene(api)
    assert ws_url_for(server.base_url) == server.ws_url
    got: list[Event] = []
    async with Realtime(server.ws_url, s.alice_token) as rt:
        rt.on("message.created", got.append)
        assert rt.user_id == s.alice.id and rt.connected
        ack = await rt.send(s.conversation_id, "first", client_msg_id="rt-1")
        assert isinstance(ack, models.Ack) and ack.duplicate is False and ack.client_msg_id == "rt-1"
        again = await rt.send(s.conversation_id, "first", client_msg_id="rt-1")
        assert again.duplicate is True and again.message_id == ack.message_id
        for i in range(5):
            assert (await send_http(api, s.bob, s.conversation_id, f"bob {i}")).status_code == 201
        await until(lambda: len(got) == 6)
        assert bodies(got) == ["first"] + [f"bob {i}" for i in range(5)]
        assert [e.seq for e in got] == list(range(ack.seq, ack.seq + 6))
        assert got[1].message.sender_id == s.bob.id
        assert rt.last_seq()[s.conversation_id] == ack.seq + 5
        # A refusal fails that send only.
        with pytest.raises(TiplineError) as refused:
            await rt.send(s.conversation_id, " ")
        assert refused.value.code == "body_empty" and len(rt.outbox) == 0
        # An invalid frame is refused before it is sent (its error could not name the send).
        with pytest.raises(ValidationError):
            rt.send_nowait(s.conversation_id, "x", client_msg_id="x" * 65)
        assert len(rt.outbox) == 0
    with pytest.raises(ValueError):
        Realtime(server.ws_url + "?token=" + s.alice_token, s.alice_token)


async def test_a_reconnect_in_the_middle_resumes_with_no_loss_and_no_duplicates(
    api: httpx.AsyncClient, server: Server
) -> None:
    s = await scene(api)
    # A long first wait before reconnecting, so the messages below land while the client is away.
    rt = Realtime(server.ws_url, s.alice_token, backoff=(3.0, 30.0))
    await rt.start()
    seen: list[Event] = []

    async def collect() -> None:
        async for event in rt.events():
            seen.append(event)

    reader = asyncio.create_task(collect())
    try:
        for i in range(5):
            await send_http(api, s.bob, s.conversation_id, f"before {i}")
        await until(lambda: len(bodies(seen)) == 5)
        await rt.drop_connection()
        await until(lambda: not rt.connected)
        for i in range(5):
            await send_http(api, s.bob, s.conversation_id, f"away {i}")
        assert not rt.connected, "reconnected too early for the test to mean anything"
        await until(lambda: rt.connected, timeout=10)
        for i in range(5):
            await send_http(api, s.bob, s.conversation_id, f"after {i}")
        await until(lambda: len(bodies(seen)) >= 15)
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would have arrived by now
    finally:
        await rt.close()
        await reader
    expected = [f"{w} {i}" for w in ("before", "away", "after") for i in range(5)]
    assert bodies(seen) == expected
    seqs = [e.seq for e in seen if e.name == "message.created"]
    assert seqs == list(range(seqs[0], seqs[0] + 15))
    assert rt.connections == 2


async def test_the_outbox_sends_again_after_a_dropped_connection(api: httpx.AsyncClient, server: Server) -> None:
    s = await scene(api)
    rt = Realtime(server.ws_url, s.alice_token, backoff=(2.0, 30.0))
    await rt.start()
    try:
        await rt.drop_connection()
        await until(lambda: not rt.connected)
        # Offline: three sends wait in the outbox, in order. The second one had in fact been
        # stored (its ack lost with the socket): sent again with the same id, it is not stored twice.
        stored = await send_http(api, s.alice, s.conversation_id, "b", client_msg_id="ob-b")
        assert stored.status_code == 201
        futures = [rt.send_nowait(s.conversation_id, body, client_msg_id=f"ob-{body}") for body in "abc"]
        assert rt.outbox.client_msg_ids() == ["ob-a", "ob-b", "ob-c"]
        acks = await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert [a.duplicate for a in acks] == [False, True, False]
        assert acks[1].message_id == stored.json()["message_id"]
        assert acks[0].seq < acks[2].seq and len(rt.outbox) == 0

        # A send written just as the socket drops: acked once, stored once, whatever the timing.
        racing = rt.send_nowait(s.conversation_id, "d", client_msg_id="ob-d")
        await rt.drop_connection()
        ack = await asyncio.wait_for(racing, 10)
        assert ack.client_msg_id == "ob-d"
    finally:
        await rt.close()
    history = (await api.get(f"/conversations/{s.conversation_id}/messages", headers=s.alice.headers)).json()
    assert sorted(m["body"] for m in history["messages"]) == ["a", "b", "c", "d"]


async def test_a_revoked_token_closes_the_socket_for_good(api: httpx.AsyncClient, server: Server) -> None:
    owner = await signup(api)
    await do_grant_admin(server.rt, login=owner.handle)
    made = await api.post("/bots", headers=owner.headers, json={"handle": "revokee", "display_name": "Revokee"})
    bot_id = made.json()["user"]["id"]
    r = await api.post(
        f"/bots/{bot_id}/tokens",
        headers=owner.headers,
        json={"name": "bot", "scopes": ["messages:read", "messages:write"], "expires_in_days": 1},
    )
    token = r.json()
    rt = Realtime(server.ws_url, token["token"], backoff=(0.1, 1.0))
    await rt.start()
    assert rt.user_id == bot_id
    revoked = await api.delete(f"/bots/{bot_id}/tokens/{token['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(rt.wait_closed(), 3)
    assert closed.value.close_code == 4001
    await asyncio.sleep(0.3)
    assert rt.connections == 1 and not rt.connected  # no reconnect with a dead token
    with pytest.raises(ConnectionClosed):
        await rt.send(1, "too late")
    await rt.close()


async def test_a_token_without_messages_read_cannot_open_a_socket(api: httpx.AsyncClient, server: Server) -> None:
    s = await scene(api)
    write_only = await make_token(api, s.alice, ["messages:write"])
    with pytest.raises(ConnectionClosed) as refused:
        await Realtime(server.ws_url, write_only).start()
    assert refused.value.close_code == 4001 and refused.value.reason == "insufficient_scope"
    # The same with the auth frame instead of the subprotocol.
    with pytest.raises(ConnectionClosed):
        await Realtime(server.ws_url, write_only, auth="frame").start()
    async with Realtime(server.ws_url, s.alice_token, auth="frame") as rt:
        assert (await rt.send(s.conversation_id, "via the auth frame")).duplicate is False


async def test_the_blocking_client_sends_and_receives(api: httpx.AsyncClient, server: Server) -> None:
    s = await scene(api)

    def script() -> tuple[models.Ack, list[str]]:
        with SyncRealtime(server.ws_url, s.alice_token) as rt:
            ack = rt.send(s.conversation_id, "from a script", client_msg_id="sync-1")
            bob_said = httpx.post(
                f"{server.base_url}/conversations/{s.conversation_id}/messages",
                headers=s.bob.headers,
                json={"client_msg_id": "bob-1", "body": "hello script"},
            )
            assert bob_said.status_code == 201
            got = [e.data["body"] for e in rt.events(timeout=2) if e.name == "message.created"]
            return ack, got

    # The server runs on this event loop: the blocking client runs in a thread.
    ack, got = await asyncio.to_thread(script)
    assert ack.duplicate is False and ack.client_msg_id == "sync-1"
    assert got == ["from a script", "hello script"]
