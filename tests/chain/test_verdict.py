"""The on-chain verdict (chain/verdict.py) as a pure function: receipts built here, no chain.

The same checks run against a real anvil node in tests/chain/test_tips_flow.py and
test_watcher_attacks.py; these pin each rule and its reason one by one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eth_abi.abi import encode

from tipline.chain.abi import TIPPED_TOPIC
from tipline.chain.verdict import judge

CONTRACT = "0x" + "c0" * 20
TIPPER = "0x" + "a1" * 20
RECIPIENT = "0x" + "b2" * 20
TOKEN = "0x" + "00" * 20
INTENT_ID = "0x" + "11" * 32
NOW = datetime(2026, 12, 7, tzinfo=UTC)
INTENT = {
    "intent_id": INTENT_ID,
    "recipient_address": RECIPIENT,
    "token": TOKEN,
    "amount": "1000",
    "expires_at": NOW + timedelta(minutes=10),
}


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address.removeprefix("0x")


def tipped(
    *,
    contract: str = CONTRACT,
    tipper: str = TIPPER,
    recipient: str = RECIPIENT,
    amount: int = 1000,
    intent_id: str = INTENT_ID,
    block: int = 100,
) -> dict[str, Any]:
    return {
        "address": contract,
        "topics": [TIPPED_TOPIC, _topic(tipper), _topic(recipient), _topic(TOKEN)],
        "data": "0x" + encode(["uint256", "bytes32"], [amount, bytes.fromhex(intent_id[2:])]).hex(),
        "transactionHash": "0x" + "ee" * 32,
        "logIndex": "0x0",
        "blockNumber": hex(block),
        "blockHash": "0x" + "bb" * 32,
    }


def receipt(*logs: dict[str, Any], status: str = "0x1") -> dict[str, Any]:
    return {"status": status, "logs": list(logs)}


def verdict(rcpt: dict[str, Any] | None, *, head: int = 110, wallets: tuple[str, ...] = (TIPPER,), now: datetime = NOW):
    return judge(rcpt, INTENT, contract=CONTRACT, tipper_wallets=wallets, head=head, confirmations=3, now=now)


def test_a_paying_log_deep_enough_is_credited() -> None:
    v = verdict(receipt(tipped()))
    assert v.action == "credit" and v.paid is not None
    assert (v.paid.tipper, v.paid.amount, v.paid.block_number) == (TIPPER, 1000, 100)


def test_not_deep_enough_waits() -> None:
    assert verdict(receipt(tipped(block=100)), head=101).action == "wait"  # 2 of 3 confirmations
    assert verdict(receipt(tipped(block=100)), head=102).action == "credit"


def test_no_receipt_waits_until_the_intent_expires() -> None:
    assert verdict(None).action == "wait"
    late = verdict(None, now=NOW + timedelta(hours=1))
    assert (late.action, late.state, late.reason) == ("fail", "expired", "the transaction never landed")


def test_a_reverted_transaction_fails() -> None:
    v = verdict(receipt(tipped(), status="0x0"))
    assert (v.action, v.state, v.reason) == ("fail", "failed", "the transaction reverted")


def test_logs_of_another_contract_or_intent_are_not_this_tip() -> None:
    for log in (tipped(contract="0x" + "dd" * 20), tipped(intent_id="0x" + "22" * 32)):
        v = verdict(receipt(log))
        assert (v.action, v.state) == ("fail", "failed")
        assert v.reason == "the transaction holds no tip for this intent from the tip contract"


def test_each_mismatch_fails_with_its_own_reason() -> None:
    cases = {
        "the tip went to another wallet than the recipient's": tipped(recipient="0x" + "99" * 20),
        "the amount that arrived (999) is not the tip's amount (1000)": tipped(amount=999),
        "the tip was sent from a wallet the tipper has not linked": tipped(tipper="0x" + "98" * 20),
    }
    for reason, log in cases.items():
        v = verdict(receipt(log))
        assert (v.action, v.reason) == ("fail", reason)


def test_a_strangers_log_beside_the_paying_one_does_not_spoil_it() -> None:
    stranger = tipped(tipper="0x" + "98" * 20, amount=1)
    v = verdict(receipt(stranger, tipped()))
    assert v.action == "credit" and v.paid is not None and v.paid.tipper == TIPPER
