"""Contract wallets (EIP-1271) against a real node: a small Vyper wallet that accepts its owner's
signatures is deployed on anvil; the server asks it through `isValidSignature` over JSON-RPC.
Contracts whose answer merely starts with the magic value are deployed too: each is refused."""

from __future__ import annotations

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from sqlalchemy import text
from vyper import compile_code

from tests.conftest import Server, free_port
from tests.domain.wallets.conftest import Chain
from tests.domain.wallets.helpers import build_message, get_nonce, new_wallet, sign_text
from tests.helpers import signup

# The smallest honest ERC-1271 wallet: valid when its owner signed the hash.
WALLET_SOURCE = """
# pragma version ~=0.4.0
owner: public(address)

@deploy
def __init__(_owner: address):
    self.owner = _owner

@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[65]) -> bytes4:
    r: uint256 = convert(slice(_signature, 0, 32), uint256)
    s: uint256 = convert(slice(_signature, 32, 32), uint256)
    v: uint256 = convert(slice(_signature, 64, 1), uint256)
    if ecrecover(_hash, v, r, s) == self.owner:
        return 0x1626ba7e
    return 0xffffffff
"""


# Answers for anyone, each at most "begins with 0x1626ba7e": only the last one is the exact
# ABI encoding of the bytes4 magic value.
MAGIC_AND_JUNK = """
# pragma version ~=0.4.0
@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> (bytes4, uint256):
    return 0x1626ba7e, 1
"""
MAGIC_DIRTY_PADDING = """
# pragma version ~=0.4.0
@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> bytes32:
    return 0x1626ba7e00000000000000000000000000000000000000000000000000000001
"""
MAGIC_UNPADDED = """
# pragma version ~=0.4.0
@external
@raw_return
def __default__() -> Bytes[4]:
    return concat(0x1626ba7e, b"")
"""
YES_TO_ANYONE = """
# pragma version ~=0.4.0
@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> bytes4:
    return 0x1626ba7e
"""
# Vyper cannot return calldata of any length, so the echo is written in EVM code. Runtime:
# CALLDATASIZE PUSH0 PUSH0 CALLDATACOPY CALLDATASIZE PUSH0 RETURN (its answer starts with the
# selector, which is the magic value). Init: copy those 7 bytes from offset 10 and return them.
ECHO_BYTECODE = "0x" + "6007600a5f3960075ff3" + "365f5f37365ff3"


def vyper_bytecode(source: str) -> str:
    bytecode: str = compile_code(source, output_formats=["bytecode"])["bytecode"]
    return bytecode


@pytest.fixture(scope="module")
async def wallet_contract_factory(chain: Chain) -> str:
    out = compile_code(WALLET_SOURCE, output_formats=["bytecode"])
    bytecode: str = out["bytecode"]
    return bytecode


async def deploy_wallet(chain: Chain, bytecode: str, owner: LocalAccount) -> str:
    arg = bytes(12) + bytes.fromhex(owner.address[2:])
    return to_checksum_address(await chain.deploy(bytecode, arg))


@pytest.fixture
def on_chain(server: Server, chain: Chain, monkeypatch: pytest.MonkeyPatch) -> Chain:
    monkeypatch.setattr(server.rt.settings, "chain_rpc_url", chain.url)
    return chain


async def contract_body(api: httpx.AsyncClient, contract: str, signer: LocalAccount) -> dict[str, str]:
    message = build_message(await get_nonce(api), contract).to_text()
    return {"message": message, "signature": sign_text(signer, message)}


async def test_contract_wallet_accepts_its_owner_and_refuses_others(
    api: httpx.AsyncClient, server: Server, on_chain: Chain, wallet_contract_factory: str
) -> None:
    owner, stranger = new_wallet(), new_wallet()
    contract = await deploy_wallet(on_chain, wallet_contract_factory, owner)
    assert (await on_chain.rpc("eth_getCode", contract, "latest")) not in ("0x", "0x0")

    r = await api.post("/auth/siwe/signin", json=await contract_body(api, contract, stranger))
    assert r.status_code == 403 and r.json()["code"] == "siwe_bad_signature"

    r = await api.post("/auth/siwe/signin", json=await contract_body(api, contract, owner))
    assert r.status_code == 200, r.text
    signed_in = r.json()["user"]
    r = await api.get("/me/wallets", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert [w["address"] for w in r.json()] == [contract.lower()]

    # Linking works the same way, and a signature the wallet cannot even decode is a refusal.
    user = await signup(api)
    other_contract = await deploy_wallet(on_chain, wallet_contract_factory, owner)
    body = await contract_body(api, other_contract, owner)
    r = await api.post("/me/wallets", headers=user.headers, json={**body, "signature": "0x" + "11" * 80})
    assert r.status_code == 403 and r.json()["code"] == "siwe_bad_signature"
    r = await api.post("/me/wallets", headers=user.headers, json=body)
    assert r.status_code == 201 and r.json()["address"] == other_contract.lower()
    assert signed_in["id"] != user.id


async def test_an_address_without_code_is_not_asked(api: httpx.AsyncClient, server: Server, on_chain: Chain) -> None:
    # A stranger's signature for an ordinary address: no code there, so no EIP-1271 fallback.
    target, stranger = new_wallet(), new_wallet()
    message = build_message(await get_nonce(api), target.address).to_text()
    r = await api.post("/auth/siwe/signin", json={"message": message, "signature": sign_text(stranger, message)})
    assert r.status_code == 403 and r.json()["code"] == "siwe_bad_signature"
    async with server.rt.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0


async def test_unreachable_node_is_a_clear_503(
    api: httpx.AsyncClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.rt.settings, "chain_rpc_url", f"http://127.0.0.1:{free_port()}")
    target, stranger = new_wallet(), new_wallet()
    message = build_message(await get_nonce(api), target.address).to_text()
    r = await api.post("/auth/siwe/signin", json={"message": message, "signature": sign_text(stranger, message)})
    assert r.status_code == 503 and r.json()["code"] == "chain_unavailable"


async def link_directly(server: Server, user_id: int, address: str) -> None:
    """The row linking makes (a contract wallet linked before this check was exact)."""
    async with server.rt.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO wallets (user_id, address, chain_id) VALUES (:u, :a, 31337)"),
            {"u": user_id, "a": address.lower()},
        )


@pytest.mark.parametrize(
    "answer",
    ["echoes its input", "magic and junk", "magic with dirty padding", "magic unpadded"],
)
async def test_an_answer_that_only_starts_with_the_magic_value_opens_no_session(
    api: httpx.AsyncClient, server: Server, on_chain: Chain, answer: str
) -> None:
    """The attack: a contract wallet linked to an account answers anything beginning with
    0x1626ba7e; an anonymous sign-in with any signature must not open that account's session."""
    sources = {"magic and junk": MAGIC_AND_JUNK, "magic with dirty padding": MAGIC_DIRTY_PADDING}
    sources["magic unpadded"] = MAGIC_UNPADDED
    bytecode = ECHO_BYTECODE if answer == "echoes its input" else vyper_bytecode(sources[answer])
    contract = to_checksum_address(await on_chain.deploy(bytecode))
    body = await contract_body(api, contract, new_wallet())
    raw = await on_chain.rpc("eth_call", {"to": contract, "data": "0x1626ba7e" + "00" * 96}, "latest")
    assert raw.lower().startswith("0x1626ba7e") and raw.lower() != "0x1626ba7e" + "00" * 28, raw
    victim = await signup(api)
    await link_directly(server, victim.id, contract)

    r = await api.post("/auth/siwe/signin", json=body)
    assert (r.status_code, r.json()["code"]) == (403, "siwe_bad_signature"), r.text
    # Nor can anyone link such a contract to their own account.
    r = await api.post(
        "/me/wallets", headers=(await signup(api)).headers, json=await contract_body(api, contract, new_wallet())
    )
    assert (r.status_code, r.json()["code"]) == (403, "siwe_bad_signature"), r.text


async def test_the_exact_magic_value_is_a_yes(api: httpx.AsyncClient, server: Server, on_chain: Chain) -> None:
    """A wallet answering exactly the ABI-encoded bytes4 magic value is believed, whoever signed:
    that is the wallet's own decision to make."""
    contract = to_checksum_address(await on_chain.deploy(vyper_bytecode(YES_TO_ANYONE)))
    owner = await signup(api)
    await link_directly(server, owner.id, contract)
    r = await api.post("/auth/siwe/signin", json=await contract_body(api, contract, new_wallet()))
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == owner.id
