"""Personal access tokens and bot accounts over HTTP (docs/subsystems/integrations.md)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Server
from tests.helpers import User, create_conversation, send_http, signup
from tipline.domain.moderation.actions import do_grant_admin

ALL_SCOPES = ["messages:read", "messages:write", "conversations:read", "conversations:write", "tips:read"]


async def make_token(
    api: httpx.AsyncClient, owner: User, scopes: list[str] | None = None, *, path: str = "/me/tokens", days: int = 30
) -> dict[str, Any]:
    r = await api.post(
        path, headers=owner.headers, json={"name": "ci", "scopes": scopes or ALL_SCOPES, "expires_in_days": days}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def as_token(user: User, token: str, user_id: int | None = None) -> User:
    """A User whose requests carry ``token`` (tests/helpers send ``Authorization: Bearer``)."""
    return User(
        id=user_id if user_id is not None else user.id,
        handle=user.handle,
        email=user.email,
        token=token,
        refresh_token="",
        session_id="",
    )


async def admin(api: httpx.AsyncClient, server: Server) -> User:
    user = await signup(api)
    await do_grant_admin(server.rt, login=user.handle)
    return user


async def test_a_token_is_shown_once_listed_without_its_secret_and_works(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    created = await make_token(api, alice, ["messages:read", "conversations:read"], days=7)
    token = created["token"]
    assert token.startswith("tlp_") and len(token) > 40
    assert created["scopes"] == ["conversations:read", "messages:read"]
    assert created["last_used_at"] is None

    listed = (await api.get("/me/tokens", headers=alice.headers)).json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and token not in str(listed)

    bot_alice = as_token(alice, token)
    me = await api.get("/me", headers=bot_alice.headers)
    assert me.status_code == 200 and me.json()["id"] == alice.id and me.json()["is_bot"] is False
    (used,) = (await api.get("/me/tokens", headers=alice.headers)).json()
    assert used["last_used_at"] is not None

    # A token is not a device: the sessions list does not show it.
    sessions = (await api.get("/me/sessions", headers=alice.headers)).json()
    assert created["id"] not in [s["id"] for s in sessions]


async def test_only_its_hash_is_stored(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    token = (await make_token(api, alice))["token"]
    db = await asyncpg.connect(server.database_url)
    try:
        rows = await db.fetch("SELECT token_hash, name FROM api_tokens")
    finally:
        await db.close()
    assert len(rows) == 1 and token.encode() not in bytes(rows[0]["token_hash"])
    assert len(rows[0]["token_hash"]) == 32


async def test_scopes_map_routes(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    conv = await create_conversation(api, alice)
    reader = as_token(alice, (await make_token(api, alice, ["messages:read"]))["token"])
    writer = as_token(alice, (await make_token(api, alice, ["messages:write"]))["token"])

    assert (await api.get(f"/conversations/{conv['id']}/messages", headers=reader.headers)).status_code == 200
    refused = await send_http(api, reader, conv["id"], "hello")
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert (await send_http(api, writer, conv["id"], "hello")).status_code == 201
    listing = await api.get("/conversations", headers=writer.headers)
    assert listing.status_code == 403 and listing.json()["code"] == "insufficient_scope"


async def test_threads_history_pins_and_receipts_follow_the_message_scopes(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    conv = await create_conversation(api, alice)
    sent = await send_http(api, alice, conv["id"], "root")
    mid = sent.json()["message_id"]
    reader = as_token(alice, (await make_token(api, alice, ["messages:read"]))["token"])
    writer = as_token(alice, (await make_token(api, alice, ["messages:write"]))["token"])
    for path in (
        f"/messages/{mid}/thread",
        "/threads",
        f"/messages/{mid}/revisions",
        f"/conversations/{conv['id']}/pins",
        f"/conversations/{conv['id']}/receipts",
    ):
        assert (await api.get(path, headers=reader.headers)).status_code == 200, path
        refused = await api.get(path, headers=writer.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope", path
    no_pin = await api.put(f"/messages/{mid}/pin", headers=reader.headers)
    assert no_pin.status_code == 403 and no_pin.json()["code"] == "insufficient_scope"
    assert (await api.put(f"/messages/{mid}/pin", headers=writer.headers)).status_code in (200, 201, 204)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/me/tokens"),
        ("POST", "/me/tokens"),
        ("GET", "/me/sessions"),
        ("PATCH", "/me"),
        ("POST", "/auth/signout-all"),
        ("GET", "/bots"),
        ("GET", "/me/wallets"),
    ],
)
async def test_routes_no_scope_covers_refuse_every_token(api: httpx.AsyncClient, method: str, path: str) -> None:
    """Managing tokens, sessions, the profile, bots and wallets is never open to a token."""
    alice = await signup(api)
    full = as_token(alice, (await make_token(api, alice))["token"])
    body = {"name": "x", "scopes": ["messages:read"], "expires_in_days": 1} if method == "POST" else None
    r = await api.request(method, path, headers=full.headers, json=body if method != "GET" else None)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", (path, r.text)


async def test_revoked_and_expired_tokens_are_refused(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    first, second = await make_token(api, alice), await make_token(api, alice)
    assert (await api.delete(f"/me/tokens/{first['id']}", headers=alice.headers)).status_code == 204
    r = await api.get("/me", headers=as_token(alice, first["token"]).headers)
    assert r.status_code == 401 and r.json()["code"] == "session_revoked"
    assert (await api.delete(f"/me/tokens/{first['id']}", headers=alice.headers)).status_code == 404
    assert [t["id"] for t in (await api.get("/me/tokens", headers=alice.headers)).json()] == [second["id"]]

    db = await asyncpg.connect(server.database_url)
    try:
        await db.execute(
            "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(second["id"])
        )
    finally:
        await db.close()
    r = await api.get("/me", headers=as_token(alice, second["token"]).headers)
    assert r.status_code == 401 and r.json()["code"] == "session_expired"
    assert (await api.get("/me/tokens", headers=alice.headers)).json() == []


async def test_someone_elses_token_cannot_be_revoked(api: httpx.AsyncClient) -> None:
    alice, mallory = await signup(api), await signup(api)
    token = await make_token(api, alice)
    r = await api.delete(f"/me/tokens/{token['id']}", headers=mallory.headers)
    assert r.status_code == 404 and r.json()["code"] == "token_not_found"
    assert (await api.get("/me", headers=as_token(alice, token["token"]).headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": [], "expires_in_days": 1},
        {"name": "x", "scopes": ["admin"], "expires_in_days": 1},
        {"name": "x", "scopes": ["messages:read"], "expires_in_days": 0},
        {"name": "x", "scopes": ["messages:read"], "expires_in_days": 367},
        {"name": "", "scopes": ["messages:read"], "expires_in_days": 1},
        {"name": "x", "scopes": ["messages:read"]},
    ],
)
async def test_bad_token_requests_get_422(api: httpx.AsyncClient, body: dict[str, Any]) -> None:
    alice = await signup(api)
    assert (await api.post("/me/tokens", headers=alice.headers, json=body)).status_code == 422


# --- bots ---------------------------------------------------------------------------------------


async def test_bots_are_for_admins_unless_the_setting_allows(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    body = {"handle": f"b{uuid.uuid4().hex[:8]}", "display_name": "Builder", "description": "CI"}
    r = await api.post("/bots", headers=alice.headers, json=body)
    assert r.status_code == 403 and r.json()["code"] == "bots_admin_only"
    boss = await admin(api, server)
    r = await api.post("/bots", headers=boss.headers, json=body)
    assert r.status_code == 201, r.text
    bot = r.json()
    assert bot["user"]["is_bot"] is True and bot["owner_id"] == boss.id and bot["description"] == "CI"
    again = await api.post("/bots", headers=boss.headers, json=body)
    assert again.status_code == 409 and again.json()["code"] == "handle_taken"


async def test_any_user_may_create_bots_when_the_setting_says_so(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    server.rt.settings.bots_by_users = True
    try:
        r = await api.post("/bots", headers=alice.headers, json={"handle": "alicebot", "display_name": "A"})
    finally:
        server.rt.settings.bots_by_users = False
    assert r.status_code == 201 and r.json()["owner_id"] == alice.id


async def test_a_bot_is_marked_everywhere_and_uses_its_tokens(api: httpx.AsyncClient, server: Server) -> None:
    boss = await admin(api, server)
    bot = (await api.post("/bots", headers=boss.headers, json={"handle": "deploybot", "display_name": "Deploy"})).json()
    bot_id = bot["user"]["id"]
    assert [b["user"]["id"] for b in (await api.get("/bots", headers=boss.headers)).json()] == [bot_id]
    patched = await api.patch(f"/bots/{bot_id}", headers=boss.headers, json={"description": "ships things"})
    assert patched.status_code == 200 and patched.json()["description"] == "ships things"

    token = await make_token(api, boss, path=f"/bots/{bot_id}/tokens")
    bot_user = as_token(boss, token["token"], user_id=bot_id)
    me = (await api.get("/me", headers=bot_user.headers)).json()
    assert me["id"] == bot_id and me["is_bot"] is True and me["email"] is None
    assert [t["id"] for t in (await api.get(f"/bots/{bot_id}/tokens", headers=boss.headers)).json()] == [token["id"]]
    # Its owner's own tokens are not the bot's.
    assert (await api.get("/me/tokens", headers=boss.headers)).json() == []

    conv = await create_conversation(api, boss, members=[bot_user])
    assert (await send_http(api, bot_user, conv["id"], "build green")).status_code == 201
    assert (await api.get(f"/users/{bot_id}", headers=boss.headers)).json()["is_bot"] is True
    members = (await api.get(f"/conversations/{conv['id']}/members", headers=boss.headers)).json()["members"]
    assert {m["user"]["id"]: m["user"]["is_bot"] for m in members} == {boss.id: False, bot_id: True}
    found = (await api.get("/search/users", headers=boss.headers, params={"q": "@deploybot"})).json()
    assert [u["is_bot"] for u in found["users"]] == [True]

    # Deleting the bot ends its tokens at once.
    assert (await api.delete(f"/bots/{bot_id}", headers=boss.headers)).status_code == 204
    r = await api.get("/me", headers=bot_user.headers)
    assert r.status_code == 401
    assert (await api.get("/bots", headers=boss.headers)).json() == []


async def test_revoking_a_bot_token(api: httpx.AsyncClient, server: Server) -> None:
    boss = await admin(api, server)
    bot_id = (await api.post("/bots", headers=boss.headers, json={"handle": "revbot", "display_name": "R"})).json()[
        "user"
    ]["id"]
    token = await make_token(api, boss, path=f"/bots/{bot_id}/tokens")
    r = await api.delete(f"/bots/{bot_id}/tokens/{token['id']}", headers=boss.headers)
    assert r.status_code == 204
    r = await api.get("/me", headers=as_token(boss, token["token"]).headers)
    assert r.status_code == 401 and r.json()["code"] == "session_revoked"


async def test_the_openapi_document_shows_the_token_scheme(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["HTTPBearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "tlp_" in scheme["description"] and "insufficient_scope" in scheme["description"]
    assert {"security": [{"HTTPBearer": []}]}.items() <= spec["paths"]["/me/tokens"]["post"].items()
    assert "is_bot" in spec["components"]["schemas"]["UserOut"]["properties"]
