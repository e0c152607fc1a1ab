"""Messages over HTTP: send, idempotency, edit, delete, replies, reactions, mentions, history, reads."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import event, text

from tests.helpers import create_conversation, send_http, signup
from tipline.runtime import Runtime


async def test_send_is_idempotent_per_client_msg_id(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    key = uuid.uuid4().hex
    first = await send_http(api, alice, cid, "once", client_msg_id=key)
    again = await send_http(api, alice, cid, "once (retried)", client_msg_id=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["message_id"] == again.json()["message_id"]
    assert first.json()["seq"] == again.json()["seq"]
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    # The same key from another sender is a different message.
    other = await send_http(api, bob, cid, "mine", client_msg_id=key)
    assert other.json()["message_id"] != first.json()["message_id"]
    history = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()["messages"]
    assert [m["body"] for m in history] == ["once", "mine"]


async def test_body_limit(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    assert (await send_http(api, alice, cid, "x" * 4000)).status_code == 201
    r = await send_http(api, alice, cid, "x" * 4001)
    assert r.status_code == 422 and r.json()["code"] == "body_too_long" and "4000" in r.json()["detail"]
    r = await send_http(api, alice, cid, "   ")
    assert r.status_code == 422 and r.json()["code"] == "body_empty"
    history = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()["messages"]
    assert len(history) == 1


async def test_edit_own_only_and_marked_edited(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    mid = (await send_http(api, bob, cid, "helo")).json()["message_id"]
    r = await api.patch(f"/messages/{mid}", headers=alice.headers, json={"body": "hacked"})
    assert r.status_code == 403 and r.json()["code"] == "not_author"
    r = await api.patch(f"/messages/{mid}", headers=bob.headers, json={"body": "hello @" + alice.handle})
    assert r.status_code == 200
    body = r.json()
    assert body["body"] == "hello @" + alice.handle and body["edited_at"] is not None
    assert body["mention_ids"] == [alice.id]
    assert (await api.get(f"/messages/{mid}", headers=alice.headers)).json()["body"].startswith("hello")


async def test_delete_own_or_as_admin_leaves_tombstone(api: httpx.AsyncClient) -> None:
    owner, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "group", [bob, carol]))["id"]
    m1 = (await send_http(api, bob, cid, "bob's")).json()["message_id"]
    m2 = (await send_http(api, carol, cid, "carol's")).json()["message_id"]
    await api.put(f"/messages/{m1}/reactions/👍", headers=carol.headers)
    r = await api.delete(f"/messages/{m1}", headers=carol.headers)
    assert r.status_code == 403
    r = await api.delete(f"/messages/{m1}", headers=bob.headers)
    assert r.status_code == 200 and r.json()["deleted"] is True and r.json()["body"] == ""
    assert r.json()["reactions"] == []
    assert (await api.delete(f"/messages/{m2}", headers=owner.headers)).status_code == 200
    assert (await api.delete(f"/messages/{m2}", headers=owner.headers)).status_code == 404
    history = (await api.get(f"/conversations/{cid}/messages", headers=bob.headers)).json()["messages"]
    assert [(m["deleted"], m["body"]) for m in history] == [(True, ""), (True, "")]
    assert (await api.patch(f"/messages/{m1}", headers=bob.headers, json={"body": "undead"})).status_code == 404


async def test_replies_form_a_thread(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    other = (await create_conversation(api, alice, "group"))["id"]
    root = (await send_http(api, alice, cid, "root")).json()["message_id"]
    foreign = (await send_http(api, alice, other, "elsewhere")).json()["message_id"]
    await send_http(api, bob, cid, "reply 1", reply_to=root)
    await send_http(api, alice, cid, "reply 2", reply_to=root)
    r = await send_http(api, bob, cid, "cross-conversation reply", reply_to=foreign)
    assert r.status_code == 404 and r.json()["code"] == "reply_not_found"
    thread = (await api.get(f"/messages/{root}/replies", headers=bob.headers)).json()["messages"]
    assert [m["body"] for m in thread] == ["reply 1", "reply 2"]
    assert all(m["reply_to_id"] == root for m in thread)
    assert (await api.get(f"/messages/{root}", headers=bob.headers)).json()["reply_count"] == 2


async def test_reactions_count_per_emoji(api: httpx.AsyncClient) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    mid = (await send_http(api, alice, cid, "react to me")).json()["message_id"]
    for user in (alice, bob, carol):
        assert (await api.put(f"/messages/{mid}/reactions/👍", headers=user.headers)).status_code == 200
    await api.put(f"/messages/{mid}/reactions/👍", headers=bob.headers)  # twice counts once
    r = await api.put(f"/messages/{mid}/reactions/🎉", headers=bob.headers)
    reactions = {x["emoji"]: x for x in r.json()["reactions"]}
    assert reactions["👍"]["count"] == 3 and reactions["🎉"]["count"] == 1
    assert reactions["🎉"]["user_ids"] == [bob.id]
    r = await api.delete(f"/messages/{mid}/reactions/👍", headers=bob.headers)
    reactions = {x["emoji"]: x for x in r.json()["reactions"]}
    assert reactions["👍"]["count"] == 2 and bob.id not in reactions["👍"]["user_ids"]


async def test_mentions_resolve_to_members_only(api: httpx.AsyncClient) -> None:
    alice, bob, outsider = await signup(api, "alice"), await signup(api, "bob_b"), await signup(api, "zed")
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    mid = (await send_http(api, alice, cid, "hi @Bob_B and @zed and @nobody, mail me@alice")).json()["message_id"]
    msg = (await api.get(f"/messages/{mid}", headers=bob.headers)).json()
    assert msg["mention_ids"] == [bob.id]
    assert outsider.id not in msg["mention_ids"]


async def test_history_pages_by_seq(api: httpx.AsyncClient, rt: Runtime) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    for i in range(130):
        assert (await send_http(api, alice, cid, f"m{i}")).status_code == 201
    latest = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers, params={"limit": 100})).json()
    bodies = [m["body"] for m in latest["messages"]]
    assert bodies == [f"m{i}" for i in range(30, 130)] and latest["has_more"] is True
    seqs = [m["seq"] for m in latest["messages"]]
    assert seqs == sorted(seqs)
    older = (
        await api.get(f"/conversations/{cid}/messages", headers=alice.headers, params={"before": seqs[0], "limit": 100})
    ).json()
    assert [m["body"] for m in older["messages"]] == [f"m{i}" for i in range(30)] and older["has_more"] is False
    after = (
        await api.get(f"/conversations/{cid}/messages", headers=alice.headers, params={"after": seqs[9], "limit": 5})
    ).json()
    assert [m["body"] for m in after["messages"]] == [f"m{i}" for i in range(40, 45)] and after["has_more"] is True
    r = await api.get(f"/conversations/{cid}/messages", headers=alice.headers, params={"limit": 101})
    assert r.status_code == 422


async def test_history_checks_the_session_with_the_membership_in_one_query(api: httpx.AsyncClient, rt: Runtime) -> None:
    """A history page reads the caller's session and access in one statement, and still answers
    every case as the separate checks did: the session first (401), then the conversation."""
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    assert (await send_http(api, alice, cid, "hello")).status_code == 201
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", seen)
    try:
        r = await api.get(f"/conversations/{cid}/messages", headers=bob.headers)
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", seen)
    assert r.status_code == 200 and [m["body"] for m in r.json()["messages"]] == ["hello"]
    with_session = [s for s in statements if "FROM sessions" in s]
    assert len(with_session) == 1 and "JOIN members" in with_session[0]

    # Not a member, or no such conversation: 404, as before.
    r = await api.get(f"/conversations/{cid}/messages", headers=carol.headers)
    assert r.status_code == 404
    r = await api.get("/conversations/999999999/messages", headers=carol.headers)
    assert r.status_code == 404
    # No token, a forged one.
    assert (await api.get(f"/conversations/{cid}/messages")).json()["code"] == "not_authenticated"
    forged = {"Authorization": f"Bearer {bob.token[:-3]}AAA"}
    assert (await api.get(f"/conversations/{cid}/messages", headers=forged)).json()["code"] == "invalid_token"
    # The session's state comes first, whatever the conversation.
    async with rt.engine.begin() as conn:
        await conn.execute(
            text("UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE id = :s"), {"s": bob.session_id}
        )
    for path in (f"/conversations/{cid}/messages", "/conversations/999999999/messages"):
        r = await api.get(path, headers=bob.headers)
        assert r.status_code == 401 and r.json()["code"] == "session_expired"
    async with rt.engine.begin() as conn:
        await conn.execute(text("UPDATE users SET is_active = false WHERE id = :u"), {"u": alice.id})
    r = await api.get(f"/conversations/{cid}/messages", headers=alice.headers)
    assert r.status_code == 401 and r.json()["code"] == "account_inactive"
    assert (await api.post("/auth/signout", headers=carol.headers)).status_code == 204
    r = await api.get(f"/conversations/{cid}/messages", headers=carol.headers)
    assert r.status_code == 401 and r.json()["code"] == "session_revoked"


async def test_read_markers_and_unread_counts(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob]))["id"]
    acks = [(await send_http(api, alice, cid, f"n{i}")).json() for i in range(5)]

    async def unread() -> int:
        convs = (await api.get("/conversations", headers=bob.headers)).json()["conversations"]
        return int(next(c for c in convs if c["id"] == cid)["unread"])

    assert await unread() == 5
    r = await api.post(f"/conversations/{cid}/read", headers=bob.headers, json={"seq": acks[2]["seq"]})
    assert r.status_code == 200 and r.json()["seq"] == acks[2]["seq"]
    assert await unread() == 2
    # Never backwards, never past the end.
    r = await api.post(f"/conversations/{cid}/read", headers=bob.headers, json={"seq": 0})
    assert r.json()["seq"] == acks[2]["seq"]
    r = await api.post(f"/conversations/{cid}/read", headers=bob.headers, json={"seq": 10**9})
    assert r.json()["seq"] == acks[-1]["seq"]
    assert await unread() == 0
    members = (await api.get(f"/conversations/{cid}/members", headers=alice.headers)).json()["members"]
    assert next(m for m in members if m["user"]["id"] == bob.id)["last_read_seq"] == acks[-1]["seq"]


@pytest.mark.parametrize("since_offset", [0, 3])
async def test_replay_over_http_and_reload_signal(
    api: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch, since_offset: int
) -> None:
    alice = await signup(api)
    cid = (await create_conversation(api, alice, "group"))["id"]
    start = (await api.get(f"/conversations/{cid}", headers=alice.headers)).json()["last_seq"]
    acks = [(await send_http(api, alice, cid, f"r{i}")).json() for i in range(6)]
    await api.patch(f"/messages/{acks[0]['message_id']}", headers=alice.headers, json={"body": "r0 edited"})
    since = start + since_offset
    replay = (await api.get(f"/conversations/{cid}/events", headers=alice.headers, params={"since": since})).json()
    assert replay["reload"] is False
    seqs = [e["seq"] for e in replay["events"]]
    assert seqs == list(range(since + 1, replay["last_seq"] + 1))  # gap-free, in order
    assert replay["events"][-1]["event"] == "message.edited"
    monkeypatch.setattr(rt.settings, "replay_limit", 3)
    far = (await api.get(f"/conversations/{cid}/events", headers=alice.headers, params={"since": since})).json()
    assert far["reload"] is True and far["events"] == [] and far["last_seq"] == replay["last_seq"]
