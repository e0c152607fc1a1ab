"""`tipline dev` with no configuration: a local anvil node with TipJar, the demo token and
funded development wallets, mining on its own, stopped by its PID."""

from __future__ import annotations

import asyncio

from tests.chain.node import token_balance
from tests.conftest import make_settings
from tests.helpers import alive
from tipline.chain.anvil import DEV_ACCOUNTS
from tipline.chain.deploy import DEMO_FUNDING, start_dev_chain
from tipline.chain.rpc import Rpc
from tipline.domain.tips.tokens import configured_tokens


async def test_dev_chain_is_ready_to_tip() -> None:
    settings, node = await start_dev_chain(make_settings())
    try:
        assert settings.chain_rpc_url == node.url and node.url.startswith("http://127.0.0.1:")
        assert settings.chain_id == 31337
        tokens = configured_tokens(settings)
        assert list(tokens) == ["ETH", "TIP"]
        rpc = Rpc(node.url)
        assert len(await rpc.call("eth_getCode", settings.tip_contract_address, "latest")) > 100
        for account in DEV_ACCOUNTS:
            assert await token_balance(rpc, tokens["TIP"].address, account) == DEMO_FUNDING
            assert await rpc.balance(account) > 0
        # Blocks keep coming without transactions, so tips gather confirmations.
        first = await rpc.block_number()
        await asyncio.sleep(settings.dev_chain_block_time_s * 1.6)
        assert await rpc.block_number() > first
        await rpc.close()
    finally:
        node.stop()
    assert not alive(node.pid)


async def test_dev_accounts_are_the_nodes_unlocked_accounts(rpc: Rpc) -> None:
    assert await rpc.call("eth_accounts") == DEV_ACCOUNTS
