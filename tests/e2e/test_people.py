"""People in Chromium: uploaded avatars where a person appears, the profile card opened from a name
(on a desktop, and on a 390x844 phone in dark mode), the people directory, and unblocking someone
from Settings (issue 19, items 8 and 9)."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import expect

from tests.e2e.conftest import E2EServer, People, Person
from tests.helpers import User
from tests.media_support import image_bytes, upload

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


async def as_user(person: Person) -> User:
    token = await person.token()
    async with httpx.AsyncClient(base_url=person.base_url, timeout=10) as api:
        me = (await api.get("/me", headers={"Authorization": f"Bearer {token}"})).json()
    return User(id=me["id"], handle=person.handle, email=person.email, token=token, refresh_token="", session_id="")


async def give_avatar(person: Person) -> None:
    user = await as_user(person)
    async with httpx.AsyncClient(base_url=person.base_url, timeout=30) as api:
        src, _ = await upload(
            api,
            user,
            None,
            image_bytes("PNG", (120, 120)),
            filename="me.png",
            content_type="image/png",
            purpose="avatar",
            complete=False,
        )
        r = await api.put("/me/avatar", headers=user.headers, json={"upload_id": src})
        assert r.status_code == 200, r.text


async def test_avatars_profile_card_directory_and_unblock(
    people: People, e2e_server: E2EServer, artifacts: Path
) -> None:
    bob = await people("pbob")
    await bob.sign_up()
    await give_avatar(bob)
    ann = await people("pann")
    await ann.sign_up()
    await ann.open_dm(bob)
    await ann.send("hello bob")
    await bob.open_conversation(ann.display_name)
    await bob.send("hi ann")
    await ann.wait_message("hi ann")

    # Bob's uploaded picture, not his initials, beside his message.
    bobs = ann.page.get_by_test_id("message").filter(has_text="hi ann")
    image = bobs.get_by_test_id("avatar-image")
    await expect(image).to_be_visible()
    assert "/media/avatars/" in (await image.get_attribute("src") or "")

    # His name opens his card: picture, name, handle, and a way to message him.
    await bobs.get_by_test_id("person-name").click()
    card = ann.page.get_by_role("dialog", name=f"Profile of {bob.display_name}")
    await expect(card).to_be_visible()
    await expect(card).to_contain_text(f"@{bob.handle}")
    await expect(card.get_by_test_id("profile-card-avatar")).to_be_visible()
    await expect(card.get_by_role("button", name="Message")).to_be_visible()
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    await ann.page.screenshot(path=str(DOCS_IMAGES / "profile-card.png"))
    await ann.page.keyboard.press("Escape")
    await expect(card).to_have_count(0)

    # The directory finds him by handle and by his exact email address; Message opens the DM.
    await ann.page.get_by_test_id("people-link").click()
    search = ann.page.get_by_label("Search people")
    await search.fill("@" + bob.handle)
    results = ann.page.get_by_test_id("people-results")
    await expect(results).to_contain_text(bob.display_name)
    await search.fill(bob.email)
    await expect(results).to_contain_text(f"@{bob.handle}")
    await results.get_by_test_id("person-name").first.click()
    await (
        ann.page.get_by_role("dialog", name=f"Profile of {bob.display_name}")
        .get_by_role("button", name="Message")
        .click()
    )
    await ann.page.get_by_test_id("composer").wait_for()
    await ann.wait_message("hi ann")

    # Blocked, then unblocked from Settings.
    user = await as_user(ann)
    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=10) as api:
        assert (await api.put(f"/me/blocks/{(await as_user(bob)).id}", headers=user.headers)).status_code == 200
        await ann.page.get_by_test_id("settings-link").click()
        blocked = ann.page.get_by_test_id("blocked-people")
        await expect(blocked).to_contain_text(bob.display_name)
        await ann.page.screenshot(path=str(artifacts / "people-blocked.png"))
        await ann.page.get_by_role("button", name=f"Unblock {bob.display_name}").click()
        await expect(ann.page.get_by_text("You have not blocked anyone.")).to_be_visible()
        assert (await api.get("/me/blocks", headers=user.headers)).json() == []


async def test_profile_card_on_a_phone_in_dark_mode(people: People, artifacts: Path) -> None:
    bob = await people("qbob")
    await bob.sign_up()
    await give_avatar(bob)
    ann = await people("qann", viewport={"width": 390, "height": 844}, color_scheme="dark")
    await ann.sign_up()
    await ann.open_dm(bob)
    await ann.send("hello from a phone")
    await bob.open_conversation(ann.display_name)
    await bob.send("hello phone")
    await ann.wait_message("hello phone")
    assert await ann.page.evaluate("() => document.documentElement.classList.contains('dark')")

    bobs = ann.page.get_by_test_id("message").filter(has_text="hello phone")
    await bobs.get_by_test_id("person-name").click()
    card = ann.page.get_by_role("dialog", name=f"Profile of {bob.display_name}")
    await expect(card).to_be_visible()
    await expect(card).to_contain_text(f"@{bob.handle}")
    box = await card.bounding_box()
    assert box is not None
    # A sheet inside the screen, nothing cut off.
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] >= 0 and box["y"] + box["height"] <= 844
    background = await card.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    await ann.page.screenshot(path=str(artifacts / "profile-card-phone-dark.png"))
    await card.get_by_role("button", name="Message").click()
    await expect(card).to_have_count(0)
