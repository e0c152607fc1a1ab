"""Threads in two Chromium browsers: one replies in a thread, the other sees the reply count and
the thread's unread mark live, opens the panel and answers (also to the conversation); the panel
full screen on a phone in the dark theme (docs/subsystems/web-client.md, "Threads").

Screenshots for the docs: docs/images/thread-panel.png (desktop), thread-panel-phone.png.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.e2e.conftest import People, Person

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMAGES = ROOT / "docs" / "images"
PHONE_390 = {"width": 390, "height": 844}


async def _pair(people: People, **bob_options: object) -> tuple[Person, Person]:
    ann, bob = await people("ann"), await people("bob", **bob_options)
    await ann.sign_up()
    await bob.sign_up()
    await ann.open_dm(bob)
    await ann.send("Lunch plan for Friday?")
    await bob.page.get_by_test_id("conversation-row").filter(has_text=ann.display_name).wait_for()
    await bob.open_conversation(ann.display_name)
    await bob.wait_message("Lunch plan for Friday?")
    return ann, bob


async def _reply_in_thread(person: Person, root_text: str, *, phone: bool = False) -> None:
    row = person.page.get_by_test_id("message").filter(has=person.message(root_text))
    if phone:
        await row.get_by_role("button", name="More actions").click()
    else:
        await row.hover()
    await row.get_by_role("button", name="Answer in thread", exact=True).click()
    await person.page.get_by_test_id("thread-panel").wait_for()


async def test_a_reply_in_a_thread_shows_live_in_the_other_browser(people: People) -> None:
    ann, bob = await _pair(people)
    await expect(ann.page.get_by_test_id("threads-link")).to_be_visible()

    await _reply_in_thread(bob, "Lunch plan for Friday?")
    panel = bob.page.get_by_test_id("thread-panel")
    await panel.get_by_test_id("composer").fill("12:30 at the noodle place")
    await panel.get_by_test_id("composer").press("Enter")
    await expect(panel.get_by_test_id("message-body").filter(has_text="12:30 at the noodle place")).to_be_visible()
    # Thread-only: not in Bob's conversation timeline.
    main = bob.page.locator("#messages")
    await expect(main.get_by_test_id("message-body").filter(has_text="12:30")).to_have_count(0)

    # Ann, live: the reply count under her message, and an unread thread in the sidebar.
    summary = ann.page.locator("#messages").get_by_test_id("thread-summary")
    await expect(summary.get_by_test_id("thread-reply-count")).to_have_text("1 reply")
    await expect(ann.page.get_by_test_id("threads-unread")).to_have_text("1")
    await expect(ann.page.locator("#messages").get_by_test_id("message-body").filter(has_text="12:30")).to_have_count(0)

    # The Threads view lists it as unread.
    await ann.page.get_by_test_id("threads-link").click()
    row = ann.page.get_by_test_id("thread-row").filter(has_text="Lunch plan for Friday?")
    await expect(row).to_have_attribute("data-unread", "true")
    await expect(row.get_by_test_id("thread-unread")).to_have_text("1")
    await row.click()

    # The panel opens beside the conversation; reading it clears the unread mark.
    ann_panel = ann.page.get_by_test_id("thread-panel")
    await expect(ann_panel.get_by_test_id("message-body").filter(has_text="12:30 at the noodle place")).to_be_visible()
    await expect(ann.page.get_by_test_id("threads-unread")).to_have_count(0)
    await expect(ann_panel.get_by_test_id("thread-follow")).to_have_text("Following")

    # Ann answers, also to the conversation: it shows in the thread and in both timelines.
    await ann_panel.get_by_test_id("also-to-conversation").check()
    await ann_panel.get_by_test_id("composer").fill("Booked a table for two")
    await ann_panel.get_by_test_id("composer").press("Enter")
    await expect(ann_panel.get_by_test_id("message-body").filter(has_text="Booked a table")).to_be_visible()
    await expect(
        ann.page.locator("#messages").get_by_test_id("message-body").filter(has_text="Booked a table")
    ).to_be_visible()
    await expect(main.get_by_test_id("message-body").filter(has_text="Booked a table")).to_be_visible()
    await expect(panel.get_by_test_id("message-body").filter(has_text="Booked a table")).to_be_visible()
    await expect(panel.get_by_test_id("thread-count")).to_have_text("2 replies")
    await expect(summary.get_by_test_id("thread-reply-count")).to_have_text("2 replies")

    # A reload keeps it: the summary comes with history, thread-only replies stay out of it.
    await bob.page.reload()
    await bob.page.get_by_test_id("thread-panel").wait_for()
    await expect(bob.page.locator("#messages").get_by_test_id("thread-reply-count")).to_have_text("2 replies")
    await expect(bob.page.locator("#messages").get_by_test_id("message-body").filter(has_text="12:30")).to_have_count(0)

    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    await ann.page.screenshot(path=DOCS_IMAGES / "thread-panel.png")


async def test_the_thread_panel_is_full_screen_on_a_phone_in_the_dark_theme(people: People) -> None:
    ann, bob = await _pair(people, viewport=PHONE_390, color_scheme="dark")
    page = bob.page
    assert await page.evaluate("() => document.documentElement.classList.contains('dark')")
    await _reply_in_thread(ann, "Lunch plan for Friday?")
    ann_panel = ann.page.get_by_test_id("thread-panel")
    await ann_panel.get_by_test_id("composer").fill("Who else is coming?")
    await ann_panel.get_by_test_id("composer").press("Enter")

    # Bob, on his phone: the summary appears live; tapping it opens the thread over the whole screen.
    summary = page.locator("#messages").get_by_test_id("thread-summary")
    await expect(summary.get_by_test_id("thread-reply-count")).to_have_text("1 reply")
    await summary.click()
    panel = page.get_by_test_id("thread-panel")
    await expect(panel.get_by_test_id("message-body").filter(has_text="Who else is coming?")).to_be_visible()
    box = await panel.bounding_box()
    assert box is not None
    assert box["x"] <= 0.5 and abs(box["width"] - PHONE_390["width"]) <= 1, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE_390["height"] + 0.5, box

    await panel.get_by_test_id("composer").fill("Me! 🍜")
    await panel.get_by_test_id("composer").press("Enter")
    await expect(ann_panel.get_by_test_id("message-body").filter(has_text="Me!")).to_be_visible()
    await expect(panel.get_by_test_id("thread-count")).to_have_text("2 replies")
    # Posting in the thread followed it.
    await expect(panel.get_by_test_id("thread-follow")).to_have_text("Following")

    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=DOCS_IMAGES / "thread-panel-phone.png")

    # Closing goes back to the conversation.
    await panel.get_by_test_id("thread-close").click()
    await expect(page.get_by_test_id("thread-panel")).to_have_count(0)
    await expect(page.get_by_test_id("composer")).to_be_visible()
