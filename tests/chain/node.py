"""Helpers for tests against a real anvil node: deploy, call, expect a custom error."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode

from tipline.chain.abi import encode_call, hexbytes, selector
from tipline.chain.rpc import Rpc, RpcError

ACCOUNTS_BALANCE_OF = "balanceOf(address)"


async def call_uint(rpc: Rpc, to: str, signature: str, types: list[str], args: list[Any]) -> int:
    out = await rpc.eth_call(to=to, data=encode_call(signature, types, args))
    return int(decode(["uint256"], out)[0])


async def token_balance(rpc: Rpc, token: str, account: str) -> int:
    return await call_uint(rpc, token, ACCOUNTS_BALANCE_OF, ["address"], [account])


async def send_ok(rpc: Rpc, *, sender: str, to: str, data: str, value: int = 0) -> dict[str, Any]:
    receipt = await rpc.transact(sender=sender, to=to, data=data, value=value)
    assert receipt["status"] == "0x1", receipt
    return receipt


async def expect_revert(rpc: Rpc, *, sender: str, to: str, data: str, value: int = 0, error: str | None) -> None:
    """The call reverts (with the custom error ``error`` if given), and so does a mined tx."""
    try:
        await rpc.call("eth_call", {"from": sender, "to": to, "data": data, "value": hex(value)}, "latest")
    except RpcError as exc:
        if error is not None:
            assert isinstance(exc.data, str) and hexbytes(exc.data)[:4] == selector(error), (exc.data, error)
    else:
        raise AssertionError(f"expected a revert ({error})")
    receipt = await rpc.transact(sender=sender, to=to, data=data, value=value)
    assert receipt["status"] == "0x0"
    assert receipt["logs"] == []
