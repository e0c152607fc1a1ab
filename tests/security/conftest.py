"""Security fixtures: a real Tipline node as its own process (`tipline serve --migrate`).

Fuzzers run synchronously (schemathesis, hypothesis) or flood the node, so the node must not
share the test's event loop. Its log goes to a file the tests read: an unhandled exception
anywhere in it fails the suite.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers import User, signup
from tests.nodes import NodeProcess, node_process
from tipline.chain.anvil import start_anvil
from tipline.chain.deploy import deploy_dev_chain
from tipline.chain.rpc import Rpc

LiveNode = NodeProcess


@pytest.fixture(scope="session")
async def live_node(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveNode]:
    """A node with every feature on: tipping runs against a real anvil with TipJar and a token."""
    chain = start_anvil()
    rpc = Rpc(chain.url)
    try:
        deployed = await deploy_dev_chain(rpc)  # what `tipline dev` deploys: TipJar and the demo token
        log = tmp_path_factory.mktemp("security") / "node.log"
        command = [sys.executable, "-m", "tipline.cli", "serve", "--migrate"]
        # info, so that anything the node logs about a failure is in the file the tests read.
        async with node_process(
            command,
            log,
            prefix="sec",
            LOG_LEVEL="info",
            WEB_DIST=str(tmp_path_factory.mktemp("noweb")),
            CHAIN_RPC_URL=chain.url,
            CHAIN_ID=str(chain.chain_id),
            TIP_CONTRACT_ADDRESS=deployed.tip_contract,
            TIP_TOKENS=f"TIP:{deployed.demo_token}:18",
        ) as node:
            yield node
    finally:
        await rpc.close()
        chain.stop()


@pytest.fixture(scope="session")
async def live_api(live_node: LiveNode) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_node.base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
async def live_users(live_api: httpx.AsyncClient) -> list[User]:
    return [await signup(live_api) for _ in range(3)]
