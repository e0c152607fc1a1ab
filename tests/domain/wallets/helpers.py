"""Sign-In with Ethereum from a test's point of view: a wallet (an eth-account key) asks for a
nonce, builds the EIP-4361 message the server expects and signs it with personal_sign."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from tipline.domain.wallets.siwe import SiweMessage


def new_wallet() -> LocalAccount:
    return Account.create()


async def get_nonce(api: httpx.AsyncClient) -> dict[str, Any]:
    r = await api.post("/auth/siwe/nonce")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def build_message(info: dict[str, Any], address: str, **overrides: Any) -> SiweMessage:
    msg = SiweMessage(
        domain=info["domain"],
        address=address,
        statement="Sign in to Tipline.",
        uri=info["uri"],
        version="1",
        chain_id=info["chain_id"],
        nonce=info["nonce"],
        issued_at=datetime.now(UTC).replace(microsecond=0),
    )
    return dataclasses.replace(msg, **overrides)


def sign_text(wallet: LocalAccount, text: str) -> str:
    return "0x" + bytes(wallet.sign_message(encode_defunct(text=text)).signature).hex()


async def siwe_body(
    api: httpx.AsyncClient, wallet: LocalAccount, *, signer: LocalAccount | None = None, **overrides: Any
) -> dict[str, str]:
    """A fresh nonce, a message for ``wallet`` and a signature by ``signer`` (the wallet itself by default)."""
    info = await get_nonce(api)
    text = build_message(info, wallet.address, **overrides).to_text()
    return {"message": text, "signature": sign_text(signer or wallet, text)}


async def wallet_sign_in(api: httpx.AsyncClient, wallet: LocalAccount) -> dict[str, Any]:
    r = await api.post("/auth/siwe/signin", json=await siwe_body(api, wallet))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
