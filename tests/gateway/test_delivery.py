"""The delivery contract over a real WebSocket (docs/subsystems/messages.md)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import Server, start_server
from tests.helpers import Ws, create_conversation, is_event, send_http, signup
from tipline.domain.messages import repository as messages_repo


def send_frame(cid: int, body: str, key: str | None = None, **extra: object) -> dict[str, object]:
    return {"type": "send", "conversation_id": cid, "client_msg_id": key or uuid.uuid4().hex, "body": body, **extra}


async def test_send_is_acked_after_commit_and_delivered_to_members(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    wa, wb = await Ws.open(server.ws_url, alice), await Ws.open(server.ws_url, bob)
    wc = await Ws.open(server.ws_url, carol)  # not a member
    await wa.send(send_frame(cid, "hello bob", "k1"))
    ack = await wa.expect("ack")
    assert ack["client_msg_id"] == "k1" and ack["conversation_id"] == cid and ack["seq"] > 0
    # The ack came after commit: another connection sees the row already.
    db = await asyncpg.connect(server.database_url)
    try:
        row = await db.fetchrow("SELECT seq, body FROM messages WHERE id = $1", ack["message_id"])
    finally:
        await db.close()
    assert row is not None and row["seq"] == ack["seq"] and row["body"] == "hello bob"
    event = await wb.expect(is_event("message.created"))
    assert (
        event["seq"] == ack["seq"] and event["data"]["body"] == "hello bob" and event["data"]["sender_id"] == alice.id
    )
    assert not [f for f in await wc.collect(0.3) if f.get("type") == "event"]
    for ws in (wa, wb, wc):
        await ws.close()


async def test_no_ack_when_the_commit_fails(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    ws = await Ws.open(server.ws_url, alice)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(messages_repo, "insert_messages", broken)
    await ws.send(send_frame(cid, "doomed", "k-doomed"))
    err = await ws.expect("error")
    assert err["code"] == "unavailable" and err["client_msg_id"] == "k-doomed"
    assert not [f for f in await ws.collect(0.2) if f.get("type") in ("ack", "event")]
    monkeypatch.undo()
    history = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()["messages"]
    assert history == []
    # The retry with the same id goes through once storage is back.
    await ws.send(send_frame(cid, "doomed", "k-doomed"))
    assert (await ws.expect("ack"))["duplicate"] is False
    await ws.close()


async def test_client_msg_id_is_idempotent_across_reconnects(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    ws = await Ws.open(server.ws_url, alice)
    await ws.send(send_frame(cid, "only once", "same-key"))
    first = await ws.expect("ack")
    await ws.close()
    ws2 = await Ws.open(server.ws_url, alice, auth="frame")
    await ws2.send(send_frame(cid, "only once", "same-key"))
    second = await ws2.expect("ack")
    assert second["message_id"] == first["message_id"] and second["seq"] == first["seq"] and second["duplicate"]
    via_http = await send_http(api, alice, cid, "only once", client_msg_id="same-key")
    assert via_http.json()["message_id"] == first["message_id"]
    history = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()["messages"]
    assert len(history) == 1
    await ws2.close()


async def test_pipelined_sends_keep_their_order(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    ws = await Ws.open(server.ws_url, alice)
    for i in range(50):
        await ws.send(send_frame(cid, f"p{i}", f"p{i}"))
    acks = [await ws.expect("ack") for _ in range(50)]
    by_key = {a["client_msg_id"]: a["seq"] for a in acks}
    seqs = [by_key[f"p{i}"] for i in range(50)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 50
    await ws.close()


async def test_resume_returns_exactly_what_was_missed(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    wb = await Ws.open(server.ws_url, bob)
    first = (await send_http(api, alice, cid, "seen live")).json()
    seen = await wb.expect(is_event("message.created"))
    last_seen = seen["seq"]
    await wb.close()

    missed = [(await send_http(api, alice, cid, f"missed {i}")).json() for i in range(4)]
    await api.patch(f"/messages/{missed[0]['message_id']}", headers=alice.headers, json={"body": "missed 0 (edited)"})
    await api.put(f"/messages/{first['message_id']}/reactions/🎉", headers=alice.headers)
    await api.delete(f"/messages/{missed[1]['message_id']}", headers=alice.headers)

    wb = await Ws.open(server.ws_url, bob)
    # The client remembers the last seq it saw per conversation and asks for the rest.
    await wb.send({"type": "resume", "since": {str(cid): last_seen}, "ref": "r1"})
    resumed = await wb.expect("resumed")
    # expect() kept every frame that arrived before `resumed`: that is the replay.
    replay = [f for f in wb.buffer if f.get("type") == "event"]
    wb.buffer.clear()
    seqs = [int(f["seq"]) for f in replay]
    assert seqs == list(range(last_seen + 1, resumed["last_seq"] + 1))
    assert [f["event"] for f in replay] == [
        "message.created",
        "message.created",
        "message.created",
        "message.created",
        "message.edited",
        "reaction.added",
        "message.deleted",
    ]
    bodies = [f["data"]["body"] for f in replay if f["event"] == "message.created"]
    assert bodies == ["missed 0 (edited)", "", "missed 2", "missed 3"]
    assert resumed["ref"] == "r1"
    # Nothing newer than what was missed is invented; a second resume from the end is empty.
    await wb.send({"type": "resume", "since": {str(cid): resumed["last_seq"]}})
    again = await wb.expect("resumed")
    assert again["last_seq"] == resumed["last_seq"] and not [f for f in wb.buffer if f.get("type") == "event"]
    await wb.close()


async def test_resume_past_the_replay_limit_says_reload(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    for i in range(8):
        await send_http(api, alice, cid, f"m{i}")
    monkeypatch.setattr(server.rt.settings, "replay_limit", 5)
    ws = await Ws.open(server.ws_url, alice)
    await ws.send({"type": "resume", "since": {str(cid): 0}})
    reload = await ws.expect("reload")
    assert reload["conversation_id"] == cid and reload["last_seq"] >= 8
    assert not [f for f in await ws.collect(0.2) if f.get("type") == "event"]
    await ws.close()


async def test_ready_lists_conversations_with_last_seq(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    ack = (await send_http(api, alice, cid, "x")).json()
    ws = await Ws.open(server.ws_url, alice, wait_ready=False)
    ready = await ws.expect("ready")
    assert ready["user_id"] == alice.id and {"id": cid, "last_seq": ack["seq"]} in ready["conversations"]
    await ws.close()


async def test_removed_member_stops_receiving_and_new_member_starts(api: httpx.AsyncClient, server: Server) -> None:
    owner, bob, dave = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "private", [bob]))["id"]
    wb, wd = await Ws.open(server.ws_url, bob), await Ws.open(server.ws_url, dave)
    await api.delete(f"/conversations/{cid}/members/{bob.id}", headers=owner.headers)
    removed = await wb.expect(is_event("member.removed"))
    assert removed["data"]["user_id"] == bob.id
    await api.post(f"/conversations/{cid}/members", headers=owner.headers, json={"user_id": dave.id})
    joined = await wd.expect(is_event("conversation.joined"))
    assert joined["conversation_id"] == cid
    await send_http(api, owner, cid, "after the change")
    got = await wd.expect(is_event("message.created"))
    assert got["data"]["body"] == "after the change"
    leaked = [f for f in await wb.collect(0.4) if f.get("event") == "message.created"]
    assert leaked == []
    await wb.send({"type": "resume", "since": {str(cid): 0}})
    err = await wb.expect("error")
    assert err["code"] == "not_found" and err["conversation_id"] == cid
    await wb.close()
    await wd.close()


async def test_slow_consumer_is_closed_and_others_keep_receiving(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Headroom for the reading client on a busy machine; the one that never reads still overflows.
    monkeypatch.setattr(server.rt.settings, "ws_queue_max", 200)
    alice, slow, fast = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [slow, fast]))["id"]
    # The slow client's library stops reading from TCP once 1 frame is queued unread, and a
    # small receive buffer makes the server's writes back up soon after.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    ws_slow = await Ws.open(server.ws_url, slow, max_queue=1, sock=sock)
    ws_fast = await Ws.open(server.ws_url, fast)
    sender = await Ws.open(server.ws_url, alice)
    big = "x" * 3900
    total = 2500
    received = 0

    async def reader() -> None:
        nonlocal received
        while received < total:
            frame = await ws_fast.expect(is_event("message.created"), timeout=30)
            received += 1
            del frame

    async def drain_sender() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await sender.conn.recv()

    reading = asyncio.create_task(reader())
    draining = asyncio.create_task(drain_sender())
    for i in range(total):
        await sender.send(send_frame(cid, f"{i} {big}"))
        if i % 100 == 99:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(reading, 60)
    assert received == total
    # Now the slow client reads what was buffered and finds the close frame at the end.
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws_slow.conn.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    await sender.close()
    await draining
    await ws_fast.close()


async def test_origin_allow_list(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    with pytest.raises(InvalidStatus) as refused:
        await Ws.open(server.ws_url, alice, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    ok = await Ws.open(server.ws_url, alice, origin=server.base_url)
    await ok.close()


async def test_auth_by_first_frame_timeout_and_bad_token(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await signup(api)
    ws = await Ws.open(server.ws_url, alice, auth="frame")
    await ws.send({"type": "ping", "ref": "p"})
    assert (await ws.expect("pong"))["ref"] == "p"
    await ws.close()

    bad = await Ws.open(server.ws_url, None)
    await bad.send({"type": "auth", "token": alice.token + "x"})
    err = await bad.expect("error")
    assert err["code"] == "invalid_token"
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(bad.conn.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001

    # A token in the URL is ignored: the socket still has to authenticate.
    monkeypatch.setattr(server.rt.settings, "ws_auth_timeout_s", 0.3)
    url_token = await Ws.open(server.ws_url + f"?token={alice.token}", None)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(url_token.conn.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003


async def test_idle_socket_is_closed(api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await signup(api)
    ws = await Ws.open(server.ws_url, alice)
    monkeypatch.setattr(server.rt.settings, "ws_idle_timeout_s", 0.6)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.conn.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002


async def test_sign_out_closes_live_sockets(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    ws = await Ws.open(server.ws_url, alice)
    assert (await api.post("/auth/signout", headers=alice.headers)).status_code == 204
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.conn.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def test_typing_is_throttled_and_checked(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    other = (await create_conversation(api, carol, "group"))["id"]
    wa, wb = await Ws.open(server.ws_url, alice), await Ws.open(server.ws_url, bob)
    await wa.send({"type": "typing", "conversation_id": cid})
    await wa.send({"type": "typing", "conversation_id": cid})
    typing = await wb.expect("typing")
    assert typing == {"type": "typing", "conversation_id": cid, "user_id": alice.id}
    assert not [f for f in await wb.collect(0.3) if f.get("type") == "typing"]
    await wa.send({"type": "typing", "conversation_id": other, "ref": "t"})
    err = await wa.expect("error")
    assert err["code"] == "not_found" and err["ref"] == "t"
    await wa.close()
    await wb.close()


@pytest.fixture
async def small_typing_server(database_url: str) -> AsyncIterator[Server]:
    """A server that passes typing on only in conversations of at most 3 members. Its own, so no
    member count another test's conversation left under the same id is remembered."""
    async with start_server(database_url, typing_fanout_max_members=3) as srv:
        yield srv


async def test_typing_reaches_everyone_in_a_conversation_at_the_limit(small_typing_server: Server) -> None:
    async with httpx.AsyncClient(base_url=small_typing_server.base_url, timeout=30) as api:
        alice, bob, carol = await signup(api), await signup(api), await signup(api)
        cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]  # 3 members: at the limit
        sockets = [await Ws.open(small_typing_server.ws_url, u) for u in (alice, bob, carol)]
        await sockets[0].send({"type": "typing", "conversation_id": cid})
        for ws in sockets:  # the typist's own socket included
            assert await ws.expect("typing") == {"type": "typing", "conversation_id": cid, "user_id": alice.id}
        for ws in sockets:
            await ws.close()


async def test_typing_over_the_limit_reaches_no_one_and_messages_still_do(small_typing_server: Server) -> None:
    srv = small_typing_server
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api:
        alice, bob, carol, dave = await signup(api), await signup(api), await signup(api), await signup(api)
        cid = (await create_conversation(api, alice, "public", [bob, carol, dave]))["id"]  # 4 members: over it
        sockets = [await Ws.open(srv.ws_url, u) for u in (alice, bob, carol, dave)]
        statements: list[str] = []

        def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
            statements.append(statement)

        event.listen(srv.rt.engine.sync_engine, "before_cursor_execute", seen)
        try:
            for round_ in range(2):
                for i, ws in enumerate(sockets):  # everyone types
                    await ws.send({"type": "typing", "conversation_id": cid, "ref": f"t{round_}{i}"})
                    await ws.send({"type": "ping", "ref": f"p{round_}{i}"})
                    # Handled in order: no error (typing is a hint) came before the pong.
                    assert (await ws.expect(lambda f: f.get("type") in ("pong", "error")))["type"] == "pong"
        finally:
            event.remove(srv.rt.engine.sync_engine, "before_cursor_execute", seen)
        # Eight typing frames, one member count: the node remembers the conversation's size.
        counts = [s for s in statements if "count(*)" in s and "FROM members" in s]
        assert len(counts) == 1, counts
        await sockets[0].send(send_frame(cid, "still heard", "k-over"))
        for ws in sockets[1:]:
            assert (await ws.expect(is_event("message.created")))["data"]["body"] == "still heard"
        for ws in sockets:
            frames = await ws.collect(0.3)
            assert not [f for f in frames if f.get("type") in ("typing", "error")], frames
            await ws.close()


async def test_presence_online_away_offline(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob, stranger = await signup(api), await signup(api), await signup(api)
    await create_conversation(api, alice, "group", [bob])
    wb = await Ws.open(server.ws_url, bob)

    def of_alice(frame: dict[str, object]) -> bool:
        return frame.get("type") == "presence" and frame.get("user_id") == alice.id

    wa = await Ws.open(server.ws_url, alice)
    assert (await wb.expect(of_alice)) == {"type": "presence", "user_id": alice.id, "status": "online"}
    second_tab = await Ws.open(server.ws_url, alice)  # online once, not twice
    await wa.send({"type": "presence", "status": "away"})
    assert not [f for f in await wb.collect(0.3) if of_alice(f)]  # the other tab is still online
    await second_tab.send({"type": "presence", "status": "away"})
    assert (await wb.expect(of_alice))["status"] == "away"
    r = await api.get("/presence", params={"ids": f"{alice.id},{stranger.id}"}, headers=bob.headers)
    assert r.json() == {str(alice.id): "away"}  # strangers' presence is not disclosed
    await wa.close()
    assert not [f for f in await wb.collect(0.3) if of_alice(f)]
    await second_tab.close()
    assert (await wb.expect(of_alice))["status"] == "offline"
    await wb.close()


async def test_read_frame_moves_marker_and_is_shared(api: httpx.AsyncClient, server: Server) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    ack = (await send_http(api, alice, cid, "read me")).json()
    wa, wb = await Ws.open(server.ws_url, alice), await Ws.open(server.ws_url, bob)
    await wb.send({"type": "read", "conversation_id": cid, "seq": ack["seq"]})
    read = await wa.expect("read")
    assert read == {"type": "read", "conversation_id": cid, "user_id": bob.id, "seq": ack["seq"]}
    convs = (await api.get("/conversations", headers=bob.headers)).json()["conversations"]
    assert convs[0]["unread"] == 0
    await wa.close()
    await wb.close()


async def test_presence_is_not_pushed_through_large_channels(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.rt.settings, "presence_fanout_max_members", 2)
    alice, bob, carol, dave = await signup(api), await signup(api), await signup(api), await signup(api)
    await create_conversation(api, alice, "public", [bob, carol])  # 3 members: over the cap
    await create_conversation(api, alice, "group", [dave])  # 2 members: at the cap
    wb, wc, wd = [await Ws.open(server.ws_url, u) for u in (bob, carol, dave)]
    wa = await Ws.open(server.ws_url, alice)
    # Dave, who shares a small conversation with Alice, is told; by then the same change has been
    # published, so Bob and Carol, who share only the large channel with her, would have it too.
    assert await wd.expect("presence") == {"type": "presence", "user_id": alice.id, "status": "online"}
    for ws in (wb, wc):
        assert not [f for f in await ws.collect(0.3) if f.get("type") == "presence"]
    # Still answered on request.
    r = await api.get("/presence", params={"ids": str(alice.id)}, headers=bob.headers)
    assert r.json() == {str(alice.id): "online"}
    for ws in (wa, wb, wc, wd):
        await ws.close()
