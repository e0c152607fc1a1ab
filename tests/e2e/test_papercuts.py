"""The conversation papercuts of issue 19, in Chromium against a real Tipline
(docs/subsystems/web-client.md): where a conversation opens, how search results are labelled,
long names, readable errors, and confirming before leaving a group.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import E2EServer, People, Person
from tests.media_support import image_bytes

PHONE_390 = {"width": 390, "height": 844}

# Every thumbnail on the page has arrived (decoded, with its real size) and the list has laid out.
IMAGES_LOADED = """(count) => {
  const imgs = [...document.querySelectorAll('[data-testid="attachments"] img')];
  return imgs.length >= count && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""

# How far the last message's bottom is from the bottom of the scroller's visible area, inside its
# padding (px), and how far the scroller is from the end of what it can scroll.
GAP_TO_BOTTOM = """() => {
  const scroller = document.getElementById('messages');
  const items = scroller.querySelectorAll('ol > li');
  const last = items[items.length - 1];
  const padding = parseFloat(getComputedStyle(scroller).paddingBottom);
  return {
    last: scroller.getBoundingClientRect().bottom - padding - last.getBoundingClientRect().bottom,
    scroll: scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight,
  };
}"""


class Api:
    """One person's calls over HTTP, for the history a test needs (quicker than typing it)."""

    def __init__(self, server: E2EServer, token: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=server.base_url, timeout=15, headers={"Authorization": f"Bearer {token}"}
        )

    @classmethod
    async def of(cls, server: E2EServer, person: Person) -> Api:
        return cls(server, await person.token())

    async def close(self) -> None:
        await self.http.aclose()

    async def user_id(self, handle: str) -> int:
        r = await self.http.get("/users", params={"handle": handle})
        r.raise_for_status()
        return int(r.json()["id"])

    async def dm(self, handle: str) -> int:
        r = await self.http.post("/conversations/direct", json={"user_id": await self.user_id(handle)})
        r.raise_for_status()
        return int(r.json()["id"])

    async def group(self, name: str, handles: list[str]) -> int:
        ids = [await self.user_id(h) for h in handles]
        r = await self.http.post("/conversations", json={"kind": "group", "name": name, "member_ids": ids})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def send(self, cid: int, body: str, attachment_ids: list[str] | None = None) -> None:
        payload: dict[str, Any] = {"client_msg_id": uuid.uuid4().hex, "body": body}
        if attachment_ids:
            payload["attachment_ids"] = attachment_ids
        r = await self.http.post(f"/conversations/{cid}/messages", json=payload)
        assert r.status_code == 201, r.text

    async def image(self, cid: int, name: str, size: tuple[int, int]) -> str:
        data = image_bytes("PNG", size)
        body = {"purpose": "attachment", "filename": name, "content_type": "image/png", "size": len(data)}
        r = await self.http.post("/media/uploads", json={**body, "conversation_id": cid})
        assert r.status_code == 201, r.text
        upload = r.json()
        post = upload["post"]
        async with httpx.AsyncClient(timeout=30) as plain:
            sent = await plain.post(post["url"], data=post["fields"], files={"file": (name, data, "image/png")})
        assert sent.status_code in (200, 201, 204), sent.text
        done = await self.http.post(f"/media/uploads/{upload['upload_id']}/complete")
        assert done.status_code == 200, done.text
        return str(upload["upload_id"])


async def signed_up(people: People, prefix: str, viewport: dict[str, int] | None = None) -> Person:
    person = await people(prefix, viewport)
    await person.sign_up()
    return person


async def gap_after_images(page: Page, images: int) -> dict[str, float]:
    await page.wait_for_function(IMAGES_LOADED, arg=images, timeout=15_000)
    # Two frames: the list reacts to the size change, then the browser paints.
    await page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    gap: dict[str, float] = await page.evaluate(GAP_TO_BOTTOM)
    return gap


def at_bottom(gap: dict[str, float]) -> bool:
    return abs(gap["last"]) <= 3 and gap["scroll"] <= 3


@pytest.mark.parametrize("viewport", [None, PHONE_390], ids=["desktop", "phone"])
async def test_a_conversation_with_images_opens_at_its_newest_message(
    people: People, e2e_server: E2EServer, viewport: dict[str, int] | None
) -> None:
    ann = await signed_up(people, "ann", viewport)
    bob = await signed_up(people, "bob")
    api = await Api.of(e2e_server, bob)
    try:
        cid = await api.dm(ann.handle)
        for i in range(12):
            await api.send(cid, f"filler line {i} " + "words " * 12)
        # Several thumbnails near the end, the very last message among them: each one that
        # arrives after the first scroll grows the list above the bottom.
        for i in range(3):
            upload = await api.image(cid, f"photo{i}.png", (640, 480 - i * 60))
            await api.send(cid, f"photo {i}", [upload])
    finally:
        await api.close()
    # Ann has read it all (a conversation with unread messages opens at "New messages" instead).
    ann_api = await Api.of(e2e_server, ann)
    try:
        r = await ann_api.http.post(f"/conversations/{cid}/read", json={"seq": 1000})
        assert r.status_code == 200, r.text
    finally:
        await ann_api.close()
    await ann.goto(f"/c/{cid}")
    await ann.wait_message("photo 2")
    gap = await gap_after_images(ann.page, 3)
    assert at_bottom(gap), gap
    # After a reload, with the thumbnails' URLs asked for again.
    await ann.page.reload()
    await ann.wait_message("photo 2")
    gap = await gap_after_images(ann.page, 3)
    assert at_bottom(gap), gap


async def test_search_results_name_the_sender_and_keep_short_words(people: People, e2e_server: E2EServer) -> None:
    ann = await signed_up(people, "ann")
    bob = await signed_up(people, "bob")
    word = f"zephyr{uuid.uuid4().hex[:6]}"
    ann_api = await Api.of(e2e_server, ann)
    bob_api = await Api.of(e2e_server, bob)
    try:
        cid = await ann_api.dm(bob.handle)
        for n in (1, 2, 3):
            await ann_api.send(cid, f"{word} update {n}")
        await bob_api.send(cid, f"my {word} update is late")
    finally:
        await ann_api.close()
        await bob_api.close()
    await bob.goto(f"/find?q={word}%20update")
    hits = bob.page.get_by_test_id("search-hit")
    await expect(hits).to_have_count(4)
    rows: list[tuple[str, str]] = []
    for i in range(4):
        hit = hits.nth(i)
        sender = (await hit.get_by_test_id("search-hit-sender").inner_text()).strip()
        snippet = (await hit.locator("p").nth(1).inner_text()).strip()
        rows.append((sender, snippet))
    # Ann's words under Ann's name, Bob's own under "You"; the conversation is named beside it.
    assert sorted(rows) == sorted(
        [
            (ann.display_name, f"{word} update 1"),
            (ann.display_name, f"{word} update 2"),
            (ann.display_name, f"{word} update 3"),
            ("You", f"my {word} update is late"),
        ]
    ), rows
    await expect(hits.first.get_by_test_id("search-hit-conversation")).to_have_text(f"in {ann.display_name}")


@pytest.mark.parametrize("viewport", [None, PHONE_390], ids=["desktop", "phone"])
async def test_long_names_stay_inside_the_sidebar_and_member_rows(
    people: People, e2e_server: E2EServer, viewport: dict[str, int] | None
) -> None:
    long_name = "Bartholomew Maximilian " + "Wolfeschlegelsteinhausen" * 2  # 72 characters: the 64 allowed
    ann = await signed_up(people, "ann", viewport)
    bob = await signed_up(people, "bob")
    bob_api = await Api.of(e2e_server, bob)
    try:
        long_handle = ("b" + uuid.uuid4().hex + "x" * 32)[:32]
        r = await bob_api.http.patch("/me", json={"display_name": long_name[:64], "handle": long_handle})
        assert r.status_code == 200, r.text
        cid = await bob_api.group("Long names", [ann.handle])
    finally:
        await bob_api.close()
    bob_name = long_name[:64].strip()
    # Bob, signed in with the long name: it is cut inside the sidebar, not spilled over the page.
    await bob.page.reload()
    name = bob.page.get_by_test_id("signed-in-name")
    await expect(name).to_have_text(bob_name)
    aside = await bob.page.locator("aside").first.bounding_box()
    box = await name.bounding_box()
    assert aside is not None and box is not None
    assert box["x"] >= aside["x"] and box["x"] + box["width"] <= aside["x"] + aside["width"] + 0.5, (box, aside)
    assert await name.evaluate("(e) => e.scrollWidth > e.clientWidth")  # cut with an ellipsis

    # Ann opens the members panel: Bob's row shows his name's first characters.
    await ann.goto(f"/c/{cid}/members")
    row = ann.page.locator(f'[data-testid="member"][data-handle="{long_handle}"]')
    await expect(row).to_be_visible()
    member_name = row.get_by_test_id("member-name")
    name_box = await member_name.bounding_box()
    panel = await ann.page.get_by_role("complementary", name="Members").bounding_box()
    assert name_box is not None and panel is not None
    assert name_box["width"] >= 120, name_box
    assert name_box["x"] + name_box["width"] <= panel["x"] + panel["width"] + 0.5
    # What shows are the first characters of the name and of the handle, not one letter each.
    visible = await member_name.evaluate(
        """(e) => [...e.querySelectorAll('span')].filter((s) => !s.children.length)
              .map((s) => ({ text: s.textContent, width: s.getBoundingClientRect().width }))"""
    )
    name_part = next(v for v in visible if v["text"] == bob_name)
    handle_part = next(v for v in visible if v["text"] == "@" + long_handle)
    assert name_part["width"] >= 100 and handle_part["width"] >= 100, visible
    await ann.page.screenshot(path=_artifact(f"{'phone' if viewport else 'desktop'}-long-names.png"))


def _artifact(name: str) -> str:
    from tests.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)


async def test_leaving_a_group_asks_first_and_errors_read_as_sentences(people: People, e2e_server: E2EServer) -> None:
    ann = await signed_up(people, "ann")
    bob = await signed_up(people, "bob")
    ann_api = await Api.of(e2e_server, ann)
    try:
        cid = await ann_api.group("Weekend plans", [bob.handle])
        await ann_api.send(cid, "who is in?")
    finally:
        await ann_api.close()
    await ann.goto(f"/c/{cid}/members")
    panel = ann.page.get_by_role("complementary", name="Members")
    await expect(panel.get_by_test_id("member")).to_have_count(2)

    # A server refusal reads as a sentence, not the server's raw lowercase text. (The browser
    # logs the 409 it provokes.)
    ann.expected_errors.append(r"status of 409 \(Conflict\) @ .*/conversations/\d+/members")
    await panel.get_by_label("Invite by handle").fill("@" + bob.handle)
    await panel.get_by_role("button", name="Invite").click()
    await expect(panel.get_by_role("alert")).to_have_text("That person is already a member.")

    leave = panel.get_by_role("button", name="Leave group")
    await leave.click()
    dialog = ann.page.get_by_role("alertdialog", name="Leave Weekend plans?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("To come back, an owner or admin has to add you again.")
    # Focus starts on Cancel, the safe choice.
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await ann.page.screenshot(path=_artifact("desktop-leave-confirm.png"))
    # Cancel, Escape and a click outside all keep Ann in the group (and the panel open).
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    await expect(leave).to_be_focused()
    await leave.click()
    await ann.page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(panel).to_be_visible()
    await leave.click()
    await ann.page.mouse.click(5, 5)
    await expect(dialog).to_have_count(0)
    assert ann.page.url.endswith(f"/c/{cid}/members")
    # Confirmed: Ann leaves, and the group is gone from her list.
    await leave.click()
    await dialog.get_by_role("button", name="Leave group").click()
    await ann.page.wait_for_url(ann.base_url + "/")
    await expect(ann.page.get_by_test_id("conversation-row").filter(has_text="Weekend plans")).to_have_count(0)
    # Bob is still in it, and sees Ann gone.
    await bob.goto(f"/c/{cid}/members")
    await expect(bob.page.get_by_role("complementary", name="Members").get_by_test_id("member")).to_have_count(1)
