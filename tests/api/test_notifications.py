"""Notification levels, email settings, push subscriptions and the @here / @channel permission
over HTTP (docs/subsystems/notifications.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Server, start_server
from tests.helpers import create_conversation, send_http, signup


async def test_levels_are_per_member_and_checked(api: httpx.AsyncClient) -> None:
    alice, bob, eve = await signup(api), await signup(api), await signup(api)
    conv = await create_conversation(api, alice, members=[bob])
    path = f"/conversations/{conv['id']}/notifications"

    r = await api.get(path, headers=alice.headers)
    assert r.status_code == 200 and r.json() == {"conversation_id": conv["id"], "level": "all"}
    r = await api.put(path, headers=alice.headers, json={"level": "mute"})
    assert r.status_code == 200 and r.json()["level"] == "mute"
    # Bob's level is his own.
    assert (await api.get(path, headers=bob.headers)).json()["level"] == "all"
    r = await api.get("/me/notifications", headers=alice.headers)
    assert r.json()["levels"] == {str(conv["id"]): "mute"}
    r = await api.put(path, headers=alice.headers, json={"level": "mentions"})
    assert (await api.get(path, headers=alice.headers)).json()["level"] == "mentions"
    r = await api.put(path, headers=alice.headers, json={"level": "all"})
    assert (await api.get("/me/notifications", headers=alice.headers)).json()["levels"] == {}

    # Bad input and strangers.
    r = await api.put(path, headers=alice.headers, json={"level": "loud"})
    assert r.status_code == 422
    r = await api.put(path, headers=eve.headers, json={"level": "mute"})
    assert r.status_code == 404
    r = await api.get(path, headers=eve.headers)
    assert r.status_code == 404
    r = await api.put(path, json={"level": "mute"})
    assert r.status_code == 401


async def test_email_setting(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    r = await api.get("/me/notifications", headers=alice.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["email_enabled"] is True and body["email_delay_s"] == 600
    r = await api.patch("/me/notifications", headers=alice.headers, json={"email_enabled": False})
    assert r.status_code == 200 and r.json()["email_enabled"] is False
    r = await api.patch("/me/notifications", headers=alice.headers, json={"email_enabled": "maybe"})
    assert r.status_code == 422


async def test_push_needs_keys(api: httpx.AsyncClient) -> None:
    alice = await signup(api)
    assert (await api.get("/me/notifications", headers=alice.headers)).json()["push_available"] is False
    sub = {"endpoint": "https://push.example.com/abc", "keys": {"p256dh": "B" * 87, "auth": "a" * 22}}
    r = await api.post("/me/push-subscriptions", headers=alice.headers, json=sub)
    assert r.status_code == 422 and r.json()["code"] == "push_disabled"


@pytest.fixture
async def push_server(database_url: str) -> AsyncIterator[Server]:
    from tipline.domain.notifications.push import generate_vapid_keys

    private, public = generate_vapid_keys()
    async with start_server(
        database_url, vapid_private_key=private, vapid_public_key=public, mention_all_max_members=2
    ) as srv:
        yield srv


async def test_push_subscriptions_per_device(push_server: Server) -> None:
    async with httpx.AsyncClient(timeout=30, base_url=push_server.base_url) as api:
        alice, bob = await signup(api), await signup(api)
        settings = (await api.get("/me/notifications", headers=alice.headers)).json()
        assert settings["push_available"] is True and len(settings["vapid_public_key"]) == 87
        sub = {
            "endpoint": "https://push.example.com/send/abc",
            "keys": {"p256dh": "B" * 87, "auth": "a" * 22},
            "label": "Chromium on Linux",
        }
        r = await api.post("/me/push-subscriptions", headers=alice.headers, json=sub)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["label"] == "Chromium on Linux" and created["endpoint_origin"] == "https://push.example.com"
        assert "endpoint" not in created
        # The same endpoint again updates the same device.
        r = await api.post("/me/push-subscriptions", headers=alice.headers, json={**sub, "label": "Renamed"})
        assert r.json()["id"] == created["id"]
        listed = (await api.get("/me/push-subscriptions", headers=alice.headers)).json()
        assert [s["label"] for s in listed] == ["Renamed"]
        assert (await api.get("/me/push-subscriptions", headers=bob.headers)).json() == []
        # Only its owner removes it.
        r = await api.delete(f"/me/push-subscriptions/{created['id']}", headers=bob.headers)
        assert r.status_code == 404
        r = await api.delete(f"/me/push-subscriptions/{created['id']}", headers=alice.headers)
        assert r.status_code == 204
        assert (await api.get("/me/push-subscriptions", headers=alice.headers)).json() == []

        for endpoint in ("http://push.example.com/x", "https://user:pw@push.example.com/x", "ftp://x/y", "nonsense"):
            r = await api.post("/me/push-subscriptions", headers=alice.headers, json={**sub, "endpoint": endpoint})
            assert r.status_code == 422, endpoint
        r = await api.post(
            "/me/push-subscriptions", headers=alice.headers, json={**sub, "keys": {"p256dh": "<>", "auth": "x"}}
        )
        assert r.status_code == 422


async def test_here_and_channel_need_a_manager_in_large_conversations(push_server: Server) -> None:
    async with httpx.AsyncClient(timeout=30, base_url=push_server.base_url) as api:
        owner, bob, carol = await signup(api), await signup(api), await signup(api)
        small = await create_conversation(api, owner, members=[bob])
        large = await create_conversation(api, owner, kind="public", members=[bob, carol])

        # Up to MENTION_ALL_MAX_MEMBERS (2 here) anyone may.
        r = await send_http(api, bob, small["id"], "@channel lunch?")
        assert r.status_code in (200, 201), r.text
        # Above it, a plain member is refused with a reason...
        for body in ("@here standup now", "hey @channel", "@HERE caps too"):
            r = await send_http(api, bob, large["id"], body)
            assert r.status_code == 403, r.text
            assert r.json()["code"] == "mention_all_forbidden"
            assert "owners and admins" in r.json()["detail"]
        # ...words that only look like it pass...
        for body in ("mail me at x@channel.io", "@channels are fun", "email@here"):
            r = await send_http(api, bob, large["id"], body)
            assert r.status_code in (200, 201), (body, r.text)
        # ...and owners and admins may.
        r = await send_http(api, owner, large["id"], "@channel release is out")
        assert r.status_code in (200, 201), r.text
        r = await api.patch(
            f"/conversations/{large['id']}/members/{carol.id}", headers=owner.headers, json={"role": "admin"}
        )
        assert r.status_code == 200, r.text
        r = await send_http(api, carol, large["id"], "@here quick poll")
        assert r.status_code in (200, 201), r.text
