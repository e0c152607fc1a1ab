"""`tipline token deploy` as an operator runs it: a real process, its key in the environment or on
standard input, against the test's anvil node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from tipline.chain.anvil import DEV_ACCOUNTS
from tipline.chain.rpc import Rpc

# anvil's published development mnemonic: its accounts' keys are public, for local chains only.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def dev_key(index: int) -> str:
    """The private key of anvil's development account ``index`` (DEV_ACCOUNTS[index])."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    assert account.address.lower() == DEV_ACCOUNTS[index]
    return "0x" + bytes(account.key).hex()


async def funded_key(rpc: Rpc, wei: int = 10**18) -> LocalAccount:
    """A new account the node does not know (so nothing can sign for it but its key), given ``wei``."""
    account: LocalAccount = Account.create()
    receipt = await rpc.transact(sender=DEV_ACCOUNTS[0], to=account.address, value=wei)
    assert receipt["status"] == "0x1"
    return account


def token_deploy(*args: str, cwd: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """``tipline token deploy ARGS`` in a clean environment (and a directory with no .env)."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LOG_FORMAT": "text"}
    return subprocess.run(
        [sys.executable, "-m", "tipline.cli", "token", "deploy", *args],
        cwd=cwd,
        env={**base, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
