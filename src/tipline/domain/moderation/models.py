"""Moderation tables: blocks between users and reports of messages."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from tipline.storage.meta import metadata

# One row per (blocker, blocked). A block works both ways (no DMs, no mention notifications,
# no tips), but only the blocker has the other's messages hidden (docs/subsystems/moderation.md).
blocks = Table(
    "blocks",
    metadata,
    Column("blocker_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("blocked_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("blocker_id", "blocked_id"),
    CheckConstraint("blocker_id <> blocked_id", name="not_self"),
    Index("ix_blocks_blocked_id", "blocked_id"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("reporter_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolved_by", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("resolution", Text, nullable=True),
    # Reporting the same message twice is a no-op, not a second row.
    UniqueConstraint("message_id", "reporter_id"),
    Index("ix_reports_open", "conversation_id", "id", postgresql_where=text("resolved_at IS NULL")),
)
