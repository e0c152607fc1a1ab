"""What the chain says about a reported tip: pure functions of a receipt, the intent and the
tipper's wallets (tipline.watcher reads the chain, then asks here). Each check is one line
of docs/subsystems/tipping.md, "What the watcher checks".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tipline.chain.abi import TippedLog, decode_tipped, hexbytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """``wait``: look again at a later block; ``fail``: the tip ends as ``state`` for ``reason``;
    ``credit``: ``paid`` pays the intent and is deep enough (its block hash still to be checked)."""

    action: Literal["wait", "fail", "credit"]
    state: Literal["failed", "expired"] | None = None
    reason: str = ""
    paid: TippedLog | None = None


WAIT = Verdict("wait")


def mismatch(found: TippedLog, intent: Mapping[Any, Any], tipper_wallets: Sequence[str]) -> str | None:
    """Why this log does not pay this intent, or None when it does."""
    if found.recipient != intent["recipient_address"]:
        return "the tip went to another wallet than the recipient's"
    if found.token != intent["token"]:
        return "the tip was made in another token"
    if found.amount != int(intent["amount"]):
        return f"the amount that arrived ({found.amount}) is not the tip's amount ({int(intent['amount'])})"
    if found.tipper not in tipper_wallets:
        return "the tip was sent from a wallet the tipper has not linked"
    return None


def paying_log(logs: Sequence[TippedLog], intent: Mapping[Any, Any], tipper_wallets: Sequence[str]) -> TippedLog | None:
    """The first of ``logs`` that pays the intent in full, from the tipper, to the recipient."""
    return next((t for t in logs if mismatch(t, intent, tipper_wallets) is None), None)


def tip_logs(receipt: Mapping[Any, Any], intent: Mapping[Any, Any], contract: str) -> list[TippedLog]:
    """The Tipped logs for this intent emitted by ``contract`` (a look-alike elsewhere is ignored)."""
    want = hexbytes(intent["intent_id"])
    return [
        tipped
        for raw in receipt.get("logs") or []
        if (tipped := decode_tipped(raw)) is not None and tipped.contract == contract
        if tipped.intent_id == want
    ]


def judge(
    receipt: Mapping[Any, Any] | None,
    intent: Mapping[Any, Any],
    *,
    contract: str,
    tipper_wallets: Sequence[str],
    head: int,
    confirmations: int,
    now: datetime,
) -> Verdict:
    """The verdict on a pending tip's reported transaction at block ``head``."""
    if receipt is None:
        if intent["expires_at"] < now:
            return Verdict("fail", "expired", "the transaction never landed")
        return WAIT
    if receipt.get("status") != "0x1":
        return Verdict("fail", "failed", "the transaction reverted")
    logs = tip_logs(receipt, intent, contract)
    if not logs:
        return Verdict("fail", "failed", "the transaction holds no tip for this intent from the tip contract")
    found = paying_log(logs, intent, tipper_wallets)
    if found is None:
        # The tipper's own report names a transaction that does not pay this intent.
        return Verdict("fail", "failed", mismatch(logs[0], intent, tipper_wallets) or "")
    if head - found.block_number + 1 < confirmations:
        return WAIT  # not deep enough yet
    return Verdict("credit", paid=found)
