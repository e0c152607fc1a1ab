"""Ethereum side of tipping: JSON-RPC client, ABI of the contract build, local node, watcher."""
