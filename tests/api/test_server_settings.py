"""Server settings (docs/subsystems/admin.md, Server settings): sign-up modes and allowed domains,
invites, upload limits, custom emoji, message retention, admin-only routes and the audit log."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, text, update

from tests.conftest import Server, start_server
from tests.helpers import PASSWORD, User, create_conversation, send_http, signup
from tests.media_support import image_bytes, upload
from tipline.domain.accounts.models import users
from tipline.domain.admin.models import audit_log
from tipline.domain.serversettings.actions import do_apply_retention
from tipline.domain.serversettings.current import current, forget
from tipline.domain.serversettings.models import invites
from tipline.runtime import Runtime


@pytest.fixture(autouse=True)
async def _fresh_settings(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Tables are emptied after each test; the per-process cache is dropped with them."""
    yield
    for name in ("server", "s3_server"):
        if name in request.fixturenames:
            forget(request.getfixturevalue(name).rt)


async def make_admin(rt: Runtime, user: User) -> User:
    async with rt.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user.id).values(is_admin=True))
    return user


async def patch(api: httpx.AsyncClient, admin: User, **body: Any) -> dict[str, Any]:
    r = await api.patch("/admin/settings", headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def signup_body(email: str | None = None, invite: str | None = None) -> dict[str, Any]:
    handle = f"u{uuid.uuid4().hex[:10]}"
    body: dict[str, Any] = {
        "email": email or f"{handle}@example.com",
        "password": PASSWORD,
        "handle": handle,
        "display_name": handle,
    }
    if invite is not None:
        body["invite"] = invite
    return body


async def new_invite(api: httpx.AsyncClient, admin: User, **body: Any) -> dict[str, Any]:
    r = await api.post("/admin/invites", headers=admin.headers, json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def emoji_png(px: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (px, px), (250, 200, 0, 255)).save(out, format="PNG")
    return out.getvalue()


# --- admin only, and audited -------------------------------------------------------------------


async def test_admin_routes_refuse_non_admins(api: httpx.AsyncClient) -> None:
    bob = await signup(api)
    calls = [
        ("GET", "/admin/settings", None),
        ("PATCH", "/admin/settings", {"signup_mode": "closed"}),
        ("GET", "/admin/invites", None),
        ("POST", "/admin/invites", {}),
        ("DELETE", f"/admin/invites/{uuid.uuid4()}", None),
        ("GET", "/admin/emoji", None),
        ("DELETE", "/admin/emoji/party", None),
    ]
    for method, path, body in calls:
        r = await api.request(method, path, headers=bob.headers, json=body)
        assert (r.status_code, r.json()["code"]) == (403, "not_a_server_admin"), (method, path, r.text)
        r = await api.request(method, path, json=body)
        assert r.status_code == 401, (method, path, r.text)
    r = await api.post(
        "/admin/emoji", headers=bob.headers, data={"name": "party"}, files={"file": ("p.png", emoji_png())}
    )
    assert (r.status_code, r.json()["code"]) == (403, "not_a_server_admin")
    assert (await api.get("/admin/settings")).status_code == 401


async def test_admin_reads_and_changes_settings_and_each_change_is_audited(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin = await make_admin(rt, await signup(api))
    r = await api.get("/admin/settings", headers=admin.headers)
    assert r.status_code == 200
    first = r.json()
    assert first["signup_mode"] == "open" and first["allowed_email_domains"] == []
    assert first["retention"] == {"direct": None, "group": None, "public": None, "private": None}
    out = await patch(
        api,
        admin,
        signup_mode="invite_only",
        allowed_email_domains=["Example.COM", "@corp.example"],
        retention={"direct": 30, "public": 365},
        uploads={"max_bytes": 1000, "allowed_types": ["image/*", "application/pdf"]},
    )
    assert out["signup_mode"] == "invite_only"
    assert out["allowed_email_domains"] == ["corp.example", "example.com"]
    assert out["retention"] == {"direct": 30, "group": None, "public": 365, "private": None}
    assert out["uploads"] == {"max_bytes": 1000, "allowed_types": ["application/pdf", "image/*"]}
    assert out["effective_upload_max_bytes"] == 1000 and out["updated_by"] == admin.id
    # Bad input gets a 422 with a reason.
    for bad in (
        {"signup_mode": "maybe"},
        {"allowed_email_domains": ["not a domain"]},
        {"retention": {"group": 0}},
        {"uploads": {"max_bytes": 0}},
        {"uploads": {"allowed_types": ["<script>"]}},
        {"unknown": 1},
    ):
        r = await api.patch("/admin/settings", headers=admin.headers, json=bad)
        assert r.status_code == 422, (bad, r.text)
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).order_by(audit_log.c.id))).mappings().all()
    assert [(a["action"], a["actor_id"]) for a in rows] == [("server_settings.update", admin.id)]
    assert rows[0]["details"]["changed"]["signup_mode"] == {"from": "open", "to": "invite_only"}
    assert rows[0]["ip"] == "127.0.0.1"
    # Public: what the sign-up page needs.
    info = (await api.get("/auth/signup-info")).json()
    assert info == {"signup_mode": "invite_only", "allowed_email_domains": ["corp.example", "example.com"]}


# --- sign-up modes, domains and invites --------------------------------------------------------


async def test_closed_sign_up_and_allowed_domains(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin = await make_admin(rt, await signup(api))
    await patch(api, admin, allowed_email_domains=["corp.example"])
    r = await api.post("/auth/signup", json=signup_body("eve@example.com"))
    assert (r.status_code, r.json()["code"]) == (403, "email_domain_not_allowed")
    assert "corp.example" in r.json()["detail"]
    assert (await api.post("/auth/signup", json=signup_body("ann@CORP.example"))).status_code == 201
    await patch(api, admin, signup_mode="closed")
    r = await api.post("/auth/signup", json=signup_body("bea@corp.example"))
    assert (r.status_code, r.json()["code"]) == (403, "signup_closed")
    # Existing accounts still sign in.
    r = await api.post("/auth/signin", json={"email": admin.email, "password": PASSWORD})
    assert r.status_code == 200


async def test_invite_only_sign_up(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin = await make_admin(rt, await signup(api))
    await patch(api, admin, signup_mode="invite_only")
    r = await api.post("/auth/signup", json=signup_body())
    assert (r.status_code, r.json()["code"]) == (403, "invite_required")
    r = await api.post("/auth/signup", json=signup_body(invite="made-up-code"))
    assert (r.status_code, r.json()["code"]) == (403, "invite_invalid")

    two = await new_invite(api, admin, max_uses=2, expires_in_hours=24, note="for the team")
    assert two["link"].endswith(f"/signup#invite={two['code']}") and two["hint"] == two["code"][:4]
    for _ in range(2):
        assert (await api.post("/auth/signup", json=signup_body(invite=two["code"]))).status_code == 201
    r = await api.post("/auth/signup", json=signup_body(invite=two["code"]))
    assert (r.status_code, r.json()["code"]) == (403, "invite_used_up")

    # A refused sign-up (a taken handle) does not use the invite up.
    one = await new_invite(api, admin, max_uses=1)
    taken = signup_body(invite=one["code"]) | {"handle": admin.handle}
    assert (await api.post("/auth/signup", json=taken)).status_code == 409
    assert (await api.post("/auth/signup", json=signup_body(invite=one["code"]))).status_code == 201

    expired = await new_invite(api, admin, max_uses=None)
    async with rt.engine.begin() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        await conn.execute(update(invites).where(invites.c.id == uuid.UUID(expired["id"])).values(expires_at=past))
    r = await api.post("/auth/signup", json=signup_body(invite=expired["code"]))
    assert (r.status_code, r.json()["code"]) == (403, "invite_expired")

    revoked = await new_invite(api, admin, max_uses=None, expires_in_hours=None)
    r = await api.delete(f"/admin/invites/{revoked['id']}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["revoked"] and not r.json()["usable"]
    r = await api.post("/auth/signup", json=signup_body(invite=revoked["code"]))
    assert (r.status_code, r.json()["code"]) == (403, "invite_invalid")
    assert (await api.delete(f"/admin/invites/{uuid.uuid4()}", headers=admin.headers)).status_code == 404

    listed = {i["id"]: i for i in (await api.get("/admin/invites", headers=admin.headers)).json()}
    assert "code" not in listed[two["id"]] and listed[two["id"]]["uses"] == 2 and not listed[two["id"]]["usable"]
    assert listed[one["id"]]["uses"] == 1
    assert listed[revoked["id"]]["revoked"] and listed[revoked["id"]]["expires_at"] is None
    async with rt.engine.connect() as conn:
        actions = (await conn.execute(select(audit_log.c.action))).scalars().all()
    assert actions.count("invite.create") == 4 and actions.count("invite.revoke") == 1


async def test_a_one_use_invite_cannot_be_used_twice_concurrently(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin = await make_admin(rt, await signup(api))
    await patch(api, admin, signup_mode="invite_only")
    invite = await new_invite(api, admin, max_uses=1)
    answers = await asyncio.gather(
        *[api.post("/auth/signup", json=signup_body(invite=invite["code"])) for _ in range(8)]
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [403] * 7, [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 403} == {"invite_used_up"}
    async with rt.engine.connect() as conn:
        assert (await conn.execute(select(invites.c.uses))).scalar_one() == 1


async def test_invite_only_keeps_sign_up_from_telling_whether_an_email_has_an_account(database_url: str) -> None:
    async with (
        start_server(database_url, email_verification=True) as srv,
        httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
    ):
        # The admin's account is verified directly in the database (as `tipline admin create` makes one).
        admin_email = f"a{uuid.uuid4().hex[:8]}@example.com"
        r = await api.post("/auth/signup", json=signup_body(admin_email))
        assert r.status_code == 202
        async with srv.rt.engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.email == admin_email).values(is_admin=True, email_verified_at=text("now()"))
            )
        r = await api.post("/auth/signin", json={"email": admin_email, "password": PASSWORD})
        admin_headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await api.patch("/admin/settings", headers=admin_headers, json={"signup_mode": "invite_only"})
        assert r.status_code == 200
        invite_a = (await api.post("/admin/invites", headers=admin_headers, json={"max_uses": 1})).json()
        invite_b = (await api.post("/admin/invites", headers=admin_headers, json={"max_uses": 1})).json()
        existing = await api.post("/auth/signup", json=signup_body(admin_email, invite=invite_a["code"]))
        fresh = await api.post("/auth/signup", json=signup_body(invite=invite_b["code"]))
        assert (existing.status_code, existing.content) == (fresh.status_code, fresh.content)
        assert existing.status_code == 202
        # Both used their invite, so trying the same invite again tells nothing either.
        again = await api.post("/auth/signup", json=signup_body(admin_email, invite=invite_a["code"]))
        assert again.json()["code"] == "invite_used_up"
        forget(srv.rt)


# --- upload limits -----------------------------------------------------------------------------


async def test_upload_limits(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin = await make_admin(rt, await signup(api))
    cid = (await create_conversation(api, admin, "group"))["id"]
    await patch(api, admin, uploads={"max_bytes": 2000, "allowed_types": ["image/*", "text/plain"]})

    def req(content_type: str, size: int) -> dict[str, Any]:
        return {
            "purpose": "attachment",
            "conversation_id": cid,
            "filename": "f",
            "content_type": content_type,
            "size": size,
        }

    r = await api.post("/media/uploads", headers=admin.headers, json=req("image/png", 2001))
    assert (r.status_code, r.json()["code"]) == (413, "upload_too_large")
    r = await api.post("/media/uploads", headers=admin.headers, json=req("application/pdf", 100))
    assert (r.status_code, r.json()["code"]) == (422, "upload_type_not_allowed")
    assert (await api.post("/media/uploads", headers=admin.headers, json=req("text/plain", 100))).status_code == 201
    # What the bytes really are counts: a PNG declared as text is refused once checked.
    _, done = await upload(api, admin, cid, image_bytes(size=(20, 20)), filename="x.txt", content_type="text/plain")
    assert done.status_code in (415, 422), done.text
    # A limit above the environment's ceiling does not raise it.
    out = await patch(api, admin, uploads={"max_bytes": 10**15})
    assert out["effective_upload_max_bytes"] == max(
        rt.settings.media_max_image_bytes,
        rt.settings.media_max_video_bytes,
        rt.settings.media_max_file_bytes,
        rt.settings.media_max_audio_bytes,
    )
    r = await api.post(
        "/media/uploads", headers=admin.headers, json=req("image/png", rt.settings.media_max_image_bytes + 1)
    )
    assert r.status_code == 413


async def test_upload_limits_are_read_from_a_cache_not_per_request(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin = await make_admin(rt, await signup(api))
    await patch(api, admin, uploads={"max_bytes": 5000})
    assert (await current(rt)).upload_max_bytes == 5000
    # A change written behind the cache's back (as another node's would be) is not read at once...
    async with rt.engine.begin() as conn:
        await conn.execute(text("UPDATE server_settings SET upload_max_bytes = 7000"))
    assert (await current(rt)).upload_max_bytes == 5000
    # ...but once SERVER_SETTINGS_CACHE_TTL_S has passed.
    rt.settings.server_settings_cache_ttl_s, ttl = 0.0, rt.settings.server_settings_cache_ttl_s
    try:
        assert (await current(rt)).upload_max_bytes == 7000
    finally:
        rt.settings.server_settings_cache_ttl_s = ttl


# --- custom emoji ------------------------------------------------------------------------------


async def test_custom_emoji_upload_list_react_and_delete(api: httpx.AsyncClient, rt: Runtime) -> None:
    admin = await make_admin(rt, await signup(api))
    bob = await signup(api)
    data = emoji_png()
    r = await api.post(
        "/admin/emoji", headers=admin.headers, data={"name": ":party_parrot:"}, files={"file": ("p.png", data)}
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["name"] == "party_parrot" and made["content_type"] == "image/png" and made["size"] == len(data)
    listed = (await api.get("/emoji", headers=bob.headers)).json()
    assert [(e["name"], e["url"]) for e in listed] == [("party_parrot", made["url"])]
    image = await api.get(made["url"])
    assert image.status_code == 200 and image.content == data
    assert image.headers["content-type"] == "image/png" and image.headers["x-content-type-options"] == "nosniff"

    # Refusals, each with its reason.
    async def post(name: str, content: bytes) -> httpx.Response:
        return await api.post(
            "/admin/emoji", headers=admin.headers, data={"name": name}, files={"file": ("f", content)}
        )

    assert (await post("party_parrot", data)).json()["code"] == "emoji_exists"
    assert (await post("bad name!", data)).json()["code"] == "emoji_name_invalid"
    assert (await post("svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')).json()["code"] == "emoji_not_image"
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, format="JPEG")
    assert (await post("jpeg", jpeg.getvalue())).json()["code"] == "emoji_not_image"
    assert (await post("huge", emoji_png(600))).json()["code"] == "emoji_too_big"
    r = await post("heavy", b"\x89PNG" + b"0" * rt.settings.custom_emoji_max_bytes)
    assert (r.status_code, r.json()["code"]) == (413, "emoji_too_large")

    # Reactions: an existing custom emoji, not a made-up one.
    cid = (await create_conversation(api, admin, "group", [bob]))["id"]
    mid = (await send_http(api, admin, cid, "party :party_parrot:")).json()["message_id"]
    r = await api.put(f"/messages/{mid}/reactions/:party_parrot:", headers=bob.headers)
    assert r.status_code == 200 and r.json()["reactions"] == [
        {"emoji": ":party_parrot:", "count": 1, "user_ids": [bob.id]}
    ]
    r = await api.put(f"/messages/{mid}/reactions/:nope_nope:", headers=bob.headers)
    assert (r.status_code, r.json()["code"]) == (404, "emoji_not_found")

    assert (await api.delete("/admin/emoji/party_parrot", headers=admin.headers)).status_code == 204
    assert (await api.get(made["url"])).status_code == 404
    assert (await api.get("/emoji", headers=bob.headers)).json() == []
    assert (await api.delete("/admin/emoji/party_parrot", headers=admin.headers)).status_code == 404
    async with rt.engine.connect() as conn:
        actions = (await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))).scalars().all()
    assert actions == ["emoji.create", "emoji.delete"]


# --- retention ---------------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def media(request: pytest.FixtureRequest) -> Server:
    srv: Server = request.getfixturevalue("server" if request.param == "local" else "s3_server")
    return srv


async def _age(rt: Runtime, message_id: int, days: float) -> None:
    async with rt.engine.begin() as conn:
        await conn.execute(
            text("UPDATE messages SET created_at = now() - make_interval(secs => :s) WHERE id = :id"),
            {"s": days * 86400, "id": message_id},
        )


async def test_retention_deletes_old_messages_and_their_objects(media: Server) -> None:
    rt = media.rt
    async with httpx.AsyncClient(base_url=media.base_url, timeout=30) as api:
        admin = await make_admin(rt, await signup(api))
        bob = await signup(api)
        group = (await create_conversation(api, admin, "group", [bob]))["id"]
        channel = (await create_conversation(api, admin, "public", name="news"))["id"]
        upload_id, done = await upload(
            api, bob, group, image_bytes(size=(40, 30)), filename="a.png", content_type="image/png"
        )
        assert done.status_code == 200, done.text
        async with rt.engine.connect() as conn:
            keys = (
                await conn.execute(
                    text("SELECT key, object_key, thumb_key FROM uploads WHERE id = :id"), {"id": uuid.UUID(upload_id)}
                )
            ).one()
        old = (await send_http(api, bob, group, "zebra secret plans", attachment_ids=[upload_id])).json()["message_id"]
        await api.put(f"/messages/{old}/reactions/%F0%9F%8E%89", headers=admin.headers)
        young = (await send_http(api, bob, group, "zebra fresh news")).json()["message_id"]
        kept = (await send_http(api, admin, channel, "zebra in the channel")).json()["message_id"]
        await api.put(f"/messages/{young}/reactions/%F0%9F%8E%89", headers=admin.headers)
        await _age(rt, old, 31)
        async with rt.engine.begin() as conn:
            aged = (
                "UPDATE conversation_events SET created_at = now() - interval '31 days' WHERE data->>'message_id' = :m"
            )
            await conn.execute(text(aged), {"m": str(old)})
        await _age(rt, young, 29)
        await _age(rt, kept, 400)
        await patch(api, admin, retention={"group": 30})
        removed = await do_apply_retention(rt, batch=1)
        assert removed == 1
        history = (await api.get(f"/conversations/{group}/messages", headers=bob.headers)).json()["messages"]
        assert [m["id"] for m in history] == [young]
        assert [await rt.objects.head(k) for k in keys if k is not None] == [None, None, None]
        found = (await api.get("/search/messages", headers=admin.headers, params={"q": "zebra"})).json()
        ids = {hit["id"] for hit in found["hits"]}
        assert old not in ids and young in ids and kept in ids
        assert (await api.get(f"/media/attachments/{upload_id}", headers=bob.headers)).status_code == 404
        async with rt.engine.connect() as conn:
            events = text("SELECT data FROM conversation_events WHERE conversation_id = :c AND event = :e")
            left = (await conn.execute(events, {"c": group, "e": "reaction.added"})).scalars().all()
        assert [e["message_id"] for e in left] == [young]  # the old message's reaction went with it
        assert await do_apply_retention(rt) == 0


async def test_retention_drops_the_recent_message_cache_of_the_conversations_it_touched(database_url: str) -> None:
    """With Redis, history is served from the recent-message cache: an expired message leaves it too."""
    from tests.bus.redis_helpers import REDIS_URL, delete_prefixed, unique_prefix
    from tipline.backends.cache import stats

    prefix = unique_prefix()
    try:
        async with (
            start_server(database_url, redis_url=REDIS_URL, bus_channel_prefix=prefix) as srv,
            httpx.AsyncClient(base_url=srv.base_url, timeout=30) as api,
        ):
            admin = await make_admin(srv.rt, await signup(api))
            cid = (await create_conversation(api, admin, "private", name="ops"))["id"]
            old = (await send_http(api, admin, cid, "old news")).json()["message_id"]
            young = (await send_http(api, admin, cid, "fresh news")).json()["message_id"]
            await api.get(f"/conversations/{cid}/messages", headers=admin.headers)  # fills the cache if cold
            hits = stats.hits
            page = (await api.get(f"/conversations/{cid}/messages", headers=admin.headers)).json()["messages"]
            assert stats.hits > hits and [m["id"] for m in page] == [old, young]
            await _age(srv.rt, old, 3)
            await patch(api, admin, retention={"private": 2})
            assert await do_apply_retention(srv.rt) == 1
            page = (await api.get(f"/conversations/{cid}/messages", headers=admin.headers)).json()["messages"]
            assert [m["id"] for m in page] == [young]
            forget(srv.rt)
    finally:
        await delete_prefixed(prefix)
