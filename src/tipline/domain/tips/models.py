"""Tip tables: one row per tip intent, from issue to confirmation (docs/subsystems/tipping.md)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Table,
    Text,
    func,
    text,
)

from tipline.storage.meta import metadata

STATES = ("created", "pending", "confirmed", "failed", "expired")

tip_intents = Table(
    "tip_intents",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    # The bytes32 that goes on-chain in the Tipped event, as 0x-hex: random, so unguessable.
    Column("intent_id", Text, nullable=False, unique=True),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    # NULL once the person's account is deleted: the tip stays as an on-chain fact (migration 0021).
    Column("tipper_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("recipient_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("recipient_address", Text, nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", Text, nullable=False),
    Column("token", Text, nullable=False),  # 0x000...0 for the native coin
    Column("symbol", Text, nullable=False),
    Column("decimals", Integer, nullable=False),
    Column("amount", Numeric(78, 0), nullable=False),  # base units; fits any uint256
    Column("state", Text, nullable=False, server_default="created"),
    Column("reason", Text, nullable=True),
    Column("tx_hash", Text, nullable=True),
    # Set while credited: the log that proves the tip, and the block it is in.
    Column("log_index", Integer, nullable=True),
    Column("block_number", BigInteger, nullable=True),
    Column("block_hash", Text, nullable=True),
    Column("tipper_address", Text, nullable=True),
    # The head at which the watcher last found the credited block still on the chain; a tip is
    # re-checked until that is CHAIN_REORG_DEPTH past its block (watcher.py).
    Column("verified_block", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(f"state IN {STATES!r}", name="state_known"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("tipper_id <> recipient_id", name="not_self"),
    # Nothing is credited twice, whoever reports it: one credit per on-chain log.
    Index(
        "uq_tip_intents_credit",
        "chain_id",
        "tx_hash",
        "log_index",
        unique=True,
        postgresql_where=text("log_index IS NOT NULL"),
    ),
    Index("ix_tip_intents_open", "state", postgresql_where=text("state IN ('created', 'pending', 'confirmed')")),
    Index("ix_tip_intents_tipper", "tipper_id", "id"),
    Index("ix_tip_intents_recipient", "recipient_id", "id"),
    Index("ix_tip_intents_conversation", "conversation_id", "state"),
    Index("ix_tip_intents_message", "message_id"),
)
