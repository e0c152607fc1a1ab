"""Attacks on personal access tokens and bots (issue 21): a token used beyond its scopes, after
revocation and after expiry; a bot signing in with a password; someone managing another person's
bot; a token in a URL; a token in the log. Against a node in its own process (tests/security/conftest.py)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.helpers import PASSWORD, User, Ws, create_conversation, send_http, signup
from tests.security.conftest import LiveNode

ALL = ["messages:read", "messages:write", "conversations:read", "conversations:write", "tips:read"]


async def token_for(api: httpx.AsyncClient, owner: User, scopes: list[str], path: str = "/me/tokens") -> dict[str, Any]:
    r = await api.post(path, headers=owner.headers, json={"name": "t", "scopes": scopes, "expires_in_days": 30})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def carrying(user: User, token: str, user_id: int | None = None) -> User:
    return User(user_id if user_id is not None else user.id, user.handle, user.email, token, "", "")


async def closed_within(ws: Ws, seconds: float) -> int:
    try:
        while True:
            await asyncio.wait_for(ws.conn.recv(), seconds)
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, "the socket dropped without a close frame"
        return exc.rcvd.code
    except TimeoutError:
        pytest.fail(f"the socket was still open {seconds} s later")


async def make_admin(node: LiveNode, user: User) -> None:
    db = await asyncpg.connect(node.database_url)
    try:
        await db.execute("UPDATE users SET is_admin = true WHERE id = $1", user.id)
    finally:
        await db.close()


async def test_a_token_beyond_its_scopes_gets_403_insufficient_scope(
    live_node: LiveNode, live_api: httpx.AsyncClient
) -> None:
    alice = await signup(live_api)
    cid = (await create_conversation(live_api, alice))["id"]
    reader = carrying(alice, (await token_for(live_api, alice, ["messages:read"]))["token"])
    attempts = [
        ("POST", f"/conversations/{cid}/messages", {"client_msg_id": uuid.uuid4().hex, "body": "x"}),
        ("PATCH", f"/conversations/{cid}", {"name": "taken over"}),
        ("GET", "/tips/mine", None),
        # Escalation: a token minting tokens, a bot's tokens, reading or ending sessions, changing
        # the password or the address.
        ("POST", "/me/tokens", {"name": "more", "scopes": ALL, "expires_in_days": 366}),
        ("POST", "/bots", {"handle": "escalated", "display_name": "E"}),
        ("GET", "/me/sessions", None),
        ("POST", "/auth/signout-all", None),
        ("POST", "/me/email", {"new_email": "mallory@example.com", "password": PASSWORD}),
        ("POST", f"/admin/users/{alice.id}/deactivate", None),
    ]
    for method, path, body in attempts:
        r = await live_api.request(method, path, headers=reader.headers, json=body)
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", (method, path, r.text)
    history = (await live_api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()
    assert history["messages"] == []
    assert len((await live_api.get("/me/tokens", headers=alice.headers)).json()) == 1

    # Over the socket: a send needs messages:write (and nothing is stored), a socket messages:read.
    ws = await Ws.open(live_node.ws_url, reader)
    cmid = uuid.uuid4().hex
    await ws.send({"type": "send", "conversation_id": cid, "client_msg_id": cmid, "body": "x", "ref": "s"})
    assert (await ws.expect("error"))["code"] == "insufficient_scope"
    await ws.close()
    writer = carrying(alice, (await token_for(live_api, alice, ["messages:write"]))["token"])
    ws = await Ws.open(live_node.ws_url, writer, wait_ready=False)
    assert (await ws.expect("error"))["code"] == "insufficient_scope"
    assert await closed_within(ws, 5) == 4001
    history = (await live_api.get(f"/conversations/{cid}/messages", headers=alice.headers)).json()
    assert history["messages"] == []


async def test_a_revoked_token_gets_401_and_its_socket_closes_4001(
    live_node: LiveNode, live_api: httpx.AsyncClient
) -> None:
    alice = await signup(live_api)
    created = await token_for(live_api, alice, ALL)
    token = carrying(alice, created["token"])
    ws = await Ws.open(live_node.ws_url, token)
    assert (await live_api.delete(f"/me/tokens/{created['id']}", headers=alice.headers)).status_code == 204
    assert await closed_within(ws, 5) == 4001
    r = await live_api.get("/me", headers=token.headers)
    assert r.status_code == 401 and r.json()["code"] == "session_revoked"
    again = await Ws.open(live_node.ws_url, None)
    await again.send({"type": "auth", "token": created["token"]})
    assert (await again.expect("error"))["code"] == "session_revoked"
    assert await closed_within(again, 5) == 4001


async def test_an_expired_token_gets_401_and_its_socket_closes_4001(
    live_node: LiveNode, live_api: httpx.AsyncClient
) -> None:
    """Expiry is the session's. (An open socket of an expiring token is closed by the sockets'
    periodic re-check: tests/gateway/test_tokens_ws.py, with a short SOCKET_RECHECK_S.)"""
    alice = await signup(live_api)
    created = await token_for(live_api, alice, ALL)
    token = carrying(alice, created["token"])
    db = await asyncpg.connect(live_node.database_url)
    try:
        await db.execute("UPDATE sessions SET expires_at = now() WHERE id = $1", uuid.UUID(created["id"]))
    finally:
        await db.close()
    r = await live_api.get("/me", headers=token.headers)
    assert r.status_code == 401 and r.json()["code"] == "session_expired"
    ws = await Ws.open(live_node.ws_url, token, wait_ready=False)
    assert (await ws.expect("error"))["code"] == "session_expired"
    assert await closed_within(ws, 5) == 4001


async def test_made_up_tokens_are_refused(live_node: LiveNode, live_api: httpx.AsyncClient) -> None:
    alice = await signup(live_api)
    real = (await token_for(live_api, alice, ALL))["token"]
    for forged in ("tlp_", "tlp_" + "A" * 43, real[:-1] + ("A" if real[-1] != "A" else "B"), real + "x"):
        r = await live_api.get("/me", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_token", forged
    # The stored hash is not a token either.
    digest = hashlib.sha256(real[4:].encode()).hexdigest()
    r = await live_api.get("/me", headers={"Authorization": f"Bearer tlp_{digest}"})
    assert r.status_code == 401


async def test_a_token_in_a_url_is_not_accepted(live_node: LiveNode, live_api: httpx.AsyncClient) -> None:
    alice = await signup(live_api)
    token = (await token_for(live_api, alice, ALL))["token"]
    for param in ("access_token", "token", "auth", "authorization"):
        r = await live_api.get("/me", params={param: token})
        assert r.status_code == 401 and r.json()["code"] == "not_authenticated", param
    # Nor in the socket's URL: it must still authenticate (and is closed when it does not in time).
    ws = await Ws.open(live_node.ws_url + f"?token={token}&access_token={token}", None)
    await ws.send({"type": "ping", "ref": "p"})
    assert (await ws.expect("error"))["code"] == "auth_required"
    assert await closed_within(ws, 5) == 4001
    await asyncio.sleep(0.3)
    assert token not in live_node.log_text(), "a token sent in a URL reached the node's log"


async def test_tokens_never_reach_the_log(live_node: LiveNode, live_api: httpx.AsyncClient) -> None:
    alice = await signup(live_api)
    created = await token_for(live_api, alice, ALL)
    token = carrying(alice, created["token"])
    cid = (await create_conversation(live_api, alice))["id"]
    assert (await send_http(live_api, token, cid, "hi")).status_code == 201
    ws = await Ws.open(live_node.ws_url, token)
    await ws.close()
    await live_api.get("/me", headers={"Authorization": f"Bearer {created['token']}x"})
    await asyncio.sleep(0.3)
    text = live_node.log_text()
    assert "POST /me/tokens" in text or "/me/tokens" in text or "GET /me" in text, "nothing logged to check"
    assert created["token"] not in text and created["token"][4:] not in text


async def test_a_bot_cannot_sign_in_with_a_password(live_node: LiveNode, live_api: httpx.AsyncClient) -> None:
    boss = await signup(live_api)
    await make_admin(live_node, boss)
    handle = f"pw{uuid.uuid4().hex[:8]}"
    r = await live_api.post("/bots", headers=boss.headers, json={"handle": handle, "display_name": "P"})
    assert r.status_code == 201, r.text
    for login in (handle, f"@{handle}", f"{handle}@example.com", ""):
        for password in (PASSWORD, "", "x"):
            r = await live_api.post("/auth/signin", json={"email": login or "x", "password": password or "x"})
            assert r.status_code in (401, 429), (login, r.text)
    # Nor can it be given a password by a reset: it has no address a link could go to.
    r = await live_api.post("/auth/password/forgot", json={"email": f"{handle}@example.com"})
    assert r.status_code in (200, 202, 429)
    db = await asyncpg.connect(live_node.database_url)
    try:
        row = await db.fetchrow("SELECT email, password_hash FROM users WHERE handle = $1", handle)
    finally:
        await db.close()
    # (Whatever was mailed to that made-up address carries no link for the bot's account.)
    assert row is not None and row["email"] is None and row["password_hash"] is None


async def test_nobody_manages_someone_elses_bot(live_node: LiveNode, live_api: httpx.AsyncClient) -> None:
    owner, mallory = await signup(live_api), await signup(live_api)
    await make_admin(live_node, owner)
    handle = f"own{uuid.uuid4().hex[:8]}"
    bot = (await live_api.post("/bots", headers=owner.headers, json={"handle": handle, "display_name": "O"})).json()
    bot_id = bot["user"]["id"]
    token = await token_for(live_api, owner, ALL, path=f"/bots/{bot_id}/tokens")
    missing = 2**62
    attempts = [
        ("GET", f"/bots/{bot_id}", None),
        ("PATCH", f"/bots/{bot_id}", {"display_name": "Mine now"}),
        ("DELETE", f"/bots/{bot_id}", None),
        ("POST", f"/bots/{bot_id}/tokens", {"name": "steal", "scopes": ALL, "expires_in_days": 1}),
        ("GET", f"/bots/{bot_id}/tokens", None),
        ("DELETE", f"/bots/{bot_id}/tokens/{token['id']}", None),
        # Revoking the bot's token through one's own token list does not work either.
        ("DELETE", f"/me/tokens/{token['id']}", None),
    ]
    for method, path, body in attempts:
        r = await live_api.request(method, path, headers=mallory.headers, json=body)
        assert r.status_code == 404, (method, path, r.text)
        if path.startswith("/bots/"):
            # Exactly what a bot that does not exist answers: nothing to learn from the difference.
            twin = await live_api.request(
                method, path.replace(str(bot_id), str(missing), 1), headers=mallory.headers, json=body
            )
            assert (twin.status_code, twin.json()) == (404, r.json()), path
    assert [b["user"]["id"] for b in (await live_api.get("/bots", headers=mallory.headers)).json()] == []
    still = (await live_api.get(f"/bots/{bot_id}", headers=owner.headers)).json()
    assert still["user"]["display_name"] == "O"
    assert [t["id"] for t in (await live_api.get(f"/bots/{bot_id}/tokens", headers=owner.headers)).json()] == [
        token["id"]
    ]
    me = await live_api.get("/me", headers=carrying(owner, token["token"], bot_id).headers)
    assert me.status_code == 200 and me.json()["id"] == bot_id
