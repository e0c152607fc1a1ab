"""Chain fixtures for every test package (registered by tests/conftest.py): a real anvil node
per test module (it starts in well under a second), a JSON-RPC client on it, and the contracts
deployed there."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from tipline.chain.anvil import Anvil, start_anvil
from tipline.chain.deploy import deploy_dev_chain
from tipline.chain.rpc import Rpc


@dataclass
class Deployment:
    jar: str
    token: str


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


@pytest.fixture(scope="module")
async def dev_chain(rpc: Rpc) -> Deployment:
    """TipJar and the demo token, deployed as `tipline dev` deploys them."""
    deployed = await deploy_dev_chain(rpc)
    return Deployment(jar=deployed.tip_contract, token=deployed.demo_token)
