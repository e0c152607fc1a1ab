"""Threads over HTTP and the WebSocket: replies in a thread, the root's summary, "also send to
conversation", follows and unread counts, the Threads listing, access checks, and resume."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Server
from tests.helpers import User, Ws, create_conversation, is_event, send_http, signup


async def _reply(
    api: httpx.AsyncClient, user: User, cid: int, root: int, body: str, *, thread_only: bool = True
) -> dict[str, Any]:
    r = await send_http(api, user, cid, body, reply_to=root, thread_only=thread_only)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def _history(api: httpx.AsyncClient, user: User, cid: int, **params: Any) -> dict[str, Any]:
    r = await api.get(f"/conversations/{cid}/messages", headers=user.headers, params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def _threads(api: httpx.AsyncClient, user: User) -> list[dict[str, Any]]:
    r = await api.get("/threads", headers=user.headers)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["threads"]
    return out


async def test_a_reply_in_a_thread_updates_the_roots_summary(api: httpx.AsyncClient) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    root = (await send_http(api, alice, cid, "lunch?")).json()["message_id"]
    first = await _reply(api, bob, cid, root, "yes")
    await _reply(api, carol, cid, root, "me too")
    last = await _reply(api, bob, cid, root, "12:30?")
    assert first["seq"] < last["seq"]
    got = (await api.get(f"/messages/{root}", headers=carol.headers)).json()
    assert got["reply_count"] == 3
    summary = got["thread"]
    assert summary["reply_count"] == 3 and summary["last_reply_seq"] == last["seq"]
    # The latest repliers first, each once.
    assert summary["last_repliers"] == [bob.id, carol.id]
    assert summary["last_reply_at"] is not None
    page = (await api.get(f"/messages/{root}/thread", headers=carol.headers)).json()
    assert page["root"]["id"] == root and page["root"]["thread"]["reply_count"] == 3
    assert [m["body"] for m in page["messages"]] == ["yes", "me too", "12:30?"]
    assert all(m["thread_only"] and m["reply_to_id"] == root for m in page["messages"])
    assert page["has_more"] is False


async def test_thread_only_replies_stay_out_of_the_timeline(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    root = (await send_http(api, alice, cid, "root")).json()["message_id"]
    await _reply(api, bob, cid, root, "in the thread only")
    await _reply(api, bob, cid, root, "also in the conversation", thread_only=False)
    await send_http(api, alice, cid, "after")
    history = await _history(api, alice, cid)
    assert [m["body"] for m in history["messages"]] == ["root", "also in the conversation", "after"]
    assert history["messages"][0]["thread"]["reply_count"] == 2
    assert history["messages"][1]["thread_only"] is False and history["messages"][1]["reply_to_id"] == root
    # Both are in the thread.
    page = (await api.get(f"/messages/{root}/thread", headers=alice.headers)).json()
    assert [m["body"] for m in page["messages"]] == ["in the thread only", "also in the conversation"]
    # A thread-only reply is not unread in the conversation, nor its last message.
    mine = {c["id"]: c for c in (await api.get("/conversations", headers=alice.headers)).json()["conversations"]}
    assert mine[cid]["unread"] == 1


async def test_a_page_of_thread_only_replies_is_skipped_not_returned_empty(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    root = (await send_http(api, alice, cid, "root")).json()["message_id"]
    for i in range(5):
        await _reply(api, bob, cid, root, f"r{i}")
    await send_http(api, alice, cid, "latest")
    first = await _history(api, alice, cid, limit=2)
    assert [m["body"] for m in first["messages"]] == ["latest"] and first["has_more"] is True
    # The next page (before the oldest message the client has) is not empty: it skips the replies.
    second = await _history(api, alice, cid, limit=2, before=first["messages"][0]["seq"])
    assert [m["body"] for m in second["messages"]] == ["root"] and second["has_more"] is False
    # Forwards too.
    forward = await _history(api, alice, cid, limit=2, after=second["messages"][0]["seq"])
    assert [m["body"] for m in forward["messages"]] == ["latest"]


async def test_thread_needs_a_root_in_the_same_conversation(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    other = (await create_conversation(api, alice, "group"))["id"]
    foreign = (await send_http(api, alice, other, "elsewhere")).json()["message_id"]
    r = await send_http(api, alice, cid, "no root", thread_only=True)
    assert r.status_code == 422 and r.json()["code"] == "thread_root_missing"
    r = await send_http(api, alice, cid, "wrong room", reply_to=foreign, thread_only=True)
    assert r.status_code == 404 and r.json()["code"] == "reply_not_found"
    r = await send_http(api, alice, cid, "bad flag", reply_to=foreign, thread_only="maybe")
    assert r.status_code == 422


async def test_follow_unread_and_mark_read(api: httpx.AsyncClient) -> None:
    alice, bob, carol, dave = await signup(api), await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol, dave]))["id"]
    root = (await send_http(api, alice, cid, "plan")).json()["message_id"]
    # Bob posts (follows), and mentions Carol (she follows); Alice wrote the root (follows).
    await _reply(api, bob, cid, root, f"ask @{carol.handle}")
    assert [t["root"]["id"] for t in await _threads(api, bob)] == [root]
    assert (await _threads(api, bob))[0]["unread"] == 0  # his own reply is read
    assert (await _threads(api, carol))[0]["unread"] == 1
    assert (await _threads(api, alice))[0]["unread"] == 1
    assert await _threads(api, dave) == []
    # Dave presses Follow; Carol answers: unread for Alice, Bob and Dave, not for Carol.
    r = await api.put(f"/messages/{root}/thread/follow", headers=dave.headers)
    assert r.status_code == 200 and r.json()["following"] is True
    answer = await _reply(api, carol, cid, root, "ok")
    # Following is not reading: both replies are unread for Dave.
    assert (await _threads(api, dave))[0]["unread"] == 2
    assert (await _threads(api, bob))[0]["unread"] == 1
    assert (await _threads(api, carol))[0]["unread"] == 0
    listed = (await _threads(api, alice))[0]
    assert listed["unread"] == 2 and listed["summary"]["reply_count"] == 2 and listed["conversation_id"] == cid
    assert listed["root"]["body"] == "plan" and listed["summary"]["last_repliers"] == [carol.id, bob.id]
    # Mark read: the position moves forward only, and never past the conversation.
    r = await api.post(f"/messages/{root}/thread/read", headers=alice.headers, json={"seq": answer["seq"]})
    assert r.status_code == 200 and r.json() == {"following": True, "last_read_seq": answer["seq"]}
    r = await api.post(f"/messages/{root}/thread/read", headers=alice.headers, json={"seq": 1})
    assert r.json()["last_read_seq"] == answer["seq"]
    assert (await _threads(api, alice))[0]["unread"] == 0
    page = (await api.get(f"/messages/{root}/thread", headers=alice.headers)).json()
    assert page["following"] is True and page["last_read_seq"] == answer["seq"]
    # Unfollow: gone from the list; posting again follows again.
    r = await api.delete(f"/messages/{root}/thread/follow", headers=dave.headers)
    assert r.json()["following"] is False
    assert await _threads(api, dave) == []
    await _reply(api, dave, cid, root, "back")
    assert [t["root"]["id"] for t in await _threads(api, dave)] == [root]
    r = await api.post(f"/messages/{root}/thread/read", headers=alice.headers, json={"seq": -1})
    assert r.status_code == 422


async def test_a_non_member_cannot_read_or_follow_a_thread(api: httpx.AsyncClient) -> None:
    alice, bob, eve = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    root = (await send_http(api, alice, cid, "secret plan")).json()["message_id"]
    await _reply(api, bob, cid, root, f"secret reply @{eve.handle}")
    for method, path, body in (
        ("GET", f"/messages/{root}/thread", None),
        ("PUT", f"/messages/{root}/thread/follow", None),
        ("DELETE", f"/messages/{root}/thread/follow", None),
        ("POST", f"/messages/{root}/thread/read", {"seq": 1}),
    ):
        r = await api.request(method, path, headers=eve.headers, json=body)
        assert r.status_code == 404 and r.json()["code"] == "message_not_found", (method, path, r.text)
    assert await _threads(api, eve) == []
    # Eve cannot post into it either.
    r = await send_http(api, eve, cid, "let me in", reply_to=root, thread_only=True)
    assert r.status_code == 404
    # A member who leaves no longer sees the thread in their list.
    assert len(await _threads(api, bob)) == 1
    assert (await api.post(f"/conversations/{cid}/leave", headers=bob.headers)).status_code == 204
    assert await _threads(api, bob) == []
    r = await api.get(f"/messages/{root}/thread", headers=bob.headers)
    assert r.status_code == 404
    r = await api.get(f"/messages/{uuid.uuid4().int % 10**12 + 10**12}/thread", headers=alice.headers)
    assert r.status_code == 404


async def test_deleting_a_reply_counts_one_fewer(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    root = (await send_http(api, alice, cid, "root")).json()["message_id"]
    gone = await _reply(api, bob, cid, root, "oops")
    await _reply(api, bob, cid, root, "kept")
    assert (await api.delete(f"/messages/{gone['message_id']}", headers=bob.headers)).status_code == 200
    got = (await api.get(f"/messages/{root}", headers=alice.headers)).json()
    assert got["reply_count"] == 1 and got["thread"]["reply_count"] == 1


async def test_live_events_and_resume_deliver_thread_replies_in_seq_order(
    api: httpx.AsyncClient, server: Server
) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    root_ack = (await send_http(api, alice, cid, "root")).json()
    root = root_ack["message_id"]
    ws = await Ws.open(server.ws_url, bob)
    try:
        # Live: a thread reply sent over the WebSocket is acked with its seq, delivered as a
        # message with its root, and followed by the root's new summary.
        await ws.send(
            {
                "type": "send",
                "conversation_id": cid,
                "client_msg_id": "t1",
                "body": "live",
                "reply_to": root,
                "thread_only": True,
            }
        )
        ack = await ws.expect("ack")
        created = await ws.expect(is_event("message.created"))
        assert created["seq"] == ack["seq"] and created["data"]["reply_to_id"] == root
        assert created["data"]["thread_only"] is True
        updated = await ws.expect(is_event("thread.updated"))
        assert updated["seq"] is None and updated["conversation_id"] == cid
        assert updated["data"]["root_id"] == root and updated["data"]["reply_count"] == 1
        assert updated["data"]["last_repliers"] == [bob.id] and updated["data"]["last_reply_seq"] == ack["seq"]
        last_seen = ack["seq"]
    finally:
        await ws.close()
    # Offline, more replies and a plain message; on resume they all come, in seq order.
    sent = [await _reply(api, alice, cid, root, f"missed {i}") for i in range(3)]
    plain = (await send_http(api, alice, cid, "plain")).json()
    ws = await Ws.open(server.ws_url, bob)
    try:
        await ws.send({"type": "resume", "since": {str(cid): last_seen}})
        await ws.expect("resumed")
        frames = [f for f in await ws.collect(0.3) if f.get("event") == "message.created"]
        assert [f["seq"] for f in frames] == [*(s["seq"] for s in sent), plain["seq"]]
        assert [f["data"]["reply_to_id"] for f in frames] == [root, root, root, None]
        assert [f["data"]["thread_only"] for f in frames] == [True, True, True, False]
    finally:
        await ws.close()


async def test_concurrent_replies_share_a_batch_and_count_once_each(api: httpx.AsyncClient) -> None:
    import asyncio

    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    roots = [(await send_http(api, alice, cid, f"root {i}")).json()["message_id"] for i in range(2)]
    sends = [
        send_http(api, user, cid, f"{user.handle} {i}", reply_to=roots[i % 2], thread_only=True)
        for i in range(12)
        for user in (bob, carol)
    ]
    assert all(r.status_code == 201 for r in await asyncio.gather(*sends))
    for root in roots:
        got = (await api.get(f"/messages/{root}", headers=alice.headers)).json()
        assert got["reply_count"] == got["thread"]["reply_count"] == 12
        assert sorted(got["thread"]["last_repliers"]) == sorted([bob.id, carol.id])
    assert [t["unread"] for t in await _threads(api, alice)] == [12, 12]


async def test_the_message_cache_serves_the_same_timeline_and_summaries(database_url: str) -> None:
    """With Redis on, history pages from the recent-message cache leave thread-only replies out
    and carry the roots' current summaries, exactly as pages read from PostgreSQL."""
    from tests.bus.redis_helpers import REDIS_URL, delete_prefixed, unique_prefix
    from tests.conftest import start_server
    from tipline.backends.cache import stats

    prefix = unique_prefix()
    try:
        async with (
            start_server(database_url, redis_url=REDIS_URL, bus_channel_prefix=prefix) as srv,
            httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
        ):
            alice, bob = await signup(api), await signup(api)
            cid = (await create_conversation(api, alice, "group", [bob]))["id"]
            root = (await send_http(api, alice, cid, "root")).json()["message_id"]
            await _history(api, bob, cid)  # fills the cache
            for i in range(4):
                await _reply(api, bob, cid, root, f"r{i}")
            await send_http(api, alice, cid, "after")
            hits = stats.hits
            page = await _history(api, bob, cid)
            assert stats.hits > hits, "the page should come from the cache"
            assert [m["body"] for m in page["messages"]] == ["root", "after"]
            assert page["messages"][0]["thread"]["reply_count"] == 4
            assert page["messages"][0]["thread"]["last_repliers"] == [bob.id]
            small = await _history(api, bob, cid, limit=1, before=page["messages"][1]["seq"])
            assert [m["body"] for m in small["messages"]] == ["root"]
    finally:
        await delete_prefixed(prefix)
