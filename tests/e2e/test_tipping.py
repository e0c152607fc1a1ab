"""Tipping in the web client, in Chromium, against a Tipline node on a real anvil chain.

Each browser gets an injected EIP-1193 wallet (`window.ethereum`) backed by one of anvil's
unlocked development accounts: the page's CSP only lets it reach its own origin, so the
provider forwards each JSON-RPC request to the test through an exposed function, and the
test passes it to anvil, which signs `personal_sign` and `eth_sendTransaction` itself.
Two users link their wallets through the UI (SIWE), one tips the other's message in ETH,
and both browsers see the tip pending, then confirmed with its total on the message.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, expect

from tests.chain.tipping import mint
from tests.chain_fixtures import Deployment
from tests.e2e.conftest import E2EServer, People, Person
from tests.nodes import node_process
from tipline.chain.anvil import DEV_ACCOUNTS, Anvil
from tipline.chain.rpc import Rpc

CONFIRMATIONS = 2
TEXT = "tip me if you like this"

# Defined before any page script runs. Errors keep their EIP-1193 `code` (4001, 4902...).
PROVIDER = """
window.ethereum = {
  async request({ method, params }) {
    const reply = await window.__tiplineWallet(method, params ?? []);
    if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.result;
  },
  on() {},
  removeListener() {},
};
"""


@pytest.fixture(scope="module")
async def e2e_server(
    web_dist: Path, tmp_path_factory: pytest.TempPathFactory, anvil: Anvil, dev_chain: Deployment
) -> AsyncIterator[E2EServer]:
    """This module's Tipline: the suite's e2e node, plus a chain (TipJar and a demo token on anvil)."""
    jar, token = dev_chain.jar, dev_chain.token
    log = tmp_path_factory.mktemp("e2e-tips") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    env = {
        "WEB_DIST": str(web_dist),
        "CHAIN_RPC_URL": anvil.url,
        "CHAIN_ID": str(anvil.chain_id),
        "TIP_CONTRACT_ADDRESS": jar,
        "TIP_TOKENS": f"TIP:{token}:18",
        "CHAIN_CONFIRMATIONS": str(CONFIRMATIONS),
        "CHAIN_POLL_INTERVAL_S": "0.2",
    }
    async with node_process(command, log, prefix="e2etips", **env) as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture
async def wallet_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def with_wallet(person: Person, anvil: Anvil, account: str, http: httpx.AsyncClient) -> None:
    """Give the person's browser an injected wallet holding ``account`` on ``anvil``."""
    ids = iter(range(1, 1_000_000))

    async def wallet(method: str, params: list[Any]) -> dict[str, Any]:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [account]}
        if method == "wallet_switchEthereumChain":
            if int(params[0]["chainId"], 16) == anvil.chain_id:
                return {"result": None}
            return {"error": {"code": 4902, "message": "Unrecognized chain"}}
        if method == "eth_sendTransaction":
            # The wallet sends from its own account, whatever the page says.
            params = [{**params[0], "from": account}]
        body = {"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params}
        reply: dict[str, Any] = (await http.post(anvil.url, json=body)).json()
        return {"error": reply["error"]} if reply.get("error") else {"result": reply.get("result")}

    await person.context.expose_function("__tiplineWallet", wallet)
    await person.context.add_init_script(PROVIDER)


async def link_wallet(person: Person, account: str) -> None:
    await person.page.get_by_test_id("settings-link").click()
    await person.page.get_by_role("button", name="Connect wallet").click()
    short = f"{account[:6]}…{account[-4:]}"
    await expect(person.page.get_by_test_id("wallets").get_by_text(short)).to_be_visible(timeout=10_000)


def tipped(person: Person) -> Locator:
    """The message that gets the tip, in this person's browser."""
    return person.page.get_by_test_id("message").filter(has_text=TEXT)


async def linked_pair_in_dm(
    people: People, anvil: Anvil, http: httpx.AsyncClient, ann_account: str, bob_account: str
) -> tuple[Person, Person]:
    """Ann and Bob, each with a wallet linked through Settings (SIWE), in a DM where Ann said TEXT."""
    ann, bob = await people("ann"), await people("bob")
    for person, account in ((ann, ann_account), (bob, bob_account)):
        await with_wallet(person, anvil, account, http)
        await person.sign_up()
        await link_wallet(person, account)
        await person.goto("/")
        await person.page.get_by_test_id("new-conversation").wait_for()
    await ann.open_dm(bob)
    await ann.send(TEXT)
    await bob.page.get_by_test_id("conversation-row").filter(has_text=ann.display_name).wait_for()
    await bob.open_conversation(ann.display_name)
    await bob.wait_message(TEXT)
    return ann, bob


async def test_tip_a_message_in_eth_pending_then_confirmed_in_both_browsers(
    people: People, anvil: Anvil, rpc: Rpc, wallet_http: httpx.AsyncClient, artifacts: Path
) -> None:
    ann, bob = await linked_pair_in_dm(people, anvil, wallet_http, DEV_ACCOUNTS[1], DEV_ACCOUNTS[2])
    ann_account = DEV_ACCOUNTS[1]
    ann_balance = await rpc.balance(ann_account)

    # Bob tips Ann's message through the UI; his wallet sends the transaction.
    message = tipped(bob)
    await message.hover()
    await message.get_by_role("button", name=f"Tip {ann.display_name}").click()
    dialog = bob.page.get_by_role("dialog", name=f"Tip {ann.display_name}")
    await expect(dialog.get_by_label("Token")).to_have_value("ETH")
    await dialog.get_by_label("Amount").fill("0.01")
    await dialog.get_by_role("button", name="Send tip").click()
    await expect(dialog.get_by_role("status")).to_contain_text("Sent 0.01 ETH", timeout=15_000)
    await dialog.get_by_role("button", name="Close").click()

    # Mined at once (automine) but one block deep: pending for both until the confirmations.
    for person in (ann, bob):
        line = tipped(person).get_by_test_id("tip-line")
        await expect(line).to_have_attribute("data-state", "pending", timeout=5_000)
        await expect(line).to_contain_text("0.01 ETH")
    await expect(ann.page.get_by_test_id("tip-line")).to_contain_text(f"{bob.display_name} tipped you 0.01 ETH")
    await expect(bob.page.get_by_test_id("tip-line")).to_contain_text(f"You tipped {ann.display_name} 0.01 ETH")
    await ann.page.screenshot(path=artifacts / "desktop-tip-pending.png")
    assert await rpc.balance(ann_account) == ann_balance + 10**16

    await rpc.call("evm_mine")
    for person in (ann, bob):
        msg = tipped(person)
        await expect(msg.get_by_test_id("tip-line")).to_have_attribute("data-state", "confirmed", timeout=5_000)
        await expect(msg.get_by_test_id("tip-total")).to_have_text("◈ 0.01 ETH")
    await bob.page.screenshot(path=artifacts / "desktop-tip-confirmed.png")

    # The total is part of the message: still there after a reload (from history).
    await ann.page.reload()
    msg = tipped(ann)
    await expect(msg.get_by_test_id("tip-total")).to_have_text("◈ 0.01 ETH", timeout=10_000)


async def test_tip_a_person_in_a_token_from_the_dm_header(
    people: People, anvil: Anvil, rpc: Rpc, dev_chain: Deployment, wallet_http: httpx.AsyncClient
) -> None:
    """An ERC-20 tip: the wallet approves, then tips; the tip to a person shows under the timeline."""
    ann, bob = await linked_pair_in_dm(people, anvil, wallet_http, DEV_ACCOUNTS[3], DEV_ACCOUNTS[4])
    await mint(rpc, dev_chain.token, DEV_ACCOUNTS[3], 100 * 10**18)

    await ann.page.get_by_role("button", name="Tip", exact=True).click()
    dialog = ann.page.get_by_role("dialog", name=f"Tip {bob.display_name}")
    await dialog.get_by_label("Token").select_option("TIP")
    await dialog.get_by_label("Amount").fill("5")
    await dialog.get_by_role("button", name="Send tip").click()
    await expect(dialog.get_by_role("status")).to_contain_text("Sent 5 TIP", timeout=15_000)
    await dialog.get_by_role("button", name="Close").click()

    for person, text in ((ann, f"You tipped {bob.display_name} 5 TIP"), (bob, f"{ann.display_name} tipped you 5 TIP")):
        line = person.page.get_by_test_id("tip-line")
        await expect(line).to_have_attribute("data-state", "pending", timeout=5_000)
        await expect(line).to_contain_text(text)
        # A tip to a person is not on any message.
        await expect(person.page.get_by_test_id("message").get_by_test_id("tip-line")).to_have_count(0)
    await rpc.call("evm_mine")
    for person in (ann, bob):
        await expect(person.page.get_by_test_id("tip-line")).to_have_attribute("data-state", "confirmed", timeout=5_000)
