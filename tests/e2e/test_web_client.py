"""The web client against a real Tipline and PostgreSQL, in Chromium (docs/subsystems/web-client.md).

Each test signs up fresh users through the UI. Screenshots of the main screens go to
tests/e2e/artifacts/ (desktop and phone); no test may log a console error.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from tests.e2e.conftest import PASSWORD, PHONE, E2EServer, People, Person

LATENCY_SAMPLES = 20
LATENCY_TARGET_MS = 300

SEEN_OBSERVER = """() => {
  window.__seen = {};
  const scan = () => {
    const now = performance.timeOrigin + performance.now();
    for (const el of document.querySelectorAll('[data-testid="message-body"]')) {
      const t = el.textContent.trim();
      if (t.startsWith('lat-') && !(t in window.__seen)) window.__seen[t] = now;
    }
  };
  new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""

CLICK_SEND = """() => {
  const t = performance.timeOrigin + performance.now();
  document.querySelector('[data-testid="send"]').click();
  return t;
}"""


async def api_get(server: E2EServer, person: Person, path: str) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        r = await http.get(path, headers={"Authorization": f"Bearer {await person.token()}"})
        r.raise_for_status()
        return r.json()


async def conversation_id(person: Person) -> int:
    path: str = await person.page.evaluate("() => location.pathname")
    return int(path.split("/")[2])


async def bob_writes_to_ann(server: E2EServer, bob: Person, ann: Person, bodies: list[str]) -> None:
    """A DM history written over HTTP (quicker than typing it)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        headers = {"Authorization": f"Bearer {await bob.token()}"}
        ann_id = (await http.get("/users", params={"handle": ann.handle}, headers=headers)).json()["id"]
        cid = (await http.post("/conversations/direct", json={"user_id": ann_id}, headers=headers)).json()["id"]
        for i, body in enumerate(bodies):
            r = await http.post(
                f"/conversations/{cid}/messages", json={"client_msg_id": f"h{i}", "body": body}, headers=headers
            )
            assert r.status_code == 201, r.text


async def pair_in_dm(people: People) -> tuple[Person, Person]:
    ann, bob = await people("ann"), await people("bob")
    await ann.sign_up()
    await bob.sign_up()
    await ann.open_dm(bob)
    await ann.send("hello from ann")
    await bob.page.get_by_test_id("conversation-row").filter(has_text=ann.display_name).wait_for()
    await bob.open_conversation(ann.display_name)
    await bob.wait_message("hello from ann")
    return ann, bob


async def test_two_users_chat_in_real_time(people: People, artifacts: Path) -> None:
    ann = await people("ann")
    await ann.goto("/signin")
    await ann.page.get_by_role("button", name="Sign in").wait_for()
    await ann.page.screenshot(path=artifacts / "desktop-sign-in.png")
    await ann.goto("/signup")
    await ann.page.get_by_role("button", name="Create account").wait_for()
    await ann.page.screenshot(path=artifacts / "desktop-sign-up.png")
    await ann.sign_up()

    bob = await people("bob")
    await bob.sign_up()
    await ann.open_dm(bob)
    await ann.send("hi @" + bob.handle + " <b>not bold</b> <img src=x onerror=alert(1)>")
    # Bob has not opened anything: the DM appears in his list, unread, with the last message.
    row = bob.page.get_by_test_id("conversation-row").filter(has_text=ann.display_name)
    await expect(row.get_by_test_id("unread-badge")).to_have_text("1")
    await expect(row.get_by_test_id("last-message")).to_contain_text("not bold")
    await bob.page.screenshot(path=artifacts / "desktop-conversation-list.png")

    await bob.open_conversation(ann.display_name)
    await expect(bob.message("not bold").first).to_contain_text("<b>not bold</b> <img src=x onerror=alert(1)>")
    # Markup in a message is text: no element was made from it.
    assert await bob.page.locator('[data-testid="message-body"] b, [data-testid="message-body"] img').count() == 0
    await expect(row.get_by_test_id("unread-badge")).to_have_count(0)

    # Typing, replies and reactions are seen live on the other side. (The server passes one
    # typing signal per user and conversation every 2 s; the first message started a window.)
    await asyncio.sleep(2.1)
    await ann.page.get_by_test_id("composer").press_sequentially("typing...", delay=20)
    await expect(bob.page.get_by_test_id("typing")).to_contain_text(ann.display_name)
    await ann.page.get_by_test_id("composer").fill("")
    await bob.send("hello ann, got it")
    await ann.wait_message("hello ann, got it")
    await ann.message("hello ann, got it").first.hover()
    await ann.page.get_by_role("button", name="Add reaction").last.click()
    await ann.page.get_by_role("menuitem", name="React with 👍").click()
    await expect(bob.page.get_by_role("button", name="👍 1")).to_be_visible()
    await ann.message("not bold").first.hover()
    await ann.page.get_by_role("button", name="Reply").first.click()
    await ann.send("a reply")
    await bob.wait_message("a reply")
    reply = bob.page.get_by_test_id("message").filter(has_text="a reply")
    await expect(reply.get_by_role("button").first).to_contain_text(ann.display_name)

    # Latency: from the send click in one browser to the message rendered in the other.
    await bob.page.evaluate(SEEN_OBSERVER)
    samples: list[float] = []
    for i in range(LATENCY_SAMPLES):
        text = f"lat-{i}-{uuid.uuid4().hex[:6]}"
        await ann.page.get_by_test_id("composer").fill(text)
        t0: float = await ann.page.evaluate(CLICK_SEND)
        key = json.dumps(text)
        await bob.page.wait_for_function(f"() => window.__seen && window.__seen[{key}]", timeout=10_000)
        seen: float = await bob.page.evaluate(f"() => window.__seen[{key}]")
        samples.append(seen - t0)
    median = statistics.median(samples)
    print(
        f"\nmessage latency, send click in one browser -> rendered in the other (n={len(samples)}): "
        f"median {median:.1f} ms, min {min(samples):.1f} ms, max {max(samples):.1f} ms"
    )
    assert median <= LATENCY_TARGET_MS, f"median latency {median:.1f} ms is over {LATENCY_TARGET_MS} ms"
    await ann.page.screenshot(path=artifacts / "desktop-conversation.png")

    await ann.page.get_by_test_id("settings-link").click()
    await ann.page.get_by_test_id("sessions").wait_for()
    await ann.page.screenshot(path=artifacts / "desktop-settings.png", full_page=True)
    await ann.page.get_by_role("radio", name="Dark").click()
    await ann.page.get_by_test_id("conversation-row").first.click()
    await ann.page.get_by_test_id("composer").wait_for()
    await ann.page.screenshot(path=artifacts / "desktop-conversation-dark.png")
    await ann.page.get_by_role("link", name="Browse").click()
    await ann.page.get_by_role("heading", name="Public channels").wait_for()
    await ann.page.get_by_test_id("new-conversation").click()
    await ann.page.screenshot(path=artifacts / "desktop-new-conversation-dark.png")


async def test_message_sent_offline_is_delivered_once_in_order(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await pair_in_dm(people)
    cid = await conversation_id(ann)

    await ann.context.set_offline(True)
    await expect(ann.page.get_by_test_id("connection-banner")).to_have_attribute("data-state", "offline")
    for i in range(3):
        await ann.send(f"offline {i}")
    await expect(ann.page.get_by_test_id("pending-message")).to_have_count(3)
    await expect(ann.page.get_by_test_id("pending-message").first).to_have_attribute("data-status", "queued")
    # Meanwhile Bob writes: Ann gets it by `resume` when she is back.
    await bob.send("while you were away")
    await bob.wait_message("while you were away")
    await asyncio.sleep(1.0)
    assert await ann.message("while you were away").count() == 0
    assert await bob.message("offline").count() == 0
    # The outbox is on disk (localStorage), in the order written.
    stored = json.loads(
        await ann.page.evaluate("() => Object.entries(localStorage).find(([k]) => k.startsWith('tipline.outbox.'))[1]")
    )
    assert [item["body"] for item in stored] == ["offline 0", "offline 1", "offline 2"]

    await ann.context.set_offline(False)
    for i in range(3):
        await bob.wait_message(f"offline {i}")
    await ann.wait_message("while you were away")
    await expect(ann.page.get_by_test_id("pending-message")).to_have_count(0)
    await expect(ann.page.get_by_test_id("connection-banner")).to_have_count(0)

    wanted = ["offline 0", "offline 1", "offline 2"]
    for person in (ann, bob):
        seen = [b for b in await person.bodies() if b.startswith("offline")]
        assert seen == wanted, f"{person.handle} shows {seen}"
    history = (await api_get(e2e_server, bob, f"/conversations/{cid}/messages?limit=100"))["messages"]
    assert [m["body"] for m in history if m["body"].startswith("offline")] == wanted
    assert [m["body"] for m in history] == ["hello from ann", "while you were away", *wanted]
    outboxes = "() => Object.keys(localStorage).filter(k => k.startsWith('tipline.outbox.')).length"
    assert await ann.page.evaluate(outboxes) == 0


async def test_reload_shows_the_same_history(people: People) -> None:
    ann, bob = await pair_in_dm(people)
    for i in range(5):
        await (ann if i % 2 else bob).send(f"history {i}")
    await ann.wait_message("history 4")
    await bob.wait_message("history 4")
    await expect(ann.page.get_by_test_id("pending-message")).to_have_count(0)
    await expect(bob.page.get_by_test_id("pending-message")).to_have_count(0)
    before_ann, before_bob = await ann.bodies(), await bob.bodies()
    assert before_ann == before_bob
    assert len(before_ann) == 6
    for person in (ann, bob):
        await person.page.reload()
        await person.wait_message("history 4")
    assert await ann.bodies() == before_ann
    assert await bob.bodies() == before_bob
    # The live connection is back after the reload.
    await bob.send("after reload")
    await ann.wait_message("after reload")


async def test_removed_member_stops_seeing_new_messages(people: People, e2e_server: E2EServer, artifacts: Path) -> None:
    ann, bob = await people("ann"), await people("bob")
    await ann.sign_up()
    await bob.sign_up()
    await ann.page.get_by_test_id("new-conversation").click()
    await ann.page.get_by_role("tab", name="Group").click()
    await ann.page.get_by_label("Group name").fill("Planning")
    await ann.page.get_by_label("Members").fill("@" + bob.handle)
    await ann.page.get_by_role("button", name="Create group").click()
    await ann.page.get_by_test_id("composer").wait_for()
    cid = await conversation_id(ann)
    await ann.send("before removal")
    await bob.open_conversation("Planning")
    await bob.wait_message("before removal")

    await ann.page.get_by_role("link", name="Members").click()
    member = ann.page.get_by_test_id("member").filter(has_text="@" + bob.handle)
    await member.get_by_role("button", name=f"Remove {bob.display_name}").click()
    await ann.page.screenshot(path=artifacts / "desktop-members.png")
    await member.get_by_role("button", name=f"Remove {bob.display_name}").click()
    await expect(ann.page.get_by_test_id("member").filter(has_text="@" + bob.handle)).to_have_count(0)

    # Bob is taken out of the conversation, and told why.
    await expect(bob.page.get_by_test_id("removed-notice")).to_be_visible()
    await expect(bob.page.get_by_test_id("conversation-row").filter(has_text="Planning")).to_have_count(0)

    await ann.send("after removal")
    await ann.wait_message("after removal")
    await asyncio.sleep(1.5)
    assert await bob.page.get_by_text("after removal").count() == 0
    ids = [c["id"] for c in (await api_get(e2e_server, bob, "/conversations"))["conversations"]]
    assert cid not in ids


async def test_phone_layout(people: People, artifacts: Path) -> None:
    bob = await people("bob")
    await bob.sign_up()
    ann = await people("ann", viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    await ann.sign_up()
    await ann.page.screenshot(path=artifacts / "phone-empty-list.png")
    await ann.open_dm(bob)
    await ann.send("hello from a phone, with a rather long line that has to wrap on a narrow screen")
    await bob.page.get_by_test_id("conversation-row").filter(has_text=ann.display_name).wait_for()
    await bob.open_conversation(ann.display_name)
    await bob.wait_message("hello from a phone")
    await bob.send("hello phone")
    await ann.wait_message("hello phone")

    async def fits() -> bool:
        width: int = await ann.page.evaluate("() => document.documentElement.scrollWidth")
        return width <= PHONE["width"]

    assert await fits()
    # One screen at a time: the conversation, with a way back to the list.
    await expect(ann.page.get_by_role("navigation", name="Conversations")).to_be_hidden()
    await expect(ann.page.get_by_test_id("composer")).to_be_in_viewport()
    await ann.page.screenshot(path=artifacts / "phone-conversation.png")
    await ann.page.get_by_role("link", name="Back to conversations").click()
    await expect(ann.page.get_by_role("navigation", name="Conversations")).to_be_visible()
    assert await fits()
    await ann.page.screenshot(path=artifacts / "phone-conversation-list.png")
    await ann.page.get_by_test_id("settings-link").click()
    await ann.page.get_by_test_id("sessions").wait_for()
    assert await fits()
    await ann.page.screenshot(path=artifacts / "phone-settings.png", full_page=True)
    await ann.page.get_by_role("link", name="← Conversations").click()
    await ann.page.get_by_test_id("new-conversation").click()
    assert await fits()
    await ann.page.screenshot(path=artifacts / "phone-new-conversation.png")


async def test_history_scrolls_back_to_the_first_message(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await people("ann"), await people("bob")
    await ann.sign_up()
    await bob.sign_up()
    total = 130
    await bob_writes_to_ann(e2e_server, bob, ann, [f"old {i}" for i in range(total)])
    await ann.open_conversation(bob.display_name)
    await ann.wait_message(f"old {total - 1}")
    assert len(await ann.bodies()) == 50
    scroller = ann.page.locator("#messages")
    # Scrolling up loads older pages, keeping the reader's place.
    await scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    await expect(ann.page.get_by_test_id("message")).to_have_count(100)
    assert await scroller.evaluate("el => el.scrollTop") > 0
    await scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    await expect(ann.page.get_by_test_id("message")).to_have_count(total)
    await expect(ann.page.get_by_text("This is the beginning of the conversation.")).to_be_visible()
    assert await ann.bodies() == [f"old {i}" for i in range(total)]


async def test_session_ended_elsewhere_then_sign_out(people: People, e2e_server: E2EServer, artifacts: Path) -> None:
    ann = await people("ann")
    await ann.sign_up()
    # Refreshing a session that was signed out elsewhere is refused with 401: the browser logs it.
    ann.expected_errors.append(r"status of 401 .*@ .*/auth/refresh")
    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=10) as http:
        r = await http.post("/auth/signin", json={"email": ann.email, "password": PASSWORD})
        other = r.json()["access_token"]
        r = await http.post("/auth/signout-all", headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 204
    await expect(ann.page.get_by_test_id("session-ended")).to_be_visible()
    await expect(ann.page.get_by_role("button", name="Sign in")).to_be_visible()
    await ann.page.screenshot(path=artifacts / "desktop-session-ended.png")

    await ann.sign_in()
    await ann.page.get_by_test_id("settings-link").click()
    await ann.page.get_by_test_id("sign-out").click()
    await expect(ann.page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(ann.page.get_by_test_id("session-ended")).to_have_count(0)
    assert await ann.page.evaluate("() => localStorage.getItem('tipline.session')") is None


async def test_app_shell_opens_offline(people: People, artifacts: Path) -> None:
    ann = await people("ann")
    await ann.sign_up()
    await ann.page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    # A request already on its way when the network goes (a background refetch) fails, and the
    # browser logs that itself; the page must cope, which is what this test checks.
    ann.expected_errors.append(r"net::ERR_INTERNET_DISCONNECTED")
    await ann.context.set_offline(True)
    await ann.page.reload()
    await expect(ann.page.get_by_test_id("offline-page")).to_be_visible()
    await ann.page.screenshot(path=artifacts / "desktop-offline.png")
    await ann.context.set_offline(False)
    await ann.page.get_by_test_id("new-conversation").wait_for()


async def test_public_channel_browse_join_mention_and_roles(people: People, artifacts: Path) -> None:
    ann, bob = await people("ann"), await people("bob")
    await ann.sign_up()
    await bob.sign_up()
    name = f"general-{uuid.uuid4().hex[:6]}"
    await ann.page.get_by_test_id("new-conversation").click()
    await ann.page.get_by_role("tab", name="Channel").click()
    await ann.page.get_by_label("Channel name").fill(name)
    await ann.page.get_by_label("Topic").fill("Anything goes")
    await ann.page.get_by_role("button", name="Create channel").click()
    await ann.page.get_by_test_id("composer").wait_for()

    await bob.page.get_by_role("link", name="Browse").click()
    await bob.page.get_by_label("Search").fill(name)
    channel = bob.page.get_by_test_id("public-channels").get_by_role("listitem").filter(has_text=name)
    await expect(channel).to_contain_text("Anything goes")
    await bob.page.screenshot(path=artifacts / "desktop-browse.png")
    await channel.get_by_role("button", name="Join").click()
    composer = bob.page.get_by_test_id("composer")
    await composer.wait_for()

    # @mention completion from the members list, by keyboard.
    await composer.press_sequentially("thanks @" + ann.handle[:4], delay=10)
    await expect(bob.page.get_by_role("option", name=f"{ann.display_name} @{ann.handle}")).to_be_visible()
    await composer.press("Enter")
    await expect(composer).to_have_value(f"thanks @{ann.handle} ")
    await composer.press("Enter")
    await ann.wait_message("thanks @")
    # Highlighted as a mention of the reader (the amber mark), once.
    mention = ann.message("thanks @").first.locator("span.bg-amber-200", has_text="@" + ann.handle)
    await expect(mention).to_have_count(1)
    await expect(ann.page.get_by_test_id("conversation-title")).to_contain_text(name)

    await ann.page.get_by_role("link", name="Members").click()
    await ann.page.get_by_label(f"Role of {bob.display_name}").select_option("admin")
    await expect(ann.page.get_by_label(f"Role of {bob.display_name}")).to_have_value("admin")
    await bob.page.get_by_role("link", name="Members").click()
    await expect(bob.page.get_by_test_id("member").filter(has_text="@" + bob.handle)).to_contain_text("admin")


async def test_server_unavailable_page_says_what_to_do(people: People, artifacts: Path) -> None:
    # Playwright cannot intercept requests of a page controlled by a service worker.
    ann = await people("ann", service_workers="block")
    await ann.sign_up()
    # The browser logs each 503 it gets; those are the point of this test.
    ann.expected_errors.append(r"status of 503")

    async def unavailable(route: Any) -> None:
        await route.fulfill(status=503, json={"detail": "down for maintenance", "code": "unavailable"})

    await ann.page.route("**/conversations", unavailable)
    await ann.page.reload()
    page = ann.page.get_by_test_id("unavailable-page")
    await expect(page).to_be_visible(timeout=20_000)
    await expect(ann.page.get_by_role("heading")).to_contain_text("server is unavailable")
    await ann.page.screenshot(path=artifacts / "desktop-server-unavailable.png")
    await ann.page.unroute("**/conversations")
    await ann.page.get_by_role("button", name="Try again").click()
    await ann.page.get_by_test_id("new-conversation").wait_for()


async def test_keyboard_only_sign_up_with_visible_focus_in_the_dark_theme(people: People, artifacts: Path) -> None:
    ann = await people("kbd", color_scheme="dark")
    await ann.goto("/signup")
    page = ann.page
    await expect(page.get_by_label("Display name")).to_be_focused()  # the form starts focused
    for value in (ann.display_name, ann.handle, ann.email, PASSWORD):
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
        # Wherever keyboard focus lands, it is drawn.
        outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), outline
    await expect(page.get_by_role("button", name="Create account")).to_be_focused()
    await page.screenshot(path=artifacts / "desktop-signup-keyboard-dark.png")
    await page.keyboard.press("Enter")
    await page.get_by_test_id("new-conversation").wait_for()
    assert await page.evaluate("() => document.documentElement.classList.contains('dark')")
    color = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    values = [float(x) for x in color[color.index("(") + 1 : color.index(")")].replace(",", " ").split()[:3]]
    # A dark background, not the light theme: oklch lightness, or the mean of r, g, b.
    lightness = values[0] if color.startswith("oklch") else sum(values) / 3 / 255
    assert lightness < 0.35, color
    # The light theme follows the system setting too.
    await page.emulate_media(color_scheme="light")
    await expect(page.locator("html")).not_to_have_class("dark")


async def test_search_result_opens_the_message_in_context(people: People, e2e_server: E2EServer) -> None:
    ann, bob = await people("ann"), await people("bob")
    await ann.sign_up()
    await bob.sign_up()
    bodies = [f"filler {i}" for i in range(120)]
    bodies[3] = "the <b>zeppelin</b> lands at noon"
    await bob_writes_to_ann(e2e_server, bob, ann, bodies)
    page = ann.page
    await page.get_by_test_id("search-link").click()
    await page.get_by_role("searchbox", name="Search").fill("zeppelin")
    hit = page.get_by_test_id("search-hit")
    await expect(hit).to_have_count(1)
    await expect(hit.locator("mark")).to_have_text("zeppelin")
    await hit.click()
    # Far above the latest page: older pages load until the message is there, then it is shown.
    target = page.get_by_test_id("message").filter(has_text="the <b>zeppelin</b> lands at noon")
    await expect(target).to_be_in_viewport()
    assert await page.evaluate("() => document.querySelector('b') === null")


async def test_no_tip_button_anywhere_when_the_server_has_tipping_off(people: People, e2e_server: E2EServer) -> None:
    """This server has no TIP_CONTRACT_ADDRESS, as an AWS stack deployed without a TipJar: the web
    client offers Tip nowhere (the DM header, a message's actions), rather than a button that can
    only lead to "not set up"."""
    ann, bob = await pair_in_dm(people)
    assert (await api_get(e2e_server, bob, "/tips/config"))["enabled"] is False
    message = bob.page.get_by_test_id("message").filter(has_text="hello from ann")
    await message.hover()
    await expect(message.get_by_role("button", name="Reply")).to_have_count(1)  # its actions are there
    await expect(message.get_by_role("button", name=f"Tip {ann.display_name}")).to_have_count(0)
    await expect(bob.page.get_by_role("button", name="Tip", exact=True)).to_have_count(0)
