"""Server settings in Chromium (docs/subsystems/admin.md, Server settings): an admin makes sign-up
invite-only and creates an invite link; a new browser signs up with it (the code in the link's
fragment). The admin uploads a custom emoji; it shows in the emoji picker and in a message."""

from __future__ import annotations

import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2EServer, People, Person, people_of
from tests.nodes import node_process


@pytest.fixture(scope="module")
async def settings_server(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2EServer]:
    """A server of its own: invite-only sign-up and custom emoji stay out of the other browser tests."""
    log = tmp_path_factory.mktemp("e2e-settings") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    async with node_process(command, log, prefix="e2e_settings", WEB_DIST=str(web_dist)) as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture
async def people(browser: Browser, settings_server: E2EServer) -> AsyncIterator[People]:
    async with people_of(browser, settings_server) as make:
        yield make


def emoji_png() -> bytes:
    out = io.BytesIO()
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    for x in range(8, 56):
        for y in range(8, 56):
            img.putpixel((x, y), (250, 180, 0, 255))
    img.save(out, format="PNG")
    return out.getvalue()


async def make_admin(server: E2EServer, person: Person) -> None:
    db = await asyncpg.connect(server.database_url)
    try:
        await db.execute("UPDATE users SET is_admin = true WHERE handle = $1", person.handle)
    finally:
        await db.close()
    # The console's addresses share /admin with the API: it is opened from inside the app.
    await person.goto("/")
    await person.page.get_by_test_id("admin-link").click()
    await person.page.get_by_test_id("admin-tab-settings").click()
    await person.page.get_by_test_id("server-settings").wait_for()


async def reopen_sign_up(server: E2EServer, admin: Person) -> None:
    """The module's next test signs up freely: sign-up goes back to open."""
    headers = {"Authorization": f"Bearer {await admin.token()}"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        r = await api.patch("/admin/settings", headers=headers, json={"signup_mode": "open"})
        assert r.status_code == 200, r.text


async def test_invite_only_sign_up_with_an_invite_link(
    people: People, settings_server: E2EServer, artifacts: Path
) -> None:
    admin = await people("adm")
    await admin.sign_up()
    await make_admin(settings_server, admin)
    page = admin.page
    try:
        signup_form = page.get_by_role("form", name="Sign-up settings")
        await signup_form.get_by_label("Only people with an invite link").check()
        await signup_form.get_by_role("button", name="Save sign-up settings").click()
        await expect(signup_form.get_by_role("status")).to_have_text("Saved")

        invite_form = page.get_by_role("form", name="New invite")
        await invite_form.get_by_label("Uses").fill("1")
        await invite_form.get_by_role("button", name="Create invite").click()
        link = (await page.get_by_test_id("invite-link").inner_text()).strip()
        assert "/signup#invite=" in link
        await page.screenshot(path=str(artifacts / "server-settings-invite.png"))
        await page.get_by_role("button", name="Done").click()
        await expect(page.get_by_test_id("invites")).to_contain_text("0 of 1 used")

        # Without an invite, a new browser is refused with the reason.
        stranger = await people("nope")
        stranger.expected_errors.append("status of 403")
        await stranger.goto("/signup")
        await stranger.page.get_by_label("Display name").fill("Stranger")
        await stranger.page.get_by_label("Handle").fill(stranger.handle)
        await stranger.page.get_by_label("Email").fill(stranger.email)
        await stranger.page.get_by_label("Invite code").fill("not-a-real-code")
        await stranger.page.get_by_label("Password").fill("a long enough passphrase 42")
        await stranger.page.get_by_role("button", name="Create account").click()
        await expect(stranger.page.get_by_text("unknown or was revoked")).to_be_visible()

        # The invite link: the code arrives in the fragment and fills the form; sign-up works.
        guest = await people("inv")
        await guest.goto("/signup#" + link.split("#", 1)[1])
        await expect(guest.page.get_by_label("Invite code")).to_have_value(link.split("#invite=", 1)[1])
        assert "#" not in guest.page.url  # out of the address bar once read
        await guest.page.get_by_label("Display name").fill(guest.display_name)
        await guest.page.get_by_label("Handle").fill(guest.handle)
        await guest.page.get_by_label("Email").fill(guest.email)
        await guest.page.get_by_label("Password").fill("a long enough passphrase 42")
        await guest.page.get_by_role("button", name="Create account").click()
        await guest.page.get_by_test_id("new-conversation").wait_for()

        await page.get_by_test_id("admin-tab-users").click()
        await page.get_by_test_id("admin-tab-settings").click()
        await expect(page.get_by_test_id("invites")).to_contain_text("1 of 1 used")
        await expect(page.get_by_test_id("invites")).to_contain_text("no longer usable")
    finally:
        await reopen_sign_up(settings_server, admin)


async def test_a_custom_emoji_shows_in_the_picker_and_in_a_message(
    people: People, settings_server: E2EServer, artifacts: Path
) -> None:
    admin = await people("emo")
    friend = await people("fri")
    await friend.sign_up()
    await admin.sign_up()
    await make_admin(settings_server, admin)
    page = admin.page
    form = page.get_by_role("form", name="New custom emoji")
    await form.get_by_label("Emoji name").fill("party_parrot")
    await form.get_by_label("Emoji image").set_input_files(
        files=[{"name": "parrot.png", "mimeType": "image/png", "buffer": emoji_png()}]
    )
    await form.get_by_role("button", name="Upload emoji").click()
    await expect(page.get_by_test_id("custom-emoji-list")).to_contain_text(":party_parrot:")

    await admin.goto("/")
    await admin.open_dm(friend)
    await page.get_by_role("button", name="Insert emoji").click()
    picker = page.get_by_test_id("emoji-picker")
    custom = picker.get_by_test_id("custom-emoji")
    await expect(custom.locator('img[data-custom-emoji=":party_parrot:"]')).to_be_visible()
    await page.screenshot(path=str(artifacts / "custom-emoji-picker.png"))
    await custom.get_by_role("button", name="party_parrot").click()
    composer = page.get_by_test_id("composer")
    await expect(composer).to_have_value(":party_parrot:", timeout=5000)
    await composer.press("End")
    await composer.type(" party time")
    await composer.press("Enter")
    await admin.wait_message("party time")
    image = admin.message("party time").locator('img[data-custom-emoji=":party_parrot:"]')
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth === 64")

    await friend.page.reload()
    await friend.open_conversation(admin.display_name)
    await expect(friend.message("party time").locator('img[data-custom-emoji=":party_parrot:"]')).to_be_visible()
    await friend.page.screenshot(path=str(artifacts / "custom-emoji-message.png"))
