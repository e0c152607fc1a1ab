"""The client tests use the suite's server (tests/conftest.py) and, for the tip-thanks example,
the chain tests' server on anvil (tests/chain/conftest.py)."""

from tests.chain.conftest import deployment, tip_api, tip_server

__all__ = ["deployment", "tip_api", "tip_server"]
