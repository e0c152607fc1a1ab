"""Checks a Sign-In with Ethereum message against this server: domain, URI, chain, time window
and signature (ordinary wallets by ecrecover, contract wallets by EIP-1271 over JSON-RPC).

The nonce is checked last, by the action, in the same transaction that uses it, so only a
message with a valid signature can spend a nonce. See docs/subsystems/wallets.md.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from eth_account import Account
from eth_account.messages import defunct_hash_message, encode_defunct
from eth_utils.address import to_checksum_address

from tipline.config import Settings
from tipline.domain.wallets.siwe import SiweMessage
from tipline.errors import DomainError, Forbidden, Invalid, Unavailable

# bytes4(keccak256("isValidSignature(bytes32,bytes)")): the EIP-1271 selector and magic value.
EIP1271_MAGIC = "1626ba7e"
# The one answer that means yes: the magic value ABI-encoded as a bytes4 return (one word, right-
# padded with zeros). A prefix test would also pass a contract that echoes its calldata (which
# starts with the selector) or appends anything after the magic value.
EIP1271_YES = "0x" + EIP1271_MAGIC + "00" * 28


def expected_domain(settings: Settings) -> str:
    return settings.siwe_domain or urlsplit(settings.public_url).netloc


def expected_uri(settings: Settings) -> str:
    if settings.siwe_uri:
        return settings.siwe_uri.rstrip("/")
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def check_message(settings: Settings, msg: SiweMessage, *, now: datetime | None = None) -> None:
    """Everything but the signature and the nonce: is this message meant for us, and now?"""
    now = now or datetime.now(UTC)
    skew = timedelta(seconds=settings.siwe_clock_skew_s)
    if msg.domain.lower() != expected_domain(settings).lower():
        raise Invalid(f"this message is for {msg.domain}, not this server", code="siwe_wrong_domain")
    want_origin = _origin(expected_uri(settings))
    if msg.scheme is not None and msg.scheme.lower() != urlsplit(want_origin).scheme:
        raise Invalid("the message's scheme is not this server's", code="siwe_wrong_domain")
    if _origin(msg.uri) != want_origin:
        raise Invalid("the message's URI is not on this server", code="siwe_wrong_uri")
    if msg.chain_id != settings.chain_id:
        raise Invalid(f"sign in on chain {settings.chain_id}, not {msg.chain_id}", code="siwe_wrong_chain")
    if msg.issued_at > now + skew:
        raise Forbidden("the message is issued in the future", code="siwe_not_yet_valid")
    if msg.not_before is not None and msg.not_before > now + skew:
        raise Forbidden("the message is not valid yet", code="siwe_not_yet_valid")
    if msg.expiration_time is not None and msg.expiration_time < now - skew:
        raise Forbidden("the message has expired", code="siwe_expired")
    # No nonce lives longer than this, so an older message cannot be current.
    if msg.issued_at < now - timedelta(seconds=settings.siwe_nonce_ttl_s) - skew:
        raise Forbidden("the message is too old; ask for a new nonce", code="siwe_expired")


def _bad_signature() -> DomainError:
    return Forbidden("the signature does not match the message's address", code="siwe_bad_signature")


async def _rpc(client: httpx.AsyncClient, url: str, method: str, params: list[Any]) -> dict[str, Any]:
    try:
        r = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        r.raise_for_status()
        body: dict[str, Any] = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Unavailable("the chain node cannot be reached; try again", code="chain_unavailable") from exc
    return body


async def check_signature(settings: Settings, msg: SiweMessage, text: str, signature: str) -> None:
    """Accept an ordinary wallet's personal_sign signature, or a contract wallet's EIP-1271 answer."""
    sig = bytes.fromhex(signature[2:])
    if len(sig) == 65:
        try:
            signer = Account.recover_message(encode_defunct(text=text), signature=sig)
        except Exception:  # any malformed (r, s, v) is simply not this address's signature
            signer = None
        if signer == msg.address:
            return
    if settings.chain_rpc_url is None:
        raise _bad_signature()
    # Only a contract can answer EIP-1271; an address without code falls through to refusal.
    async with httpx.AsyncClient(timeout=10) as client:
        code = await _rpc(client, settings.chain_rpc_url, "eth_getCode", [msg.address, "latest"])
        if code.get("result") in (None, "0x", "0x0"):
            raise _bad_signature()
        digest = defunct_hash_message(text=text)
        data = "0x" + EIP1271_MAGIC + _encode_bytes32_bytes(bytes(digest), sig)
        call = {"to": msg.address, "data": data}
        answer = await _rpc(client, settings.chain_rpc_url, "eth_call", [call, "latest"])
    # A revert comes back as an error: the wallet said no.
    result = answer.get("result")
    if not isinstance(result, str) or result.lower() != EIP1271_YES:
        raise _bad_signature()


def _encode_bytes32_bytes(word: bytes, blob: bytes) -> str:
    """ABI encoding of (bytes32, bytes)."""
    padded = blob + b"\0" * (-len(blob) % 32)
    head = word + (64).to_bytes(32, "big")
    return (head + len(blob).to_bytes(32, "big") + padded).hex()


def normalize_address(address: str) -> str:
    return to_checksum_address(address).lower()


def new_nonce() -> str:
    return secrets.token_hex(16)
