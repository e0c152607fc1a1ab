"""A real anvil node per test module (it starts in well under a second)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tipline.chain.anvil import Anvil, start_anvil
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
