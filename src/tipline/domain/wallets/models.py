"""Wallet tables: addresses linked to accounts, and the single-use sign-in nonces."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    func,
)

from tipline.storage.meta import metadata

# An address belongs to at most one account (the unique constraint decides races); an
# account may link several. Addresses are stored lower-case so comparisons are exact.
wallets = Table(
    "wallets",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("address", Text, nullable=False, unique=True),
    Column("chain_id", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("address ~ '^0x[0-9a-f]{40}$'", name="address_lowercase_hex"),
    Index("ix_wallets_user_id", "user_id"),
)

# A nonce is consumed by one conditional UPDATE (used_at IS NULL), so two parallel uses make
# at most one link or session. Used rows stay until they expire so a replay can be told from
# a nonce that was never issued.
siwe_nonces = Table(
    "siwe_nonces",
    metadata,
    Column("nonce", Text, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    # SHA-256 of the message that used the nonce: the same message again is a replay.
    Column("message_hash", LargeBinary, nullable=True),
    Index("ix_siwe_nonces_expires_at", "expires_at"),
)
