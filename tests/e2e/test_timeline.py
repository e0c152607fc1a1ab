"""The timeline in Chromium with two people: system lines, edit history, pins, drafts and read
receipts (docs/subsystems/web-client.md, Timeline)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from tests.e2e.conftest import E2EServer, People, Person


async def call(server: E2EServer, person: Person, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        r = await http.request(method, path, headers={"Authorization": f"Bearer {await person.token()}"}, **kwargs)
        r.raise_for_status()
        return r.json() if r.content else None


async def user_id(server: E2EServer, asker: Person, handle: str) -> int:
    found: dict[str, Any] = await call(server, asker, "GET", "/users", params={"handle": handle})
    return int(found["id"])


async def two_people(people: People) -> tuple[Person, Person]:
    ann, bob = await people("ann"), await people("bob")
    await ann.sign_up()
    await bob.sign_up()
    return ann, bob


async def group_of(server: E2EServer, ann: Person, bob: Person, name: str) -> int:
    bob_id = await user_id(server, ann, bob.handle)
    conv = await call(
        server, ann, "POST", "/conversations", json={"kind": "group", "name": name, "member_ids": [bob_id]}
    )
    return int(conv["id"])


async def test_system_lines_appear_for_both(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await two_people(people)
    carol = await people("carol")
    await carol.sign_up()
    cid = await group_of(e2e_server, ann, bob, "Launch")
    for p in (ann, bob):
        await p.goto(f"/c/{cid}")
        await p.page.get_by_test_id("composer").wait_for()
        await expect(
            p.page.get_by_test_id("system-line").filter(has_text=f"{ann.display_name} added {bob.display_name}")
        ).to_be_visible()
    await ann.send("first words")
    await bob.wait_message("first words")

    await call(e2e_server, ann, "PATCH", f"/conversations/{cid}", json={"name": "Launch 2"})
    carol_id = await user_id(e2e_server, ann, carol.handle)
    await call(e2e_server, ann, "POST", f"/conversations/{cid}/members", json={"user_id": carol_id})
    renamed = f"{ann.display_name} renamed the conversation to “Launch 2”"
    added = f"{ann.display_name} added {carol.display_name}"
    for p in (ann, bob):
        await expect(p.page.get_by_test_id("system-line").filter(has_text=renamed)).to_be_visible()
        await expect(p.page.get_by_test_id("system-line").filter(has_text=added)).to_be_visible()
    await call(e2e_server, ann, "DELETE", f"/conversations/{cid}/members/{carol_id}")
    await expect(
        bob.page.get_by_test_id("system-line").filter(has_text=f"removed {carol.display_name}")
    ).to_be_visible()

    # After a reload the lines come back with history, in order with the message.
    await bob.page.reload()
    await bob.wait_message("first words")
    lines = bob.page.get_by_test_id("system-line")
    await expect(lines.filter(has_text=added)).to_be_visible()
    order = await bob.page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="system-line"], [data-testid="message-body"]')]
              .map((el) => el.textContent.trim())"""
    )
    assert order.index("first words") < next(i for i, t in enumerate(order) if t.startswith(renamed))
    assert next(i for i, t in enumerate(order) if t.startswith(renamed)) < next(
        i for i, t in enumerate(order) if t.startswith(added)
    )


def message_item(person: Person, text: str) -> Any:
    return person.page.get_by_test_id("message").filter(
        has=person.page.get_by_test_id("message-body").filter(has_text=text)
    )


async def test_edit_then_open_the_earlier_versions(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await two_people(people)
    cid = await group_of(e2e_server, ann, bob, "Edits")
    for p in (ann, bob):
        await p.goto(f"/c/{cid}")
        await p.page.get_by_test_id("composer").wait_for()
    await ann.send("meet at 10")
    await bob.wait_message("meet at 10")

    item = message_item(ann, "meet at 10")
    await item.hover()
    await item.get_by_role("button", name="Edit").click()
    box = ann.page.get_by_label("Edit message")
    await box.fill("meet at 11")
    await box.press("Enter")
    await ann.wait_message("meet at 11")

    # The other person sees "(edited)" live and opens the earlier version.
    await bob.wait_message("meet at 11")
    edited = message_item(bob, "meet at 11").get_by_test_id("edited")
    await expect(edited).to_be_visible()
    await edited.click()
    history = bob.page.get_by_test_id("edit-history")
    await expect(history.get_by_test_id("revision")).to_have_count(1)
    await expect(history.get_by_test_id("revision")).to_contain_text("meet at 10")
    await bob.page.keyboard.press("Escape")
    await expect(history).to_have_count(0)


async def test_pin_and_see_it_in_the_list_in_the_other_browser(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await two_people(people)
    cid = await group_of(e2e_server, ann, bob, "Pins")
    for p in (ann, bob):
        await p.goto(f"/c/{cid}")
        await p.page.get_by_test_id("composer").wait_for()
    await bob.send("the launch checklist")
    await ann.wait_message("the launch checklist")
    await expect(bob.page.get_by_test_id("pinned-button")).to_contain_text("0")

    item = message_item(ann, "the launch checklist")
    await item.hover()
    await item.get_by_role("button", name="Pin", exact=True).click()
    await expect(item.get_by_test_id("pin-marker")).to_be_visible()

    # Bob's browser: the marker, the count and the list update live.
    await expect(message_item(bob, "the launch checklist").get_by_test_id("pin-marker")).to_be_visible()
    await expect(bob.page.get_by_test_id("pinned-button")).to_contain_text("1")
    await bob.page.get_by_test_id("pinned-button").click()
    panel = bob.page.get_by_test_id("pinned-panel")
    await expect(panel.get_by_test_id("pinned-item")).to_have_count(1)
    await expect(panel.get_by_test_id("pinned-item")).to_contain_text("the launch checklist")
    await expect(panel.get_by_test_id("pinned-item")).to_contain_text(f"Pinned by {ann.display_name}")
    await expect(
        bob.page.get_by_test_id("system-line").filter(has_text=f"{ann.display_name} pinned a message")
    ).to_be_visible()

    # Unpinned from the list: gone from Ann's browser too.
    await panel.get_by_role("button", name="Unpin").click()
    await expect(panel.get_by_test_id("pinned-item")).to_have_count(0)
    await expect(message_item(ann, "the launch checklist").get_by_test_id("pin-marker")).to_have_count(0)


async def test_a_draft_survives_a_switch_and_a_reload_and_shows_in_the_list(
    people: People, e2e_server: E2EServer
) -> None:
    ann, bob = await two_people(people)
    first = await group_of(e2e_server, ann, bob, "Drafty")
    second = await group_of(e2e_server, ann, bob, "Elsewhere")
    await ann.goto(f"/c/{first}")
    composer = ann.page.get_by_test_id("composer")
    await composer.wait_for()
    await composer.fill("half a thought about the launch")
    row = ann.page.locator(f'[data-testid="conversation-row"][data-conversation-id="{first}"]')
    await expect(row.get_by_test_id("last-message")).to_have_text("Draft: half a thought about the launch")

    await ann.page.locator(f'[data-testid="conversation-row"][data-conversation-id="{second}"]').click()
    await expect(ann.page.get_by_test_id("conversation-title")).to_contain_text("Elsewhere")
    await expect(composer).to_have_value("")
    await ann.page.reload()
    await expect(row.get_by_test_id("last-message")).to_have_text("Draft: half a thought about the launch")

    await row.click()
    await expect(ann.page.get_by_test_id("conversation-title")).to_contain_text("Drafty")
    await expect(composer).to_have_value("half a thought about the launch")
    await composer.press("Enter")
    await ann.wait_message("half a thought about the launch")
    await expect(row.get_by_test_id("last-message")).to_have_text("You: half a thought about the launch")
    drafts = (
        "() => localStorage.getItem('tipline.drafts.' + JSON.parse(localStorage.getItem('tipline.session')).user.id)"
    )
    assert await ann.page.evaluate(drafts) is None, "a sent draft is forgotten"


async def test_seen_by_appears_live_in_the_senders_browser(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await two_people(people)
    cid = await group_of(e2e_server, ann, bob, "Receipts")
    await ann.goto(f"/c/{cid}")
    await ann.page.get_by_test_id("composer").wait_for()
    await ann.send("are you there?")
    await ann.wait_message("are you there?")
    receipts = ann.page.get_by_test_id("read-receipts")
    await expect(receipts).to_have_count(0)

    # Bob opens the conversation (reading it): Ann sees it without reloading.
    await bob.goto(f"/c/{cid}")
    await bob.wait_message("are you there?")
    await expect(receipts).to_have_text(f"Seen by {bob.display_name}")

    # Bob turns receipts off: his next reads are not shown to Ann.
    await bob.goto("/settings")
    box = bob.page.get_by_label("Let others see when I have read their messages")
    await expect(box).to_be_checked()
    await box.uncheck()
    await expect(box).not_to_be_checked()
    await ann.send("still there?")
    await ann.wait_message("still there?")
    await bob.goto(f"/c/{cid}")
    await bob.wait_message("still there?")
    await ann.page.wait_for_timeout(1500)
    await expect(receipts).to_have_count(0)
