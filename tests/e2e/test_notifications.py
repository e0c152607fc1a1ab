"""Notifications in Chromium: the unread count in the tab title and a favicon badge, the
conversation header's level menu (mute leaves the count out), push devices in Settings, and the
service worker showing a notification for a pushed payload (docs/subsystems/notifications.md).

Chromium has no push service offline, so the push is handed to the service worker through the
DevTools protocol (``ServiceWorker.deliverPushMessage``), exactly as a push service would hand
it over after decryption; the server side of push (encryption, VAPID, the request) is tested
end to end in tests/domain/notifications/test_push.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2EServer, People, Person, people_of
from tests.nodes import node_process
from tipline.domain.notifications.push import generate_vapid_keys


@pytest.fixture(scope="module")
async def notify_server(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2EServer]:
    private, public = generate_vapid_keys()
    log = tmp_path_factory.mktemp("e2e-notify") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    async with node_process(
        command,
        log,
        prefix="e2e_notify",
        WEB_DIST=str(web_dist),
        VAPID_PRIVATE_KEY=private,
        VAPID_PUBLIC_KEY=public,
        NOTIFY_POLL_INTERVAL_S="0.2",
    ) as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture
async def people(browser: Browser, notify_server: E2EServer) -> AsyncIterator[People]:
    async with people_of(browser, notify_server) as make:
        yield make


async def api_user(api: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    token = await person.token()
    me = (await api.get("/me", headers={"Authorization": f"Bearer {token}"})).json()
    return {"id": me["id"], "headers": {"Authorization": f"Bearer {token}"}}


async def test_unread_title_badge_and_level_menu(people: People, notify_server: E2EServer, artifacts: Path) -> None:
    ann, bob = await people("ann"), await people("bob")
    await ann.sign_up()
    await bob.sign_up()
    async with httpx.AsyncClient(base_url=notify_server.base_url, timeout=10) as api:
        a, b = await api_user(api, ann), await api_user(api, bob)
        dm = (await api.post("/conversations/direct", headers=b["headers"], json={"user_id": a["id"]})).json()
        await expect(ann.page).to_have_title("Tipline")
        for i in range(2):
            r = await api.post(
                f"/conversations/{dm['id']}/messages",
                headers=b["headers"],
                json={"client_msg_id": f"m{i}", "body": f"hi {i}"},
            )
            assert r.status_code in (200, 201), r.text
        await expect(ann.page).to_have_title("(2) Tipline")
        icon = await ann.page.locator('link[rel="icon"]').get_attribute("href")
        assert icon is not None and icon.startswith("data:image/svg+xml,")
        assert ">2</text>" in unquote(icon)

        # Reading it clears the count and the badge.
        await ann.open_conversation(bob.display_name)
        await expect(ann.page).to_have_title("Tipline")
        assert await ann.page.locator('link[rel="icon"]').get_attribute("href") == "/favicon.svg"

        # The header's bell: mute this conversation.
        await ann.page.get_by_test_id("notification-level").click()
        await ann.page.get_by_role("menuitemradio", name="Mute").click()
        await expect(ann.page.get_by_test_id("notification-level")).to_have_attribute(
            "aria-label", "Notifications: Mute"
        )
        r = await api.get(f"/conversations/{dm['id']}/notifications", headers=a["headers"])
        assert r.json()["level"] == "mute"
        await ann.page.screenshot(path=str(artifacts / "notifications-level-menu.png"))
        # A muted conversation's unread messages stay out of the title.
        await ann.goto("/settings")
        await ann.page.get_by_role("heading", name="When you are away").wait_for()
        r = await api.post(
            f"/conversations/{dm['id']}/messages", headers=b["headers"], json={"client_msg_id": "m3", "body": "muted"}
        )
        await asyncio.sleep(1.0)
        await expect(ann.page).to_have_title("Tipline")
        r = await api.put(f"/conversations/{dm['id']}/notifications", headers=a["headers"], json={"level": "all"})
        await ann.page.reload()
        await expect(ann.page).to_have_title("(1) Tipline")


async def test_push_devices_and_the_service_worker_notification(
    people: People, notify_server: E2EServer, artifacts: Path
) -> None:
    ann = await people("push", permissions=["notifications"])
    await ann.sign_up()
    page = ann.page
    # The production build registers /sw.js once the page has loaded.
    await page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")

    async with httpx.AsyncClient(base_url=notify_server.base_url, timeout=10) as api:
        a = await api_user(api, ann)
        sub = {
            "endpoint": "https://push.example.net/send/device-1",
            "keys": {"p256dh": "B" * 87, "auth": "a" * 22},
            "label": "Chrome on Linux",
        }
        assert (await api.post("/me/push-subscriptions", headers=a["headers"], json=sub)).status_code == 201

        await page.get_by_test_id("settings-link").click()
        await page.get_by_role("heading", name="When you are away").wait_for()
        devices = page.get_by_test_id("push-devices")
        await expect(devices).to_contain_text("Chrome on Linux")
        await expect(devices).to_contain_text("https://push.example.net")
        await expect(page.get_by_test_id("enable-push")).to_be_visible()
        await expect(page.get_by_test_id("email-notifications")).to_be_checked()
        await page.get_by_role("heading", name="When you are away").scroll_into_view_if_needed()
        await page.screenshot(path=str(artifacts / "notifications-settings.png"))
        await page.get_by_role("button", name="Remove Chrome on Linux").click()
        await expect(page.get_by_test_id("push-devices")).to_have_count(0)
        assert (await api.get("/me/push-subscriptions", headers=a["headers"])).json() == []

        await page.get_by_test_id("email-notifications").click()  # saved, then shown unchecked
        await expect(page.get_by_test_id("email-notifications")).not_to_be_checked()
        assert (await api.get("/me/notifications", headers=a["headers"])).json()["email_enabled"] is False

    # A push, handed to the service worker as the push service would.
    cdp = await ann.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    await cdp.send("ServiceWorker.enable")
    for _ in range(50):
        if any(r["scopeURL"].startswith(notify_server.base_url) for r in registrations):
            break
        await asyncio.sleep(0.1)
    [registration] = [r for r in registrations if r["scopeURL"].startswith(notify_server.base_url)][:1]
    payload = {
        "type": "message",
        "title": "Bob",
        "body": "are you there?",
        "conversation_id": 7,
        "tag": "conversation-7",
    }
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": notify_server.base_url,
            "registrationId": registration["registrationId"],
            "data": json.dumps(payload),
        },
    )
    shown: list[dict[str, Any]] = []
    for _ in range(50):
        shown = await page.evaluate(
            """() => navigator.serviceWorker.ready
                .then((r) => r.getNotifications())
                .then((list) => list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })))"""
        )
        if shown:
            break
        await asyncio.sleep(0.1)
    assert shown == [{"title": "Bob", "body": "are you there?", "tag": "conversation-7", "data": {"conversationId": 7}}]
