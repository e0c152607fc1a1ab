"""A small async Ethereum JSON-RPC client over httpx: only the calls Tipline makes."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx

from tipline.chain.abi import hexbytes


class RpcError(Exception):
    """The node answered with a JSON-RPC error (a revert, an unknown method...)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message', error)}")
        self.method = method
        self.code = error.get("code")
        self.data = error.get("data")


class Rpc:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout)
        self._ids = itertools.count(1)

    async def close(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        response = await self._client.post(self.url, json=body)
        response.raise_for_status()
        payload = response.json()
        if payload.get("error") is not None:
            raise RpcError(method, payload["error"])
        return payload.get("result")

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def block_hash(self, number: int) -> str | None:
        block = await self.call("eth_getBlockByNumber", hex(number), False)
        return None if block is None else str(block["hash"]).lower()

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self.call("eth_getTransactionReceipt", tx_hash)
        return result

    async def get_logs(self, *, address: str, topics: list[str | None], from_block: int, to_block: int) -> list[Any]:
        flt = {"address": address, "topics": topics, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        result: list[Any] = await self.call("eth_getLogs", flt)
        return result

    async def eth_call(self, *, to: str, data: str) -> bytes:
        return hexbytes(await self.call("eth_call", {"to": to, "data": data}, "latest"))

    async def balance(self, address: str) -> int:
        return int(await self.call("eth_getBalance", address, "latest"), 16)

    # --- sending from unlocked accounts (a local node's development accounts only) ---------

    async def send(self, *, sender: str, to: str | None, data: str = "0x", value: int = 0, gas: int = 3_000_000) -> str:
        tx: dict[str, Any] = {"from": sender, "data": data, "value": hex(value), "gas": hex(gas)}
        if to is not None:
            tx["to"] = to
        return str(await self.call("eth_sendTransaction", tx))

    async def wait_receipt(self, tx_hash: str, *, within: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:  # polling is the only way JSON-RPC over HTTP offers
                receipt = await self.receipt(tx_hash)
                if receipt is not None:
                    return receipt
                await asyncio.sleep(0.05)

    async def transact(self, *, sender: str, to: str | None, data: str = "0x", value: int = 0) -> dict[str, Any]:
        """Send and wait for the receipt (mined blocks only: automine or interval mining)."""
        return await self.wait_receipt(await self.send(sender=sender, to=to, data=data, value=value))
