"""`tipline dev` with no configuration: a local anvil node with TipJar, the demo token and
funded development wallets, mining on its own, stopped by its PID."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.chain.node import send_ok, token_balance
from tests.conftest import make_settings
from tests.helpers import alive
from tipline.chain.abi import encode_call
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


async def test_the_dev_chain_outlives_a_restart(tmp_path: Path) -> None:
    """The database keeps its tips across a `tipline dev` restart: the chain must keep the blocks
    that confirmed them (same hashes), and the contract stays where the tips point."""
    state_dir = tmp_path / "chain"
    tipper, recipient = DEV_ACCOUNTS[1], DEV_ACCOUNTS[2]
    settings, node = await start_dev_chain(make_settings(), state_dir=state_dir)
    rpc = Rpc(node.url)
    try:
        data = encode_call("tipNative(address,bytes32)", ["address", "bytes32"], [recipient, os.urandom(32)])
        assert settings.tip_contract_address is not None
        tip = await send_ok(rpc, sender=tipper, to=settings.tip_contract_address, data=data, value=10**15)
        tipped_in = int(tip["blockNumber"], 16)
        while await rpc.block_number() < tipped_in + 2:  # confirmations, as the watcher wants them
            await asyncio.sleep(0.2)
        last = await rpc.block_number()
        hashes = {n: await rpc.block_hash(n) for n in range(last + 1)}
        deployer_nonce = await rpc.call("eth_getTransactionCount", DEV_ACCOUNTS[0], "latest")
        recipient_balance = await rpc.balance(recipient)
    finally:
        await rpc.close()
        node.stop()
    assert not alive(node.pid)

    again, node = await start_dev_chain(make_settings(), state_dir=state_dir)
    rpc = Rpc(node.url)
    try:
        assert again.tip_contract_address == settings.tip_contract_address
        assert again.tip_tokens == settings.tip_tokens
        # Nothing was deployed again: the deployer sent no transaction since.
        assert await rpc.call("eth_getTransactionCount", DEV_ACCOUNTS[0], "latest") == deployer_nonce
        assert await rpc.block_number() >= last
        assert {n: await rpc.block_hash(n) for n in range(last + 1)} == hashes
        kept = await rpc.receipt(tip["transactionHash"])
        assert kept is not None and kept["blockHash"] == tip["blockHash"] and kept["logs"] == tip["logs"]
        logs = await rpc.get_logs(
            address=settings.tip_contract_address, topics=[], from_block=tipped_in, to_block=tipped_in
        )
        assert [log["transactionHash"] for log in logs] == [tip["transactionHash"]]
        assert await rpc.balance(recipient) == recipient_balance
        # Still mining on its own after the restart.
        await asyncio.sleep(again.dev_chain_block_time_s * 1.6)
        assert await rpc.block_number() > last
    finally:
        await rpc.close()
        node.stop()


async def test_a_dev_chain_that_cannot_be_restored_is_replaced_and_the_log_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_dir = tmp_path / "chain"
    state_dir.mkdir()
    (state_dir / "state.json").write_text('{"block": "not a chain')
    (state_dir / "deployment.json").write_text(
        '{"tip_contract": "0x' + "ab" * 20 + '", "demo_token": "0x' + "cd" * 20 + '"}'
    )
    settings, node = await start_dev_chain(make_settings(), state_dir=state_dir)
    try:
        rpc = Rpc(node.url)
        assert settings.tip_contract_address != "0x" + "ab" * 20
        assert len(await rpc.call("eth_getCode", settings.tip_contract_address, "latest")) > 100
        await rpc.close()
    finally:
        node.stop()
    # The unreadable state is kept aside, not overwritten; the new chain has its own.
    (aside,) = state_dir.glob("state.json.unreadable-*")
    assert aside.read_text() == '{"block": "not a chain'
    assert (state_dir / "state.json").stat().st_size > 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "could not load" in said and "tips confirmed on the previous one will turn reorganised away" in said
