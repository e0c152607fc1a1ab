"""The chain tests' server: a Tipline on the module's anvil (tests/chain_fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.chain_fixtures import Deployment
from tests.conftest import Server, free_port, make_settings, run_server
from tipline.chain.anvil import Anvil
from tipline.chain.deploy import deploy
from tipline.chain.rpc import Rpc


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
