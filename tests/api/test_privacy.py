"""Data export and account deletion through the API (docs/subsystems/accounts.md, "Your data").

The deletion tests look at every table of the shared metadata (tipline.domain.tables), so a
table added by any later feature is checked too, and at the object store (local disk and a
real S3-compatible server) for the person's files.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import BigInteger, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

import tipline.domain.tables  # noqa: F401  (every table on the shared metadata)
from tests.conftest import MEDIA_DIR, MotoS3, Server
from tests.helpers import PASSWORD, User, Ws, create_conversation, send_http, signup
from tests.media_support import image_bytes, upload
from tipline.domain.moderation.actions import do_grant_admin
from tipline.domain.privacy.actions import do_purge_expired_exports
from tipline.storage.meta import metadata

# Other people's words stay theirs: a message of Bob's that says "@alice" is Bob's, not Alice's data
# (its link to her, mention_ids, is what goes). Only messages that were hers are checked for words.
OTHERS_WORDS = {"messages": " AND sender_id IS NULL"}
PERSON_KEYS = ("user_id", "sender_id", "by", "actor_id", "tipper_id", "recipient_id", "owner_id", "blocked_id")


@pytest.fixture(params=["local", "s3"])
def media(request: pytest.FixtureRequest) -> Server:
    srv: Server = request.getfixturevalue("server" if request.param == "local" else "s3_server")
    return srv


@pytest.fixture
async def mapi(media: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=media.base_url, timeout=30) as client:
        yield client


async def wait_ready(api: httpx.AsyncClient, user: User, export_id: str, timeout: float = 30) -> dict[str, Any]:
    seen = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        r = await api.get(f"/me/exports/{export_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        seen.append((body["state"], body["progress"]))
        assert 0 <= body["progress"] <= 100
        if body["state"] in ("ready", "failed"):
            assert body["state"] == "ready", body
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"export not ready: {seen[-5:]}")


async def rich_account(api: httpx.AsyncClient, srv: Server) -> tuple[User, User, dict[str, Any]]:
    """Alice with something in every corner: messages, an attachment, an avatar, reactions, a
    token, a bot, a block, wallets, tips, second factors, a sign-in provider, mail, mentions."""
    alice, bob = await signup(api), await signup(api)
    room = await create_conversation(api, alice, members=[bob])
    dm = (await api.post("/conversations/direct", headers=alice.headers, json={"user_id": bob.id})).json()
    att, done = await upload(
        api, alice, room["id"], image_bytes("PNG", (64, 48)), filename="cat.png", content_type="image/png"
    )
    assert done.status_code == 200, done.text
    r = await send_http(api, alice, room["id"], "hello from alice", attachment_ids=[att])
    assert r.status_code in (200, 201), r.text
    mine = r.json()
    r = await send_http(api, alice, dm["id"], "a private word")
    assert r.status_code in (200, 201), r.text
    edited = r.json()
    assert (
        await api.patch(
            f"/messages/{edited['message_id'] if 'message_id' in edited else edited['id']}",
            headers=alice.headers,
            json={"body": "a private word, edited"},
        )
    ).status_code == 200
    theirs = (await send_http(api, bob, room["id"], f"hi @{alice.handle}")).json()
    theirs_id = theirs.get("message_id", theirs.get("id"))
    mine_id = mine.get("message_id", mine.get("id"))
    assert (await api.put(f"/messages/{theirs_id}/reactions/%F0%9F%91%8D", headers=alice.headers)).status_code == 200
    assert (await api.put(f"/me/blocks/{bob.id}", headers=alice.headers)).status_code == 200
    src, _ = await upload(
        api,
        alice,
        None,
        image_bytes("PNG", (80, 80)),
        filename="me.png",
        content_type="image/png",
        purpose="avatar",
        complete=False,
    )
    assert (await api.put("/me/avatar", headers=alice.headers, json={"upload_id": src})).status_code == 200
    r = await api.post(
        "/me/tokens",
        headers=alice.headers,
        json={"name": "my script", "scopes": ["messages:read"], "expires_in_days": 30},
    )
    assert r.status_code == 201, r.text
    srv.rt.settings.bots_by_users = True
    try:
        r = await api.post(
            "/bots", headers=alice.headers, json={"handle": f"b{uuid.uuid4().hex[:8]}", "display_name": "Alice's bot"}
        )
    finally:
        srv.rt.settings.bots_by_users = False
    assert r.status_code == 201, r.text
    bot_id = r.json()["user"]["id"]
    conn = await asyncpg.connect(srv.database_url)
    try:
        addr = "0x" + secrets.token_hex(20)
        await conn.execute("INSERT INTO wallets (user_id, address, chain_id) VALUES ($1, $2, 31337)", alice.id, addr)
        for state, tx in (("confirmed", "0x" + "ab" * 32), ("created", None)):
            await conn.execute(
                "INSERT INTO tip_intents (intent_id, conversation_id, message_id, tipper_id, recipient_id, "
                "recipient_address, chain_id, contract, token, symbol, decimals, amount, state, tx_hash, "
                "tipper_address, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 31337, $7, $8, 'ETH', 18, 1000, $9, "
                "$10, $11, now() + interval '1 hour')",
                "0x" + secrets.token_hex(32),
                room["id"],
                mine_id,
                alice.id,
                bob.id,
                "0x" + "22" * 20,
                "0x" + "33" * 20,
                "0x" + "00" * 20,
                state,
                tx,
                addr,
            )
        await conn.execute(
            "INSERT INTO totp_secrets (user_id, secret_enc, confirmed_at) VALUES ($1, $2, NULL)", alice.id, b"x"
        )
        await conn.execute(
            "INSERT INTO passkeys (credential_id, user_id, public_key, name) VALUES ($1, $2, $3, 'laptop')",
            secrets.token_bytes(16),
            alice.id,
            b"k",
        )
        await conn.execute(
            "INSERT INTO oidc_identities (provider, subject, user_id, email) VALUES ('idp', $1, $2, $3)",
            uuid.uuid4().hex,
            alice.id,
            alice.email,
        )
        await conn.execute(
            "INSERT INTO mail_outbox (\"to\", subject, text, html) VALUES ($1, 's', 't', 'h')", alice.email
        )
    finally:
        await conn.close()
    return (
        alice,
        bob,
        {"room": room, "dm": dm, "message_id": mine_id, "attachment": att, "bot_id": bot_id, "theirs": theirs_id},
    )


async def stored_keys(srv: Server, user_ids: list[int]) -> list[str]:
    conn = await asyncpg.connect(srv.database_url)
    try:
        rows = await conn.fetch(
            "SELECT key, object_key, thumb_key FROM uploads WHERE owner_id = ANY($1) "
            "UNION ALL SELECT key, NULL, NULL FROM avatars WHERE user_id = ANY($1) "
            "UNION ALL SELECT object_key, NULL, NULL FROM data_exports WHERE user_id = ANY($1)",
            user_ids,
        )
    finally:
        await conn.close()
    return [k for r in rows for k in r if k is not None]


def _names_person(value: Any, uid: int) -> bool:
    if isinstance(value, dict):
        if any(value.get(k) == uid for k in PERSON_KEYS):
            return True
        if isinstance(value.get("user"), dict) and value["user"].get("id") == uid:
            return True
        return any(_names_person(v, uid) for v in value.values())
    if isinstance(value, list):
        return any(_names_person(v, uid) for v in value)
    return False


async def assert_forgotten(srv: Server, *, uids: list[int], words: list[str]) -> None:
    """No table of the metadata holds the ids (in a column that refers to users, in an id array,
    or under a person key of a JSON document) or the words (email, handle) in any text."""
    found: list[str] = []
    conn = await asyncpg.connect(srv.database_url)
    try:
        for table in metadata.sorted_tables:
            for col in table.columns:
                name = f'"{table.name}"."{col.name}"'
                refers_to_users = any(fk.column.table.name == "users" for fk in col.foreign_keys)
                if refers_to_users or (table.name == "users" and col.name == "id"):
                    n = await conn.fetchval(f'SELECT count(*) FROM "{table.name}" WHERE "{col.name}" = ANY($1)', uids)
                    if n:
                        found.append(f"{name} = id ({n})")
                elif isinstance(col.type, ARRAY) and isinstance(col.type.item_type, BigInteger):
                    n = await conn.fetchval(
                        f'SELECT count(*) FROM "{table.name}" WHERE "{col.name}" && $1::bigint[]', uids
                    )
                    if n:
                        found.append(f"{name} holds the id ({n})")
                if isinstance(col.type, JSONB):
                    for (doc,) in await conn.fetch(f'SELECT "{col.name}"::text FROM "{table.name}"'):
                        if doc and any(_names_person(json.loads(doc), uid) for uid in uids):
                            found.append(f"{name} names the person: {doc[:200]}")
                if isinstance(col.type, (Text, JSONB, ARRAY)):
                    for word in words:
                        n = await conn.fetchval(
                            f'SELECT count(*) FROM "{table.name}" WHERE strpos(lower("{col.name}"::text), $1) > 0'
                            + OTHERS_WORDS.get(table.name, ""),
                            word.lower(),
                        )
                        if n:
                            found.append(f"{name} contains {word!r} ({n})")
    finally:
        await conn.close()
    assert not found, found


def all_objects(moto: MotoS3 | None) -> set[str]:
    """Every object in the store (the local media folder, or the S3 bucket)."""
    if moto is None:
        return {str(p.relative_to(MEDIA_DIR)) for p in Path(MEDIA_DIR).rglob("*") if p.is_file()}
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    found: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=moto.bucket):
        found |= {o["Key"] for o in page.get("Contents", [])}
    return found


async def assert_no_objects(srv: Server, keys: list[str], before: set[str], moto: MotoS3 | None) -> None:
    """Her objects are gone, and nothing the scenario stored is left (Bob stored nothing)."""
    assert keys
    for key in keys:
        assert await srv.rt.objects.head(key) is None, key
    left = all_objects(moto) - before
    assert not left, left


# --- export -------------------------------------------------------------------------------------


async def test_export_holds_everything_and_only_its_owner_downloads_it(mapi: httpx.AsyncClient, media: Server) -> None:
    alice, bob, made = await rich_account(mapi, media)
    r = await mapi.post("/me/exports", headers=alice.headers)
    assert r.status_code == 202, r.text
    export = r.json()
    assert export["state"] in ("queued", "running", "ready") and export["user_id"] == alice.id
    # Asking again while it is built answers the same export.
    again = (await mapi.post("/me/exports", headers=alice.headers)).json()
    assert again["id"] == export["id"] or again["state"] == "queued"
    ready = await wait_ready(mapi, alice, export["id"])
    assert ready["progress"] == 100 and ready["size"] > 0 and ready["expires_at"]

    # Nobody else sees or downloads it; no token, no download.
    for path in (f"/me/exports/{export['id']}", f"/me/exports/{export['id']}/download"):
        assert (await mapi.get(path, headers=bob.headers)).status_code == 404
        assert (await mapi.get(path)).status_code == 401
    assert export["id"] not in [e["id"] for e in (await mapi.get("/me/exports", headers=bob.headers)).json()]
    assert export["id"] in [e["id"] for e in (await mapi.get("/me/exports", headers=alice.headers)).json()]

    r = await mapi.get(f"/me/exports/{export['id']}/download", headers=alice.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment;") and r.headers["cache-control"] == "no-store"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(zf.namelist())
    for part in (
        "profile",
        "sessions",
        "memberships",
        "messages",
        "attachments",
        "reactions",
        "tips",
        "wallets",
        "tokens",
        "bots",
        "blocks",
        "passkeys",
        "sign_in_providers",
    ):
        assert f"{part}.json" in names, part
    data = {n: json.loads(zf.read(n)) for n in names if n.endswith(".json")}
    assert data["profile.json"]["email"] == alice.email and "password_hash" not in data["profile.json"]
    assert data["profile.json"]["avatar_key"].startswith(f"avatars/{alice.id}/")
    assert {m["body"] for m in data["messages.json"]} == {"hello from alice", "a private word, edited"}
    assert {c["id"] for c in data["memberships.json"]} == {made["room"]["id"], made["dm"]["id"]}
    assert data["reactions.json"][0]["message_id"] == made["theirs"]
    assert len(data["tips.json"]) == 2 and data["tips.json"][0]["amount"] == "1000"
    assert len(data["wallets.json"]) == 1 and data["tokens.json"][0]["name"] == "my script"
    assert "token_hash" not in json.dumps(data["tokens.json"]) and data["bots.json"][0]["id"] == made["bot_id"]
    assert data["sessions.json"] and data["passkeys.json"][0]["name"] == "laptop"
    [attachment] = data["attachments.json"]
    assert attachment["filename"] == "cat.png" and attachment["message_id"] == made["message_id"]
    assert zf.read(attachment["path"])[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing secret anywhere in it.
    blob = b"".join(zf.read(n) for n in names)
    assert alice.refresh_token.encode() not in blob and b"argon2" not in blob


async def test_export_expires_and_is_purged(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    export = (await api.post("/me/exports", headers=alice.headers)).json()
    await wait_ready(api, alice, export["id"])
    [key] = await stored_keys(server, [alice.id])
    assert await server.rt.objects.head(key) is not None
    conn = await asyncpg.connect(server.database_url)
    try:
        await conn.execute(
            "UPDATE data_exports SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(export["id"])
        )
    finally:
        await conn.close()
    assert (await api.get(f"/me/exports/{export['id']}/download", headers=alice.headers)).status_code == 404
    assert await do_purge_expired_exports(server.rt) == 1
    assert await server.rt.objects.head(key) is None
    body = (await api.get(f"/me/exports/{export['id']}", headers=alice.headers)).json()
    assert body["state"] == "expired"
    r = await api.get(f"/me/exports/{export['id']}/download", headers=alice.headers)
    assert r.status_code == 409 and r.json()["code"] == "export_not_ready"


async def test_export_routes_refuse_bad_input(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    assert (await api.get("/me/exports/not-a-uuid", headers=alice.headers)).status_code == 422
    assert (await api.get(f"/me/exports/{uuid.uuid4()}", headers=alice.headers)).status_code == 404
    assert (await api.post("/me/exports")).status_code == 401


# --- deletion -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["erase", "keep"])
async def test_deleted_account_leaves_nothing_in_any_table_or_store(
    mapi: httpx.AsyncClient, media: Server, policy: str, request: pytest.FixtureRequest
) -> None:
    media.rt.settings.deleted_user_messages = policy  # type: ignore[assignment]
    try:
        await _delete_and_check(mapi, media, policy, request)
    finally:
        media.rt.settings.deleted_user_messages = "erase"


async def _delete_and_check(api: httpx.AsyncClient, srv: Server, policy: str, request: pytest.FixtureRequest) -> None:
    moto = request.getfixturevalue("moto_s3") if srv.rt.settings.media_backend == "s3" else None
    before = all_objects(moto)
    alice, bob, made = await rich_account(api, srv)
    export = (await api.post("/me/exports", headers=alice.headers)).json()
    await wait_ready(api, alice, export["id"])
    ids = [alice.id, made["bot_id"]]
    keys = await stored_keys(srv, ids)
    assert len(keys) >= 4  # the attachment (upload, checked copy, thumbnail), the avatar, the export
    ws = await Ws.open(srv.ws_url, alice)
    watcher = await Ws.open(srv.ws_url, bob)

    r = await api.post("/me/delete", headers=alice.headers, json={"password": "not my password"})
    assert r.status_code == 403 and r.json()["code"] == "password_incorrect"
    r = await api.post("/me/delete", headers=alice.headers, json={})
    assert r.status_code == 422 and r.json()["code"] == "reauth_required"
    r = await api.post("/me/delete", headers=alice.headers, json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "user_id": alice.id,
        "messages": policy,
        "messages_affected": 2,
        "attachments_purged": 1,
        "bots_deleted": 1,
    }
    # Her socket closes (the accounts domain's revocation), her tokens stop working.
    await asyncio.wait_for(ws.conn.wait_closed(), 5)
    assert ws.conn.close_code == 4001
    assert (await api.get("/me", headers=alice.headers)).status_code == 401
    r = await api.post("/auth/signin", json={"email": alice.email, "password": PASSWORD})
    assert r.status_code == 401

    await assert_forgotten(srv, uids=ids, words=[alice.email, alice.handle, "Alice's bot"])
    await assert_no_objects(srv, keys, before, moto)

    history = (await api.get(f"/conversations/{made['room']['id']}/messages", headers=bob.headers)).json()
    items = history["messages"] if isinstance(history, dict) else history
    hers = next(m for m in items if m["id"] == made["message_id"])
    assert hers["sender_id"] is None and hers["attachments"] == []
    if policy == "erase":
        assert hers["body"] == "" and hers["deleted"] is True
        event = await watcher.expect(lambda f: f.get("event") == "message.deleted")
        assert event["data"]["by"] == 0
    else:
        assert hers["body"] == "hello from alice" and hers["deleted"] is False
    # Tips stay as on-chain facts, linked to nobody; the one never paid is failed.
    conn = await asyncpg.connect(srv.database_url)
    try:
        tips = await conn.fetch(
            "SELECT tipper_id, recipient_id, state, tx_hash, amount FROM tip_intents WHERE recipient_id = $1 "
            "ORDER BY id",
            bob.id,
        )
    finally:
        await conn.close()
    assert [(t["tipper_id"], t["recipient_id"], t["state"]) for t in tips] == [
        (None, bob.id, "confirmed"),
        (None, bob.id, "failed"),
    ]
    assert tips[0]["tx_hash"] == "0x" + "ab" * 32 and tips[0]["amount"] == 1000
    # Bob's account is untouched.
    assert (await api.get("/me", headers=bob.headers)).status_code == 200
    await watcher.close()


async def test_oidc_only_account_confirms_with_its_handle(api: httpx.AsyncClient, server: Server) -> None:
    alice = await signup(api)
    conn = await asyncpg.connect(server.database_url)
    try:
        await conn.execute("UPDATE users SET password_hash = NULL WHERE id = $1", alice.id)
    finally:
        await conn.close()
    r = await api.post("/me/delete", headers=alice.headers, json={"handle": "someoneelse"})
    assert r.status_code == 422 and r.json()["code"] == "reauth_required"
    r = await api.post("/me/delete", headers=alice.headers, json={"handle": alice.handle})
    assert r.status_code == 200, r.text


async def test_last_admin_cannot_delete_themselves(api: httpx.AsyncClient, server: Server) -> None:
    admin, other = await signup(api), await signup(api)
    await do_grant_admin(server.rt, login=admin.handle)
    r = await api.post("/me/delete", headers=admin.headers, json={"password": PASSWORD})
    assert r.status_code == 409 and r.json()["code"] == "last_admin"
    await do_grant_admin(server.rt, login=other.handle)
    r = await api.post("/me/delete", headers=admin.headers, json={"password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_admin_exports_and_deletes_a_user_audited(api: httpx.AsyncClient, server: Server) -> None:
    admin, bob, carol = await signup(api), await signup(api), await signup(api)
    await do_grant_admin(server.rt, login=admin.handle)
    # Not an admin: refused, whoever the target.
    for path in (f"/admin/users/{bob.id}/export", f"/admin/users/{bob.id}/delete"):
        r = await api.post(path, headers=carol.headers)
        assert r.status_code == 403 and r.json()["code"] == "admin_required"
    assert (await api.post(f"/admin/users/{10**9}/export", headers=admin.headers)).status_code == 404
    assert (await api.post(f"/admin/users/{admin.id}/delete", headers=admin.headers)).status_code == 403

    r = await api.post(f"/admin/users/{bob.id}/export", headers=admin.headers)
    assert r.status_code == 202, r.text
    export = r.json()
    assert export["user_id"] == bob.id
    await wait_ready(api, admin, export["id"])
    # The admin's export: bob does not see it.
    assert (await api.get(f"/me/exports/{export['id']}/download", headers=bob.headers)).status_code == 404
    got = await api.get(f"/me/exports/{export['id']}/download", headers=admin.headers)
    assert json.loads(zipfile.ZipFile(io.BytesIO(got.content)).read("profile.json"))["email"] == bob.email

    r = await api.post(f"/admin/users/{bob.id}/delete", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (await api.get("/me", headers=bob.headers)).status_code == 401
    assert (await api.post(f"/admin/users/{bob.id}/delete", headers=admin.headers)).status_code == 404
    # The export of bob went with him.
    assert (await api.get(f"/me/exports/{export['id']}", headers=admin.headers)).status_code == 404
    conn = await asyncpg.connect(server.database_url)
    try:
        rows = await conn.fetch(
            "SELECT actor_id, action, target_id, details::text FROM audit_log "
            "WHERE action IN ('user.export', 'user.delete') ORDER BY id"
        )
    finally:
        await conn.close()
    assert [(r["actor_id"], r["action"], r["target_id"]) for r in rows] == [
        (admin.id, "user.export", str(bob.id)),
        (admin.id, "user.delete", str(bob.id)),
    ]
    assert bob.email not in "".join(r["details"] for r in rows)
    await assert_forgotten(server, uids=[bob.id], words=[bob.email, bob.handle])
