"""Request, response and event shapes for tips."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import RowMapping

from tipline.domain.tips.tokens import display

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
TxHash = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
IntentId = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-f]{64}$")]
Amount = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[0-9]+(\.[0-9]+)?$")]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9.]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntentIn(Strict):
    """A tip to a member of a conversation, or to the author of one of its messages."""

    conversation_id: Id
    recipient_id: Id | None = None
    message_id: Id | None = None
    token: Symbol
    amount: Amount = Field(description="In whole units of the coin or token, e.g. `0.05`.")


class ReportIn(Strict):
    tx_hash: TxHash


class ContractCall(BaseModel):
    """A transaction for the tipper's wallet to send, exactly as given."""

    chain_id: int
    to: str
    data: str
    value: str = Field(description="Native coin to send with it, in base units (wei), as a decimal string.")


class IntentOut(BaseModel):
    intent_id: str
    conversation_id: int
    message_id: int | None
    # None once that person deleted their account: the tip stays as an on-chain fact.
    tipper_id: int | None
    recipient_id: int | None
    recipient_address: str
    chain_id: int
    contract: str
    token: str
    symbol: str
    decimals: int
    amount: str = Field(description="Base units, decimal string.")
    amount_display: str
    state: str
    reason: str | None
    tx_hash: str | None
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    approve: ContractCall | None = Field(None, description="ERC-20 only: allow TipJar to move the amount first.")
    call: ContractCall | None = Field(None, description="The tip itself; present until a transaction is reported.")


class TipList(BaseModel):
    tips: list[IntentOut]


class TokenOut(BaseModel):
    symbol: str
    address: str
    decimals: int


class TipConfigOut(BaseModel):
    enabled: bool
    chain_id: int
    contract: str | None
    confirmations: int
    tokens: list[TokenOut]
    min_amount: str
    max_amount: str
    # CHAIN_EXPLORER_URL without a trailing slash: a transaction is at `<explorer_url>/tx/<hash>`.
    explorer_url: str | None = None


class TipCheckOut(BaseModel):
    """Whether the caller can tip a member now (asked when the tip dialog opens): the checks an
    intent makes, without making one. ``code``/``detail``: the first refusal, as the intent
    would answer it (e.g. ``recipient_no_wallet``, ``tipper_no_wallet``, ``blocked``)."""

    can_tip: bool
    code: str | None
    detail: str | None


class TotalOut(BaseModel):
    symbol: str
    token: str
    total: str
    total_display: str
    count: int


class LeaderRow(BaseModel):
    user_id: int
    symbol: str
    total: str
    total_display: str
    count: int


class LeaderboardOut(BaseModel):
    conversation_id: int
    received: list[LeaderRow]
    sent: list[LeaderRow]


def intent_dict(row: RowMapping) -> dict[str, Any]:
    """An intent as clients (and conversation events) see it."""
    amount = int(row["amount"])
    return {
        "intent_id": row["intent_id"],
        "conversation_id": row["conversation_id"],
        "message_id": row["message_id"],
        "tipper_id": row["tipper_id"],
        "recipient_id": row["recipient_id"],
        "recipient_address": row["recipient_address"],
        "chain_id": row["chain_id"],
        "contract": row["contract"],
        "token": row["token"],
        "symbol": row["symbol"],
        "decimals": row["decimals"],
        "amount": str(amount),
        "amount_display": display(amount, row["decimals"]),
        "state": row["state"],
        "reason": row["reason"],
        "tx_hash": row["tx_hash"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "confirmed_at": row["confirmed_at"],
    }
