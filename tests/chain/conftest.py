"""A real anvil node per test module (it starts in well under a second)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Server, free_port, make_settings, run_server
from tipline.chain.anvil import Anvil, start_anvil
from tipline.chain.deploy import deploy
from tipline.chain.rpc import Rpc


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = start_anvil()
    yield node
    node.stop()


@pytest.fixture(scope="module")
async def rpc(anvil: Anvil) -> AsyncIterator[Rpc]:
    client = Rpc(anvil.url)
    yield client
    await client.close()


@dataclass
class Deployment:
    jar: str
    token: str


@pytest.fixture(scope="module")
async def deployment(rpc: Rpc) -> Deployment:
    return Deployment(jar=await deploy(rpc, "TipJar"), token=await deploy(rpc, "DemoToken", "Tipline Demo", "TIP"))


@pytest.fixture(scope="module")
async def tip_server(anvil: Anvil, deployment: Deployment, database_url: str) -> AsyncIterator[Server]:
    """A Tipline server on the module's anvil: 2 confirmations, a fast watcher."""
    port = free_port()
    settings = make_settings(
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        chain_rpc_url=anvil.url,
        chain_id=anvil.chain_id,
        tip_contract_address=deployment.jar,
        tip_tokens=f"TIP:{deployment.token}:18",
        chain_confirmations=2,
        chain_poll_interval_s=0.1,
    )
    async with run_server(settings, database_url) as srv:
        yield srv


@pytest.fixture
async def tip_api(tip_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tip_server.base_url, timeout=30) as client:
        yield client
