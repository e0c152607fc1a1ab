"""The tip dialog says up front when a tip cannot go through (issue 19's papercuts), in Chromium
against a Tipline node on a real anvil chain (this module uses test_tipping's server)."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import expect

from tests.e2e.conftest import People
from tests.e2e.test_tipping import e2e_server as e2e_server
from tests.e2e.test_tipping import link_wallet, with_wallet
from tests.e2e.test_tipping import wallet_http as wallet_http
from tipline.chain.anvil import DEV_ACCOUNTS, Anvil


async def test_the_tip_dialog_says_at_once_that_the_recipient_has_no_wallet(
    people: People, anvil: Anvil, wallet_http: httpx.AsyncClient, artifacts: Path
) -> None:
    ann, bob = await people("ann"), await people("bob")
    await with_wallet(ann, anvil, DEV_ACCOUNTS[5], wallet_http)
    await ann.sign_up()
    await link_wallet(ann, DEV_ACCOUNTS[5])
    await ann.goto("/")
    await bob.sign_up()  # no wallet linked
    await ann.open_dm(bob)
    await ann.send("a tip for you?")

    await ann.page.get_by_role("button", name="Tip", exact=True).click()
    dialog = ann.page.get_by_role("dialog", name=f"Tip {bob.display_name}")
    # Said as the dialog opens, before anything is typed or pressed.
    await expect(dialog.get_by_test_id("tip-refusal")).to_have_text(
        f"{bob.display_name} has not linked a wallet yet, so they cannot receive tips."
    )
    await dialog.get_by_label("Amount").fill("0.01")
    await expect(dialog.get_by_role("button", name="Send tip")).to_be_disabled()
    await ann.page.screenshot(path=artifacts / "desktop-tip-no-wallet.png")
    await dialog.get_by_role("button", name="Cancel").click()

    # The other way round, Bob is told that he needs a wallet himself.
    await bob.page.get_by_test_id("conversation-row").filter(has_text=ann.display_name).wait_for()
    await bob.open_conversation(ann.display_name)
    await bob.page.get_by_role("button", name="Tip", exact=True).click()
    dialog = bob.page.get_by_role("dialog", name=f"Tip {ann.display_name}")
    await expect(dialog.get_by_test_id("tip-refusal")).to_have_text("Link a wallet in Settings before tipping.")
    await expect(dialog.get_by_role("button", name="Send tip")).to_be_disabled()
