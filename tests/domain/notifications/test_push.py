"""Web Push end to end: a DM or mention to someone with no open socket reaches a local push
service encrypted to the subscription's keys and signed with the server's VAPID key; levels,
presence and expired subscriptions are respected (docs/subsystems/notifications.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from py_vapid import Vapid02

from tests.conftest import Server, start_server
from tests.domain.notifications.pushservice import PushService, Subscription
from tests.helpers import User, Ws, create_conversation, send_http, signup
from tipline.domain.notifications.push import generate_vapid_keys

PRIVATE, PUBLIC = generate_vapid_keys()


@pytest.fixture
async def notify_server(database_url: str) -> AsyncIterator[Server]:
    async with start_server(
        database_url,
        notify_worker=True,
        notify_poll_interval_s=0.05,
        vapid_private_key=PRIVATE,
        vapid_public_key=PUBLIC,
        vapid_subject="mailto:ops@example.com",
        push_allowed_private_hosts="127.0.0.1",
        email_notify_delay_s=3600,
    ) as srv:
        yield srv


@pytest.fixture
async def api(notify_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=notify_server.base_url, timeout=30) as client:
        yield client


async def subscribe(api: httpx.AsyncClient, user: User, sub: Subscription) -> dict[str, Any]:
    r = await api.post("/me/push-subscriptions", headers=user.headers, json=sub.to_json())
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def direct(api: httpx.AsyncClient, a: User, b: User) -> int:
    r = await api.post("/conversations/direct", headers=a.headers, json={"user_id": b.id})
    assert r.status_code in (200, 201), r.text
    cid: int = r.json()["id"]
    return cid


async def sent(api: httpx.AsyncClient, user: User, cid: int, body: str) -> dict[str, Any]:
    r = await send_http(api, user, cid, body)
    assert r.status_code in (200, 201), r.text
    ack: dict[str, Any] = r.json()
    return ack


async def test_dm_push_is_encrypted_to_the_subscription_and_signed(
    api: httpx.AsyncClient, push_service: PushService
) -> None:
    alice, bob = await signup(api, "alice_push"), await signup(api, "bob_push")
    sub = Subscription(push_service.url("/push/alice"))
    await subscribe(api, alice, sub)
    cid = await direct(api, bob, alice)
    ack = await sent(api, bob, cid, "are you there? " + "x" * 200)

    [push] = await push_service.wait_for("/push/alice", 1)
    payload = sub.decrypt(push.body)
    assert payload["title"] == "Bob_Push"
    assert payload["body"].startswith("are you there? xxx") and len(payload["body"]) <= 140
    assert payload["conversation_id"] == cid and payload["message_id"] == ack["message_id"]
    assert payload["tag"] == f"conversation-{cid}"
    assert push.headers["Content-Encoding"] == "aes128gcm"
    assert int(push.headers["TTL"]) > 0
    # VAPID (RFC 8292): signed by the server's key, for this push service's origin.
    auth = push.headers["Authorization"]
    assert Vapid02.verify(auth)
    assert auth.split("k=")[1] == PUBLIC


async def test_mentions_levels_presence_and_expiry(
    notify_server: Server, api: httpx.AsyncClient, push_service: PushService
) -> None:
    owner, alice, bob = await signup(api), await signup(api), await signup(api)
    sub = Subscription(push_service.url("/push/a"))
    await subscribe(api, alice, sub)
    room = await create_conversation(api, owner, kind="public", members=[alice, bob], name="general")
    cid = room["id"]

    await sent(api, bob, cid, "no mention here")
    await sent(api, bob, cid, f"hey @{alice.handle} look")
    [push] = await push_service.wait_for("/push/a", 1)
    payload = sub.decrypt(push.body)
    assert payload["body"] == f"hey @{alice.handle} look"
    assert payload["title"] == f"{bob.handle.title()} in general"

    # Muted: nothing, not even a mention or @channel.
    r = await api.put(f"/conversations/{cid}/notifications", headers=alice.headers, json={"level": "mute"})
    assert r.status_code == 200
    await sent(api, bob, cid, f"@{alice.handle} are you muted?")
    await sent(api, owner, cid, "@channel everyone!")
    # Mentions only: a mention and @channel do.
    await asyncio.sleep(0.5)
    r = await api.put(f"/conversations/{cid}/notifications", headers=alice.headers, json={"level": "mentions"})
    await sent(api, owner, cid, "@channel release")
    pushes = await push_service.wait_for("/push/a", 2)
    assert sub.decrypt(pushes[1].body)["body"] == "@channel release"

    # With a socket open, the tab notifies by itself: no push.
    ws = await Ws.open(notify_server.ws_url, alice)
    await sent(api, bob, cid, f"@{alice.handle} online now")
    await asyncio.sleep(0.6)
    await ws.close()
    assert len(push_service.to("/push/a")) == 2

    # An expired subscription (410) is forgotten.
    push_service.status_for["/push/a"] = 410
    await sent(api, bob, cid, f"@{alice.handle} after expiry")
    await push_service.wait_for("/push/a", 3)
    for _ in range(50):
        if (await api.get("/me/push-subscriptions", headers=alice.headers)).json() == []:
            break
        await asyncio.sleep(0.05)
    assert (await api.get("/me/push-subscriptions", headers=alice.headers)).json() == []


async def test_private_endpoints_are_refused(notify_server: Server, api: httpx.AsyncClient) -> None:
    alice, bob = await signup(api), await signup(api)
    # https, so it is accepted on subscribe, but it resolves to loopback and is not allow-listed.
    sub = Subscription("https://localhost:9/push")
    await subscribe(api, alice, sub)
    cid = await direct(api, bob, alice)
    await sent(api, bob, cid, "hello")
    conn = await asyncpg.connect(notify_server.database_url)
    try:
        for _ in range(100):
            row = await conn.fetchrow("SELECT sent_at, next_attempt_at, last_error FROM push_outbox")
            if row is not None and row["last_error"]:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    assert row is not None and row["sent_at"] is None and row["next_attempt_at"] is None
    assert "private or loopback" in row["last_error"]
