"""A real local Ethereum node for the wallet tests: anvil from npm (installed under contracts/ by
`ensure_contracts` in scripts/lib.sh), started on a free port for the session."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tipline.chain.anvil import find_anvil

ROOT = Path(__file__).resolve().parents[3]


def anvil_path() -> str:
    # The anvil the contract toolchain installs (scripts/lib.sh: ensure_contracts), unless ANVIL says otherwise.
    return os.environ.get("ANVIL") or find_anvil()


class Chain:
    """Raw JSON-RPC to the node: what a test needs, nothing more."""

    def __init__(self, url: str, chain_id: int) -> None:
        self.url = url
        self.chain_id = chain_id
        self.client = httpx.AsyncClient(timeout=30)

    async def rpc(self, method: str, *params: Any) -> Any:
        r = await self.client.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        body = r.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    async def deploy(self, bytecode: str, constructor_args: bytes = b"") -> str:
        """Deploy from the node's first funded account; anvil mines it at once."""
        sender = (await self.rpc("eth_accounts"))[0]
        tx = {"from": sender, "data": bytecode + constructor_args.hex(), "gas": hex(3_000_000)}
        tx_hash = await self.rpc("eth_sendTransaction", tx)
        receipt = None
        for _ in range(100):  # automine answers at once; allow for a node that mines on a timer
            receipt = await self.rpc("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                break
            await asyncio.sleep(0.1)
        assert receipt is not None and receipt["status"] == "0x1", receipt
        address: str = receipt["contractAddress"]
        return address


@pytest.fixture(scope="session")
async def chain() -> AsyncIterator[Chain]:
    port = free_port()
    chain_id = 31337
    proc = await asyncio.create_subprocess_exec(
        anvil_path(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--silent",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    node = Chain(f"http://127.0.0.1:{port}", chain_id)
    try:
        for _ in range(200):
            try:
                if int(await node.rpc("eth_chainId"), 16) == chain_id:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("anvil did not start")
        yield node
    finally:
        await node.client.aclose()
        proc.terminate()
        await proc.wait()
