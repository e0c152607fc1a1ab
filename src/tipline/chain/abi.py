"""ABI encoding of TipJar calls and decoding of its ``Tipped`` event (eth-abi, keccak)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_hash.auto import keccak

ZERO_ADDRESS = "0x" + "00" * 20
TIPPED_SIGNATURE = "Tipped(address,address,address,uint256,bytes32)"
TIPPED_TOPIC = "0x" + keccak(TIPPED_SIGNATURE.encode()).hex()


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def encode_call(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (selector(signature) + encode(types, args)).hex()


def tip_native_data(*, recipient: str, intent_id: bytes) -> str:
    return encode_call("tipNative(address,bytes32)", ["address", "bytes32"], [recipient, intent_id])


def tip_token_data(*, token: str, recipient: str, amount: int, intent_id: bytes) -> str:
    return encode_call(
        "tipToken(address,address,uint256,bytes32)",
        ["address", "address", "uint256", "bytes32"],
        [token, recipient, amount, intent_id],
    )


def approve_data(*, spender: str, amount: int) -> str:
    return encode_call("approve(address,uint256)", ["address", "uint256"], [spender, amount])


def hexbytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _topic_address(topic: str) -> str:
    return "0x" + topic.removeprefix("0x")[-40:].lower()


@dataclass(frozen=True)
class TippedLog:
    """One ``Tipped`` log as found in a receipt (addresses lower-case hex)."""

    contract: str
    tipper: str
    recipient: str
    token: str
    amount: int
    intent_id: bytes
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str


def decode_tipped(log: dict[str, Any]) -> TippedLog | None:
    """The decoded event, or None when the log is not a well-formed ``Tipped`` (any contract)."""
    topics = log.get("topics") or []
    if len(topics) != 4 or topics[0].lower() != TIPPED_TOPIC:
        return None
    try:
        amount, intent_id = decode(["uint256", "bytes32"], hexbytes(log["data"]))
    except Exception:
        return None
    return TippedLog(
        contract=log["address"].lower(),
        tipper=_topic_address(topics[1]),
        recipient=_topic_address(topics[2]),
        token=_topic_address(topics[3]),
        amount=int(amount),
        intent_id=bytes(intent_id),
        tx_hash=log["transactionHash"].lower(),
        log_index=int(log["logIndex"], 16),
        block_number=int(log["blockNumber"], 16),
        block_hash=log["blockHash"].lower(),
    )
