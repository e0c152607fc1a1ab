"""Moderation over HTTP and WebSocket: blocks (DMs, mentions, hidden messages everywhere),
reports, slow mode, account deactivation, and what conversation admins may do."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.conftest import Server
from tests.helpers import PASSWORD, User, Ws, create_conversation, is_event, send_http, signup
from tipline.domain.moderation.actions import do_grant_admin


async def block(api: httpx.AsyncClient, who: User, whom: User) -> httpx.Response:
    return await api.put(f"/me/blocks/{whom.id}", headers=who.headers)


async def admin(api: httpx.AsyncClient, server: Server) -> User:
    user = await signup(api)
    await do_grant_admin(server.rt, login=user.handle)
    return user


# --- blocks -------------------------------------------------------------------------------------


async def test_block_list_unblock_and_bad_targets(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    r = await block(api, alice, bob)
    assert r.status_code == 200 and [u["id"] for u in r.json()] == [bob.id]
    assert (await block(api, alice, bob)).status_code == 200  # again: no-op
    assert [u["handle"] for u in (await api.get("/me/blocks", headers=alice.headers)).json()] == [bob.handle]
    assert (await api.get("/me/blocks", headers=bob.headers)).json() == []  # a block is not shown to the blocked
    r = await api.put(f"/me/blocks/{alice.id}", headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "block_self"
    r = await api.put("/me/blocks/999999", headers=alice.headers)
    assert r.status_code == 404 and r.json()["code"] == "user_not_found"
    assert (await api.delete(f"/me/blocks/{bob.id}", headers=alice.headers)).json() == []


async def test_no_dms_either_way(api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    dm = (await api.post("/conversations/direct", headers=alice.headers, json={"user_id": bob.id})).json()["id"]
    assert (await send_http(api, bob, dm, "hi")).status_code == 201
    await block(api, alice, bob)
    for sender in (alice, bob):
        r = await send_http(api, sender, dm, "still there?")
        assert r.status_code == 403 and r.json()["code"] == "blocked", sender
    for opener, peer in ((alice, bob), (bob, alice)):
        r = await api.post("/conversations/direct", headers=opener.headers, json={"user_id": peer.id})
        assert r.status_code == 403 and r.json()["code"] == "blocked"
    await api.delete(f"/me/blocks/{bob.id}", headers=alice.headers)
    assert (await send_http(api, bob, dm, "friends again")).status_code == 201


async def test_mentions_across_a_block_do_not_notify(api: httpx.AsyncClient) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    await block(api, alice, bob)
    mid = (await send_http(api, bob, cid, f"hey @{alice.handle} and @{carol.handle}")).json()["message_id"]
    msg = (await api.get(f"/messages/{mid}", headers=carol.headers)).json()
    assert msg["mention_ids"] == [carol.id]
    mid2 = (await send_http(api, alice, cid, f"@{bob.handle} @{carol.handle}")).json()["message_id"]
    assert (await api.get(f"/messages/{mid2}", headers=carol.headers)).json()["mention_ids"] == [carol.id]
    edited = await api.patch(f"/messages/{mid}", headers=bob.headers, json={"body": f"@{alice.handle} again"})
    assert edited.json()["mention_ids"] == []


async def test_blocked_senders_messages_are_hidden_from_the_blocker_only(
    api: httpx.AsyncClient, server: Server
) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "public", [bob, carol], name="town"))["id"]
    await send_http(api, bob, cid, "before the block: parsnip")
    alice_ws = await Ws.open(server.ws_url, alice)
    carol_ws = await Ws.open(server.ws_url, carol)
    await block(api, alice, bob)
    await asyncio.sleep(0.05)
    await send_http(api, bob, cid, "after the block: parsnip soup")
    seen = await alice_ws.expect(is_event("message.created", sender_id=bob.id))
    assert seen["data"]["body"] == "" and seen["data"]["hidden"] is True and seen["seq"] is not None
    normal = await carol_ws.expect(is_event("message.created", sender_id=bob.id))
    assert normal["data"]["body"] == "after the block: parsnip soup" and not normal["data"]["hidden"]
    # History and a single read: the blocker sees placeholders, others the words.
    mine = (await api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()["messages"]
    assert [(m["body"], m["hidden"]) for m in mine if m["sender_id"] == bob.id] == [("", True), ("", True)]
    theirs = (await api.get(f"/conversations/{cid}/messages", headers=carol.headers)).json()["messages"]
    assert next(m["body"] for m in theirs if m["sender_id"] == bob.id).startswith("before")
    # An edit's words are hidden live and in replay too.
    mid = mine[-1]["id"]
    await api.patch(f"/messages/{mid}", headers=bob.headers, json={"body": "edited parsnip"})
    edit = await alice_ws.expect(is_event("message.edited", id=mid))
    assert edit["data"]["body"] == "" and edit["data"]["hidden"] is True
    replay = (await api.get(f"/conversations/{cid}/events", headers=alice.headers, params={"since": 0})).json()
    assert all(e["data"].get("body", "") == "" for e in replay["events"] if e["data"].get("sender_id") == bob.id)
    # Search leaves them out for the blocker only.
    assert (await api.get("/search/messages", headers=alice.headers, params={"q": "parsnip"})).json()["hits"] == []
    assert len((await api.get("/search/messages", headers=carol.headers, params={"q": "parsnip"})).json()["hits"]) == 2
    # Unblocking shows them again, live included.
    await api.delete(f"/me/blocks/{bob.id}", headers=alice.headers)
    await asyncio.sleep(0.05)
    await send_http(api, bob, cid, "visible again")
    seen = await alice_ws.expect(is_event("message.created", body="visible again"))
    assert not seen["data"]["hidden"]
    await alice_ws.close()
    await carol_ws.close()


async def test_the_conversation_list_does_not_preview_a_blocked_persons_message(api: httpx.AsyncClient) -> None:
    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, alice, "group", [bob, carol]))["id"]
    assert (await send_http(api, bob, cid, "words alice chose not to see")).status_code == 201
    assert (await block(api, alice, bob)).status_code == 200

    def last(listing: httpx.Response) -> dict[str, object]:
        [conv] = [c for c in listing.json()["conversations"] if c["id"] == cid]
        message: dict[str, object] = conv["last_message"]
        return message

    mine = last(await api.get("/conversations", headers=alice.headers))
    assert mine["hidden"] is True and mine["body"] == "" and mine["sender_id"] == bob.id
    theirs = last(await api.get("/conversations", headers=carol.headers))
    assert theirs["hidden"] is False and theirs["body"] == "words alice chose not to see"
    assert (await api.delete(f"/me/blocks/{bob.id}", headers=alice.headers)).status_code in (200, 204)
    again = last(await api.get("/conversations", headers=alice.headers))
    assert again["hidden"] is False and again["body"] == "words alice chose not to see"


async def test_is_blocked_between_for_other_areas(api: httpx.AsyncClient, server: Server) -> None:
    from tipline.domain.moderation.access import is_blocked_between

    alice, bob, carol = await signup(api), await signup(api), await signup(api)
    await block(api, bob, alice)
    async with server.rt.engine.connect() as conn:
        assert await is_blocked_between(conn, alice.id, bob.id)
        assert await is_blocked_between(conn, bob.id, alice.id)
        assert not await is_blocked_between(conn, alice.id, carol.id)


# --- reports ------------------------------------------------------------------------------------


async def test_report_reaches_conversation_admins_and_server_admins(api: httpx.AsyncClient, server: Server) -> None:
    owner, bob, carol, outsider = await signup(api), await signup(api), await signup(api), await signup(api)
    root = await admin(api, server)
    cid = (await create_conversation(api, owner, "group", [bob, carol]))["id"]
    mid = (await send_http(api, carol, cid, "something rude")).json()["message_id"]
    owner_ws = await Ws.open(server.ws_url, owner)
    r = await api.post(f"/messages/{mid}/reports", headers=bob.headers, json={"reason": "  insulting  "})
    assert r.status_code == 201 and r.json()["reason"] == "insulting"
    report_id = r.json()["id"]
    live = await owner_ws.expect(is_event("report.created", report_id=report_id))
    assert live["data"]["message_id"] == mid
    await owner_ws.close()
    for handler in (owner, root):
        listed = (await api.get("/reports", headers=handler.headers)).json()
        assert [(x["id"], x["message_body"], x["reporter_id"]) for x in listed] == [
            (report_id, "something rude", bob.id)
        ]
    for other in (bob, carol, outsider):
        assert (await api.get("/reports", headers=other.headers)).json() == []
    # Who cannot report: an outsider (the message does not exist for them), its author.
    r = await api.post(f"/messages/{mid}/reports", headers=outsider.headers, json={"reason": "x"})
    assert r.status_code == 404
    r = await api.post(f"/messages/{mid}/reports", headers=carol.headers, json={"reason": "x"})
    assert r.status_code == 422 and r.json()["code"] == "report_self"
    r = await api.post(f"/messages/{mid}/reports", headers=bob.headers, json={"reason": "   "})
    assert r.status_code == 422
    # Resolving: not by a plain member; once by a handler.
    r = await api.post(f"/reports/{report_id}/resolve", headers=bob.headers, json={"resolution": "dismissed"})
    assert r.status_code == 404
    r = await api.post(
        f"/reports/{report_id}/resolve", headers=root.headers, json={"resolution": "actioned", "note": "deleted"}
    )
    assert r.status_code == 200 and r.json()["resolution"] == "actioned: deleted" and r.json()["resolved_by"] == root.id
    r = await api.post(f"/reports/{report_id}/resolve", headers=owner.headers, json={"resolution": "dismissed"})
    assert r.status_code == 409 and r.json()["code"] == "report_resolved"
    assert (await api.get("/reports", headers=owner.headers)).json() == []
    assert len((await api.get("/reports", headers=owner.headers, params={"include_resolved": "true"})).json()) == 1


# --- conversation admins ------------------------------------------------------------------------


async def test_conversation_admins_delete_any_message_and_remove_members(api: httpx.AsyncClient) -> None:
    owner, mod, bob = await signup(api), await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "group", [mod, bob]))["id"]
    r = await api.patch(f"/conversations/{cid}/members/{mod.id}", headers=owner.headers, json={"role": "admin"})
    assert r.status_code == 200, r.text
    mid = (await send_http(api, bob, cid, "spam spam")).json()["message_id"]
    r = await api.delete(f"/messages/{mid}", headers=mod.headers)
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert (await api.delete(f"/conversations/{cid}/members/{bob.id}", headers=mod.headers)).status_code == 204
    assert (await send_http(api, bob, cid, "let me back")).status_code == 404


# --- slow mode ----------------------------------------------------------------------------------


async def test_slow_mode_limits_members_not_admins(api: httpx.AsyncClient, server: Server) -> None:
    owner, bob = await signup(api), await signup(api)
    cid = (await create_conversation(api, owner, "public", [bob], name="slowpoke"))["id"]
    r = await api.put(f"/conversations/{cid}/slow-mode", headers=bob.headers, json={"seconds": 30})
    assert r.status_code == 403 and r.json()["code"] == "not_an_admin"
    r = await api.put(f"/conversations/{cid}/slow-mode", headers=owner.headers, json={"seconds": -1})
    assert r.status_code == 422
    r = await api.put(f"/conversations/{cid}/slow-mode", headers=owner.headers, json={"seconds": 30})
    assert r.json() == {"conversation_id": cid, "slow_mode_s": 30}
    assert (await api.get(f"/conversations/{cid}/slow-mode", headers=bob.headers)).json()["slow_mode_s"] == 30
    assert (await send_http(api, bob, cid, "first")).status_code == 201
    r = await send_http(api, bob, cid, "second")
    assert r.status_code == 429 and r.json()["code"] == "slow_mode" and "30 seconds" in r.json()["detail"]
    assert 28 <= int(r.headers["Retry-After"]) <= 30
    # Over the socket: the same refusal, with how long to wait.
    ws = await Ws.open(server.ws_url, bob)
    key = uuid.uuid4().hex
    await ws.send({"type": "send", "conversation_id": cid, "client_msg_id": key, "body": "third"})
    err = await ws.expect("error")
    assert err["code"] == "slow_mode" and err["client_msg_id"] == key and 0 < err["retry_after"] <= 30
    await ws.close()
    # Owners and admins are exempt.
    for i in range(3):
        assert (await send_http(api, owner, cid, f"owner {i}")).status_code == 201
    # A short interval passes.
    await api.put(f"/conversations/{cid}/slow-mode", headers=owner.headers, json={"seconds": 1})
    await asyncio.sleep(1.05)
    assert (await send_http(api, bob, cid, "after a second")).status_code == 201
    await api.put(f"/conversations/{cid}/slow-mode", headers=owner.headers, json={"seconds": 0})
    assert (await send_http(api, bob, cid, "free again")).status_code == 201
    assert (await send_http(api, bob, cid, "and again")).status_code == 201
    dm = (await api.post("/conversations/direct", headers=owner.headers, json={"user_id": bob.id})).json()["id"]
    r = await api.put(f"/conversations/{dm}/slow-mode", headers=owner.headers, json={"seconds": 5})
    assert r.status_code == 409


# --- deactivation -------------------------------------------------------------------------------


async def test_deactivation_ends_sessions_and_live_sockets(api: httpx.AsyncClient, server: Server) -> None:
    root, bob, carol = await admin(api, server), await signup(api), await signup(api)
    r = await api.post(f"/admin/users/{bob.id}/deactivate", headers=carol.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_a_server_admin"
    ws = await Ws.open(server.ws_url, bob)
    r = await api.post(f"/admin/users/{bob.id}/deactivate", headers=root.headers)
    assert r.status_code == 200 and r.json() == {"user_id": bob.id, "is_active": False, "sessions_revoked": 1}
    await asyncio.wait_for(ws.conn.wait_closed(), 5)
    assert ws.conn.close_code == 4001 and ws.conn.close_reason == "account deactivated"
    assert (await api.get("/me", headers=bob.headers)).status_code == 401
    signin = {"email": bob.email, "password": PASSWORD}
    assert (await api.post("/auth/signin", json=signin)).status_code == 401
    r = await api.post("/auth/refresh", json={"refresh_token": bob.refresh_token})
    assert r.status_code == 401
    # Not found by people search either; reactivation lets them sign in again.
    found = (await api.get("/search/users", headers=carol.headers, params={"q": f"@{bob.handle}"})).json()
    assert found["users"] == []
    assert (await api.post(f"/admin/users/{bob.id}/reactivate", headers=root.headers)).json()["is_active"] is True
    assert (await api.post("/auth/signin", json=signin)).status_code == 200
    r = await api.post(f"/admin/users/{root.id}/deactivate", headers=root.headers)
    assert r.status_code == 409


@pytest.mark.parametrize("revoke", [False, True])
def test_admin_grant_command(revoke: bool, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg

    from tipline.cli import main
    from tipline.config import get_settings

    async def seed_and_read(sql: str | None) -> bool | None:
        conn = await asyncpg.connect(database_url)
        try:
            if sql:
                await conn.execute(sql)
            value: bool | None = await conn.fetchval("SELECT is_admin FROM users WHERE handle = 'grantee'")
            return value
        finally:
            await conn.close()

    asyncio.run(
        seed_and_read(
            "INSERT INTO users (email, handle, display_name, is_admin) "
            f"VALUES ('grantee@example.com', 'grantee', 'G', {str(revoke).lower()})"
        )
    )
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        main(["admin", "grant", "@grantee" if not revoke else "grantee@example.com", *(["--revoke"] if revoke else [])])
        with pytest.raises(SystemExit):
            main(["admin", "grant", "nobody-here"])
    finally:
        get_settings.cache_clear()
    assert asyncio.run(seed_and_read(None)) is (not revoke)


async def test_slow_mode_and_reports_refuse_outsiders_like_other_conversation_routes(api: httpx.AsyncClient) -> None:
    owner, outsider = await signup(api), await signup(api)
    private = (await create_conversation(api, owner, "private", name="inner"))["id"]
    public = (await create_conversation(api, owner, "public", name="outer"))["id"]
    mid = (await send_http(api, owner, public, "public words")).json()["message_id"]
    for cid, status, code in ((private, 404, "not_found"), (public, 403, "not_a_member")):
        for method in ("GET", "PUT"):
            r = await api.request(
                method, f"/conversations/{cid}/slow-mode", headers=outsider.headers, json={"seconds": 5}
            )
            assert (r.status_code, r.json()["code"]) == (status, code), (cid, method)
    # A message of a channel one has not joined does not exist for them, as for every message route.
    r = await api.post(f"/messages/{mid}/reports", headers=outsider.headers, json={"reason": "x"})
    assert r.status_code == 404 and r.json()["code"] == "message_not_found"
    r = await api.post("/reports/1/resolve", headers=outsider.headers, json={"resolution": "dismissed"})
    assert r.status_code == 404 and r.json()["code"] == "report_not_found"
