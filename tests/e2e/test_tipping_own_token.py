"""An operator's own token, end to end: `tipline token deploy` puts it on the chain, the printed
TIP_TOKENS entry lists it on the server, and a user tips with it in Chromium.

The deployer is anvil's development account 5 (its published key, passed in the environment as an
operator would), so the browser wallet of that account holds the whole supply; the wallet and the
chain are those of tests/e2e/test_tipping.py.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.chain.node import token_balance
from tests.chain.token_cli import dev_key, token_deploy
from tests.chain_fixtures import Deployment
from tests.e2e.conftest import E2EServer, People
from tests.e2e.test_tipping import CONFIRMATIONS, linked_pair_in_dm, tipped
from tests.nodes import node_process
from tipline.chain.anvil import DEV_ACCOUNTS, Anvil
from tipline.chain.rpc import Rpc

DEPLOYER, RECIPIENT = DEV_ACCOUNTS[5], DEV_ACCOUNTS[6]


@pytest.fixture(scope="module")
def own_token(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The TIP_TOKENS entry `tipline token deploy` printed for ACME."""
    r = token_deploy(
        "--name",
        "Acme Tips",
        "--symbol",
        "ACME",
        "--supply",
        "1000000",
        cwd=tmp_path_factory.mktemp("token-deploy"),
        CHAIN_RPC_URL=anvil.url,
        CHAIN_ID=str(anvil.chain_id),
        DEPLOYER_PRIVATE_KEY=dev_key(5),
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().removeprefix("TIP_TOKENS=")


@pytest.fixture(scope="module")
async def e2e_server(
    web_dist: Path, tmp_path_factory: pytest.TempPathFactory, anvil: Anvil, dev_chain: Deployment, own_token: str
) -> AsyncIterator[E2EServer]:
    """A Tipline whose TIP_TOKENS lists the demo token and the entry the command printed."""
    log = tmp_path_factory.mktemp("e2e-own-token") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    env = {
        "WEB_DIST": str(web_dist),
        "CHAIN_RPC_URL": anvil.url,
        "CHAIN_ID": str(anvil.chain_id),
        "TIP_CONTRACT_ADDRESS": dev_chain.jar,
        "TIP_TOKENS": f"TIP:{dev_chain.token}:18,{own_token}",
        "CHAIN_CONFIRMATIONS": str(CONFIRMATIONS),
        "CHAIN_POLL_INTERVAL_S": "0.2",
    }
    async with node_process(command, log, prefix="e2eowntoken", **env) as node:
        yield E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)


@pytest.fixture
async def wallet_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def test_tip_a_message_with_a_token_deployed_by_the_command(
    people: People, anvil: Anvil, rpc: Rpc, own_token: str, wallet_http: httpx.AsyncClient
) -> None:
    token = own_token.split(":")[1]
    ann, bob = await linked_pair_in_dm(people, anvil, wallet_http, RECIPIENT, DEPLOYER)
    supply = await token_balance(rpc, token, DEPLOYER)
    assert supply == 10**6 * 10**18

    # Bob (the deployer, holding the supply) tips Ann's message 25 ACME: approve, then tip.
    message = tipped(bob)
    await message.hover()
    await message.get_by_role("button", name=f"Tip {ann.display_name}").click()
    dialog = bob.page.get_by_role("dialog", name=f"Tip {ann.display_name}")
    await dialog.get_by_label("Token").select_option("ACME")
    await dialog.get_by_label("Amount").fill("25")
    await dialog.get_by_role("button", name="Send tip").click()
    await expect(dialog.get_by_role("status")).to_contain_text("Sent 25 ACME", timeout=15_000)
    await dialog.get_by_role("button", name="Close").click()

    for person in (ann, bob):
        line = tipped(person).get_by_test_id("tip-line")
        await expect(line).to_have_attribute("data-state", "pending", timeout=5_000)
        await expect(line).to_contain_text("25 ACME")
    assert await token_balance(rpc, token, RECIPIENT) == 25 * 10**18
    assert await token_balance(rpc, token, DEPLOYER) == supply - 25 * 10**18

    await rpc.call("evm_mine")
    for person in (ann, bob):
        msg = tipped(person)
        await expect(msg.get_by_test_id("tip-line")).to_have_attribute("data-state", "confirmed", timeout=5_000)
        await expect(msg.get_by_test_id("tip-total")).to_have_text("◈ 25 ACME")
