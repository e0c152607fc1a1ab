"""Tips in the open and the profile card, in Chromium against a Tipline node on a real anvil chain
(issue 19, items 8 and 10; this module uses test_tipping's server and injected wallets):

- a tip in a group, then each person's tip history (sent, received, state, transaction), the CSV
  export downloaded with the bearer header (no token in any URL), and the group's leaderboard;
- "Sign in with Ethereum" from the sign-in page: a wallet linked to a password account opens it,
  an unknown wallet gets a new account (and is told so), a browser without a wallet is told why;
- the profile card with a status (emoji, expiry), local time, linked wallets and a Tip button that
  opens the tip dialog, on a desktop and on a 390x844 phone in dark mode (docs/images/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Request, expect

from tests.e2e.conftest import E2EServer, People, Person
from tests.e2e.test_tipping import e2e_server as e2e_server
from tests.e2e.test_tipping import link_wallet, with_wallet
from tests.e2e.test_tipping import wallet_http as wallet_http
from tipline.chain.anvil import DEV_ACCOUNTS, Anvil
from tipline.chain.rpc import Rpc

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PHONE = {"width": 390, "height": 844}
TEXT = "thanks for the review"


async def api_call(person: Person, method: str, path: str, **kwargs: Any) -> Any:
    token = await person.token()
    async with httpx.AsyncClient(base_url=person.base_url, timeout=10) as api:
        r = await api.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


async def with_linked_wallet(
    people: People, prefix: str, anvil: Anvil, account: str, http: httpx.AsyncClient, **options: Any
) -> Person:
    person = await people(prefix, **options)
    await with_wallet(person, anvil, account, http)
    await person.sign_up()
    await link_wallet(person, account)
    await person.goto("/")
    await person.page.get_by_test_id("new-conversation").wait_for()
    return person


async def test_tip_history_csv_and_leaderboard(
    people: People, anvil: Anvil, rpc: Rpc, wallet_http: httpx.AsyncClient, artifacts: Path
) -> None:
    ann = await with_linked_wallet(people, "hann", anvil, DEV_ACCOUNTS[7], wallet_http)
    bob = await with_linked_wallet(people, "hbob", anvil, DEV_ACCOUNTS[8], wallet_http)
    bob_id = (await api_call(bob, "GET", "/me"))["id"]
    group = await api_call(
        ann, "POST", "/conversations", json={"kind": "group", "name": "Review crew", "member_ids": [bob_id]}
    )
    await ann.open_conversation("Review crew")
    await ann.send(TEXT)
    await bob.open_conversation("Review crew")
    await bob.wait_message(TEXT)

    # Bob tips Ann's message; the chain confirms it.
    message = bob.page.get_by_test_id("message").filter(has_text=TEXT)
    await message.hover()
    await message.get_by_role("button", name=f"Tip {ann.display_name}").click()
    dialog = bob.page.get_by_role("dialog", name=f"Tip {ann.display_name}")
    await dialog.get_by_label("Amount").fill("0.02")
    await dialog.get_by_role("button", name="Send tip").click()
    await expect(dialog.get_by_role("status")).to_contain_text("Sent 0.02 ETH", timeout=15_000)
    await dialog.get_by_role("button", name="Close").click()
    await rpc.call("evm_mine")
    for person in (ann, bob):
        line = person.page.get_by_test_id("message").filter(has_text=TEXT).get_by_test_id("tip-line")
        await expect(line).to_have_attribute("data-state", "confirmed", timeout=10_000)

    # The group's leaderboard, in the members panel of both browsers.
    for person in (ann, bob):
        await person.goto(f"/c/{group['id']}/members")
        board = person.page.get_by_test_id("leaderboard")
        received = board.get_by_test_id("leaderboard-received").get_by_test_id("leader")
        await expect(received).to_have_count(1, timeout=10_000)
        await expect(received).to_contain_text(ann.display_name)
        await expect(received).to_contain_text("0.02 ETH")
        await expect(board.get_by_test_id("leaderboard-sent")).to_contain_text(bob.display_name)
    await ann.page.screenshot(path=artifacts / "tips-leaderboard.png")

    # Bob's history: sent to Ann, confirmed, in this group, with its transaction.
    await bob.page.get_by_test_id("settings-link").click()
    await bob.page.get_by_test_id("tips-link").click()
    row = bob.page.get_by_test_id("tip-row")
    await expect(row).to_have_count(1)
    await expect(row).to_have_attribute("data-state", "confirmed")
    await expect(row).to_contain_text("0.02 ETH")
    await expect(row).to_contain_text(f"to {ann.display_name}")
    await expect(row).to_contain_text("Review crew")
    await expect(row.get_by_test_id("tip-tx")).to_contain_text("tx 0x")

    # Ann's: received from Bob. Then the CSV, fetched with the header and saved from a blob.
    await ann.goto("/my-tips")
    await ann.page.get_by_role("tab", name="Received").click()
    row = ann.page.get_by_test_id("tip-row")
    await expect(row).to_contain_text("0.02 ETH")
    await expect(row).to_contain_text(f"from {bob.display_name}")
    await expect(row.get_by_test_id("tip-state")).to_have_text("confirmed")
    token = await ann.token()
    urls: list[str] = []
    csv_auth: list[str | None] = []

    def seen(request: Request) -> None:
        urls.append(request.url)
        if "/tips/mine.csv" in request.url:
            csv_auth.append(request.headers.get("authorization"))

    ann.page.on("request", seen)
    async with ann.page.expect_download() as info:
        await ann.page.get_by_test_id("tips-csv").click()
    download = await info.value
    assert download.suggested_filename == "tipline-tips.csv"
    csv = Path(await download.path()).read_text()
    lines = csv.strip().splitlines()
    assert len(lines) == 2, csv
    assert "received" in lines[1] and "0.02" in lines[1] and "confirmed" in lines[1]
    assert csv_auth == [f"Bearer {token}"]
    assert not any(token in u for u in urls)
    await ann.page.screenshot(path=artifacts / "tips-history.png")


async def test_sign_in_with_ethereum_from_the_sign_in_page(
    people: People, anvil: Anvil, wallet_http: httpx.AsyncClient, artifacts: Path
) -> None:
    carol = await with_linked_wallet(people, "scarol", anvil, DEV_ACCOUNTS[6], wallet_http)

    # Another browser, signed out, with Carol's wallet: the sign-in page's wallet button opens her account.
    again = await people("sagain")
    await with_wallet(again, anvil, DEV_ACCOUNTS[6], wallet_http)
    await again.goto("/signin")
    await again.page.screenshot(path=artifacts / "signin-with-ethereum.png")
    await again.page.get_by_test_id("siwe-signin").click()
    await again.page.get_by_test_id("new-conversation").wait_for()
    await expect(again.page.get_by_test_id("signed-in-name")).to_have_text(carol.display_name)
    await expect(again.page.get_by_test_id("new-wallet-account")).to_have_count(0)

    # A wallet no account has: a new account, and the person is told so.
    fresh = await people("sfresh")
    await with_wallet(fresh, anvil, DEV_ACCOUNTS[9], wallet_http)
    await fresh.goto("/signin")
    await fresh.page.get_by_test_id("siwe-signin").click()
    notice = fresh.page.get_by_test_id("new-wallet-account")
    await expect(notice).to_contain_text("a new one was made for it")
    await expect(notice).to_contain_text(f"@{DEV_ACCOUNTS[9][:10].lower()}")
    # Named after the address (checksummed, so compared without case).
    name = await fresh.page.get_by_test_id("signed-in-name").inner_text()
    assert name.lower() == f"{DEV_ACCOUNTS[9][:6]}…{DEV_ACCOUNTS[9][-4:]}".lower(), name

    # No wallet in the browser: said in words, still signed out.
    bare = await people("sbare")
    await bare.goto("/signin")
    await bare.page.get_by_test_id("siwe-signin").click()
    await expect(bare.page.get_by_text("No Ethereum wallet was found in this browser.", exact=False)).to_be_visible()
    await expect(bare.page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


async def test_profile_card_status_local_time_wallets_and_tip(
    people: People, e2e_server: E2EServer, anvil: Anvil, wallet_http: httpx.AsyncClient, artifacts: Path
) -> None:
    dan = await with_linked_wallet(people, "pdan", anvil, DEV_ACCOUNTS[4], wallet_http)
    eve = await with_linked_wallet(people, "peve", anvil, DEV_ACCOUNTS[5], wallet_http)
    # Dan's time zone was set from his browser at sign-up; he picks another and a status in Settings.
    me = await api_call(dan, "GET", "/me")
    assert me["timezone"]  # the browser's (Chromium reports one; UTC on a bare machine)
    await dan.page.get_by_test_id("settings-link").click()
    await dan.page.get_by_test_id("timezone").fill("Asia/Tokyo")
    await dan.page.get_by_role("button", name="Save time zone").click()
    await expect(dan.page.get_by_test_id("timezone")).to_have_value("Asia/Tokyo")
    editor = dan.page.get_by_test_id("status-editor")
    await editor.get_by_label("Status", exact=True).fill("Reviewing pull requests")
    await editor.get_by_label("Clear after").select_option(label="4 hours")
    await editor.get_by_role("button", name="Set status").click()
    await expect(editor.get_by_role("status")).to_have_text("Saved.")
    me = await api_call(dan, "GET", "/me")
    assert me["timezone"] == "Asia/Tokyo" and me["status"]["text"] == "Reviewing pull requests"
    assert me["status"]["expires_at"]
    # An emoji too, through the API the same way the picker sends it.
    await api_call(dan, "PATCH", "/me", json={"status": {**me["status"], "emoji": "🔍"}})

    await dan.goto("/")
    await dan.open_dm(eve)
    await dan.send("can you look at my branch?")
    await eve.page.get_by_test_id("conversation-row").filter(has_text=dan.display_name).wait_for()
    await eve.open_conversation(dan.display_name)
    await eve.wait_message("can you look at my branch?")

    async def open_card(person: Person) -> Any:
        msg = person.page.get_by_test_id("message").filter(has_text="can you look at my branch?")
        await msg.get_by_test_id("person-name").click()
        card = person.page.get_by_role("dialog", name=f"Profile of {dan.display_name}")
        await expect(card).to_be_visible()
        await expect(card.get_by_test_id("profile-status")).to_contain_text("🔍")
        await expect(card.get_by_test_id("profile-status")).to_contain_text("Reviewing pull requests")
        await expect(card.get_by_test_id("profile-status")).to_contain_text("until")
        await expect(card.get_by_test_id("profile-local-time")).to_contain_text("local time")
        await expect(card.get_by_test_id("profile-local-time")).to_have_attribute("title", "Asia/Tokyo")
        short = f"{DEV_ACCOUNTS[4][:6]}…{DEV_ACCOUNTS[4][-4:]}".lower()
        await expect(card.get_by_test_id("profile-wallets")).to_contain_text(short[:6])
        await expect(card.get_by_test_id("profile-wallets").locator("li")).to_have_attribute(
            "data-address", DEV_ACCOUNTS[4].lower()
        )
        await expect(card.get_by_test_id("profile-tip")).to_be_enabled()
        return card

    card = await open_card(eve)
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    await eve.page.screenshot(path=DOCS_IMAGES / "profile-card-status.png")
    # Tip opens the tip dialog for Dan, in their direct conversation, ready to send.
    await card.get_by_test_id("profile-tip").click()
    dialog = eve.page.get_by_role("dialog", name=f"Tip {dan.display_name}")
    await expect(dialog.get_by_label("Amount")).to_be_visible()
    await expect(dialog.get_by_test_id("tip-refusal")).to_have_count(0)
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)

    # The same card on a 390x844 phone in dark mode: a sheet inside the screen.
    await eve.page.set_viewport_size(PHONE)
    await eve.page.emulate_media(color_scheme="dark")
    await eve.goto("/")
    await eve.open_conversation(dan.display_name)
    await eve.wait_message("can you look at my branch?")
    assert await eve.page.evaluate("() => document.documentElement.classList.contains('dark')")
    card = await open_card(eve)
    box = await card.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
    background = await card.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    await eve.page.screenshot(path=DOCS_IMAGES / "profile-card-phone-dark.png")

    # Someone with no wallet: the card says so before anything is pressed, and Tip is off.
    await card.get_by_role("button", name="Message").click()
    frank = await people("pfrank")
    await frank.sign_up()
    await frank.open_dm(dan)
    await frank.send("hello dan")
    await dan.page.get_by_test_id("conversation-row").filter(has_text=frank.display_name).wait_for()
    await dan.open_conversation(frank.display_name)
    msg = dan.page.get_by_test_id("message").filter(has_text="hello dan")
    await msg.get_by_test_id("person-name").click()
    card = dan.page.get_by_role("dialog", name=f"Profile of {frank.display_name}")
    await expect(card.get_by_test_id("profile-no-wallet")).to_have_text(
        f"{frank.display_name} has not linked a wallet yet, so they cannot receive tips."
    )
    await expect(card.get_by_test_id("profile-tip")).to_be_disabled()
    await expect(card.get_by_test_id("profile-wallets")).to_have_count(0)
