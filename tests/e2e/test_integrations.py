"""API tokens and bots in Chromium: create a token in Settings (shown once), use it, see it listed,
revoke it; create a bot, give it a token, and see its messages marked "BOT" in the conversation."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Page, expect

from tests.e2e.conftest import E2EServer, People


async def open_settings(page: Page, section: str) -> None:
    # By address: for an admin the sidebar's bottom holds more links, and the settings link
    # can sit under another element at the test's window size.
    origin = "/".join(page.url.split("/", 3)[:3])
    await page.goto(origin + "/settings")
    await page.get_by_role("heading", name=section).wait_for()


async def test_create_use_list_and_revoke_a_token(people: People, e2e_server: E2EServer, artifacts: Path) -> None:
    ann = await people("tok")
    await ann.sign_up()
    await open_settings(ann.page, "API tokens")
    form = ann.page.get_by_role("form", name="New API token")
    await form.get_by_label("Token name").fill("deploy script")
    await form.get_by_role("checkbox", name="messages:write").check()
    await form.get_by_label("Expires after (days)").fill("30")
    await form.get_by_role("button", name="Create token").click()
    shown = ann.page.get_by_test_id("new-token")
    await shown.wait_for()
    token = (await shown.inner_text()).strip()
    assert token.startswith("tlp_")
    await ann.page.screenshot(path=str(artifacts / "integrations-token-shown.png"))

    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=10) as api:
        me = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["handle"] == ann.handle

        await ann.page.get_by_role("button", name="Done").click()
        listed = ann.page.get_by_test_id("api-tokens")
        await expect(listed).to_contain_text("deploy script")
        await expect(listed).to_contain_text("messages:read messages:write")
        # The secret is shown once: not in the list, not anywhere on the page any more.
        assert token not in await ann.page.content()

        await ann.page.get_by_role("button", name="Revoke deploy script").click()
        await ann.page.get_by_role("alertdialog").get_by_role("button", name="Revoke").click()
        await expect(ann.page.get_by_test_id("api-tokens")).to_have_count(0)
        await expect(ann.page.get_by_text("No tokens.").first).to_be_visible()
        assert (await api.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_a_bot_is_created_given_a_token_and_marked_in_the_conversation(
    people: People, e2e_server: E2EServer, artifacts: Path
) -> None:
    ann = await people("bot")
    await ann.sign_up()
    db = await asyncpg.connect(e2e_server.database_url)
    try:
        await db.execute("UPDATE users SET is_admin = true WHERE handle = $1", ann.handle)
    finally:
        await db.close()
    handle = f"ci{uuid.uuid4().hex[:6]}"
    await open_settings(ann.page, "Bots")
    form = ann.page.get_by_role("form", name="New bot")
    await form.get_by_label("Bot handle").fill(handle)
    await form.get_by_label("Bot display name").fill("Build Bot")
    await form.get_by_label("Description").fill("Posts build results")
    await form.get_by_role("button", name="Create bot").click()
    bots = ann.page.get_by_test_id("bots")
    await expect(bots).to_contain_text("Build Bot")
    await expect(bots).to_contain_text("BOT")

    await bots.get_by_role("button", name="Tokens").click()
    token_form = ann.page.get_by_role("form", name="New bot token")
    await token_form.get_by_label("Token name").fill("ci")
    await token_form.get_by_role("checkbox", name="messages:write").check()
    await token_form.get_by_role("button", name="Create token").click()
    token = (await ann.page.get_by_test_id("new-token").inner_text()).strip()
    await ann.page.get_by_role("button", name="Done").click()
    await expect(bots).to_contain_text("never used")

    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=10) as api:
        bot_auth = {"Authorization": f"Bearer {token}"}
        bot = (await api.get("/me", headers=bot_auth)).json()
        assert bot["is_bot"] is True and bot["handle"] == handle
        person = {"Authorization": f"Bearer {await ann.token()}"}
        r = await api.post(
            "/conversations", headers=person, json={"kind": "group", "name": "builds", "member_ids": [bot["id"]]}
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        sent = await api.post(
            f"/conversations/{cid}/messages",
            headers=bot_auth,
            json={"client_msg_id": uuid.uuid4().hex, "body": "build 42 passed"},
        )
        assert sent.status_code == 201, sent.text

    await ann.goto("/")
    await ann.open_conversation("builds")
    await ann.wait_message("build 42 passed")
    item = ann.page.locator("li[id^='m-']").filter(has_text="build 42 passed")
    await expect(item.first).to_contain_text("Build Bot")
    await expect(item.first.get_by_title("This account is a bot")).to_have_text("BOT")
    await ann.page.screenshot(path=str(artifacts / "integrations-bot-message.png"))
