"""`tipline token deploy`: Tipline's own ERC-20 (OpenZeppelin's) deployed on a real anvil node from
an operator's key, read back, and printed as the TIP_TOKENS entry; bad input exits 2, sending nothing."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from eth_abi.abi import decode

from tests.chain.node import call_uint, token_balance
from tests.chain.token_cli import funded_key, token_deploy
from tests.chain_fixtures import Deployment
from tests.conftest import free_port, make_settings
from tipline.chain.abi import encode_call
from tipline.chain.anvil import Anvil
from tipline.chain.artifacts import artifact
from tipline.chain.deploy import deploy
from tipline.chain.rpc import Rpc
from tipline.chain.token import TokenDeployError, TokenSpec, verify_token
from tipline.domain.tips.tokens import configured_tokens

EXISTING = "TIP:0x" + "ab" * 20 + ":18"


def chain_env(anvil: Anvil, **extra: str) -> dict[str, str]:
    return {"CHAIN_RPC_URL": anvil.url, "CHAIN_ID": str(anvil.chain_id), **extra}


async def read_string(rpc: Rpc, token: str, signature: str) -> str:
    out = await rpc.eth_call(to=token, data=encode_call(signature, [], []))
    return str(decode(["string"], out)[0])


async def test_deploys_verifies_and_prints_the_tip_tokens_entry(anvil: Anvil, rpc: Rpc, tmp_path: Path) -> None:
    deployer = await funded_key(rpc)
    key = "0x" + bytes(deployer.key).hex()
    r = token_deploy(
        "--name",
        "Acme Tips",
        "--symbol",
        "ACME",
        "--supply",
        "1000000",
        cwd=tmp_path,
        **chain_env(anvil, DEPLOYER_PRIVATE_KEY=key, TIP_TOKENS=EXISTING),
    )
    assert r.returncode == 0, r.stderr
    # The key appears nowhere the command writes, and the address it controls does.
    assert key[2:].lower() not in (r.stdout + r.stderr).lower()
    assert deployer.address in r.stderr
    # stdout is exactly the setting to use: the existing tokens, then the new one.
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"TIP_TOKENS={EXISTING},ACME:0x"), r.stdout
    value = lines[0].removeprefix("TIP_TOKENS=")
    token = configured_tokens(make_settings(tip_tokens=value))["ACME"]
    assert token.decimals == 18

    # What the command verified, read again independently.
    code = await rpc.call("eth_getCode", token.address, "latest")
    assert code == artifact("TiplineToken").deployed_bytecode
    assert await read_string(rpc, token.address, "name()") == "Acme Tips"
    assert await read_string(rpc, token.address, "symbol()") == "ACME"
    assert await call_uint(rpc, token.address, "decimals()", [], []) == 18
    assert await call_uint(rpc, token.address, "totalSupply()", [], []) == 10**6 * 10**18
    assert await token_balance(rpc, token.address, deployer.address) == 10**6 * 10**18
    # Signed by the operator's key and sent raw: the node does not hold that account.
    tx_hash = re.search(r"transaction (0x[0-9a-f]{64})", r.stderr)
    assert tx_hash is not None, r.stderr
    tx = await rpc.call("eth_getTransactionByHash", tx_hash.group(1))
    assert tx["from"].lower() == deployer.address.lower() and tx["to"] is None
    assert deployer.address.lower() not in await rpc.call("eth_accounts")


async def test_the_key_can_come_on_standard_input(anvil: Anvil, rpc: Rpc, tmp_path: Path) -> None:
    deployer = await funded_key(rpc)
    key = bytes(deployer.key).hex()  # without 0x, as some wallets export it
    r = token_deploy(
        "--name", "Piped", "--symbol", "PIPE", "--supply", "5", cwd=tmp_path, stdin=key + "\n", **chain_env(anvil)
    )
    assert r.returncode == 0, r.stderr
    address = r.stdout.strip().removeprefix("TIP_TOKENS=PIPE:").removesuffix(":18")
    assert await token_balance(rpc, address, deployer.address) == 5 * 10**18
    assert key not in r.stdout + r.stderr


GOOD = ("--name", "Acme Tips", "--symbol", "ACME", "--supply", "1000")


def with_arg(flag: str, value: str) -> tuple[str, ...]:
    args = list(GOOD)
    args[args.index(flag) + 1] = value
    return tuple(args)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (with_arg("--supply", "0"), "--supply must be a positive whole number of tokens, not '0'"),
        (with_arg("--supply", "-5"), "--supply must be a positive whole number of tokens, not '-5'"),
        (with_arg("--supply", "1.5"), "--supply must be a positive whole number of tokens, not '1.5'"),
        (with_arg("--supply", "1e6"), "--supply must be a positive whole number of tokens, not '1e6'"),
        (with_arg("--supply", " 7"), "--supply must be a positive whole number of tokens, not ' 7'"),
        (with_arg("--supply", "9" * 70), "--supply is too large"),
        (with_arg("--symbol", "AC:ME"), "--symbol must be 1 to 11 letters or digits"),
        (with_arg("--symbol", "ABCDEFGHIJKL"), "--symbol must be 1 to 11 letters or digits"),
        (with_arg("--symbol", "eth"), "eth is already a tippable symbol"),
        (with_arg("--symbol", "TIP"), "TIP is already a tippable symbol"),
        (with_arg("--name", ""), "--name must be 1 to 64 printable characters"),
        (with_arg("--name", "x" * 65), "--name must be 1 to 64 printable characters"),
        (with_arg("--name", "bad\nname"), "--name must be 1 to 64 printable characters"),
    ],
)
async def test_bad_arguments_exit_2_and_send_nothing(
    anvil: Anvil, rpc: Rpc, tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    deployer = await funded_key(rpc)
    head = await rpc.block_number()
    key = "0x" + bytes(deployer.key).hex()
    r = token_deploy(*args, cwd=tmp_path, **chain_env(anvil, DEPLOYER_PRIVATE_KEY=key, TIP_TOKENS=EXISTING))
    assert r.returncode == 2, r.stderr
    assert problem in r.stderr and r.stdout == ""
    assert await rpc.block_number() == head  # automine: anything sent would have made a block


class Unavailable(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def unavailable_node() -> Iterator[str]:
    """An HTTP server in front of no node: a provider having an outage answers like this."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v3/provider-api-key"
    server.shutdown()
    server.server_close()


async def test_bad_setup_exits_2_and_sends_nothing(
    anvil: Anvil, rpc: Rpc, tmp_path: Path, unavailable_node: str
) -> None:
    deployer = await funded_key(rpc)
    key = "0x" + bytes(deployer.key).hex()
    head = await rpc.block_number()
    dead = f"http://127.0.0.1:{free_port()}/v3/provider-api-key"
    cases: list[tuple[dict[str, str], str, str]] = [
        # No key anywhere: not in the environment, nothing on standard input.
        (chain_env(anvil), "", "no deployer key: set DEPLOYER_PRIVATE_KEY or pipe the key on standard input"),
        (chain_env(anvil, DEPLOYER_PRIVATE_KEY="0x1234abcd"), "", "the deployer key is not a private key"),
        (chain_env(anvil, DEPLOYER_PRIVATE_KEY="0x" + "00" * 32), "", "not a valid secp256k1 private key"),
        ({"DEPLOYER_PRIVATE_KEY": key}, "", "CHAIN_RPC_URL is not set"),
        # An RPC that is down: said so, without the URL's path (provider keys live there).
        (
            {"CHAIN_RPC_URL": dead, "CHAIN_ID": "31337", "DEPLOYER_PRIVATE_KEY": key},
            "",
            "error: cannot use the JSON-RPC node at CHAIN_RPC_URL (127.0.0.1): ConnectError",
        ),
        (
            {"CHAIN_RPC_URL": unavailable_node, "CHAIN_ID": "31337", "DEPLOYER_PRIVATE_KEY": key},
            "",
            "error: cannot use the JSON-RPC node at CHAIN_RPC_URL (127.0.0.1): HTTPStatusError (HTTP 503)",
        ),
        (
            chain_env(anvil, CHAIN_ID="1", DEPLOYER_PRIVATE_KEY=key),
            "",
            "the node at CHAIN_RPC_URL is on chain 31337, but CHAIN_ID is 1",
        ),
    ]
    for env, stdin, problem in cases:
        r = token_deploy(*GOOD, cwd=tmp_path, stdin=stdin, **env)
        assert r.returncode == 2, (env, r.stderr)
        assert problem in r.stderr, r.stderr
        assert r.stdout == "" and "provider-api-key" not in r.stderr
        assert key[2:] not in r.stderr and "1234abcd" not in r.stderr
    assert await rpc.block_number() == head


async def test_an_unfunded_deployer_is_told_what_it_needs(anvil: Anvil, rpc: Rpc, tmp_path: Path) -> None:
    poor = await funded_key(rpc, wei=1)
    head = await rpc.block_number()
    r = token_deploy(*GOOD, cwd=tmp_path, **chain_env(anvil, DEPLOYER_PRIVATE_KEY="0x" + bytes(poor.key).hex()))
    assert r.returncode == 2
    assert f"the deployer {poor.address} holds 1 wei on chain 31337; the deployment may cost up to" in r.stderr
    assert await rpc.block_number() == head


async def test_verification_refuses_anything_but_the_token_asked_for(rpc: Rpc, dev_chain: Deployment) -> None:
    spec = TokenSpec(name="Acme Tips", symbol="ACME", supply=1000)
    holder = "0x" + "11" * 20
    # Another ERC-20 (the demo token) at the address: not TiplineToken's code.
    block = hex(await rpc.block_number())
    with pytest.raises(TokenDeployError, match="is not TiplineToken's compiled code"):
        await verify_token(rpc, address=dev_chain.token, block=block, spec=spec, holder=holder)
    # TiplineToken, but not with the asked name, supply or holder.
    other = await deploy(rpc, "TiplineToken", "Acme Tips", "ACME", 999 * 10**18)
    block = hex(await rpc.block_number())
    with pytest.raises(TokenDeployError, match=r"totalSupply\(\) is 999000000000000000000, expected"):
        await verify_token(rpc, address=other, block=block, spec=spec, holder=holder)
    renamed = await deploy(rpc, "TiplineToken", "Acme Tipz", "ACME", 1000 * 10**18)
    block = hex(await rpc.block_number())
    with pytest.raises(TokenDeployError, match=r"name\(\) is 'Acme Tipz'"):
        await verify_token(rpc, address=renamed, block=block, spec=spec, holder=holder)
    right = await deploy(rpc, "TiplineToken", "Acme Tips", "ACME", 1000 * 10**18)
    block = hex(await rpc.block_number())
    with pytest.raises(TokenDeployError, match=r"balanceOf\(address\) is 0, expected"):
        await verify_token(rpc, address=right, block=block, spec=spec, holder=holder)
    # Read at the deployment's block, not later: the same token passes for its real holder.
    tx_from = (await rpc.call("eth_accounts"))[0]
    assert await verify_token(rpc, address=right, block=block, spec=spec, holder=tx_from) == 18
