"""Deploy TipJar (and, on a local chain, the demo token) and fund the demo wallets."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from eth_abi.abi import encode

from tipline.chain.abi import encode_call
from tipline.chain.anvil import DEV_ACCOUNTS, DEV_CHAIN_ID, Anvil, start_anvil
from tipline.chain.artifacts import artifact
from tipline.chain.rpc import Rpc
from tipline.config import Settings

DEMO_TOKEN_SYMBOL = "TIP"
DEMO_TOKEN_DECIMALS = 18
DEMO_FUNDING = 10_000 * 10**DEMO_TOKEN_DECIMALS

log = logging.getLogger(__name__)


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


async def start_dev_chain(settings: Settings, *, state_dir: Path | None = None) -> tuple[Settings, Anvil]:
    """``tipline dev`` with no CHAIN_RPC_URL: a local anvil node with TipJar and the demo token
    deployed and every development account funded; returns the settings that point at it.

    With ``state_dir`` the chain is kept there across restarts (anvil's state file, and the
    addresses of what was deployed): the database keeps its tips across a restart, so the
    chain must keep the blocks that confirmed them, or every confirmed tip would turn
    reorganised away. A chain that cannot be restored is replaced by a new one, and the log
    says so. Without ``state_dir`` the chain lives as long as the node.

    Deploys run on automine (instant), then the node mines a block every
    DEV_CHAIN_BLOCK_TIME_S so that tips gather confirmations as on a real chain.
    """
    state = record = saved = None
    if state_dir is not None:
        state, record = state_dir / "state.json", state_dir / "deployment.json"
        saved = _read_record(state_dir, record)
    node = _start_dev_node(state)
    try:
        rpc = Rpc(node.url)
        try:
            deployed = saved if saved is not None and await _still_deployed(rpc, saved) else None
            if deployed is None:
                if saved is not None:
                    log.warning(
                        "the local chain in %s is new (its saved state is gone or holds no TipJar): tips "
                        "confirmed on the previous one will turn reorganised away",
                        state_dir,
                    )
                deployed = await deploy_dev_chain(rpc)
                if record is not None:
                    _write_record(record, deployed)
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


def _start_dev_node(state: Path | None) -> Anvil:
    # Loading a long-lived chain takes a while; a state anvil cannot read ends it at once instead.
    timeout = 10.0 if state is None else 120.0
    try:
        return start_anvil(chain_id=DEV_CHAIN_ID, state=state, timeout=timeout)
    except RuntimeError:
        if state is None or not state.exists():
            raise
    # Kept, not deleted: it may be readable by another anvil version.
    aside = state.with_name(f"{state.name}.unreadable-{int(time.time())}")
    state.rename(aside)
    log.warning("anvil could not load the local chain's state; it is kept in %s and a new chain starts", aside)
    return start_anvil(chain_id=DEV_CHAIN_ID, state=state, timeout=timeout)


def _read_record(state_dir: Path, record: Path) -> DevDeployment | None:
    """What an earlier run deployed on the chain kept in ``state_dir``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        return DevDeployment(**json.loads(record.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        # Unreadable: as if nothing had been deployed, but still said when the chain is new.
        return DevDeployment(tip_contract="", demo_token="")


def _write_record(record: Path, deployed: DevDeployment) -> None:
    record.write_text(json.dumps(dataclasses.asdict(deployed)))


async def _still_deployed(rpc: Rpc, saved: DevDeployment) -> bool:
    for address in (saved.tip_contract, saved.demo_token):
        if not address or await rpc.call("eth_getCode", address, "latest") in ("0x", "0x0", None):
            return False
    return True
