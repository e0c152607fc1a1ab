"""`tipline token deploy`: an operator's own ERC-20 (``TiplineToken``, OpenZeppelin's audited ERC20
with a fixed supply) on the configured chain, verified, as a `TIP_TOKENS` entry.

Unlike the local chain's deploys (deploy.py, from a node's unlocked accounts), the transaction is
signed here with the operator's key and sent raw, so it works on any node or provider. The key
only ever lives in this process's memory: it is not written, logged, or put in an error message.
See docs/subsystems/tipping.md, "Your own token".
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from tipline.chain.abi import encode_call, hexbytes
from tipline.chain.artifacts import artifact
from tipline.chain.rpc import Rpc, RpcError

TOKEN_CONTRACT = "TiplineToken"
TOKEN_DECIMALS = 18  # OpenZeppelin's ERC20 default, which TiplineToken keeps
ONE_TOKEN: int = 10**TOKEN_DECIMALS
MAX_UINT256 = 2**256 - 1
# Letters and digits only: a symbol sits inside `SYMBOL:0xaddress:decimals`, a comma-separated
# setting, and wallets (EIP-747) show at most 11 characters.
SYMBOL = re.compile(r"[A-Za-z0-9]{1,11}")
NAME_MAX = 64
KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
# A gas estimate is for the state it ran on; the headroom keeps a block or two of change from
# running the deployment out of gas.
GAS_HEADROOM = 1.2
FALLBACK_PRIORITY_FEE = 10**9  # 1 gwei, for nodes without eth_maxPriorityFeePerGas


class TokenInputError(ValueError):
    """The operator's input or setup is wrong (exit 2); nothing was sent."""


class TokenDeployError(Exception):
    """The chain refused the deployment, or what landed is not what was asked (exit 1)."""


@dataclass(frozen=True)
class TokenSpec:
    name: str
    symbol: str
    supply: int  # whole tokens

    @property
    def base_units(self) -> int:
        return self.supply * ONE_TOKEN


@dataclass(frozen=True)
class TokenDeployment:
    address: str  # lower case, like every address Tipline stores
    tx_hash: str
    block_number: int
    deployer: str  # checksummed
    name: str
    symbol: str
    decimals: int
    total_supply: int  # base units

    @property
    def tip_tokens_entry(self) -> str:
        return f"{self.symbol}:{self.address}:{self.decimals}"


def parse_spec(*, name: str, symbol: str, supply: str, taken: list[str]) -> TokenSpec:
    """The command's arguments, checked; ``taken``: symbols already tippable (native coin, TIP_TOKENS)."""
    if not name.strip() or len(name) > NAME_MAX or not name.isprintable() or name != name.strip():
        raise TokenInputError(f"--name must be 1 to {NAME_MAX} printable characters without surrounding spaces")
    if not SYMBOL.fullmatch(symbol):
        raise TokenInputError("--symbol must be 1 to 11 letters or digits")
    if symbol.upper() in (t.upper() for t in taken):
        raise TokenInputError(f"{symbol} is already a tippable symbol here (native coin or TIP_TOKENS): pick another")
    if not re.fullmatch(r"[0-9]+", supply) or int(supply) == 0:
        raise TokenInputError(f"--supply must be a positive whole number of tokens, not {supply!r}")
    spec = TokenSpec(name=name, symbol=symbol, supply=int(supply))
    if spec.base_units > MAX_UINT256:
        raise TokenInputError(f"--supply is too large: at most {MAX_UINT256 // ONE_TOKEN} tokens")
    return spec


def load_key(key: str | None) -> LocalAccount:
    """The deployer's account from its hex private key. Errors never quote the key."""
    if not key:
        raise TokenInputError("no deployer key: set DEPLOYER_PRIVATE_KEY or pipe the key on standard input")
    if not KEY.fullmatch(key.strip()):
        raise TokenInputError("the deployer key is not a private key (64 hex characters, 0x optional)")
    try:
        account: LocalAccount = Account.from_key(key.strip())
    except Exception:
        # `from None`: the library's message or a chained traceback could carry the key.
        raise TokenInputError("the deployer key is not a valid secp256k1 private key") from None
    return account


async def _fees(rpc: Rpc) -> dict[str, int]:
    """EIP-1559 fees when the chain has a base fee (twice it, so a few full blocks do not strand
    the transaction), else a legacy gas price."""
    block = await rpc.call("eth_getBlockByNumber", "latest", False)
    base = block.get("baseFeePerGas") if block else None
    if base is None:
        return {"gasPrice": int(await rpc.call("eth_gasPrice"), 16)}
    try:
        priority = int(await rpc.call("eth_maxPriorityFeePerGas"), 16)
    except RpcError:
        priority = FALLBACK_PRIORITY_FEE
    return {"maxFeePerGas": 2 * int(base, 16) + priority, "maxPriorityFeePerGas": priority}


async def _wait_receipt(rpc: Rpc, tx_hash: str, *, within: float, poll_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        receipt: dict[str, Any] | None = await rpc.receipt(tx_hash)
        if receipt is not None:
            return receipt
        await asyncio.sleep(poll_s)
    raise TokenDeployError(
        f"transaction {tx_hash} was not mined within {within:.0f} s; look it up on the chain's explorer "
        "(if it lands, check it with the steps in docs/subsystems/tipping.md before listing it)"
    )


async def _read(rpc: Rpc, address: str, block: str, signature: str, kind: str, *args: Any) -> Any:
    types = ["address"] if args else []
    out = await rpc.call("eth_call", {"to": address, "data": encode_call(signature, types, list(args))}, block)
    return decode([kind], hexbytes(out))[0]


async def verify_token(rpc: Rpc, *, address: str, block: str, spec: TokenSpec, holder: str) -> int:
    """Read the deployment back at ``block``: TiplineToken's runtime code, then name, symbol,
    decimals, total supply and the holder's balance. Returns the decimals; raises on any difference."""
    code = str(await rpc.call("eth_getCode", address, block)).lower()
    if code != artifact(TOKEN_CONTRACT).deployed_bytecode.lower():
        raise TokenDeployError(f"the code at {address} is not {TOKEN_CONTRACT}'s compiled code")
    expected: list[tuple[str, str, tuple[Any, ...], Any]] = [
        ("name()", "string", (), spec.name),
        ("symbol()", "string", (), spec.symbol),
        ("decimals()", "uint8", (), TOKEN_DECIMALS),
        ("totalSupply()", "uint256", (), spec.base_units),
        ("balanceOf(address)", "uint256", (holder,), spec.base_units),
    ]
    for signature, kind, args, want in expected:
        got = await _read(rpc, address, block, signature, kind, *args)
        if got != want:
            raise TokenDeployError(f"{address}: {signature} is {got!r}, expected {want!r}")
    return TOKEN_DECIMALS


async def deploy_token(
    rpc: Rpc,
    *,
    account: LocalAccount,
    chain_id: int,
    spec: TokenSpec,
    wait_s: float = 600.0,
    poll_s: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> TokenDeployment:
    """Sign and send TiplineToken's creation from ``account`` on the node's chain (which must be
    ``chain_id``), wait for the receipt and verify what landed. ``progress(line)`` hears each step."""
    say = progress or (lambda line: None)
    node_chain = await rpc.chain_id()
    if node_chain != chain_id:
        raise TokenInputError(f"the node at CHAIN_RPC_URL is on chain {node_chain}, but CHAIN_ID is {chain_id}")
    art = artifact(TOKEN_CONTRACT)
    data = art.bytecode + encode(art.constructor_inputs(), [spec.name, spec.symbol, spec.base_units]).hex()
    sender = account.address
    nonce = int(await rpc.call("eth_getTransactionCount", sender, "pending"), 16)
    gas = int(int(await rpc.call("eth_estimateGas", {"from": sender, "data": data}), 16) * GAS_HEADROOM)
    fees = await _fees(rpc)
    cost = gas * max(fees.values())
    balance = await rpc.balance(sender)
    if balance < cost:
        raise TokenInputError(
            f"the deployer {sender} holds {balance} wei on chain {chain_id}; the deployment may cost up to {cost} wei"
        )
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "gas": gas, "data": data, "value": 0, **fees}
    if "maxFeePerGas" in fees:
        tx["type"] = 2
    signed = account.sign_transaction(tx)
    tx_hash = str(await rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())).lower()
    say(f"sent {tx_hash} from {sender} on chain {chain_id}; waiting for it to be mined")
    receipt = await _wait_receipt(rpc, tx_hash, within=wait_s, poll_s=poll_s)
    if receipt.get("status") != "0x1" or not receipt.get("contractAddress"):
        raise TokenDeployError(f"the deployment transaction {tx_hash} failed (status {receipt.get('status')})")
    address = str(receipt["contractAddress"]).lower()
    block = str(receipt["blockNumber"])
    decimals = await verify_token(rpc, address=address, block=block, spec=spec, holder=sender)
    return TokenDeployment(
        address=address,
        tx_hash=tx_hash,
        block_number=int(block, 16),
        deployer=to_checksum_address(sender),
        name=spec.name,
        symbol=spec.symbol,
        decimals=decimals,
        total_supply=spec.base_units,
    )
