"""Deploy TipJar (and, on a local chain, the demo token) and fund the demo wallets."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode

from tipline.chain.abi import encode_call
from tipline.chain.anvil import DEV_ACCOUNTS, DEV_CHAIN_ID, Anvil, start_anvil
from tipline.chain.artifacts import artifact
from tipline.chain.rpc import Rpc
from tipline.config import Settings

DEMO_TOKEN_SYMBOL = "TIP"
DEMO_TOKEN_DECIMALS = 18
DEMO_FUNDING = 10_000 * 10**DEMO_TOKEN_DECIMALS


class DeployError(Exception):
    pass


async def deploy(rpc: Rpc, name: str, *args: object, sender: str = DEV_ACCOUNTS[0]) -> str:
    """Deploy an artifact from an unlocked account; returns the contract address (lower case)."""
    art = artifact(name)
    data = art.bytecode + (encode(art.constructor_inputs(), list(args)).hex() if args else "")
    receipt = await rpc.transact(sender=sender, to=None, data=data)
    if receipt["status"] != "0x1" or not receipt.get("contractAddress"):
        raise DeployError(f"deploying {name} failed")
    return str(receipt["contractAddress"]).lower()


@dataclass(frozen=True)
class DevDeployment:
    tip_contract: str
    demo_token: str


async def deploy_dev_chain(rpc: Rpc) -> DevDeployment:
    """What ``tipline dev`` needs on its fresh local node: TipJar, a demo ERC-20, funded wallets
    (every anvil development account gets demo tokens; they already hold 10,000 ETH)."""
    jar = await deploy(rpc, "TipJar")
    token = await deploy(rpc, "DemoToken", "Tipline Demo Token", DEMO_TOKEN_SYMBOL)
    sent = []
    for account in DEV_ACCOUNTS:
        data = encode_call("mint(address,uint256)", ["address", "uint256"], [account, DEMO_FUNDING])
        sent.append(await rpc.send(sender=DEV_ACCOUNTS[0], to=token, data=data))
    # Sent back to back so that interval mining takes them in one block.
    for tx_hash in sent:
        if (await rpc.wait_receipt(tx_hash))["status"] != "0x1":
            raise DeployError("funding the demo wallets failed")
    return DevDeployment(tip_contract=jar, demo_token=token)


async def start_dev_chain(settings: Settings) -> tuple[Settings, Anvil]:
    """``tipline dev`` with no CHAIN_RPC_URL: a fresh local anvil node with TipJar and the demo
    token deployed and every development account funded; returns the settings that point at it.

    Deploys run on automine (instant), then the node mines a block every
    DEV_CHAIN_BLOCK_TIME_S so that tips gather confirmations as on a real chain.
    """
    node = start_anvil(chain_id=DEV_CHAIN_ID)
    try:
        rpc = Rpc(node.url)
        try:
            deployed = await deploy_dev_chain(rpc)
            await rpc.call("evm_setIntervalMining", settings.dev_chain_block_time_s)
        finally:
            await rpc.close()
    except BaseException:
        node.stop()
        raise
    token = f"{DEMO_TOKEN_SYMBOL}:{deployed.demo_token}:{DEMO_TOKEN_DECIMALS}"
    updated = settings.model_copy(
        update={
            "chain_rpc_url": node.url,
            "chain_id": DEV_CHAIN_ID,
            "tip_contract_address": deployed.tip_contract,
            "tip_tokens": [*settings.tip_tokens, token],
        }
    )
    return updated, node
